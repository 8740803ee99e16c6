"""The analysis of one recording: stream pass, sorting, stimuli, per-unit measures -> tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from fmslab.errors import InputError
from fmslab.skinnerve import responses as R
from fmslab.skinnerve.channels import CANONICAL_UNIT, MECHANICAL_ROLES, ChannelMap
from fmslab.skinnerve.io import Reader, Recording, open_recording
from fmslab.skinnerve.matching import drift_gains, match_templates, score_noise, unit_thresholds
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.spikes import shift_wave, sort_spikes, unit_quality
from fmslab.skinnerve.stimuli import find_steps, find_thermal_ramps
from fmslab.skinnerve.stream import StreamResult, process, read_raw_windows, read_windows

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    """Tables of one recording plus what the figures need."""

    file: str
    units: pd.DataFrame
    responses: pd.DataFrame
    spikes: pd.DataFrame
    steps: pd.DataFrame
    ramps: pd.DataFrame
    stream: StreamResult
    templates_uv: np.ndarray
    mech_role: str | None
    roles: dict[str, str]
    pre_samples: int = 0
    snippets: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
    warnings: list[str] = field(default_factory=list)
    artefacts: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: unit id -> (n, pre + post) individual band-passed waveforms (up to 100, for the figures)
    examples: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class UnitSpikes:
    """Sorted spikes of a recording: times, labels (1..n; -1 none), templates, per-spike scale."""

    times_s: np.ndarray
    labels: np.ndarray
    templates_uv: np.ndarray
    amplitude: np.ndarray
    noise_clusters: int = 0
    merged: int = 0


def first_pass_clusters(res: StreamResult, p: Params) -> UnitSpikes:
    """Stage 1: cluster the threshold crossings of the first pass (:func:`sort_spikes`)."""
    fs = res.fs_hz
    noise = res.noise_uv
    labels, templates, offsets = sort_spikes(
        res.waveforms_uv / noise if noise > 0 else res.waveforms_uv,
        max_clusters=p.max_clusters,
        merge_rel=p.merge_rel,
        max_shift=int(round(p.max_shift_ms * fs / 1e3)),
        window=slice(
            max(0, int(round((p.pre_ms - p.merge_window_ms) * fs / 1e3))),
            int(round((p.pre_ms + p.merge_window_ms) * fs / 1e3)),
        ),
        min_spikes=p.min_spikes,
        seed=p.seed,
    )
    times = (res.spike_samples + offsets) / fs
    return UnitSpikes(times, labels, templates * noise, np.ones(times.size))


def expected_noise_crossings(res: StreamResult, threshold_sd: float) -> float:
    """Crossings of ``threshold_sd`` (one polarity) that Gaussian noise of the band-passed
    trace's spectrum makes over the recording: Rice's rate ``sd' / (2 pi sd) exp(-u^2 / 2)``
    with ``sd'`` the robust SD of the first difference (per sample) and ``sd`` the noise SD."""
    x = res.filtered_uv
    sd = res.noise_uv
    d = np.diff(x[: min(x.size, 2_000_000)])  # the first 100 s at 20 kHz are enough
    sd_d = float(np.median(np.abs(d)) / 0.6744897501960817) if d.size else 0.0
    if not sd > 0:
        return 0.0
    rate_per_sample = sd_d / (2 * np.pi * sd) * np.exp(-(threshold_sd**2) / 2)
    return float(rate_per_sample * res.n_samples)


def _shape_corr(a: np.ndarray, b: np.ndarray, max_shift: int) -> tuple[float, int]:
    best, best_s = -1.0, 0
    na = np.linalg.norm(a)
    for s_ in range(-max_shift, max_shift + 1):
        bs = shift_wave(b, s_)
        den = na * np.linalg.norm(bs)
        if den > 0:
            r = float(a @ bs / den)
            if r > best:
                best, best_s = r, s_
    return best, best_s


