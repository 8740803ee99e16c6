"""The analysis of one recording: stream pass, sorting, stimuli, per-unit measures -> tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from fmslab.errors import InputError
from fmslab.skinnerve import responses as R
from fmslab.skinnerve.artefacts import same_shape, waveform_jitter_ms
from fmslab.skinnerve.channels import CANONICAL_UNIT, MECHANICAL_ROLES, ChannelMap
from fmslab.skinnerve.io import Reader, Recording, open_recording
from fmslab.skinnerve.matching import (
    drift_gains,
    match_templates,
    score_noise,
    split_by_scale,
    truncated_mean_scale,
    unit_thresholds,
)
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.spikes import shift_wave, sort_spikes, unit_quality
from fmslab.skinnerve.stimuli import find_steps, find_thermal_ramps
from fmslab.skinnerve.stream import StreamResult, process, read_raw_windows, read_windows
from fmslab.skinnerve.unmarked import (
    Lattice,
    complete_lattice,
    find_lattices,
    lattice_times,
    stimulus_lattices,
)

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


def _matched_snr(x: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Matched-filter SNR of each template in ``x``: template energy / SD of its score."""
    sd = score_noise(x, templates)[:, 0]
    e = (templates**2).sum(axis=1)
    return np.where(sd > 0, e / np.where(sd > 0, sd, 1.0), 0.0)


def _matching_trace(
    res: StreamResult, samples: np.ndarray, labels: np.ndarray, n_units: int, pre: int, post: int
) -> np.ndarray:
    """The trace the matching pass works on: the wider band (``match_uv``) when the units'
    matched-filter SNR is higher there (median over units), else the detection band.

    A spike in white noise is best found with all of its spectrum (measured +10 % matched-filter
    SNR on the independent generator); where the added low frequencies carry more noise than
    spike (EMG, movement), the detection band wins and is kept.
    """
    if not res.match_uv.size or n_units == 0:
        return res.filtered_uv
    z_bp = _matched_snr(
        res.filtered_uv, _mean_waveforms(res.filtered_uv, samples, labels, n_units, pre, post)
    )
    z_wide = _matched_snr(
        res.match_uv, _mean_waveforms(res.match_uv, samples, labels, n_units, pre, post)
    )
    ok = z_bp > 0
    if ok.any() and float(np.median(z_wide[ok] / z_bp[ok])) > 1.0:
        log.info("matching in the wider band (matched-filter SNR x%.2f)", float(
            np.median(z_wide[ok] / z_bp[ok])))  # fmt: skip
        return res.match_uv
    return res.filtered_uv


