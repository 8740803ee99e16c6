"""Action-potential detection on one membrane-potential trace, and the shape of every spike.

Detection (all thresholds are :class:`SpikeParams` fields, defaults in brackets):

1. dV/dt in V/s (= mV/ms) by first differences. *Rising runs* are stretches where dV/dt exceeds
   ``min_upstroke_V_per_s`` [5 V/s]; runs separated by less than ``merge_gap_ms`` [0.3 ms] are one
   run (noise on a slow upstroke).
2. A run becomes a candidate when V rises by at least ``min_height_mV / 2`` across it. Its *peak* is
   the first local maximum of V after the run that stays the maximum for ``peak_window_ms``
   [1 ms]; its *upstroke* the maximum dV/dt between the run start and the peak.
3. *Threshold (onset)*: walking back from the upstroke, the last sample whose dV/dt is below
   ``onset_fraction`` [5 %] of the upstroke (as IPFX), searched at most ``max_rise_ms`` [5 ms] back
   and not before the previous spike's peak. Then, between that sample and the upstroke, the sample
   where dV/dt is lowest is the threshold: on a normal spike this is the crossing itself, but a
   stimulus-onset charging transient (dV/dt high and decelerating, e.g. a 2 nA, 2 ms pulse) leaves a
   dV/dt minimum at the kink where the spike takes off, which is where the spike begins - the fast
   charging is not the spike's onset.
4. A candidate is a spike when (a) peak - threshold >= ``min_height_mV`` [15 mV], (b) V falls by at
   least ``min_fall_fraction`` [50 %] of that height within ``max_fall_ms`` [100 ms] after the peak
   (``kinked_fall_fraction`` [30 %] for a kinked AP with an upstroke >= 20 V/s on a plateau),
   before it rises 20 % of the height above the peak again (an AP repolarises; a notch on the way up to a larger
   spike, a charge to a plateau or a small rebound from an AHP does not) and (c) its upstroke is
   >= ``min_upstroke_V_per_s``, and (e) its peak reaches ``min_peak_mV`` [-30 mV]: abortive spikelets
   in a train (rising out of the AHP near -70 mV and peaking near -50 mV) are not action potentials.
   Every spike in the real recordings of ``../shared`` peaks at -12 mV or above, so the bound only
   removes such spikelets; it is not a detection threshold.
   (d) its steepest rise does not lie within ``charging_guard_ms`` [0.5 ms] after a stimulus edge
   (current step/pulse on- or offset, trigger pulse): there the rise is the membrane (and
   electrode) charging, not a spike. A spike may rise out of such a transient: it is kept when,
   after the guard window, dV/dt has a minimum (kink) below half of a later upstroke, and its
   threshold is that minimum (File_axon_3: an AP 1 ms after a stimulus artefact).
   Slow depolarisation-block oscillations have no such upstroke and are not spikes; a step to a
   plateau (even above -20 mV) is not a spike because V does not fall back; small late spikes of a
   train (upstroke < 20 V/s, the IPFX cut-off) are kept.

No fixed voltage threshold is used for detection (only the peak bound in (e)), so spikes on
depolarised plateaus are found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class SpikeParams:
    min_upstroke_V_per_s: float = 5.0
    merge_gap_ms: float = 0.3
    onset_fraction: float = 0.05
    max_rise_ms: float = 5.0
    min_height_mV: float = 15.0
    #: an action potential's peak reaches at least this (abortive spikelets do not)
    min_peak_mV: float = -30.0
    min_fall_fraction: float = 0.5
    #: a kinked AP on a depolarised plateau may fall only this fraction of its height ...
    kinked_fall_fraction: float = 0.3
    #: ... when its upstroke is at least this fast (block oscillations rise at a few V/s)
    kinked_min_upstroke_V_per_s: float = 20.0
    #: the peak is the highest sample until V stays below it for this long
    peak_window_ms: float = 1.0
    max_fall_ms: float = 100.0
    #: a spike whose threshold lies within this time after a stimulus edge is a charging transient
    charging_guard_ms: float = 0.5
    #: slow AHP trough searched up to this long after the peak (or the next spike's threshold)
    ahp_window_ms: float = 100.0
    #: fast AHP trough: the minimum within this long after the peak
    fast_ahp_ms: float = 5.0
    #: a slow trough must be followed by a recovery of at least this much (else it is the
    #: membrane relaxing towards the step's steady state, not an afterhyperpolarisation)
    slow_ahp_recovery_mV: float = 1.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


#: Per-spike columns (units in names) of :func:`detect_spikes`: one entry per spike.
SPIKE_COLUMNS = (
    "threshold_index",
    "peak_index",
    "upstroke_index",
    "threshold_mV",
    "peak_mV",
    "amplitude_mV",
    "upstroke_V_per_s",
    "downstroke_V_per_s",
    "half_width_ms",
    "ahp_trough_mV",
    "ahp_depth_mV",
    "ahp_time_ms",
    "ahp_slow_trough_mV",
    "ahp_slow_depth_mV",
    "ahp_slow_time_ms",
    "threshold_t_s",
    "peak_t_s",
)


@dataclass(frozen=True)
class SpikeTable:
    """The spikes of one trace: one array per :data:`SPIKE_COLUMNS` name, one entry per spike.

    Indices are samples of the trace; ``table["peak_mV"]`` and ``table.peak_mV`` are the same.
    """

    threshold_index: np.ndarray
    peak_index: np.ndarray
    upstroke_index: np.ndarray
    threshold_mV: np.ndarray
    peak_mV: np.ndarray
    amplitude_mV: np.ndarray
    upstroke_V_per_s: np.ndarray
    downstroke_V_per_s: np.ndarray
    half_width_ms: np.ndarray
    #: fast AHP: minimum within ``fast_ahp_ms`` of the peak; depth = threshold - trough
    ahp_trough_mV: np.ndarray
    ahp_depth_mV: np.ndarray
    ahp_time_ms: np.ndarray
    #: slow AHP: a later trough before the next spike or the end of the window, NaN if none
    ahp_slow_trough_mV: np.ndarray
    ahp_slow_depth_mV: np.ndarray
    ahp_slow_time_ms: np.ndarray
    threshold_t_s: np.ndarray
    peak_t_s: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def __len__(self) -> int:
        return int(self.peak_index.size)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in SPIKE_COLUMNS}


def _no_spikes() -> SpikeTable:
    """The spike table of a trace without spikes (index columns are integer arrays, so they can
    index a trace)."""
    return SpikeTable(
        **{k: np.empty(0, dtype=int if k.endswith("_index") else float) for k in SPIKE_COLUMNS}
    )


def dvdt_V_per_s(v_mV: np.ndarray, dt_s: float) -> np.ndarray:
    """First difference of V in V/s (mV/ms); element i is the slope between samples i and i+1."""
    return np.diff(v_mV) / (dt_s * 1e3)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the True runs of a boolean array."""
    change = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    starts, ends = change[mask[change]], change[~mask[change]]
    if mask.size and mask[0]:
        starts = np.r_[0, starts]
    if mask.size and mask[-1]:
        ends = np.r_[ends, mask.size]
    return starts, ends