def clean_clusters(res: StreamResult, sp: UnitSpikes, p: Params) -> UnitSpikes:
    """Stage 2: drop noise clusters, merge over-split clusters.

    A cluster is dropped when its template (mean waveform) peaks below the detection threshold
    itself (every member crossed it, so the members share no waveform: they cancel), or when its
    template peak is below ``threshold_sd + noise_cluster_margin_sd`` noise SDs and it holds no
    more spikes than noise alone crosses the threshold
    (``N0 + 3 sqrt(N0) + 3``, N0 from :func:`expected_noise_crossings`). Two clusters are one unit
    when their shapes correlate >= ``merge_shape_corr`` (best shift up to ``max_shift_ms``), their
    sizes differ less than 3-fold, and their spikes are never closer than ``refractory_ms`` to
    each other's more often than 10 % of what two independent trains would show (ISI evidence,
    needs >= 3 expected) or, with no such coincidence and shapes correlating >=
    ``merge_same_corr``, 80 % of the smaller's spikes follow one of the larger within 20 ms (a burst
    with amplitude decrement), or their shapes correlate
    >= ``merge_same_corr`` at sizes within 25 % (indistinguishable by waveform) without more
    coincidences than half of chance.
    """
    fs = res.fs_hz
    noise = res.noise_uv
    labels = sp.labels.copy()
    templates = list(sp.templates_uv)
    ids = list(range(1, len(templates) + 1))
    n0 = expected_noise_crossings(res, p.threshold_sd)
    dropped = 0
    for k in list(ids):
        n = int(np.sum(labels == k))
        peak = float(np.abs(templates[k - 1]).max()) / noise if noise > 0 else np.inf
        incoherent = peak < p.threshold_sd  # members' waveforms cancel: no common spike shape
        if incoherent or (
            peak < p.threshold_sd + p.noise_cluster_margin_sd and n <= n0 + 3 * np.sqrt(n0) + 3
        ):
            labels[labels == k] = -1
            ids.remove(k)
            dropped += 1
    refr = p.refractory_ms / 1e3
    dur = res.duration_s
    max_shift = int(round(p.max_shift_ms * fs / 1e3))
    times = sp.times_s.copy()
    merged = 0
    changed = True
    while changed and len(ids) > 1:
        changed = False
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                ta, tb = np.sort(times[labels == a]), np.sort(times[labels == b])
                amp_a = float(np.abs(templates[a - 1]).max())
                amp_b = float(np.abs(templates[b - 1]).max())
                if max(amp_a, amp_b) > 3 * min(amp_a, amp_b):
                    continue
                r, shift = _shape_corr(templates[a - 1], templates[b - 1], max_shift)
                if r < p.merge_shape_corr:
                    continue
                j = np.searchsorted(ta, tb)
                near = np.minimum(
                    np.abs(tb - ta[np.clip(j - 1, 0, ta.size - 1)]),
                    np.abs(ta[np.clip(j, 0, ta.size - 1)] - tb),
                )
                cross = int(np.sum(near < refr))
                expected = 2 * refr * ta.size * tb.size / max(dur, 1e-9)
                big, small = (ta, tb) if amp_a >= amp_b else (tb, ta)
                jj = np.searchsorted(big, small) - 1
                follows = (
                    np.mean((jj >= 0) & (small - big[np.clip(jj, 0, None)] < 0.02))
                    if small.size
                    else 0.0
                )
                isi_ok = expected >= 3 and cross <= 0.1 * expected
                burst_ok = cross == 0 and follows >= 0.8 and r >= p.merge_same_corr
                alike = (
                    r >= p.merge_same_corr
                    and max(amp_a, amp_b) <= 1.25 * min(amp_a, amp_b)
                    and cross <= max(1, 0.5 * expected)
                )
                if not (isi_ok or burst_ok or alike):
                    continue
                keep, gone = (a, b) if np.sum(labels == a) >= np.sum(labels == b) else (b, a)
                s_ = shift if keep == a else -shift
                times[labels == gone] -= s_ / fs
                labels[labels == gone] = keep
                ids.remove(gone)
                merged += 1
                changed = True
                break
            if changed:
                break
    # renumber by decreasing template amplitude; templates re-estimated in the matching stage
    ids.sort(key=lambda k: -float(np.abs(templates[k - 1]).max()))
    out = np.full(labels.size, -1, dtype=np.int64)
    for new, k in enumerate(ids, start=1):
        out[labels == k] = new
    tpl = (
        np.array([templates[k - 1] for k in ids])
        if ids
        else np.zeros((0, sp.templates_uv.shape[1] if sp.templates_uv.ndim == 2 else 0))
    )
    return UnitSpikes(times, out, tpl, np.ones(times.size), dropped, merged)