def _relative_scales(m, gains, chunk) -> np.ndarray:
    """Each matched spike's scale relative to its unit's drift gain at that time."""
    if gains is None:
        return m.amplitude
    ci = np.minimum(m.sample // chunk, gains.shape[1] - 1)
    g = gains[m.unit, ci]
    return m.amplitude / np.where(g > 0, g, 1.0)


def _scale_priors(x, m, templates, gains, chunk, p: Params):
    """Per unit, for :func:`fmslab.skinnerve.matching.choice_score`: its own spread of spike size
    (SD of the drift-corrected scales of its matched spikes, less the score noise ``1 / z_k``
    in quadrature; at least ``scale_sd_min``) and the log of its share of spikes (counts
    corrected, as for the thresholds, for the share of spikes a 4.5-SD round would miss)."""
    n = len(templates)
    z = _matched_snr(x, templates)
    rel = _relative_scales(m, gains, chunk)
    tau = np.full(n, p.scale_sd_min)
    for k in range(n):
        a = rel[m.unit == k]
        if a.size >= p.min_spikes and z[k] > 0:
            a = a / np.mean(a)
            tau[k] = np.sqrt(max(float(np.var(a)) - 1.0 / z[k] ** 2, p.scale_sd_min**2))
    counts = np.maximum(np.bincount(m.unit, minlength=n)[:n].astype(float), 1.0)
    return tau, np.log(counts / counts.sum())


def _smaller_same_shape(templates: np.ndarray, split_off: list[int], max_shift: int, p: Params):
    """Units that have a larger unit of the same shape: the smaller parts of split units, and
    any unit whose template correlates >= ``merge_same_corr`` (best shift) with a larger unit's
    and is at most ``split_max_ratio`` of its peak. Only size tells such units apart."""
    out = set(split_off)
    peak = np.abs(templates).max(axis=1) if len(templates) else np.zeros(0)
    for k in range(len(templates)):
        for j in range(len(templates)):
            if j == k or not peak[j] > 0 or peak[k] > p.split_max_ratio * peak[j]:
                continue
            if _shape_corr(templates[j], templates[k], max_shift)[0] >= p.merge_same_corr:
                out.add(k)
                break
    return sorted(out)


def _debiased_template(x, m, template, k, gains, chunk, p: Params) -> np.ndarray:
    """A split-off (smaller) unit's template, the mean of its matched spikes, scaled by the
    selection-corrected mean scale (:func:`fmslab.skinnerve.matching.truncated_mean_scale`):
    only its spikes that noise moved above the threshold and below the larger unit's size were
    matched, so their mean overstates its size, and the next round would take the larger unit's
    shrunken (burst) spikes for it."""
    a = _relative_scales(m, gains, chunk)[m.unit == k]
    if a.size < p.min_spikes or not np.mean(a) > 0:
        return template
    b = a / np.mean(a)  # in units of ``template`` (the mean of these spikes)
    z = float(_matched_snr(x, template[None, :])[0])
    if not z > 0:
        return template
    mu = truncated_mean_scale(b, float(np.hypot(1.0 / z, p.scale_sd_min)))
    return template * float(np.clip(mu, 0.3, 1.0))


def _split_same_shape(x, m, templates, gains, chunk, pre, post, fs, splittable, p: Params):
    """Split a unit whose matched-spike scales are two same-shape populations
    (:func:`fmslab.skinnerve.matching.split_by_scale`): its smaller population becomes a unit of
    its own (template = their mean waveform), so that the next matching round assigns each
    spike to the nearer size instead of accepting the smaller unit's spikes whenever noise and
    drift lift them into the larger one's scale window."""
    n_units = len(templates)
    # drift-corrected scales (in the first round, the drift estimated from these matches)
    g_used = gains if gains is not None else drift_gains(
        m.sample, m.unit, m.amplitude, n_units, x.size, chunk)  # fmt: skip
    rel = _relative_scales(m, g_used, chunk)
    z = _matched_snr(x, templates)
    unit = m.unit.copy()
    added: list[int] = []
    split: list[int] = []
    for k in range(n_units):
        if not splittable[k]:
            continue
        sel = np.flatnonzero(unit == k)
        res_k = split_by_scale(
            rel[sel],
            m.sample[sel] / fs,
            min_spikes=p.split_min_spikes,
            max_ratio=p.split_max_ratio,
            noise_sd=1.0 / z[k] if z[k] > 0 else np.inf,
            min_noise_separation=p.split_min_noise_sd,
        )
        if res_k is None:
            continue
        log.info(
            "unit %d scales: means %.2f/%.2f sd %.2f/%.2f n %d/%d D %.2f dBIC %.1f follow %.2f "
            "noise-sep %.2f%s",
            k + 1, *res_k.mean, *res_k.sd, int(res_k.lower.sum()), int((~res_k.lower).sum()),
            res_k.separation, res_k.delta_bic, res_k.follow_fraction, res_k.noise_separation,
            " -> split" if res_k.split else "",
        )  # fmt: skip
        if not res_k.split:
            continue
        splittable[k] = False
        split.append(k)
        new_id = n_units + len(added)
        unit[sel[res_k.lower]] = new_id
        added.append(new_id)
    if not added:
        return m, templates, n_units, gains
    m = replace(m, unit=unit)
    n_new = n_units + len(added)
    # both parts of a split unit get the mean waveform of their own spikes; the rest stay
    tpl = np.vstack([templates, np.zeros((len(added), templates.shape[1]))])
    mean = _mean_waveforms(x, m.sample, m.unit + 1, n_new, pre, post)
    for k in split + added:
        tpl[k] = mean[k]
    if gains is not None:
        gains = np.vstack([gains, np.ones((len(added), gains.shape[1]))])
    return m, tpl, n_new, gains


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
    samples = np.round(sp.times_s * fs).astype(np.int64)
    x = _matching_trace(res, samples, sp.labels, n_units, pre, post)
    templates = _mean_waveforms(x, samples, sp.labels, n_units, pre, post)
    exclude = np.zeros(x.size, dtype=bool)
    for a, b in res.blank_spans:
        exclude[max(0, a) : max(0, b + 1)] = True  # no spike placed inside a blanked span
    m = None
    thresholds: float | np.ndarray = p.match_threshold_sd
    gains = None
    scale_sd = log_prior = None
    chunk = max(10 * (pre + post), int(p.chunk_s * fs))
    splittable = [True] * n_units  # a unit is split at most once; a split-off unit never
    split_off: list[int] = []  # the smaller parts of split units
    smaller: list[int] = []  # units with a larger unit of the same shape
    max_shift = int(round(p.max_shift_ms * fs / 1e3))
    for it in range(p.match_iterations):
        if it >= 1 and p.match_threshold_min_sd < p.match_threshold_sd:
            thresholds = _adaptive_thresholds(x, templates, m, p)
        if it >= 1 and p.match_track_drift:
            # m.amplitude is relative to the unscaled template; the median normalises it
            gains = drift_gains(m.sample, m.unit, m.amplitude, n_units, x.size, chunk)
        if it >= 1 and p.match_scale_prior and smaller:
            scale_sd, log_prior = _scale_priors(x, m, templates, gains, chunk, p)
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
            # in the wider band a candidate overlapping a better spike waits for the residual
            min_separation=pre + post if x is not res.filtered_uv else None,
            scale_sd=scale_sd,
            log_prior=log_prior,
        )
        new = _mean_waveforms(x, m.sample, m.unit + 1, n_units, pre, post)
        ok = np.array([np.sum(m.unit == k) >= p.min_spikes for k in range(n_units)])
        templates = np.where(ok[:, None], new, templates)
        smaller = _smaller_same_shape(templates, split_off, max_shift, p)
        for k in smaller:
            if ok[k]:
                templates[k] = _debiased_template(x, m, templates[k], k, gains, chunk, p)
        if p.match_split_scale and it < p.match_iterations - 1:
            m, templates, n_units, gains = _split_same_shape(
                x, m, templates, gains, chunk, pre, post, fs, splittable, p
            )
            added = list(range(len(splittable), n_units))
            split_off += added
            splittable = splittable + [False] * (n_units - len(splittable))
            smaller = _smaller_same_shape(templates, split_off, max_shift, p)
            # only the units just split off: earlier ones were corrected above in this round
            for k in added:
                templates[k] = _debiased_template(x, m, templates[k], k, gains, chunk, p)
    assert m is not None
    labels = m.unit + 1
    counts = np.bincount(labels, minlength=n_units + 1)[1:]
    keep = [k for k in range(1, n_units + 1) if counts[k - 1] >= p.min_spikes]
    remap = np.full(n_units + 1, -1, dtype=np.int64)
    keep.sort(key=lambda k: -float(np.abs(templates[k - 1]).max()))
    for new_k, k in enumerate(keep, start=1):
        remap[k] = new_k
    labels = remap[labels]
    if x is not res.filtered_uv:
        templates = _mean_waveforms(res.filtered_uv, m.sample, m.unit + 1, n_units, pre, post)
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


