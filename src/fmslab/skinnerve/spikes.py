"""Spike detection and unit discrimination on band-passed extracellular signals.

Plain functions on arrays:

- :func:`bandpass_sos` / scipy ``sosfiltfilt`` (zero phase), applied chunk by chunk with overlap by
  :mod:`fmslab.skinnerve.stream`;
- :func:`mad_sigma`: noise SD as ``median(|x|) / 0.6745`` (Quiroga et al. 2004);
- :func:`detect_peaks`: threshold crossings of ``|x|`` (or one polarity) with a dead time, each
  spike aligned on its largest absolute sample;
- :func:`sort_spikes`: PCA (SVD) of noise-scaled waveforms, k-means (``scipy.cluster.vq.kmeans2``,
  over-clustered) and agglomerative merging of clusters whose templates differ by less than
  ``merge_rel`` of the larger template's norm;
- :func:`unit_quality`: SNR (template peak / noise SD), refractory-period violations and the
  contamination estimate of Hill, Mehta & Kleinfeld (2011, J Neurosci 31:8699).
"""

from __future__ import annotations

import numpy as np
from scipy import signal
from scipy.cluster.vq import kmeans2

MAD_TO_SD = 0.6744897501960817


def bandpass_sos(
    fs_hz: float, low_hz: float = 300.0, high_hz: float = 3000.0, order: int = 3
) -> np.ndarray:
    """Butterworth band-pass as second-order sections (high edge capped below Nyquist)."""
    high = min(high_hz, 0.45 * fs_hz)
    return signal.butter(order, [low_hz, high], btype="bandpass", fs=fs_hz, output="sos")


def mad_sigma(x: np.ndarray) -> float:
    """Robust noise SD of a zero-median signal: ``median(|x|) / 0.6745``."""
    return float(np.median(np.abs(x)) / MAD_TO_SD) if x.size else float("nan")


def detect_peaks(
    xf: np.ndarray, threshold: float, *, dead_samples: int, polarity: str = "both"
) -> np.ndarray:
    """Indices of threshold crossings, aligned on the extreme sample, ``dead_samples`` apart.

    ``polarity``: ``"neg"``, ``"pos"`` or ``"both"`` (largest absolute value).
    """
    if polarity == "neg":
        y = -xf
    elif polarity == "pos":
        y = xf
    elif polarity == "both":
        y = np.abs(xf)
    else:
        raise ValueError(f"polarity must be neg, pos or both, not {polarity!r}")
    peaks, _ = signal.find_peaks(y, height=threshold, distance=max(1, dead_samples))
    return peaks


def drop_opposite_phases(xf: np.ndarray, peaks: np.ndarray, window: int) -> np.ndarray:
    """Drop a detection that lies within ``window`` samples of a larger one of opposite sign.

    A wide biphasic spike crosses the threshold with both phases; with ``polarity="both"`` each
    phase would be a detection. Same-sign neighbours (bursts, overlaps) are kept.
    """
    if peaks.size < 2:
        return peaks
    keep = np.ones(peaks.size, dtype=bool)
    v = xf[peaks]
    for i in range(peaks.size - 1):
        j = i + 1
        if peaks[j] - peaks[i] <= window and np.sign(v[i]) != np.sign(v[j]) and keep[i] and keep[j]:
            if abs(v[i]) >= abs(v[j]):
                keep[j] = False
            else:
                keep[i] = False
    return peaks[keep]


def extract_waveforms(
    xf: np.ndarray, idx: np.ndarray, pre: int, post: int
) -> tuple[np.ndarray, np.ndarray]:
    """Waveforms ``xf[i-pre : i+post]`` for indices fully inside ``xf``; returns (waves, kept)."""
    idx = np.asarray(idx, dtype=np.int64)
    ok = (idx - pre >= 0) & (idx + post <= xf.size)
    take = idx[ok][:, None] + np.arange(-pre, post)[None, :]
    return xf[take].astype(np.float32), ok