def _mean_waveforms(
    x: np.ndarray, samples: np.ndarray, labels: np.ndarray, n_units: int, pre: int, post: int
) -> np.ndarray:
    out = np.zeros((n_units, pre + post))
    for k in range(1, n_units + 1):
        s_ = samples[labels == k]
        s_ = s_[(s_ - pre >= 0) & (s_ + post <= x.size)]
        if s_.size:
            out[k - 1] = x[s_[:, None] + np.arange(-pre, post)[None, :]].mean(axis=0)
    return out


def _adaptive_thresholds(x: np.ndarray, templates: np.ndarray, m, p: Params) -> np.ndarray:
    """Per-unit matched-filter thresholds (:func:`fmslab.skinnerve.matching.unit_thresholds`)
    from the templates re-estimated after the first matching round: each unit's spike count is
    the count found at ``match_threshold_sd`` divided by the share of its spikes that clear it
    (``Phi(z_k - u)``, at least 0.2 so that a unit barely above threshold is not inflated)."""
    noise = score_noise(x, templates)
    norms2 = (templates**2).sum(axis=1)
    ok = (noise[:, 0] > 0) & (norms2 > 0)
    z = np.where(ok, norms2 / np.where(ok, noise[:, 0], 1.0), 0.0)
    ratio = np.where(ok, noise[:, 1] / np.where(ok, noise[:, 0], 1.0), 0.0)
    counts = np.bincount(m.unit, minlength=len(templates))[: len(templates)].astype(float)
    share = np.maximum(special.ndtr(z - p.match_threshold_sd), 0.2)
    thr = unit_thresholds(
        z, counts / share, ratio, x.size, lo=p.match_threshold_min_sd, hi=p.match_threshold_sd
    )
    return np.where(ok, thr, p.match_threshold_sd)