@dataclass(frozen=True)
class SortedUnits:
    """The final spikes of a recording in time order: ``labels`` 1..n (0: not a unit),
    ``scale`` the least-squares size of each spike relative to its unit's template."""

    times_s: np.ndarray
    labels: np.ndarray
    templates_uv: np.ndarray
    scale: np.ndarray
    noise_clusters: int

    @property
    def n_units(self) -> int:
        return int(self.labels.max(initial=0))

    def spikes_s(self, unit: int) -> np.ndarray:
        """Spike times (s) of unit ``unit`` (1-based)."""
        return self.times_s[self.labels == unit]

    def without(self, unit: int) -> SortedUnits:
        """The same spikes with unit ``unit`` relabelled 0 (not a unit)."""
        return replace(self, labels=np.where(self.labels == unit, 0, self.labels))


def sort_units(res: StreamResult, p: Params) -> SortedUnits:
    """Stages 1-3 (:func:`first_pass_clusters`, :func:`clean_clusters`, :func:`match_pass`),
    the spikes put in time order."""
    sp = match_pass(res, clean_clusters(res, first_pass_clusters(res, p), p), p)
    order = np.argsort(sp.times_s, kind="stable")
    scale = sp.amplitude[order] if sp.amplitude.size == sp.times_s.size else np.ones(order.size)
    return SortedUnits(
        times_s=sp.times_s[order],
        labels=sp.labels[order],
        templates_uv=sp.templates_uv,
        scale=scale,
        noise_clusters=sp.noise_clusters,
    )


