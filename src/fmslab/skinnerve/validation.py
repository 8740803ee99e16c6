"""Independent ground truth for the skin-nerve sorter: SpikeInterface's generator and comparison.

:func:`si_recording` builds a one-channel recording with SpikeInterface
(``spikeinterface.core.generate_ground_truth_recording`` for templates and noise,
``InjectTemplatesRecording`` to add spikes with per-spike amplitude factors); fmslab only chooses
the spike trains (Poisson with a refractory period, bursts with amplitude decrement), a slow
amplitude drift, mains hum (50 Hz and harmonics) and a baseline drift. The unit under study is
scaled to a requested **band-passed SNR** = peak |template| after the 300-3000 Hz band-pass /
SD of the band-passed noise. :func:`si_scores` scores a sorting with
``spikeinterface.comparison.compare_sorter_to_ground_truth`` (0.5 ms tolerance).
:func:`mad_baseline` is the plain detector the tables compare against: |band-passed| > 5 MAD.

Needs ``spikeinterface`` (a test dependency of fmslab).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal

from fmslab.skinnerve.spikes import bandpass_sos, mad_sigma


@dataclass
class GroundTruth:
    """A generated recording: trace (uV), rate, true spike times per unit, target unit name."""

    trace_uv: np.ndarray
    fs_hz: float
    spikes: pd.DataFrame  # unit, time_s
    target: str
    snr_bp: dict[str, float]


def _train(rng, rate_hz, dur_s, refractory_s, burst_p, burst_n, burst_isi_s):
    """Poisson train with a refractory period; a share ``burst_p`` of spikes start a burst of
    ``burst_n`` spikes at ``burst_isi_s`` (amplitude factor decreasing 15 % per spike)."""
    t, out, amp = 0.0, [], []
    while True:
        t += refractory_s + rng.exponential(1.0 / rate_hz)
        if t >= dur_s - 0.05:
            break
        out.append(t)
        amp.append(1.0)
        if rng.random() < burst_p:
            for j in range(1, burst_n):
                t += burst_isi_s * (1 + 0.1 * rng.standard_normal())
                if t >= dur_s - 0.05:
                    break
                out.append(t)
                amp.append(0.85**j)
    return np.asarray(out), np.asarray(amp)


def si_recording(
    snr: float,
    seed: int,
    *,
    duration_s: float = 60.0,
    fs_hz: float = 20000.0,
    noise_uv: float = 10.0,
    mains_uv: float = 8.0,
    n_other: int = 2,
    burst_p: float = 0.15,
    burst_n: int = 3,
) -> GroundTruth:
    """One channel: the unit under study at band-passed SNR ``snr``, ``n_other`` other units
    (one larger, one smaller), bursts, refractory periods, amplitude drift, hum and drift.

    ``burst_p`` of the unit under study's spikes start a burst of ``burst_n`` spikes 8 ms apart,
    each 15 % smaller than the one before (the other units: 5 % of bursts of 3)."""
    from spikeinterface.core import NumpySorting
    from spikeinterface.core.generate import (
        InjectTemplatesRecording,
        NoiseGeneratorRecording,
        generate_templates,
        generate_unit_locations,
    )

    rng = np.random.default_rng(seed)
    n_units = 1 + n_other
    n = int(duration_s * fs_hz)
    # the building blocks of SpikeInterface's generate_ground_truth_recording, for one contact
    chan = np.zeros((1, 2))
    locs = generate_unit_locations(n_units, chan, seed=seed, margin_um=20.0, minimum_z=5.0,
                                   maximum_z=40.0, minimum_distance=5.0)  # fmt: skip
    ms_before, ms_after = 1.5, 3.0
    templates = generate_templates(chan, locs, fs_hz, ms_before, ms_after, seed=seed)[:, :, 0]
    nbefore = int(ms_before * fs_hz / 1000.0)
    noise = NoiseGeneratorRecording(
        num_channels=1,
        sampling_frequency=fs_hz,
        durations=[duration_s],
        noise_level=noise_uv,
        dtype="float32",
        seed=seed,
        strategy="on_the_fly",
        noise_block_size=int(fs_hz),
    )
    noise_tr = np.asarray(noise.get_traces(0, 0, n))[:, 0].astype(np.float64)
    sos = bandpass_sos(fs_hz)
    sd_bp = mad_sigma(signal.sosfiltfilt(sos, noise_tr))

    def bp_peak(t):
        padded = np.concatenate([np.zeros(200), t, np.zeros(200)])
        return float(np.abs(signal.sosfiltfilt(sos, padded)).max())

    # target SNR; others: one 1.8x larger, one at 0.5x (mostly under threshold)
    rel = [1.0, 1.8, 0.5][:n_units]
    scaled, snrs = [], {}
    names = ["target"] + [f"other{i}" for i in range(1, n_units)]
    for k in range(n_units):
        t = templates[k] / bp_peak(templates[k]) * (snr * rel[k] * sd_bp)
        scaled.append(t)
        snrs[names[k]] = snr * rel[k]
    rates = [6.0, 4.0, 8.0][:n_units]
    times, labels, amps = [], [], []
    for k in range(n_units):
        tt, aa = _train(
            rng, rates[k], duration_s, 0.003, burst_p if k == 0 else 0.05,
            burst_n if k == 0 else 3, 0.008,
        )  # fmt: skip
        drift = 1.0 + 0.15 * np.sin(2 * np.pi * tt / duration_s + rng.uniform(0, 6.3))
        times.append(tt)
        labels.append(np.full(tt.size, k))
        amps.append(aa * drift)
    t_all = np.concatenate(times)
    lab = np.concatenate(labels)
    amp = np.concatenate(amps)
    order = np.argsort(t_all)
    t_all, lab, amp = t_all[order], lab[order], amp[order]
    samples = np.round(t_all * fs_hz).astype(np.int64)
    sorting = NumpySorting.from_times_labels([samples], [lab], fs_hz)
    inj = InjectTemplatesRecording(
        sorting,
        np.stack(scaled)[:, :, None].astype(np.float32),
        nbefore=nbefore,
        amplitude_factor=amp,
        parent_recording=noise,
        num_samples=[n],
    )
    x = np.asarray(inj.get_traces(0, 0, n))[:, 0].astype(np.float64)
    tt = np.arange(n) / fs_hz
    for h, a in ((1, 1.0), (2, 0.3), (3, 0.5), (5, 0.25), (7, 0.15)):
        x += mains_uv * a * np.sin(2 * np.pi * 50.0 * h * tt + rng.uniform(0, 6.3))
    knots = np.linspace(0, duration_s, int(duration_s / 2) + 1)
    x += np.interp(tt, knots, rng.normal(0, 50.0, knots.size))
    spikes = pd.DataFrame({"unit": [names[k] for k in lab], "time_s": samples / fs_hz})
    return GroundTruth(x, fs_hz, spikes, "target", snrs)


def si_scores(
    gt: GroundTruth, found: pd.DataFrame, tol_ms: float = 0.5, units: list[str] | None = None
) -> pd.DataFrame:
    """SpikeInterface's comparison of a sorting (``unit_id, time_s``) with the ground truth.

    One row per true unit (``units``: only these, e.g. the target alone for a detector that makes
    one "unit" of everything): best-matching found unit (Hungarian), precision, recall, F1.
    """
    if units is not None:
        gt = GroundTruth(
            gt.trace_uv, gt.fs_hz, gt.spikes[gt.spikes["unit"].isin(units)], gt.target, gt.snr_bp
        )
    from spikeinterface.comparison import compare_sorter_to_ground_truth
    from spikeinterface.core import NumpySorting

    names = sorted(gt.spikes["unit"].unique())
    idx = {u: i for i, u in enumerate(names)}
    gt_s = NumpySorting.from_times_labels(
        [np.round(gt.spikes["time_s"].to_numpy() * gt.fs_hz).astype(np.int64)],
        [gt.spikes["unit"].map(idx).to_numpy()],
        gt.fs_hz,
    )
    if len(found):
        f_s = NumpySorting.from_times_labels(
            [np.round(found["time_s"].to_numpy() * gt.fs_hz).astype(np.int64)],
            [found["unit_id"].to_numpy().astype(np.int64)],
            gt.fs_hz,
        )
    else:
        f_s = NumpySorting.from_unit_dict({}, gt.fs_hz)
    # match_score 0.01: a found unit is paired with a true unit even when it is mostly wrong
    # (e.g. the one "unit" of a threshold detector), so that its precision is reported, not 0
    cmp = compare_sorter_to_ground_truth(
        gt_s, f_s, delta_time=tol_ms, exhaustive_gt=True, match_score=0.01
    )
    perf = cmp.get_performance(method="by_unit")
    rows = []
    for u in names:
        r = perf.loc[idx[u]]
        pr, rc = float(r["precision"]), float(r["recall"])
        f1 = 2 * pr * rc / (pr + rc) if pr + rc > 0 else 0.0
        rows.append({"unit": u, "snr_bp": gt.snr_bp[u], "precision": pr, "recall": rc, "f1": f1})
    return pd.DataFrame(rows)


def mad_baseline(gt: GroundTruth, k: float = 5.0, dead_ms: float = 1.0) -> pd.DataFrame:
    """Baseline "sorter": |band-passed| > k MAD-SD, one unit (all detections), dead time."""
    xf = signal.sosfiltfilt(bandpass_sos(gt.fs_hz), gt.trace_uv)
    pk, _ = signal.find_peaks(
        np.abs(xf), height=k * mad_sigma(xf), distance=int(dead_ms * gt.fs_hz / 1e3)
    )
    return pd.DataFrame({"unit_id": 1, "time_s": pk / gt.fs_hz})


def _near(a: np.ndarray, b: np.ndarray, tol_s: float) -> np.ndarray:
    """For each time in ``a``: is a time of ``b`` within ``tol_s``."""
    if b.size == 0:
        return np.zeros(a.size, dtype=bool)
    b = np.sort(b)
    j = np.searchsorted(b, a)
    d = np.minimum(
        np.abs(a - b[np.clip(j - 1, 0, b.size - 1)]), np.abs(b[np.clip(j, 0, b.size - 1)] - a)
    )
    return d <= tol_s


def oracle_ceiling(
    gt: GroundTruth,
    tol_ms: float = 0.5,
    known: tuple[str, ...] = ("other1",),
    band_hz: tuple[float, float] = (300.0, 3000.0),
):
    """F1 of the unit under study for a detector told the truth it could at best learn.

    The target's band-passed mean waveform at its true times is the matched filter; the spikes
    of the ``known`` units (the larger one, which any sorter finds) are subtracted at their true
    times with least-squares amplitudes; score peaks (at least 1.25 ms apart) above a threshold
    are the detections, and the threshold is the one giving the best F1 (chosen with the answer).
    What remains is what a single channel cannot tell apart: noise peaks and the smaller unit of
    the same shape. ``band_hz``: the band the matched filter works in (the generator's noise is
    white, so a wider band is closer to the optimal filter); a band reaching below 300 Hz gets
    the generator's mains harmonics (100-350 Hz) notched. Returns ``(f1, precision, recall, threshold)``.
    """
    fs = gt.fs_hz
    sos = bandpass_sos(fs, *band_hz)
    # below 300 Hz the hum's harmonics pass: notched (the 300-3000 Hz ceiling stays as it was)
    lines = [50.0 * h for h in (2, 3, 5, 7)] if band_hz[0] < 300.0 else []
    for f0 in lines:
        b, a = signal.iirnotch(f0, 30.0, fs=fs)
        sos = np.concatenate([sos, signal.tf2sos(b, a)])
    xf = signal.sosfiltfilt(sos, gt.trace_uv)
    pre, post, half = 40, 60, int(round(1.25e-3 * fs / 2))

    def inside(times):
        s = np.round(times * fs).astype(np.int64)
        return s[(s > pre + 1) & (s < xf.size - post - 1)]

    for u in known:
        s1 = inside(gt.spikes.loc[gt.spikes["unit"] == u, "time_s"].to_numpy())
        if s1.size:
            w = xf[s1[:, None] + np.arange(-pre, post)]
            m = w.mean(axis=0)
            for j, a in zip(s1, w @ m / (m @ m), strict=True):
                xf[j - pre : j + post] -= a * m
    tgt = gt.spikes.loc[gt.spikes["unit"] == gt.target, "time_s"].to_numpy()
    w = xf[inside(tgt)[:, None] + np.arange(-pre, post)].mean(axis=0)
    pk = int(np.argmax(np.abs(w)))
    tpl = w[pk - 20 : pk + 30]
    c = np.correlate(xf, tpl, mode="valid")
    z = c / (np.median(np.abs(c)) / 0.6744897501960817)
    p, _ = signal.find_peaks(z, height=2.0, distance=2 * half)
    t_det = (p + 20 - (pk - pre)) / fs
    hit = _near(t_det, tgt, tol_ms / 1e3)
    best = (0.0, 0.0, 0.0, 0.0)
    for u in np.arange(2.5, 7.0, 0.05):
        sel = z[p] >= u
        if not sel.any():
            break
        pr = float(np.mean(hit[sel]))
        rc = float(np.mean(_near(tgt, t_det[sel & hit], tol_ms / 1e3)))
        f1 = 2 * pr * rc / (pr + rc) if pr + rc > 0 else 0.0
        if f1 > best[0]:
            best = (f1, pr, rc, float(u))
    return best


def stage_recall(gt: GroundTruth, first_pass_s: np.ndarray, found: pd.DataFrame, tol_ms=0.5):
    """Where the unit under study's spikes are lost, stage by stage.

    ``first_pass``: share of its true spikes with a threshold crossing within ``tol_ms``;
    ``any_unit``: with a sorted spike of any unit; ``own_unit``: in the found unit holding most
    of them; and that unit's spikes that are the larger/smaller unit's or noise (counts).
    """
    tol = tol_ms / 1e3
    tgt = gt.spikes.loc[gt.spikes["unit"] == gt.target, "time_s"].to_numpy()
    out = {
        "first_pass": float(np.mean(_near(tgt, first_pass_s, tol))),
        "any_unit": float(np.mean(_near(tgt, found["time_s"].to_numpy(), tol))),
    }
    best, best_n = None, -1
    for u, g in found.groupby("unit_id"):
        n = int(_near(tgt, g["time_s"].to_numpy(), tol).sum())
        if n > best_n:
            best, best_n = u, n
    own = found.loc[found["unit_id"] == best, "time_s"].to_numpy() if best is not None else []
    own = np.asarray(own, dtype=float)
    out["own_unit"] = best_n / max(tgt.size, 1)
    rest = ~_near(own, tgt, tol)
    for u in sorted(set(gt.spikes["unit"]) - {gt.target}):
        from_u = _near(own, gt.spikes.loc[gt.spikes["unit"] == u, "time_s"].to_numpy(), tol)
        out[f"fp_{u}"] = int(np.sum(rest & from_u))
        rest &= ~from_u
    out["fp_noise"] = int(np.sum(rest))
    return out