def match_pass(res: StreamResult, sp: UnitSpikes, p: Params) -> UnitSpikes:
    """Stage 3: template matching of the whole trace with the clean templates
    (:func:`fmslab.skinnerve.matching.match_templates`), twice: with the first-pass templates, then
    with templates re-estimated from the matched spikes (first-pass templates of small units are
    biased upwards: only spikes that noise pushed over the threshold were detected)."""
    fs = res.fs_hz
    pre, post = int(round(p.pre_ms * fs / 1e3)), int(round(p.post_ms * fs / 1e3))
    n_units = len(sp.templates_uv)
    if n_units == 0 or not p.match:
        return sp
    x = res.filtered_uv
    samples = np.round(sp.times_s * fs).astype(np.int64)
    templates = _mean_waveforms(x, samples, sp.labels, n_units, pre, post)
    exclude = np.zeros(x.size, dtype=bool)
    for a, b in res.blank_spans:
        exclude[max(0, a) : max(0, b + 1)] = True  # no spike placed inside a blanked span
    m = None
    thresholds: float | np.ndarray = p.match_threshold_sd
    gains = None
    chunk = max(10 * (pre + post), int(p.chunk_s * fs))
    for it in range(p.match_iterations):
        if it >= 1 and p.match_threshold_min_sd < p.match_threshold_sd:
            thresholds = _adaptive_thresholds(x, templates, m, p)
        if it >= 1 and p.match_track_drift:
            # m.amplitude is relative to the unscaled template; the median normalises it
            gains = drift_gains(m.sample, m.unit, m.amplitude, n_units, x.size, chunk)
        m = match_templates(
            x,
            templates,
            pre,
            threshold_sd=thresholds,
            amp_min=p.match_amp_min,
            amp_max=p.match_amp_max,
            rounds=p.match_rounds,
            chunk=chunk,
            exclude=exclude,
            gains=gains,
        )
        new = _mean_waveforms(x, m.sample, m.unit + 1, n_units, pre, post)
        ok = np.array([np.sum(m.unit == k) >= p.min_spikes for k in range(n_units)])
        templates = np.where(ok[:, None], new, templates)
    assert m is not None
    labels = m.unit + 1
    counts = np.bincount(labels, minlength=n_units + 1)[1:]
    keep = [k for k in range(1, n_units + 1) if counts[k - 1] >= p.min_spikes]
    remap = np.full(n_units + 1, -1, dtype=np.int64)
    keep.sort(key=lambda k: -float(np.abs(templates[k - 1]).max()))
    for new_k, k in enumerate(keep, start=1):
        remap[k] = new_k
    labels = remap[labels]
    return UnitSpikes(
        times_s=(m.sample + m.frac) / fs,
        labels=labels,
        templates_uv=np.array([templates[k - 1] for k in keep])
        if keep
        else np.zeros((0, pre + post)),
        amplitude=m.amplitude,
        noise_clusters=sp.noise_clusters,
        merged=sp.merged,
    )