@dataclass(frozen=True)
class Stimuli:
    """The stimuli of a recording: electrical pulse onsets (s), force steps and thermal ramps
    (:mod:`fmslab.skinnerve.stimuli` tables), the mechanical channel's role (None: no
    mechanical channel) and the baseline intervals (s) away from every stimulus."""

    electrical_s: np.ndarray
    mech_role: str | None
    steps: pd.DataFrame
    ramps: pd.DataFrame
    baseline: list[tuple[float, float]]


def find_stimuli(res: StreamResult, p: Params) -> Stimuli:
    """Electrical pulses, force steps, thermal ramps and the baseline between them."""
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
    electrical_s = res.stimulus_samples / res.fs_hz
    base = R.baseline_intervals(res.duration_s, electrical_s, steps, ramps, p.baseline_margin_s)
    return Stimuli(electrical_s, mech_role, steps, ramps, base)


@dataclass(frozen=True)
class ElectricalResponse:
    """A unit's response to the electrical stimuli.

    ``latency_peak_ms``: median latency of its aligned (band-passed extreme) spike;
    ``latency_ms``: of a driven unit, to the spike's onset on the raw trace (NaN when the onset
    cannot be measured); otherwise (and for an artefact) the aligned latency;
    ``artefact_reason``: non-empty when the "unit" is locked to the stimulus more tightly than a
    conducting axon can be (then it is a stimulus artefact, not a unit).
    """

    latency_ms: float
    latency_sd_ms: float
    follow_fraction: float
    n_stimuli: int
    latency_peak_ms: float
    driven: bool
    cv_m_s: float
    artefact_reason: str = ""

    def table_fields(self) -> dict[str, float]:
        """The latency columns of the unit table, in its order."""
        return {
            "latency_ms": self.latency_ms,
            "latency_sd_ms": self.latency_sd_ms,
            "follow_fraction": self.follow_fraction,
            "n_stimuli": self.n_stimuli,
            "latency_peak_ms": self.latency_peak_ms,
        }


def _waveform_artefact(
    res: StreamResult, spike_s: np.ndarray, electrical_s: np.ndarray, latency_ms: float, p: Params
) -> str:
    """The reason a driven unit is an artefact by its waveform, or "" (see
    :mod:`fmslab.skinnerve.artefacts`): the windows at its latency after every stimulus are
    identical up to the noise (the waveform jitter's upper bound below ``artefact_max_jitter_ms``)
    and its own
    spikes have the stimulus-locked mean's shape (correlation >= ``artefact_shape_corr``)."""
    x, fs = res.filtered_uv, res.fs_hz
    if x.size == 0 or not np.isfinite(latency_ms):
        return ""
    stim = np.round(np.asarray(electrical_s) * fs).astype(np.int64)
    jitter_ms, upper_ms, mean_w = waveform_jitter_ms(x, fs, stim, latency_ms)
    if not np.isfinite(upper_ms) or upper_ms >= p.artefact_max_jitter_ms:
        return ""
    half = mean_w.size // 2
    smp = np.round(np.asarray(spike_s) * fs).astype(np.int64)
    smp = smp[(smp - half >= 0) & (smp + half < x.size)]
    if smp.size == 0:
        return ""
    own = x[smp[:, None] + np.arange(-half, half + 1)].mean(axis=0)
    r = same_shape(own, mean_w)
    if r < p.artefact_shape_corr:
        return ""
    return (
        f"waveform identical after every stimulus: waveform jitter {jitter_ms * 1e3:.1f} us "
        f"(upper bound {upper_ms * 1e3:.1f}) < {p.artefact_max_jitter_ms * 1e3:.0f} us, "
        f"shape = stimulus-locked average (r {r:.2f})"
    )


