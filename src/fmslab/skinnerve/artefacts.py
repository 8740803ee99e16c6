"""Stimulus artefacts recognised by their waveform: identical after every stimulus.

A conducting axon's evoked spike jitters from stimulus to stimulus (tens of microseconds or
more), so the band-passed windows cut at a fixed delay after each stimulus differ by more than
the noise: a window shifted by ``d`` samples differs from the mean by about ``d * w'`` (``w'``
the mean window's slope), so the excess variance over the noise estimates the jitter,
``J^2 = (E|w_i - w|^2 - E|b_i - b|^2) / |w'|^2`` with ``b_i`` windows of the same length before
each stimulus (the noise, through the same filter). An artefact (the band-passed ringing of the
stimulus) is the same after every stimulus: ``J`` is 0 up to the estimate's noise. This measures
jitter without the detector's spike times, whose own timing noise at low SNR makes an artefact
look jittered; windows holding another spike (energy > 3x the median) are left out.
The estimate is first-order: exact for jitter well below the spike's phase width (the range that
matters for the 0.02-ms artefact limit); larger jitter reads high (about 1.3x at 0.1 ms, 2x at
0.2 ms for a 0.15-ms phase), never low.
"""

from __future__ import annotations

import numpy as np


def waveform_jitter_ms(
    x_uv: np.ndarray,
    fs_hz: float,
    stimulus_samples: np.ndarray,
    latency_ms: float,
    *,
    half_window_ms: float = 0.5,
    baseline_gap_ms: float = 5.0,
) -> tuple[float, float, np.ndarray]:
    """Jitter (ms) of the waveform locked to the stimuli at ``latency_ms``, from the windows'
    variance (see the module docstring), its upper bound, and the stimulus-locked mean window.

    Parameters
    ----------
    x_uv
        Band-passed trace.
    stimulus_samples
        Sample of each stimulus.
    latency_ms
        Delay of the window's centre after each stimulus.
    half_window_ms
        Half length of the windows.
    baseline_gap_ms
        The noise windows end this long before each stimulus.

    Returns
    -------
    (jitter_ms, upper_ms, mean_window)
        ``upper_ms``: the jitter with the excess variance raised by 2 standard errors (from the
        spread of the windows' energies), so that "below a limit" is a decision with ~2.5 %
        error, not a point estimate's coin toss. NaN with fewer than 3 usable windows or a flat
        mean window.
    """
    half = max(2, int(round(half_window_ms * fs_hz / 1e3)))
    lag = int(round(latency_ms * fs_hz / 1e3))
    gap = int(round(baseline_gap_ms * fs_hz / 1e3))
    s = np.asarray(stimulus_samples, dtype=np.int64)
    centre = s + lag
    base_c = s - gap - half
    ok = (centre - half >= 0) & (centre + half < x_uv.size) & (base_c - half >= 0)
    offs = np.arange(-half, half + 1)
    if ok.sum() < 3:
        return float("nan"), float("nan"), np.zeros(offs.size)
    w = x_uv[centre[ok, None] + offs].astype(np.float64)
    b = x_uv[base_c[ok, None] + offs].astype(np.float64)
    mean_w = w.mean(axis=0)
    e_w = ((w - mean_w) ** 2).sum(axis=1)
    e_b = ((b - b.mean(axis=0)) ** 2).sum(axis=1)
    # a window holding another spike (spontaneous, another unit) is left out of both sums
    keep = (e_w <= 3 * np.median(e_w)) & (e_b <= 3 * np.median(e_b))
    n = int(keep.sum())
    slope2 = float((np.gradient(mean_w) ** 2).sum())
    if n < 3 or not slope2 > 0:
        return float("nan"), float("nan"), mean_w
    diff = (e_w[keep].mean() - e_b[keep].mean()) * n / (n - 1)
    se = np.sqrt((e_w[keep].var(ddof=1) + e_b[keep].var(ddof=1)) / n)
    to_ms = 1e3 / fs_hz
    jitter = np.sqrt(max(0.0, diff) / slope2) * to_ms
    upper = np.sqrt(max(0.0, diff + 2 * se) / slope2) * to_ms
    return float(jitter), float(upper), mean_w


def same_shape(a: np.ndarray, b: np.ndarray) -> float:
    """Peak normalised cross-correlation of two waveforms over all lags (1 = same shape)."""
    a = np.asarray(a, dtype=np.float64) - np.mean(a)
    b = np.asarray(b, dtype=np.float64) - np.mean(b)
    den = np.linalg.norm(a) * np.linalg.norm(b)
    if not den > 0:
        return 0.0
    return float(np.max(np.correlate(a, b, mode="full")) / den)
