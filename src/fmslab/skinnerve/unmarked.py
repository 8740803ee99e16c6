"""Stimulus artefacts found without a stimulus channel: large events on a strict periodic lattice.

An electrical stimulator is driven by a clock: its pulses, and so their artefacts, repeat at a
fixed period to within a sample, for as long as a protocol block lasts. No axon fires like that
(a regularly firing unit's intervals vary by far more than 0.1 ms; a driven axon follows its
stimulus at a latency, so its train is a copy of the stimulus lattice shifted later). The rule:

1. candidates are the first-pass detections whose band-passed peak is at least ``min_sd`` noise
   SDs (artefacts are amplitude outliers);
2. the histogram of all forward intervals between candidates, at one-sample resolution, is
   tested lag by lag against its local background (the mean of the neighbouring lags, so that
   the smooth interval distribution of bursts and refractory periods does not count), Poisson,
   Bonferroni-corrected over the lags tested;
3. at the most significant lag P (or its fundamental), candidates are chained by intervals of P
   or 2P (a missed pulse) within ``tolerance`` samples; chains of at least ``min_members``
   events, and long enough that chance chains on the lag's background are rarer than
   ``alpha``, are a lattice;
   their events are removed and the search repeats (a protocol with several blocks or a paired
   pulse gives several lattices);
4. a lattice is an artefact only if its waveform does not jitter about the clock's times (the
   waveform-variance estimate of :mod:`fmslab.skinnerve.artefacts` at the fitted lattice times,
   its upper bound below ``artefact_max_jitter_ms``): an axon driven by stimuli whose artefact
   is too small to detect forms a lattice too, but jitters;
5. lattices with the same period whose events follow one another by at most ``max_latency_s``
   are one stimulus and what is locked to it (evoked responses, the artefact's ringing after the
   detector's dead time, the zero-phase filter's ringing before it); the largest is the artefact.

The events of the kept lattices are the inferred stimuli: the stream stage then measures each
artefact's extent on the raw trace and blanks it, exactly as for a recorded stimulus channel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Lattice:
    """Events (sample indices) that repeat at ``period_samples`` (one lattice or chain group)."""

    period_samples: int
    samples: np.ndarray
    count: int  # intervals at the lag (+- tolerance) in the candidates' interval histogram
    expected: float  # the local background there
    p_value: float  # Bonferroni-corrected Poisson tail probability of ``count``
    amplitude: float  # median of the events' amplitudes (NaN when none were given)


def interval_histogram(samples: np.ndarray, max_lag: int, *, block: int = 2_000_000) -> np.ndarray:
    """Counts of forward intervals ``samples[j] - samples[i]`` (j > i) for lags 0..max_lag.

    ``samples`` must be sorted. Pairs are enumerated in blocks of about ``block`` so memory stays
    bounded whatever the event count.
    """
    s = np.asarray(samples, dtype=np.int64)
    h = np.zeros(max_lag + 1, dtype=np.int64)
    n = s.size
    if n < 2:
        return h
    hi = np.searchsorted(s, s + max_lag, side="right")  # exclusive end of each i's partners
    i = 0
    while i < n:
        # rows i..k-1 hold at most ``block`` pairs
        cum = np.cumsum(hi[i:] - np.arange(i, n) - 1)
        k = i + max(1, int(np.searchsorted(cum, block, side="right")))
        rows = np.arange(i, min(k, n))
        m = hi[rows] - rows - 1
        if m.sum():
            first = np.repeat(rows, m)
            offs = np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m)
            lag = s[first + 1 + offs] - s[first]
            h += np.bincount(lag, minlength=max_lag + 1)[: max_lag + 1]
        i = min(k, n)
    return h


def _window_sum(h: np.ndarray, half: int) -> np.ndarray:
    """sum(h[L - half : L + half + 1]) for every lag L (zero-padded ends)."""
    c = np.concatenate([[0], np.cumsum(h)])
    idx = np.arange(h.size)
    lo = np.clip(idx - half, 0, h.size)
    hi = np.clip(idx + half + 1, 0, h.size)
    return c[hi] - c[lo]


def lag_significance(
    h: np.ndarray,
    min_lag: int,
    tolerance: int,
    *,
    background_half: int | None = None,
    harmonics: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per lag L >= ``min_lag``: intervals within ±``tolerance`` of L, 2L, ... ``harmonics`` L
    (those inside the histogram), the local background expected there, and the uncorrected
    Poisson probability of at least that count.

    A lattice of m events puts m - k intervals at k L, so summing the first harmonics multiplies
    its evidence while the background grows only by the same factor (4 harmonics: an integer lag
    is within half a sample of the period, so 4 L is within 2 samples, the tolerance).
    The background is the mean count per lag in a window of ``background_half`` lags each side
    (default: 25 windows' width or 2% of L, whichever is larger), leaving out the ±3
    ``tolerance`` lags around L, times the window's width.
    """
    width = 2 * tolerance + 1
    count = _window_sum(h, tolerance)
    lags = np.arange(h.size)
    out_c = np.zeros(h.size)
    out_e = np.full(h.size, np.inf)
    out_p = np.ones(h.size)
    c = np.concatenate([[0], np.cumsum(h)])
    half = (
        np.maximum(25 * width, (0.02 * lags).astype(np.int64))
        if background_half is None
        else np.full(h.size, background_half)
    )
    gap = 3 * tolerance + 1
    lo_a, lo_b = np.clip(lags - half, 0, h.size), np.clip(lags - gap, 0, h.size)
    hi_a, hi_b = np.clip(lags + gap + 1, 0, h.size), np.clip(lags + half + 1, 0, h.size)
    n_bg = (lo_b - lo_a) + (hi_b - hi_a)
    bg = (c[lo_b] - c[lo_a]) + (c[hi_b] - c[hi_a])
    ok = (lags >= min_lag) & (n_bg > 0)
    expected = np.where(ok, bg / np.maximum(n_bg, 1) * width, 0.0)
    # a floor on the background: one interval per window somewhere in the range
    expected = np.where(ok, np.maximum(expected, 1.0 / max(1, h.size)), 0.0)
    c_sum = np.where(ok, count, 0).astype(float)
    e_sum = expected.copy()
    for k in range(2, harmonics + 1):
        lk = k * lags
        inside = ok & (lk + gap < h.size)
        idx = np.flatnonzero(inside)
        c_sum[idx] += count[lk[idx]]
        e_sum[idx] += np.where(ok[lk[idx]], expected[lk[idx]], expected[idx])
    out_c[ok] = c_sum[ok]
    out_e[ok] = e_sum[ok]
    out_p[ok] = stats.poisson.sf(out_c[ok] - 1, out_e[ok])
    return out_c, out_e, out_p