def electrical_response(
    rec: Recording,
    spike_s: np.ndarray,
    electrical_s: np.ndarray,
    p: Params,
    res: StreamResult | None = None,
) -> ElectricalResponse:
    """Latency, follow fraction, conduction velocity (m/s; distance / onset latency) of a unit,
    or the reason it is a stimulus artefact (see docs/skinnerve.md): latency jitter of its spike
    times, or (with ``res``, the band-passed trace) its waveform is the stimulus-locked one."""
    lat = R.latency_to_stimuli(spike_s, electrical_s, p)
    driven = lat["follow_fraction"] >= p.min_follow_fraction
    n_followed = lat["follow_fraction"] * lat["n_stimuli"]
    base = {**lat, "latency_peak_ms": lat["latency_ms"], "driven": driven, "cv_m_s": np.nan}
    judged = driven and n_followed >= p.artefact_min_stimuli
    if judged and lat["latency_sd_ms"] < p.artefact_max_jitter_ms:
        reason = (
            f"latency jitter {lat['latency_sd_ms'] * 1e3:.1f} us < "
            f"{p.artefact_max_jitter_ms * 1e3:.0f} us"
        )
        return ElectricalResponse(**base, artefact_reason=reason)
    if judged and res is not None:
        reason = _waveform_artefact(res, spike_s, electrical_s, lat["latency_ms"], p)
        if reason:
            return ElectricalResponse(**base, artefact_reason=reason)
    if not driven:
        return ElectricalResponse(**base)
    shift = _onset_before_alignment_ms(rec, spike_s, electrical_s, lat["latency_ms"], p)
    onset_ms = lat["latency_ms"] - shift if np.isfinite(shift) else np.nan
    distance = rec.conduction_distance_mm
    cv = distance / onset_ms if distance else np.nan
    return ElectricalResponse(**{**base, "latency_ms": onset_ms, "cv_m_s": cv})


@dataclass(frozen=True)
class FieldResponses:
    """A unit's activity away from and during the receptive-field stimuli.

    ``spontaneous``: baseline rate and ISI CV (:func:`responses.spontaneous`); ``mechanical`` and
    ``thermal``: one row per step or ramp (``responded``, ``total_spikes``, thresholds);
    ``mechanical_summary``: :func:`responses.mechanical_summary`.
    """

    spontaneous: dict[str, float]
    mechanical: pd.DataFrame
    mechanical_summary: dict[str, float]
    thermal: pd.DataFrame

    def threshold_c(self, kind: str) -> float:
        """Threshold (degC) of the first responded ``kind`` ramp (``cold``/``heat``); NaN if none."""
        t = self.thermal
        if not len(t):
            return float("nan")
        hit = t[(t["stimulus"] == kind) & t["responded"]]
        return float(hit["threshold_c"].iloc[0]) if len(hit) else float("nan")

    def responsive(self, kind: str) -> bool:
        """Whether any ``kind`` ramp (``cold``/``heat``) evoked a response."""
        t = self.thermal
        return bool(len(t) and ((t["stimulus"] == kind) & t["responded"]).any())