def analyze_recording(
    rec: Recording, params: Params | None = None, *, file: str | None = None
) -> FileResult:
    """Analyse one opened recording (see docs/skinnerve.md for every rule)."""
    p = params or Params()
    label = file or rec.path.name
    res = process(rec, p)
    fs = res.fs_hz
    noise = res.noise_uv
    sp = match_pass(res, clean_clusters(res, first_pass_clusters(res, p), p), p)
    templates_uv = sp.templates_uv
    times, labels = sp.times_s, sp.labels
    order = np.argsort(times, kind="stable")
    times, labels = times[order], labels[order]
    scale = sp.amplitude[order] if sp.amplitude.size == times.size else np.ones(times.size)
    stim_s = res.stimulus_samples / fs
    warnings: list[str] = []
    if not np.any(labels > 0):
        warnings.append(
            f"no units: no spike cluster clearly above the noise ({noise:.3g} uV SD; "
            f"{res.spike_samples.size} threshold crossings, {sp.noise_clusters} noise cluster(s))"
        )
        log.warning("%s: %s", label, warnings[-1])

    mech_role = next((r for r in MECHANICAL_ROLES if r in res.aux), None)
    if mech_role:
        steps = find_steps(
            res.aux_time_s,
            res.aux[mech_role],
            min_step=p.mech_min_step.get(mech_role, 0.1),
            min_duration_s=p.mech_min_duration_ms / 1e3,
            plateau_fraction=p.plateau_fraction,
        )
    else:
        steps = find_steps(np.zeros(0), np.zeros(0), min_step=1.0)
    if "temperature" in res.aux:
        ramps = find_thermal_ramps(
            res.aux_time_s, res.aux["temperature"], min_change_c=p.thermal_min_change_c
        )
    else:
        ramps = find_thermal_ramps(np.zeros(0), np.zeros(0))
    base = R.baseline_intervals(res.duration_s, stim_s, steps, ramps, p.baseline_margin_s)
    censored = p.dead_ms / 1e3

    unit_rows, resp_frames, artefact_rows = [], [], []
    for k in range(1, int(labels.max(initial=0)) + 1):
        t = times[labels == k]
        q = unit_quality(
            t, templates_uv[k - 1], noise, res.duration_s, p.refractory_ms / 1e3, censored
        )
        lat = R.latency_to_stimuli(t, stim_s, p)
        driven = lat["follow_fraction"] >= p.min_follow_fraction
        n_followed = lat["follow_fraction"] * lat["n_stimuli"]
        if (
            driven
            and n_followed >= p.artefact_min_stimuli
            and lat["latency_sd_ms"] < p.artefact_max_jitter_ms
        ):
            # locked to the stimulus more tightly than a conducting axon can be: an artefact
            artefact_rows.append(
                {"file": label, "cluster": k, **q, **lat, "reason": "latency jitter "
                 f"{lat['latency_sd_ms'] * 1e3:.1f} us < {p.artefact_max_jitter_ms * 1e3:.0f} us"}
            )  # fmt: skip
            labels[labels == k] = 0
            continue
        driven = lat["follow_fraction"] >= p.min_follow_fraction
        lat["latency_peak_ms"] = lat["latency_ms"]
        if driven:
            shift = _onset_before_alignment_ms(rec, t, stim_s, lat, p)
            lat["latency_ms"] = lat["latency_peak_ms"] - shift if np.isfinite(shift) else np.nan
        cv = (
            rec.conduction_distance_mm / lat["latency_ms"]
            if (driven and rec.conduction_distance_mm)
            else np.nan
        )
        spont = R.spontaneous(t, base)
        rate_test = R.conservative_rate_hz(spont)
        mech = R.mechanical_responses(
            t,
            steps,
            rate_test,
            alpha=p.response_alpha,
            ramp_min_s=p.ramp_min_s,
            force_time_s=res.aux_time_s if mech_role else None,
            force=res.aux[mech_role] if mech_role else None,
        )
        ms = R.mechanical_summary(mech, p)
        therm = (
            R.thermal_responses(
                t,
                ramps,
                res.aux_time_s,
                res.aux["temperature"],
                rate_test,
                alpha=p.response_alpha,
            )
            if "temperature" in res.aux
            else pd.DataFrame()
        )
        cold = therm[(therm["stimulus"] == "cold") & therm["responded"]] if len(therm) else therm
        heat = therm[(therm["stimulus"] == "heat") & therm["responded"]] if len(therm) else therm
        fclass = R.fibre_class(cv, p.cv_cutoffs)
        mech_thr_mn = ms["mech_threshold"] if mech_role == "force" else np.nan
        rtype = R.receptor_type(
            fclass,
            ms["mech_responsive"],
            ms["slowly_adapting"],
            mech_thr_mn,
            len(cold) > 0,
            len(heat) > 0,
            p,
        )
        row = {
            "file": label,
            "unit_id": k,
            **q,
            **lat,
            "electrically_driven": driven,
            "cv_m_s": cv,
            "fibre_class": fclass,
            **spont,
            **R.train_statistics(t, res.duration_s),
            **ms,
            "mech_unit": CANONICAL_UNIT[mech_role] if mech_role else "",
            "von_frey_threshold_mn": mech_thr_mn,
            "cold_responsive": len(cold) > 0,
            "cold_threshold_c": float(cold["threshold_c"].iloc[0]) if len(cold) else np.nan,
            "heat_responsive": len(heat) > 0,
            "heat_threshold_c": float(heat["threshold_c"].iloc[0]) if len(heat) else np.nan,
            "receptor_type": rtype,
        }
        unit_rows.append(row)
        for df in (mech, therm):
            if len(df):
                df = df.copy()
                df.insert(0, "unit_id", k)
                df.insert(0, "file", label)
                if df["stimulus"].iloc[0] == "mechanical":
                    df["amplitude_unit"] = CANONICAL_UNIT[mech_role]
                else:
                    df["amplitude_unit"] = "degC"
                resp_frames.append(df)
        if len(stim_s):
            resp_frames.append(
                pd.DataFrame(
                    [
                        {
                            "file": label,
                            "unit_id": k,
                            "stimulus": "electrical",
                            "index": 0,
                            "onset_s": stim_s[0],
                            "offset_s": stim_s[-1],
                            "amplitude": np.nan,
                            "total_spikes": int(round(lat["follow_fraction"] * len(stim_s))),
                            "latency_ms": lat["latency_ms"],
                            "responded": driven,
                            "amplitude_unit": "",
                        }
                    ]
                )
            )
    units = pd.DataFrame(unit_rows)
    if len(units):
        # unit under study: follows the electrical stimulus and fires most to the receptive-field
        # stimuli; without a driven unit, the one with most stimulus-evoked spikes
        evoked = {k: 0 for k in units["unit_id"]}
        for df in resp_frames:
            if len(df) and df["stimulus"].iloc[0] != "electrical":
                for u, n in df[df["responded"]].groupby("unit_id")["total_spikes"].sum().items():
                    evoked[u] += int(n)
        units["evoked_spikes"] = units["unit_id"].map(evoked)
        keys = [
            (bool(r.electrically_driven), r.evoked_spikes, r.amplitude_uv)
            for r in units.itertuples(index=False)
        ]
        units["is_unit_under_study"] = False
        units.loc[max(range(len(keys)), key=keys.__getitem__), "is_unit_under_study"] = True
    responses = pd.concat(resp_frames, ignore_index=True) if resp_frames else pd.DataFrame()
    keep = labels > 0
    peak_uv = np.array([float(np.abs(t).max()) for t in templates_uv]) if len(templates_uv) else []
    spikes = pd.DataFrame(
        {
            "file": label,
            "unit_id": labels[keep],
            "time_s": times[keep],
            # the spike's size: its least-squares scale times the template's peak
            "amplitude_uv": scale[keep] * np.asarray(peak_uv)[labels[keep] - 1]
            if keep.any()
            else np.zeros(0),
        }
    )
    examples = _example_waveforms(res, spikes, p)
    res.filtered_uv = np.zeros(0, dtype=np.float32)  # the full trace is not needed any more
    snippets = read_windows(rec, _snippet_windows(spikes, steps, stim_s, res.duration_s), p)
    return FileResult(
        file=label,
        units=units,
        responses=responses,
        spikes=spikes,
        steps=steps,
        ramps=ramps,
        stream=res,
        templates_uv=templates_uv,
        mech_role=mech_role,
        roles=dict(rec.roles),
        pre_samples=int(round(p.pre_ms * fs / 1e3)),
        snippets=snippets,
        warnings=warnings,
        artefacts=pd.DataFrame(artefact_rows),
        examples=examples,
    )