def pca_features(waves: np.ndarray, n_components: int = 3) -> np.ndarray:
    """Projection of waveforms on their first principal components (SVD of centred data)."""
    centred = waves - waves.mean(axis=0)
    # components from a subsample keep this cheap for very many spikes
    sub = centred if len(centred) <= 20000 else centred[:: len(centred) // 20000 + 1]
    _u, _s, vt = np.linalg.svd(sub, full_matrices=False)
    return centred @ vt[:n_components].T


def shift_wave(x: np.ndarray, s: int) -> np.ndarray:
    """``y[..., i] = x[..., i - s]`` with zeros shifted in (works on one waveform or a stack)."""
    y = np.zeros_like(x)
    n = x.shape[-1]
    if s >= 0:
        y[..., s:] = x[..., : n - s]
    else:
        y[..., : n + s] = x[..., -s:]
    return y


def _shift_distance(
    a: np.ndarray, b: np.ndarray, shifts: range, window: slice
) -> tuple[float, int]:
    norm = max(np.linalg.norm(a[window]), np.linalg.norm(b[window]), 1e-12)
    best, best_s = np.inf, 0
    for s in shifts:
        d = np.linalg.norm(a[window] - shift_wave(b, s)[window]) / norm
        if d < best:
            best, best_s = d, s
    return float(best), best_s


def template_distance(
    a: np.ndarray,
    b: np.ndarray,
    max_shift: int,
    window: slice = slice(None),
    small_shift: int = 2,
    shifted_penalty: float = 2.0,
) -> tuple[float, int]:
    """Relative distance between two templates, and the shift (samples) that gives it.

    The smaller of (1) ``|a - shift(b, s)| / max(|a|, |b|)`` over the whole waveform and
    ``|s| <= max_shift`` (one unit aligned on different phases) and (2) the same over ``window``
    (the samples around the alignment point) with ``|s| <= small_shift`` (one unit whose waveforms
    carry a neighbouring spike elsewhere in the window). A match needing a shift larger than
    ``small_shift`` counts ``shifted_penalty`` times its distance: phase-flipped copies of one unit
    are near-identical, while different units can look alike once shifted far enough.
    """
    d1, s1 = _shift_distance(a, b, range(-max_shift, max_shift + 1), slice(None))
    if abs(s1) > small_shift:
        d1 *= shifted_penalty
    d2, s2 = _shift_distance(a, b, range(-small_shift, small_shift + 1), window)
    return (d1, s1) if d1 <= d2 else (d2, s2)


def sort_spikes(
    waves: np.ndarray,
    *,
    max_clusters: int = 8,
    merge_rel: float = 0.3,
    max_shift: int = 0,
    window: slice = slice(None),
    min_spikes: int = 5,
    reassign: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster waveforms into units.

    Parameters
    ----------
    waves
        (n_spikes, n_samples) waveforms in noise-SD units.
    max_clusters
        k-means is run with this many clusters (over-clustering), then clusters are merged.
    merge_rel
        Two clusters are merged while ``|T_a - shift(T_b, s)| < merge_rel * max(|T_a|, |T_b|)`` for
        their mean waveforms (templates) T and the best shift ``|s| <= max_shift`` samples; the
        closest pair is merged first. The shift catches one unit split by alignment on different
        phases (the merged spikes are re-aligned by ``s``).
    window
        Samples compared when merging (see :func:`template_distance`).
    min_spikes
        Clusters with fewer spikes are labelled -1 (unsorted).
    reassign
        Finally give every sorted spike to the template nearest over ``window`` (template
        matching), which moves spikes that k-means grouped by a neighbouring overlapping spike.

    Returns
    -------
    labels, templates, offsets
        ``labels`` 1..n in order of decreasing template peak amplitude (-1 unsorted);
        ``templates`` (n, n_samples) for labels 1..n; ``offsets`` per spike, in samples, to add to
        its detection sample so that all spikes of a unit are aligned alike.
    """
    n = len(waves)
    offsets = np.zeros(n, dtype=np.int64)
    if n == 0:
        return (
            np.zeros(0, dtype=np.int64),
            np.zeros((0, waves.shape[1] if waves.ndim == 2 else 0)),
            offsets,
        )
    waves = np.array(waves, dtype=np.float64)
    k = int(min(max_clusters, max(1, n // 3)))
    if k > 1:
        feats = pca_features(waves, n_components=min(4, waves.shape[1]))
        rng = np.random.default_rng(seed)
        best, best_wss = None, np.inf
        for _ in range(3):
            cent, lab = kmeans2(feats, k, minit="++", seed=rng)
            wss = float(((feats - cent[lab]) ** 2).sum())
            if wss < best_wss:
                best, best_wss = lab, wss
        labels = np.asarray(best, dtype=np.int64)
    else:
        labels = np.zeros(n, dtype=np.int64)
    groups = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
    temps = {c: waves[i].mean(axis=0) for c, i in groups.items()}
    while len(groups) > 1:
        keys = list(groups)
        best_pair, best_d, best_s = None, np.inf, 0
        for a_i, a in enumerate(keys):
            for b in keys[a_i + 1 :]:
                d, s = template_distance(temps[a], temps[b], max_shift, window)
                if d < best_d:
                    best_pair, best_d, best_s = (a, b), d, s
        if best_d >= merge_rel or best_pair is None:
            break
        a, b = best_pair
        if len(groups[b]) > len(groups[a]):  # keep the alignment of the larger cluster
            a, b, best_s = b, a, -best_s
        moved = groups.pop(b)
        if best_s:
            waves[moved] = shift_wave(waves[moved], best_s)
            offsets[moved] -= best_s
        groups[a] = np.concatenate([groups[a], moved])
        temps[a] = waves[groups[a]].mean(axis=0)
        temps.pop(b)
    kept = [c for c in groups if len(groups[c]) >= min_spikes]
    kept.sort(key=lambda c: -np.abs(temps[c]).max())
    out = np.full(n, -1, dtype=np.int64)
    for new, c in enumerate(kept, start=1):
        out[groups[c]] = new
    if reassign and len(kept) > 1:
        # template matching: every sorted spike goes to the template it matches best over the
        # central window (a neighbouring spike elsewhere in the window no longer decides)
        tm = np.array([temps[c] for c in kept])[:, window]
        sorted_idx = np.flatnonzero(out > 0)
        resid = ((waves[sorted_idx][:, None, window] - tm[None, :, :]) ** 2).sum(axis=2)
        out[sorted_idx] = np.argmin(resid, axis=1) + 1
        for new in range(1, len(kept) + 1):
            if np.any(out == new):
                temps[kept[new - 1]] = waves[out == new].mean(axis=0)
    templates = np.array([temps[c] for c in kept]) if kept else np.zeros((0, waves.shape[1]))
    return out, templates, offsets


def refractory_violations(times_s: np.ndarray, refractory_s: float = 1e-3) -> int:
    """Number of inter-spike intervals shorter than ``refractory_s``."""
    t = np.sort(np.asarray(times_s))
    return int(np.sum(np.diff(t) < refractory_s))


def contamination_hill(
    n_violations: int,
    n_spikes: int,
    duration_s: float,
    refractory_s: float = 1e-3,
    censored_s: float = 0.0,
    rate_sum_hz: float | None = None,
) -> float:
    """False-positive fraction from refractory violations (Hill et al. 2011).

    Solves ``n_v = 2 (tau_r - tau_c) N^2 f (1 - f) / T`` for the contaminating fraction f; returns
    1.0 when the violations exceed what complete contamination gives (f = 0.5 at the maximum).
    ``rate_sum_hz``, when given, replaces ``N^2 / T`` (= N times the mean rate) by the sum over
    spikes of the unit's local rate (:func:`local_rate_sum`), for units that fire in bursts.
    """
    if n_spikes < 2 or duration_s <= 0:
        return float("nan")
    n2t = n_spikes**2 / duration_s if rate_sum_hz is None else rate_sum_hz
    a = 2 * (refractory_s - censored_s) * n2t
    r = n_violations / a if a > 0 else 0.0
    if r >= 0.25:
        return 1.0
    return float((1 - np.sqrt(1 - 4 * r)) / 2)


def local_rate_sum(times_s: np.ndarray, window_s: float = 1.0) -> float:
    """Sum over spikes of the firing rate in a ``window_s`` window centred on each (Hz).

    Equals ``N^2 / T`` for a stationary train; larger when spikes come in bursts, where chance
    refractory violations are more likely.
    """
    t = np.sort(np.asarray(times_s, dtype=np.float64))
    if t.size == 0:
        return 0.0
    lo = np.searchsorted(t, t - window_s / 2, side="left")
    hi = np.searchsorted(t, t + window_s / 2, side="left")
    return float(((hi - lo) / window_s).sum())


def unit_quality(
    times_s: np.ndarray,
    template: np.ndarray,
    noise_sd: float,
    duration_s: float,
    refractory_s: float = 1e-3,
    censored_s: float = 0.0,
) -> dict[str, float]:
    """SNR (template |peak| / noise SD), refractory violations and Hill contamination of a unit."""
    nv = refractory_violations(times_s, refractory_s)
    n = len(times_s)
    return {
        "n_spikes": n,
        "amplitude_uv": float(np.abs(template).max()) if template.size else float("nan"),
        "snr": float(np.abs(template).max() / noise_sd)
        if template.size and noise_sd > 0
        else float("nan"),
        "isi_violations": nv,
        "isi_violation_fraction": nv / max(n - 1, 1),
        "contamination": contamination_hill(nv, n, duration_s, refractory_s, censored_s),
        "contamination_local": contamination_hill(
            nv, n, duration_s, refractory_s, censored_s, rate_sum_hz=local_rate_sum(times_s)
        ),
    }


def match_spike_times(true_s: np.ndarray, found_s: np.ndarray, tol_s: float = 0.5e-3) -> int:
    """Number of one-to-one matches between two sorted spike-time lists within ``tol_s``."""
    true_s, found_s = np.sort(true_s), np.sort(found_s)
    i = j = m = 0
    while i < true_s.size and j < found_s.size:
        d = found_s[j] - true_s[i]
        if abs(d) <= tol_s:
            m += 1
            i += 1
            j += 1
        elif d < 0:
            j += 1
        else:
            i += 1
    return m