def field_responses(
    spike_s: np.ndarray, res: StreamResult, stimuli: Stimuli, p: Params
) -> FieldResponses:
    """Spontaneous activity, then the responses to each force step and thermal ramp, each
    tested against the conservative spontaneous rate (see docs/skinnerve.md)."""
    spont = R.spontaneous(spike_s, stimuli.baseline)
    rate_test = R.conservative_rate_hz(spont)
    role = stimuli.mech_role
    mech = R.mechanical_responses(
        spike_s,
        stimuli.steps,
        rate_test,
        alpha=p.response_alpha,
        ramp_min_s=p.ramp_min_s,
        force_time_s=res.aux_time_s if role else None,
        force=res.aux[role] if role else None,
    )
    therm = (
        R.thermal_responses(
            spike_s,
            stimuli.ramps,
            res.aux_time_s,
            res.aux["temperature"],
            rate_test,
            alpha=p.response_alpha,
        )
        if "temperature" in res.aux
        else pd.DataFrame()
    )
    return FieldResponses(spont, mech, R.mechanical_summary(mech, p), therm)


@dataclass(frozen=True)
class UnitType:
    """Fibre class (from CV), von Frey threshold (mN; NaN without a force channel) and
    receptor type (see docs/skinnerve.md's table)."""

    fibre_class: str
    von_frey_threshold_mn: float
    receptor_type: str


def classify_unit(
    electrical: ElectricalResponse, field: FieldResponses, mech_role: str | None, p: Params
) -> UnitType:
    """Fibre class and receptor type of a unit from its CV and its responses."""
    fclass = R.fibre_class(electrical.cv_m_s, p.cv_cutoffs)
    ms = field.mechanical_summary
    threshold_mn = ms["mech_threshold"] if mech_role == "force" else np.nan
    rtype = R.receptor_type(
        fclass,
        ms["mech_responsive"],
        ms["slowly_adapting"],
        threshold_mn,
        field.responsive("cold"),
        field.responsive("heat"),
        p,
    )
    return UnitType(fclass, threshold_mn, rtype)


def unit_row(
    label: str,
    unit: int,
    quality: dict[str, float],
    electrical: ElectricalResponse,
    field: FieldResponses,
    kind: UnitType,
    train: dict[str, float],
    mech_role: str | None,
) -> dict:
    """The unit table's row of one unit (columns in the table's order)."""
    return {
        "file": label,
        "unit_id": unit,
        **quality,
        **electrical.table_fields(),
        "electrically_driven": electrical.driven,
        "cv_m_s": electrical.cv_m_s,
        "fibre_class": kind.fibre_class,
        **field.spontaneous,
        **train,
        **field.mechanical_summary,
        "mech_unit": CANONICAL_UNIT[mech_role] if mech_role else "",
        "von_frey_threshold_mn": kind.von_frey_threshold_mn,
        "cold_responsive": field.responsive("cold"),
        "cold_threshold_c": field.threshold_c("cold"),
        "heat_responsive": field.responsive("heat"),
        "heat_threshold_c": field.threshold_c("heat"),
        "receptor_type": kind.receptor_type,
    }