def _onset_before_alignment_ms(
    rec: Recording, t: np.ndarray, stim_s: np.ndarray, lat: dict, p: Params
) -> float:
    """How long before its alignment point (the band-passed extreme) a unit's spike starts on the
    raw trace, in ms.

    The raw nerve is averaged around the unit's evoked spikes (up to 50, first spike in the
    latency window after each stimulus); baseline = median of the average 1.0-0.6 ms before the
    alignment point; the raw peak = the extreme within ±0.3 ms of it; the onset = walking back from
    that peak, where the deviation from baseline falls to 10 % of the peak's (linear
    interpolation between samples).
    """
    fs = rec.fs_hz
    centre = lat["latency_peak_ms"] / 1e3
    win = max(p.latency_window_ms, 0.05 * lat["latency_peak_ms"]) / 1e3
    ts = np.sort(t)
    ev = []
    for s_ in stim_s:
        i0, i1 = np.searchsorted(ts, [s_ + centre - win, s_ + centre + win])
        if i1 > i0:
            ev.append(ts[i0])
    if len(ev) < 3:
        return float("nan")
    ev = np.asarray(ev[:: max(1, len(ev) // 50)])
    raw = read_raw_windows(rec, ev, 1.5, 1.0)
    if len(raw) < 3:
        return float("nan")
    avg = raw.mean(axis=0)
    pre = int(round(1.5e-3 * fs))
    base = float(np.median(avg[pre - int(round(1.0e-3 * fs)) : pre - int(round(0.6e-3 * fs))]))
    d = avg - base
    r = max(1, int(round(0.3e-3 * fs)))
    k = pre - r + int(np.argmax(np.abs(d[pre - r : pre + r + 1])))
    peak = d[k]
    level = 0.1 * abs(peak)
    j = k
    while j > 0 and np.sign(d[j]) == np.sign(peak) and abs(d[j]) > level:
        j -= 1
    # interpolate between j (at or below the level) and j + 1 (above it)
    y0, y1 = abs(d[j]) * (np.sign(d[j]) == np.sign(peak)), abs(d[j + 1])
    frac = (level - y0) / (y1 - y0) if y1 > y0 else 0.0
    onset = j + float(np.clip(frac, 0.0, 1.0))
    return (pre - onset) / fs * 1e3


def _example_waveforms(
    res: StreamResult, spikes: pd.DataFrame, p: Params, n_max: int = 100
) -> dict[int, np.ndarray]:
    """Up to ``n_max`` individual waveforms per unit (evenly spread over the recording)."""
    fs = res.fs_hz
    pre, post = int(round(p.pre_ms * fs / 1e3)), int(round(p.post_ms * fs / 1e3))
    x = res.filtered_uv
    out = {}
    for k, g in spikes.groupby("unit_id"):
        s_ = np.round(g["time_s"].to_numpy() * fs).astype(np.int64)
        s_ = s_[(s_ - pre >= 0) & (s_ + post <= x.size)]
        if s_.size > n_max:
            s_ = s_[np.linspace(0, s_.size - 1, n_max).astype(int)]
        out[int(k)] = x[s_[:, None] + np.arange(-pre, post)[None, :]].astype(np.float32)
    return out


def _snippet_windows(
    spikes: pd.DataFrame, steps: pd.DataFrame, stim_s: np.ndarray, duration_s: float
) -> dict[int, tuple[float, float]]:
    """Per unit, a short window to show at full rate: its best-responded step (onset -0.2 s to
    +1 s), else its first spike within 100 ms of an electrical pulse, else its densest second."""
    out = {}
    for k, g in spikes.groupby("unit_id"):
        t = g["time_s"].to_numpy()
        win = None
        if len(steps):
            counts = [
                ((t >= a) & (t < b)).sum()
                for a, b in zip(steps["onset_s"], steps["offset_s"], strict=True)
            ]
            if max(counts) > 0:
                on = float(steps["onset_s"].iloc[int(np.argmax(counts))])
                win = (max(0.0, on - 0.2), on + 1.0)
        if win is None and len(stim_s):
            j = np.searchsorted(t, stim_s)
            hits = [s for s, i in zip(stim_s, j, strict=True) if i < t.size and t[i] - s < 0.1]
            if hits:
                win = (max(0.0, hits[0] - 0.01), hits[0] + 0.11)
        if win is None and t.size:
            c = np.searchsorted(t, t + 1.0) - np.arange(t.size)
            t0 = float(t[int(np.argmax(c))])
            win = (max(0.0, t0 - 0.2), min(duration_s, t0 + 0.8))
        if win is not None:
            out[int(k)] = win
    return out


def analyze_file(
    path: str | Path | Reader,
    cmap: ChannelMap | None = None,
    params: Params | None = None,
    *,
    require_stimulus: bool = False,
) -> FileResult:
    """Open and analyse one recording file."""
    rec = open_recording(path, cmap)
    if require_stimulus and "stimulus" not in rec.roles:
        raise InputError(
            "no stimulus channel in the channel map (needed for conduction velocity)", file=rec.path
        )
    return analyze_recording(rec, params, file=rec.path.name)