@dataclass(frozen=True)
class Trace:
    """A trace prepared for detection: V (mV), dV/dt (V/s), sample interval and window lengths
    (samples) derived from :class:`SpikeParams`."""

    v: np.ndarray
    dv: np.ndarray
    dt_ms: float
    params: SpikeParams
    #: sorted stimulus edges (samples), or an empty array
    edges: np.ndarray

    @classmethod
    def of(
        cls, v_mV: np.ndarray, dt_s: float, params: SpikeParams, edges_s: np.ndarray | None
    ) -> Trace:
        v = np.asarray(v_mV, dtype=np.float64)
        dt_ms = dt_s * 1e3
        e = np.empty(0, dtype=int)
        if edges_s is not None and len(edges_s):
            e = np.sort(np.round(np.asarray(edges_s) / dt_s).astype(int))
        dv = v[1:] - v[:-1]  # np.diff, divided in place
        dv /= dt_ms
        return cls(v, dv, dt_ms, params, e)

    def samples(self, ms: float, minimum: int = 2) -> int:
        return max(minimum, int(round(ms / self.dt_ms)))


@dataclass(frozen=True)
class Candidate:
    """A rising run that may be a spike: its threshold, upstroke and peak samples."""

    threshold: int
    upstroke: int
    peak: int