def _chains(s: np.ndarray, period: int, tolerance: int) -> list[np.ndarray]:
    """Index chains of sorted ``s`` linked by intervals of ``period`` or ``2 * period``
    (± ``tolerance``); every event is in at most one chain."""
    n = s.size
    nxt = np.full(n, -1, dtype=np.int64)
    has_prev = np.zeros(n, dtype=bool)
    for k in (1, 2):
        target = s + k * period
        j = np.searchsorted(s, target - tolerance, side="left")
        jj = np.minimum(j, n - 1)
        hit = (j < n) & (np.abs(s[jj] - target) <= tolerance) & (nxt < 0)
        for i in np.flatnonzero(hit):
            # the closest event in the window that has no predecessor yet
            a = int(j[i])
            b = int(np.searchsorted(s, target[i] + tolerance, side="right"))
            cand = [c for c in range(a, b) if not has_prev[c] and c != i]
            if not cand:
                continue
            best = min(cand, key=lambda c: abs(int(s[c]) - int(target[i])))
            nxt[i] = best
            has_prev[best] = True
    chains = []
    for start in np.flatnonzero(~has_prev & (nxt >= 0)):
        chain = [int(start)]
        while nxt[chain[-1]] >= 0:
            chain.append(int(nxt[chain[-1]]))
        chains.append(np.asarray(chain))
    return chains