def response_rows(
    label: str,
    unit: int,
    electrical: ElectricalResponse,
    field: FieldResponses,
    stimuli: Stimuli,
) -> pd.DataFrame:
    """The response table's rows of one unit: each step and ramp, and the electrical series."""
    frames = []
    for df in (field.mechanical, field.thermal):
        if len(df):
            df = df.copy()
            df.insert(0, "unit_id", unit)
            df.insert(0, "file", label)
            mech = df["stimulus"].iloc[0] == "mechanical"
            df["amplitude_unit"] = CANONICAL_UNIT[stimuli.mech_role] if mech else "degC"
            frames.append(df)
    stim_s = stimuli.electrical_s
    if len(stim_s):
        row = {
            "file": label,
            "unit_id": unit,
            "stimulus": "electrical",
            "index": 0,
            "onset_s": stim_s[0],
            "offset_s": stim_s[-1],
            "amplitude": np.nan,
            "total_spikes": int(round(electrical.follow_fraction * len(stim_s))),
            "latency_ms": electrical.latency_ms,
            "responded": electrical.driven,
            "amplitude_unit": "",
        }
        frames.append(pd.DataFrame([row]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def mark_unit_under_study(units: pd.DataFrame, responses: pd.DataFrame) -> pd.DataFrame:
    """``units`` with ``evoked_spikes`` (spikes of its responded steps and ramps) and
    ``is_unit_under_study``: the unit that follows the electrical stimulus and fires most to the
    receptive-field stimuli; without a driven unit, the one with most stimulus-evoked spikes
    (ties: the larger amplitude)."""
    units = units.copy()
    evoked = {k: 0 for k in units["unit_id"]}
    if len(responses):
        hits = responses[(responses["stimulus"] != "electrical") & responses["responded"]]
        for u, n in hits.groupby("unit_id")["total_spikes"].sum().items():
            evoked[u] += int(n)
    units["evoked_spikes"] = units["unit_id"].map(evoked)
    keys = [
        (bool(r.electrically_driven), r.evoked_spikes, r.amplitude_uv)
        for r in units.itertuples(index=False)
    ]
    units["is_unit_under_study"] = False
    units.loc[max(range(len(keys)), key=keys.__getitem__), "is_unit_under_study"] = True
    return units


def spike_table(label: str, sorted_units: SortedUnits) -> pd.DataFrame:
    """One row per spike of a unit: ``unit_id``, ``time_s`` and ``amplitude_uv`` (its
    least-squares scale times its template's peak)."""
    keep = sorted_units.labels > 0
    labels = sorted_units.labels[keep]
    peak_uv = np.array([float(np.abs(t).max()) for t in sorted_units.templates_uv])
    return pd.DataFrame(
        {
            "file": label,
            "unit_id": labels,
            "time_s": sorted_units.times_s[keep],
            "amplitude_uv": sorted_units.scale[keep] * peak_uv[labels - 1]
            if keep.any()
            else np.zeros(0),
        }
    )


def unmarked_stimuli(res: StreamResult, p: Params) -> list[Lattice]:
    """Stimulus artefacts of a recording without a stimulus channel: the first-pass detections
    of at least ``unmarked_min_sd`` noise SDs that repeat on a strict lattice
    (:func:`fmslab.skinnerve.unmarked.find_lattices`) and whose waveform does not jitter about
    the lattice's clock times (upper bound below ``artefact_max_jitter_ms``), one lattice per
    stimulus train (:func:`~fmslab.skinnerve.unmarked.stimulus_lattices`)."""
    if res.spike_samples.size < p.unmarked_min_members or not res.noise_uv > 0:
        return []
    amp = np.abs(res.waveforms_uv).max(axis=1) / res.noise_uv
    big = amp >= p.unmarked_min_sd
    lattices = find_lattices(
        res.spike_samples[big],
        res.fs_hz,
        amplitudes=amp[big],
        min_period_s=p.unmarked_min_period_s,
        max_period_s=min(p.unmarked_max_period_s, res.duration_s / 2),
        tolerance_ms=p.unmarked_tolerance_ms,
        min_members=p.unmarked_min_members,
        alpha=p.unmarked_alpha,
    )
    tol = max(2, int(round(p.unmarked_tolerance_ms * res.fs_hz / 1e3)))
    clocked = []
    for lat in lattices:
        lat = complete_lattice(lat, res.spike_samples, tol)  # noqa: PLW2901
        t = np.round(lattice_times(lat)).astype(np.int64)
        jitter_ms, upper_ms, _w = waveform_jitter_ms(res.filtered_uv, res.fs_hz, t, 0.0)
        log.debug(
            "lattice of %d events, period %.6g s, %.3g SD: waveform jitter %.4g ms (upper %.4g)",
            lat.samples.size, lat.period_samples / res.fs_hz, lat.amplitude, jitter_ms, upper_ms,
        )  # fmt: skip
        if np.isfinite(upper_ms) and upper_ms < p.artefact_max_jitter_ms:
            clocked.append(lat)
    return stimulus_lattices(
        clocked,
        res.fs_hz,
        max_latency_s=p.max_latency_ms / 1e3,
        tolerance_ms=p.unmarked_tolerance_ms,
    )


def analyze_recording(
    rec: Recording, params: Params | None = None, *, file: str | None = None
) -> FileResult:
    """Analyse one opened recording (see docs/skinnerve.md for every rule).

    Stages: :func:`~fmslab.skinnerve.stream.process` (filter, detect), :func:`sort_units`,
    :func:`find_stimuli`, then per unit :func:`electrical_response` (artefacts dropped),
    :func:`field_responses`, :func:`classify_unit`; :func:`mark_unit_under_study`.
    """
    p = params or Params()
    label = file or rec.path.name
    res = process(rec, p)
    warnings: list[str] = []
    if p.unmarked_artefacts and "stimulus" not in rec.roles:
        found = unmarked_stimuli(res, p)
        if found:
            inferred = np.concatenate([lat.samples for lat in found])
            res = process(rec, p, inferred_stimuli=inferred)
            periods = ", ".join(f"{lat.period_samples / res.fs_hz:.6g} s" for lat in found)
            warnings.append(
                f"no stimulus channel: {res.stimulus_samples.size} stimulus artefacts found from "
                f"their timing ({len(found)} lattice(s), period {periods}) and used as the "
                "electrical stimuli (blanked; latencies from each artefact's onset)"
            )
            log.warning("%s: %s", label, warnings[-1])
    noise = res.noise_uv
    sorted_units = sort_units(res, p)
    res.match_uv = np.zeros(0, dtype=np.float32)  # the matching band is not needed any more
    if sorted_units.n_units == 0:
        warnings.append(
            f"no units: no spike cluster clearly above the noise ({noise:.3g} uV SD; "
            f"{res.spike_samples.size} threshold crossings, "
            f"{sorted_units.noise_clusters} noise cluster(s))"
        )
        log.warning("%s: %s", label, warnings[-1])
    stimuli = find_stimuli(res, p)
    censored = p.dead_ms / 1e3

    unit_rows, resp_frames, artefact_rows = [], [], []
    for k in range(1, sorted_units.n_units + 1):
        t = sorted_units.spikes_s(k)
        q = unit_quality(
            t,
            sorted_units.templates_uv[k - 1],
            noise,
            res.duration_s,
            p.refractory_ms / 1e3,
            censored,
        )
        electrical = electrical_response(rec, t, stimuli.electrical_s, p, res)
        if electrical.artefact_reason:
            fields = electrical.table_fields()
            del fields["latency_peak_ms"]
            artefact_rows.append(
                {"file": label, "cluster": k, **q, **fields, "reason": electrical.artefact_reason}
            )
            sorted_units = sorted_units.without(k)
            continue
        field = field_responses(t, res, stimuli, p)
        kind = classify_unit(electrical, field, stimuli.mech_role, p)
        train = R.train_statistics(t, res.duration_s)
        unit_rows.append(unit_row(label, k, q, electrical, field, kind, train, stimuli.mech_role))
        resp_frames.append(response_rows(label, k, electrical, field, stimuli))
    resp_frames = [df for df in resp_frames if len(df)]
    responses = pd.concat(resp_frames, ignore_index=True) if resp_frames else pd.DataFrame()
    units = pd.DataFrame(unit_rows)
    if len(units):
        units = mark_unit_under_study(units, responses)
    spikes = spike_table(label, sorted_units)
    examples = _example_waveforms(res, spikes, p)
    res.filtered_uv = np.zeros(0, dtype=np.float32)  # the full trace is not needed any more
    res.match_uv = np.zeros(0, dtype=np.float32)
    stim_s = stimuli.electrical_s
    snippets = read_windows(rec, _snippet_windows(spikes, stimuli.steps, stim_s, res.duration_s), p)
    return FileResult(
        file=label,
        units=units,
        responses=responses,
        spikes=spikes,
        steps=stimuli.steps,
        ramps=stimuli.ramps,
        stream=res,
        templates_uv=sorted_units.templates_uv,
        mech_role=stimuli.mech_role,
        roles=dict(rec.roles),
        pre_samples=int(round(p.pre_ms * res.fs_hz / 1e3)),
        snippets=snippets,
        warnings=warnings,
        artefacts=pd.DataFrame(artefact_rows),
        examples=examples,
    )


def _onset_before_alignment_ms(
    rec: Recording, t: np.ndarray, stim_s: np.ndarray, latency_peak_ms: float, p: Params
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
    centre = latency_peak_ms / 1e3
    win = max(p.latency_window_ms, 0.05 * latency_peak_ms) / 1e3
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