# ----------------------------------------------------------------------------- the stages


def rising_runs(tr: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Stage 1: runs where dV/dt > ``min_upstroke_V_per_s``, merged across gaps shorter than
    ``merge_gap_ms``, kept when V rises by >= ``min_height_mV / 2`` across the run.
    Returns (starts, ends) as sample indices (end exclusive)."""
    p = tr.params
    starts, ends = _runs(tr.dv > p.min_upstroke_V_per_s)
    if starts.size > 1:
        gap = tr.samples(p.merge_gap_ms, 1)
        keep = np.r_[True, starts[1:] - ends[:-1] > gap]
        ends = np.r_[ends[np.flatnonzero(keep)[1:] - 1], ends[-1]]
        starts = starts[keep]
    if not starts.size:
        return starts, ends
    rise = tr.v[np.minimum(ends, tr.v.size - 1)] - tr.v[starts]
    ok = rise >= 0.5 * p.min_height_mV
    return starts[ok], ends[ok]


def find_peak(tr: Trace, run_end: int) -> int:
    """Stage 2: the first sample after the run where V stops rising, then moved on while a
    higher sample follows within ``peak_window_ms`` (noise can stop a rise for a sample)."""
    v, n = tr.v, tr.v.size
    seg = tr.dv[run_end : run_end + tr.samples(tr.params.max_fall_ms)]
    nonpos = np.flatnonzero(seg <= 0)
    pk = run_end + int(nonpos[0]) if nonpos.size else min(run_end + seg.size, n - 1)
    win = tr.samples(tr.params.peak_window_ms)
    while True:
        j = int(np.argmax(v[pk : min(pk + win, n)]))
        if j == 0:
            return pk
        pk += j


def find_threshold(tr: Trace, run_start: int, peak: int, earliest: int) -> tuple[int, int]:
    """Stage 3: (threshold, upstroke). The upstroke is the steepest rise between the run start
    and the peak; walking back from it (at most ``max_rise_ms``, not before ``earliest``), the
    last sample whose dV/dt is below ``onset_fraction`` of the upstroke; then the sample of least
    dV/dt between there and the upstroke (the kink where a spike leaves a charging transient)."""
    dv, p = tr.dv, tr.params
    u = run_start + int(np.argmax(dv[run_start:peak])) if peak > run_start else run_start
    lo = max(earliest, u - tr.samples(p.max_rise_ms), 0)
    below = np.flatnonzero(dv[lo : u + 1] < p.onset_fraction * dv[u])
    c = lo + int(below[-1]) if below.size else lo
    return c + int(np.argmin(dv[c : u + 1])), u


def repolarises(tr: Trace, thr: int, pk: int, up: int | None = None) -> bool:
    """Stage 4: an action potential's shape: height >= ``min_height_mV``, peak >= ``min_peak_mV``,
    and V falls by ``min_fall_fraction`` of the height within ``max_fall_ms`` before it climbs 20 %
    of the height above the peak again.

    A kinked AP on a depolarised plateau (the membrane entering depolarisation block) may
    repolarise only part of the way: it still counts when it falls by ``kinked_fall_fraction``
    of its height and has what a block oscillation lacks, a fast upstroke (>=
    ``kinked_min_upstroke_V_per_s``) taking off from a kink (dV/dt at the threshold below a
    quarter of the upstroke)."""
    v, p = tr.v, tr.params
    height = v[pk] - v[thr]
    if height < p.min_height_mV or v[pk] < p.min_peak_mV:
        return False
    after = v[pk : min(pk + tr.samples(p.max_fall_ms), v.size)]
    above = np.flatnonzero(after[1:] > v[pk] + 0.2 * height)  # 20 %: noise on broad peaks
    if above.size:
        after = after[: above[0] + 1]
    if after.size < 2:
        return False
    fall = v[pk] - after.min()
    if fall >= p.min_fall_fraction * height:
        return True
    if up is None or fall < p.kinked_fall_fraction * height:
        return False
    fast = tr.dv[up] >= p.kinked_min_upstroke_V_per_s
    return bool(fast and tr.dv[thr] < 0.25 * tr.dv[up])


def _edge_before(tr: Trace, i: int, pre_n: int) -> int | None:
    k = int(np.searchsorted(tr.edges, i + pre_n, side="right")) - 1
    return int(tr.edges[k]) if k >= 0 else None


def off_charging_transient(tr: Trace, cand: Candidate) -> Candidate | None:
    """Stage 5: a candidate whose steepest rise lies within ``charging_guard_ms`` after a stimulus
    edge (or 0.2 ms before it: sampling jitter) is the membrane charging, unless a spike takes off
    from the transient after the guard: a second upstroke with a dV/dt minimum (kink) below half
    of it, whose threshold is that kink. A threshold that falls within the guard moves to the
    kink after it. Returns the (possibly moved) candidate, or None for a charging transient."""
    if not tr.edges.size:
        return cand
    p, dv, v = tr.params, tr.dv, tr.v
    guard_n = int(round(p.charging_guard_ms / tr.dt_ms))
    pre_n = int(round(0.2 / tr.dt_ms))
    thr, u, pk = cand.threshold, cand.upstroke, cand.peak
    e = _edge_before(tr, u, pre_n)
    if e is not None and -pre_n <= u - e <= guard_n:
        g_end = e + guard_n + 1
        if g_end >= pk - 1:
            return None
        u = g_end + int(np.argmax(dv[g_end:pk]))
        thr = g_end + int(np.argmin(dv[g_end : u + 1]))
        if dv[u] < p.min_upstroke_V_per_s or dv[thr] >= 0.5 * dv[u]:
            return None
        if v[pk] - v[thr] < p.min_height_mV:
            return None
    e = _edge_before(tr, thr, pre_n)
    if e is not None and -pre_n <= thr - e <= guard_n:
        g_end = min(e + guard_n + 1, u)
        thr = g_end + int(np.argmin(dv[g_end : u + 1]))
        if dv[thr] >= 0.5 * dv[u] or v[pk] - v[thr] < p.min_height_mV:
            return None
    return Candidate(thr, u, pk)


def peaks_of_runs(tr: Trace, run_ends: np.ndarray) -> np.ndarray:
    """:func:`find_peak` of every run end at once (the same samples, no loop over runs)."""
    v, n = tr.v, tr.v.size
    fall_n = tr.samples(tr.params.max_fall_ms)
    seg_end = np.minimum(run_ends + fall_n, tr.dv.size)  # exclusive, as the slice in find_peak
    nonpos = np.flatnonzero(tr.dv <= 0)
    j = np.searchsorted(nonpos, run_ends)
    first = nonpos[np.minimum(j, max(nonpos.size - 1, 0))] if nonpos.size else run_ends
    found = (j < nonpos.size) & (first < seg_end)
    pk = np.where(found, first, np.minimum(seg_end, n - 1))
    win = tr.samples(tr.params.peak_window_ms)
    todo = np.arange(pk.size)
    while todo.size:  # a higher sample within the window moves the peak on
        p0 = pk[todo]
        step = segment_argmax(v, p0, np.minimum(p0 + win, n) - 1) - p0
        moved = step > 0
        pk[todo[moved]] += step[moved]
        todo = todo[moved]
    return pk


def thresholds_of_runs(
    tr: Trace, run_starts: np.ndarray, peaks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`find_threshold` of every run with no earlier spike (``earliest`` 0): (thresholds,
    upstrokes), the same samples without a loop over runs."""
    dv, p = tr.dv, tr.params
    up = run_starts.copy()
    rising = np.flatnonzero(peaks > run_starts)
    if rising.size:
        up[rising] = segment_argmax(dv, run_starts[rising], peaks[rising] - 1)
    lo = np.maximum(up - tr.samples(p.max_rise_ms), 0)
    flat, off, n = _segments(lo, up)
    below = dv[flat] < np.repeat(p.onset_fraction * dv[up], n)
    local = np.arange(flat.size) - np.repeat(off, n)
    last = np.maximum.reduceat(np.where(below, local, -1), off)
    c = lo + np.maximum(last, 0)
    return segment_argmin(dv, c, up), up


def repolarise_all(tr: Trace, thr: np.ndarray, pk: np.ndarray, up: np.ndarray) -> np.ndarray:
    """:func:`repolarises` of every (threshold, peak, upstroke) at once."""
    v, dv, p = tr.v, tr.dv, tr.params
    n = v.size
    height = v[pk] - v[thr]
    ok = ~((height < p.min_height_mV) | (v[pk] < p.min_peak_mV))
    end = np.minimum(pk + tr.samples(p.max_fall_ms), n)  # exclusive, as ``after`` there
    size = end - pk
    j = np.flatnonzero(size >= 2)
    if j.size:  # ``after`` stops before V climbs 20 % of the height above the peak
        flat, off, m = _segments(pk[j] + 1, end[j] - 1)
        climb = v[flat] > np.repeat(v[pk[j]] + 0.2 * height[j], m)
        size[j] = np.minimum(size[j], _first_true(climb, off, m) + 1)
    ok &= size >= 2
    fall = np.full(pk.size, np.nan)
    j = np.flatnonzero(ok)
    if j.size:
        fall[j] = v[pk[j]] - segment_min(v, pk[j], pk[j] + size[j] - 1)
    kinked = (
        ~(fall < p.kinked_fall_fraction * height)
        & (dv[up] >= p.kinked_min_upstroke_V_per_s)
        & (dv[thr] < 0.25 * dv[up])
    )
    return ok & ((fall >= p.min_fall_fraction * height) | kinked)


def near_edge(tr: Trace, idx: np.ndarray) -> np.ndarray:
    """True where a sample lies within the charging guard after a stimulus edge (or 0.2 ms
    before it), as tested by :func:`off_charging_transient`."""
    if not tr.edges.size:
        return np.zeros(idx.size, dtype=bool)
    guard_n = int(round(tr.params.charging_guard_ms / tr.dt_ms))
    pre_n = int(round(0.2 / tr.dt_ms))
    k = np.searchsorted(tr.edges, idx + pre_n, side="right") - 1
    gap = idx - tr.edges[np.maximum(k, 0)]
    return (k >= 0) & (-pre_n <= gap) & (gap <= guard_n)


#: rising runs examined at once by :func:`find_candidates` (bounds the memory of their windows)
RUN_CHUNK = 256
#: up to this many rising runs the stages run one run at a time (numpy's cost per call makes the
#: array version slower for a few runs; both give the same spikes)
FEW_RUNS = 12


def _candidates_one_by_one(tr: Trace, starts: np.ndarray, ends: np.ndarray) -> list[Candidate]:
    """:func:`find_candidates` for a few runs: the stages called run by run."""
    out: list[Candidate] = []
    last_peak = -1
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if a <= last_peak:
            continue
        pk = find_peak(tr, b)
        thr, u = find_threshold(tr, a, pk, last_peak + 1)
        if tr.dv[u] < tr.params.min_upstroke_V_per_s or not repolarises(tr, thr, pk, u):
            continue
        cand = off_charging_transient(tr, Candidate(thr, u, pk))
        if cand is None:
            continue
        out.append(cand)
        last_peak = pk
    return out


def _candidates_at_once(tr: Trace, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """Peaks, thresholds, upstrokes, acceptance (stages 2-4 with no earlier spike) and whether
    each candidate lies at a stimulus edge (stage 5 needed), for the runs ``starts``/``ends``."""
    peaks = peaks_of_runs(tr, ends)
    thr, up = thresholds_of_runs(tr, starts, peaks)
    fast = ~(tr.dv[up] < tr.params.min_upstroke_V_per_s)
    accept = fast & repolarise_all(tr, thr, peaks, up)
    return peaks, thr, up, accept, near_edge(tr, up) | near_edge(tr, thr)


def find_candidates(tr: Trace) -> list[Candidate]:
    """Stages 1-5 in order: the accepted spikes of a trace, each after the previous one's peak.

    Peaks, thresholds and the repolarisation test are computed for all rising runs at once; the
    walk over the runs in order only applies what depends on the previous accepted spike (runs
    starting before its peak are skipped; a threshold search that would reach back past it, or
    a candidate at a stimulus edge, is redone by the one-candidate stages)."""
    starts, ends = rising_runs(tr)
    if starts.size <= FEW_RUNS or not starts.size:
        return _candidates_one_by_one(tr, starts, ends)
    out: list[Candidate] = []
    p = tr.params
    # in chunks of runs: the windows of one chunk's runs are held in memory together
    parts = [
        _candidates_at_once(tr, starts[i : i + RUN_CHUNK], ends[i : i + RUN_CHUNK])
        for i in range(0, starts.size, RUN_CHUNK)
    ]
    peaks, thr, up, accept, edge = (np.concatenate(x) for x in zip(*parts, strict=True))
    reach = np.maximum(up - tr.samples(p.max_rise_ms), 0)
    last_peak = -1
    for i, (a, pk) in enumerate(zip(starts.tolist(), peaks.tolist(), strict=True)):
        if a <= last_peak:
            continue
        if last_peak + 1 > reach[i]:  # the previous spike bounds this threshold search
            t, u = find_threshold(tr, a, pk, last_peak + 1)
            if tr.dv[u] < p.min_upstroke_V_per_s or not repolarises(tr, t, pk, u):
                continue
            cand = off_charging_transient(tr, Candidate(t, u, pk))
        elif not accept[i]:
            continue
        elif edge[i]:
            cand = off_charging_transient(tr, Candidate(int(thr[i]), int(up[i]), pk))
        else:
            cand = Candidate(int(thr[i]), int(up[i]), pk)
        if cand is None:
            continue
        out.append(cand)
        last_peak = pk
    return out


def detect_spikes(
    v_mV: np.ndarray,
    dt_s: float,
    params: SpikeParams | None = None,
    edges_s: np.ndarray | None = None,
    window_end_s: float | None = None,
) -> SpikeTable:
    """Detect spikes and measure each one's shape.

    Parameters
    ----------
    v_mV
        Membrane potential, mV, regularly sampled.
    dt_s
        Sampling interval, s.
    params
        Detection criteria (see the module docstring).
    edges_s
        Times of abrupt stimulus changes (see :attr:`fmslab.ephys.io.Sweep.edges_s`); a candidate
        whose threshold falls within ``charging_guard_ms`` after one is a charging transient.
    window_end_s
        End of the stimulus (s): a spike's slow AHP is not searched past it.

    Returns
    -------
    SpikeTable
        One array per name in :data:`SPIKE_COLUMNS` (indices are samples of ``v_mV``).
    """
    p = params or SpikeParams()
    if np.asarray(v_mV).size < 4:
        return _no_spikes()
    tr = Trace.of(v_mV, dt_s, p, edges_s)
    cands = find_candidates(tr)
    end = None
    if window_end_s is not None and np.isfinite(window_end_s):
        end = min(int(round(window_end_s / dt_s)), tr.v.size - 1)
    return spike_shapes(tr, cands, end)


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The samples of the segments ``starts[j]..ends[j]`` (inclusive, each non-empty) laid end to
    end: (their indices, where each segment begins in that array, the segment lengths)."""
    lengths = ends - starts + 1
    offsets = np.zeros(lengths.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    flat = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return flat, offsets, lengths


def _first_true(hit: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Position of the first True of each segment of ``hit`` within it (its length if none)."""
    pos = np.where(
        hit, np.arange(hit.size) - np.repeat(offsets, lengths), np.repeat(lengths, lengths)
    )
    return np.minimum.reduceat(pos, offsets)


def segment_argmin(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``starts[j] + np.argmin(x[starts[j] : ends[j] + 1])`` for every j, without a Python loop
    (the first minimum; the first NaN where a segment holds one, as :func:`numpy.argmin`)."""
    flat, off, n = _segments(starts, ends)
    vals = x[flat]
    low = np.repeat(np.minimum.reduceat(vals, off), n)
    return starts + _first_true((vals == low) | np.isnan(vals), off, n)


def segment_argmax(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """As :func:`segment_argmin` for the first maximum."""
    flat, off, n = _segments(starts, ends)
    vals = x[flat]
    high = np.repeat(np.maximum.reduceat(vals, off), n)
    return starts + _first_true((vals == high) | np.isnan(vals), off, n)


def segment_min(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``x[starts[j] : ends[j] + 1].min()`` for every j."""
    flat, off, _ = _segments(starts, ends)
    return np.minimum.reduceat(x[flat], off)


def segment_max(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``x[starts[j] : ends[j] + 1].max()`` for every j."""
    flat, off, _ = _segments(starts, ends)
    return np.maximum.reduceat(x[flat], off)


def half_widths_ms(
    v: np.ndarray, thr: np.ndarray, pk: np.ndarray, ends: np.ndarray, dt_ms: float
) -> np.ndarray:
    """Width of each spike at (threshold + peak) / 2, ms: from the first sample at or above the
    half level between threshold and peak to the first sample below it between the peak and
    ``ends``, both crossings linearly interpolated; NaN where V does not fall below the level
    (or the rise begins at the first sample)."""
    half = 0.5 * (v[thr] + v[pk])
    flat, off, n = _segments(thr, pk)
    rise = _first_true(v[flat] >= np.repeat(half, n), off, n)
    ri = thr + rise
    ok = rise < n
    flat, off, n = _segments(pk, ends)
    fb = _first_true(v[flat] < np.repeat(half, n), off, n)
    ok &= (fb < n) & (ri != 0)
    out = np.full(thr.size, np.nan)
    if not ok.any():
        return out
    ri, fi, half = ri[ok], pk[ok] + fb[ok], half[ok]
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(v[ri] != v[ri - 1], ri - 1 + (half - v[ri - 1]) / (v[ri] - v[ri - 1]), ri)
        dn = np.where(v[fi] != v[fi - 1], fi - 1 + (v[fi - 1] - half) / (v[fi - 1] - v[fi]), fi)
    out[ok] = (dn - up) * dt_ms
    return out


def afterhyperpolarisations(
    tr: Trace, thr: np.ndarray, pk: np.ndarray, window_end: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage 6: fast and slow AHP troughs of each spike (sample indices; -1 when absent).

    * fast: the minimum of V within ``fast_ahp_ms`` after the peak (stopped at the next spike's
      threshold), as IPFX's fast trough;
    * slow: the minimum after that, up to the next spike's threshold, ``ahp_window_ms`` after the
      peak or ``window_end`` (the step's end), whichever comes first - kept only when V recovers
      by ``slow_ahp_recovery_mV`` after it before that limit and it lies that much below the
      fast trough (a fast trough reached just after 5 ms is not a second, slow one);
      otherwise the fall is the membrane relaxing to the step's steady state, not an AHP.

    Returns fast trough indices, slow trough indices, and the window ends used.
    """
    v, n, p = tr.v, tr.v.size, tr.params
    k = thr.size
    nxt = np.r_[thr[1:], n - 1] if k else thr
    fast_n = tr.samples(p.fast_ahp_ms, 1)
    win = tr.samples(p.ahp_window_ms)
    limit = np.minimum(np.minimum(nxt, pk + win), n - 1)
    if window_end is not None:
        limit = np.where(pk < window_end, np.minimum(limit, window_end), limit)
    limit = np.maximum(limit, np.minimum(pk + 2, n - 1))
    f_end = np.minimum(pk + fast_n, limit)
    fast = segment_argmin(v, pk, f_end)
    slow = np.full(k, -1, dtype=int)
    a = f_end + 1
    j = np.flatnonzero(a < limit)
    if j.size:
        s = segment_argmin(v, a[j], limit[j])
        recovered = segment_max(v, s, limit[j]) - v[s] >= p.slow_ahp_recovery_mV
        deeper = v[s] <= v[fast[j]] - p.slow_ahp_recovery_mV
        keep = recovered & deeper
        slow[j[keep]] = s[keep]
    return fast, slow, limit


def _half_width_ms(v: np.ndarray, t0: int, p0: int, end: int, dt_ms: float) -> float:
    """:func:`half_widths_ms` of one spike."""
    half = 0.5 * (v[t0] + v[p0])
    rise = np.flatnonzero(v[t0 : p0 + 1] >= half)
    fb = np.flatnonzero(v[p0 : end + 1] < half)
    ri = int(rise[0]) + t0 if rise.size else 0
    if not fb.size or ri == 0:
        return float("nan")
    fi = p0 + int(fb[0])
    x_up = ri - 1 + (half - v[ri - 1]) / (v[ri] - v[ri - 1]) if v[ri] != v[ri - 1] else ri
    x_dn = fi - 1 + (v[fi - 1] - half) / (v[fi - 1] - v[fi]) if v[fi] != v[fi - 1] else fi
    return float((x_dn - x_up) * dt_ms)


def _ahp_one_by_one(
    tr: Trace, thr: np.ndarray, pk: np.ndarray, window_end: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`afterhyperpolarisations` spike by spike (for a few spikes)."""
    v, n, p = tr.v, tr.v.size, tr.params
    k = thr.size
    nxt = np.r_[thr[1:], n - 1]
    fast_n = tr.samples(p.fast_ahp_ms, 1)
    win = tr.samples(p.ahp_window_ms)
    fast = np.full(k, -1, dtype=int)
    slow = np.full(k, -1, dtype=int)
    ends = np.zeros(k, dtype=int)
    for j in range(k):
        p0 = int(pk[j])
        limit = int(min(nxt[j], p0 + win, n - 1))
        if window_end is not None and p0 < window_end:
            limit = min(limit, window_end)
        limit = max(limit, min(p0 + 2, n - 1))
        ends[j] = limit
        f_end = min(p0 + fast_n, limit)
        fast[j] = p0 + int(np.argmin(v[p0 : f_end + 1]))
        a = f_end + 1
        if a < limit:
            s = a + int(np.argmin(v[a : limit + 1]))
            recovered = float(np.max(v[s : limit + 1])) - v[s] >= p.slow_ahp_recovery_mV
            if recovered and v[s] <= v[fast[j]] - p.slow_ahp_recovery_mV:
                slow[j] = s
    return fast, slow, ends


def spike_shapes(tr: Trace, cands: list[Candidate], window_end: int | None = None) -> SpikeTable:
    """Stage 7: the per-spike table: voltages, upstroke/downstroke, half-width, fast and slow
    AHP (see :func:`afterhyperpolarisations`)."""
    if not cands:
        return _no_spikes()
    v, dv, dt_ms = tr.v, tr.dv, tr.dt_ms
    thr = np.array([c.threshold for c in cands], dtype=int)
    pk = np.array([c.peak for c in cands], dtype=int)
    up = np.array([c.upstroke for c in cands], dtype=int)
    if thr.size <= FEW_RUNS:  # a few spikes: one at a time (cheaper than the array version)
        fast, slow, ends = _ahp_one_by_one(tr, thr, pk, window_end)
        down, hw = np.full(thr.size, np.nan), np.full(thr.size, np.nan)
        for j in range(thr.size):
            if fast[j] > pk[j]:
                down[j] = float(dv[pk[j] : fast[j]].min())
            hw[j] = _half_width_ms(v, int(thr[j]), int(pk[j]), int(ends[j]), dt_ms)
    else:
        fast, slow, ends = afterhyperpolarisations(tr, thr, pk, window_end)
        down = np.full(thr.size, np.nan)
        falls = np.flatnonzero(fast > pk)
        if falls.size:
            down[falls] = segment_min(dv, pk[falls], fast[falls] - 1)
        hw = half_widths_ms(v, thr, pk, ends, dt_ms)
    has_slow = slow >= 0
    s_tr = np.where(has_slow, v[np.maximum(slow, 0)], np.nan)
    return SpikeTable(
        threshold_index=thr,
        peak_index=pk,
        upstroke_index=up,
        threshold_mV=v[thr],
        peak_mV=v[pk],
        amplitude_mV=v[pk] - v[thr],
        upstroke_V_per_s=dv[up],
        downstroke_V_per_s=down,
        half_width_ms=hw,
        ahp_trough_mV=v[fast],
        ahp_depth_mV=v[thr] - v[fast],
        ahp_time_ms=(fast - pk) * dt_ms,
        ahp_slow_trough_mV=s_tr,
        ahp_slow_depth_mV=v[thr] - s_tr,
        ahp_slow_time_ms=np.where(has_slow, (slow - pk) * dt_ms, np.nan),
        threshold_t_s=thr * dt_ms / 1e3,
        peak_t_s=pk * dt_ms / 1e3,
    )