def _lag_counts(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Counts of forward intervals between events of sorted ``s`` for lags lo..hi."""
    a = np.searchsorted(s, s + lo, side="left")
    b = np.searchsorted(s, s + hi, side="right")
    m = b - a
    if not m.sum():
        return np.zeros(hi - lo + 1, dtype=np.int64)
    i = np.repeat(np.arange(s.size), m)
    j = np.repeat(a, m) + (np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m))
    return np.bincount(s[j] - s[i] - lo, minlength=hi - lo + 1)


def _near_background(s: np.ndarray, lag: int, tol: int) -> float:
    """Intervals expected within ±``tol`` of ``lag`` by chance between the events ``s``: the
    median count of the lags just beside the window (3 to 12 tolerances away) times its width.
    Local, so that a regular unit's interval peak, tens of lags wide, counts as background."""
    width = 2 * tol + 1
    lo = max(1, lag - 12 * tol)
    h = _lag_counts(s, lo, lag + 12 * tol)
    lags = np.arange(lo, lag + 12 * tol + 1)
    beside = h[np.abs(lags - lag) > 3 * tol]
    return float(np.median(beside) * width) if beside.size else 0.0


def _chain_length_needed(
    s: np.ndarray, lag: int, tol: int, min_members: int, alpha: float, n_tries: int
) -> int:
    """Fewest chain members for which chance chains are rarer than ``alpha``.

    ``s``: the events outside the lag's chains of ``min_members`` or more (chains are found
    first, so that the other events locked to the same stimuli, which crowd the lags beside P
    in a recording with evoked bursts, do not count as chance). Such an event links to a chance
    partner with probability q = (background intervals near P and near 2P) / n, so about
    n q^(m-1) chance chains of m events exist at one lag, and the search tries up to
    ``n_tries`` lags. A regular unit's intervals pile up near its mean interval and make q
    large; clean artefacts stand on an empty background.
    """
    n = max(s.size, 1)
    q = min(0.999, (_near_background(s, lag, tol) + _near_background(s, 2 * lag, tol)) / n)
    if q <= 0:
        return min_members
    return max(min_members, int(np.ceil(1 + np.log(alpha / (n * n_tries)) / np.log(q))))


def _candidate_lags(sig, p, count, expected, h, ok, p_single, tol: int, min_lag: int):
    """Lags to chain at, in order: the most significant lag L (among ties, as p underflows to
    0, the largest excess), preceded by its divisors L/k (k = 6..2) that are significant with
    their harmonics and whose own window (no harmonics, which would hold L itself) has
    uncorrected p < 1e-3: a lattice is chained at its period, not at a multiple of it, even
    when a multiple's harmonic sum happens to score higher. Each is centred on the single lag
    with most intervals within the tolerance."""
    best_p = p[sig].min()
    tied = sig[p[sig] <= best_p * (1 + 1e-9)]
    lag = int(tied[np.argmax(count[tied] - expected[tied])])
    out = []
    for k in range(6, 1, -1):
        lo = int(np.floor((lag - tol) / k)) - tol
        hi = int(np.ceil((lag + tol) / k)) + tol
        if lo < min_lag:
            continue
        win = np.flatnonzero(ok[lo : hi + 1] & (p_single[lo : hi + 1] < 1e-3))
        if win.size:
            out.append(lo + int(win[np.argmin(p[lo + win])]))
    out.append(lag)
    centred = []
    for c in out:
        lo, hi = max(0, c - tol), c + tol + 1
        centred.append(lo + int(np.argmax(h[lo:hi])))
    return centred


def find_lattices(
    samples: np.ndarray,
    fs_hz: float,
    *,
    amplitudes: np.ndarray | None = None,
    min_period_s: float = 0.01,
    max_period_s: float = 30.0,
    tolerance_ms: float = 0.1,
    min_members: int = 6,
    alpha: float = 1e-3,
    max_lattices: int = 8,
    max_attempts: int = 20,
) -> list[Lattice]:
    """Groups of events repeating at a fixed period (see the module docstring).

    Parameters
    ----------
    samples
        Candidate event samples (any order; duplicates ignored).
    fs_hz
        Sampling rate.
    amplitudes
        The events' peak sizes (any unit), kept per lattice to tell the artefact from the
        responses locked to it (:func:`stimulus_lattices`).
    min_period_s, max_period_s
        Range of periods searched.
    tolerance_ms
        Largest deviation of an interval from the period, at least 2 samples (an event's
        detected sample varies by up to a sample either way).
    min_members
        Fewest events in a chain.
    alpha
        Family-wise false-positive rate of the lag test over every lag searched.
    max_lattices
        Most lattices returned.
    max_attempts
        Significant lags tried per lattice before the search stops (a lag can be significant
        without chains of ``min_members``, e.g. many short bursts of a fixed pattern).
    """
    s, first = np.unique(np.asarray(samples, dtype=np.int64), return_index=True)
    a = (
        np.asarray(amplitudes, dtype=float)[first]
        if amplitudes is not None
        else np.full(s.size, np.nan)
    )
    tol = max(2, int(round(tolerance_ms * fs_hz / 1e3)))
    min_lag = max(3 * tol + 2, int(round(min_period_s * fs_hz)))
    max_lag = int(round(max_period_s * fs_hz))
    out: list[Lattice] = []
    n_tests = max(1, max_lag - min_lag + 1)
    while s.size >= min_members and len(out) < max_lattices:
        h = interval_histogram(s, max_lag + 3 * tol + 2)
        count, expected, p = lag_significance(h, min_lag, tol)
        _c1, _e1, p_single = lag_significance(h, min_lag, tol, harmonics=1)
        p[max_lag + 1 :] = 1.0
        p_corr = np.minimum(1.0, p * n_tests)
        ok = (p_corr < alpha) & (count >= min_members - 1)
        members: list[np.ndarray] = []
        lag = 0
        for _attempt in range(max_attempts):
            sig = np.flatnonzero(ok)
            if sig.size == 0:
                break
            tried = _candidate_lags(sig, p, count, expected, h, ok, p_single, tol, min_lag)
            for lag in tried:
                chains = [c for c in _chains(s, lag, tol) if c.size >= min_members]
                rest = np.delete(s, np.concatenate(chains)) if chains else s
                need = _chain_length_needed(
                    rest, lag, tol, min_members, alpha, n_tries=6 * max_attempts
                )
                members = [c for c in chains if c.size >= need]
                if members:
                    break
            if members:
                break
            lag = tried[-1]
            ok[max(0, lag - tol) : lag + tol + 1] = False  # tested: no chain there
        if not members:
            break
        for c in members:  # one lattice per chain: its phase is its own
            out.append(
                Lattice(
                    period_samples=lag,
                    samples=s[c],
                    count=int(count[lag]),
                    expected=float(expected[lag]),
                    p_value=float(p_corr[lag]),
                    amplitude=float(np.median(a[c])) if np.isfinite(a[c]).any() else np.nan,
                )
            )
        idx = np.concatenate(members)
        s, a = np.delete(s, idx), np.delete(a, idx)
    return out


def lattice_times(lattice: Lattice) -> np.ndarray:
    """The lattice's events as a clock would place them: the least-squares line through the
    events' samples against their pulse numbers (gaps of a missed pulse counted), in samples."""
    s = lattice.samples.astype(float)
    k = np.round((s - s[0]) / lattice.period_samples)
    if s.size < 2:
        return s
    slope, icpt = np.polyfit(k, s, 1)
    return icpt + slope * k


def complete_lattice(
    lattice: Lattice, samples: np.ndarray, tolerance: int, *, max_missing: int = 2
) -> Lattice:
    """The lattice with the events of ``samples`` (every detection, of any size) that sit on its
    clock times (within ``tolerance`` samples): inside its span, and beyond its ends until
    ``max_missing`` + 1 clock times in a row have no event. An artefact that noise or an
    overlapping spike kept below the candidates' size, or whose detection was merged into a
    spike's dead time, is still a stimulus."""
    s = np.unique(np.asarray(samples, dtype=np.int64))
    if s.size == 0 or lattice.samples.size < 2:
        return lattice
    own = lattice.samples.astype(float)
    k_own = np.round((own - own[0]) / lattice.period_samples)
    slope, icpt = np.polyfit(k_own, own, 1)

    def at(k: int) -> int | None:
        t = icpt + slope * k
        j = int(np.searchsorted(s, t))
        best = None
        for c in (j - 1, j):
            if 0 <= c < s.size and abs(s[c] - t) <= tolerance:
                if best is None or abs(s[c] - t) < abs(s[best] - t):
                    best = c
        return None if best is None else int(s[best])

    found = {int(k): int(v) for k, v in zip(k_own, lattice.samples, strict=True)}
    for k in range(int(k_own.min()), int(k_own.max()) + 1):
        if k not in found and (v := at(k)) is not None:
            found[k] = v
    for step, k0 in ((1, int(k_own.max())), (-1, int(k_own.min()))):
        k, misses = k0 + step, 0
        while misses <= max_missing and 0 <= icpt + slope * k <= s[-1] + tolerance:
            v = at(k)
            if v is None:
                misses += 1
            else:
                found[k], misses = v, 0
            k += step
    members = np.array(sorted(set(found.values())), dtype=np.int64)
    return replace(lattice, samples=members)


def stimulus_lattices(
    lattices: list[Lattice], fs_hz: float, *, max_latency_s: float = 0.15, tolerance_ms: float = 0.1
) -> list[Lattice]:
    """The lattices that are stimuli.

    Lattices of the same period (± tolerance) whose events follow one another by at most
    ``max_latency_s`` (and half the period; 80% of events) are one stimulus with what is locked to it: responses, the
    ringing of the same artefact after the detector's dead time, and the zero-phase filter's
    ringing before it. Of each such group the lattice of largest amplitude is kept (the
    artefact; the first when no amplitudes were given)."""
    tol = max(2, int(round(tolerance_ms * fs_hz / 1e3)))
    max_lat = int(round(max_latency_s * fs_hz))
    n = len(lattices)
    group = list(range(n))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i, d in enumerate(lattices):
        for j, c in enumerate(lattices):
            if j == i or abs(c.period_samples - d.period_samples) > tol:
                continue
            # distance from each event of d to the nearest event of c, on either side (a
            # response follows, the filter's ringing precedes, a second detection of the same
            # artefact may fall on either side from pulse to pulse)
            k = np.clip(np.searchsorted(c.samples, d.samples), 1, c.samples.size - 1)
            gap = np.minimum(
                np.abs(d.samples - c.samples[k - 1]), np.abs(d.samples - c.samples[k])
            ) if c.samples.size > 1 else np.abs(d.samples - c.samples[0])  # fmt: skip
            near = min(max_lat, c.period_samples // 2)
            if np.mean(gap <= near) >= 0.8:
                group[root(i)] = root(j)
    kept = []
    for g in sorted({root(i) for i in range(n)}):
        idx = [i for i in range(n) if root(i) == g]
        amp = [lattices[i].amplitude for i in idx]
        best = idx[int(np.nanargmax(amp))] if np.isfinite(amp).any() else min(
            idx, key=lambda i: int(lattices[i].samples[0]))  # fmt: skip
        kept.append(lattices[best])
    return sorted(kept, key=lambda lat: int(lat.samples[0]))
