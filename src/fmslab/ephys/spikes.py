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
   least ``min_fall_fraction`` [50 %] of that height within ``max_fall_ms`` [100 ms] after the peak,
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
    #: the peak is the highest sample until V stays below it for this long
    peak_window_ms: float = 1.0
    max_fall_ms: float = 100.0
    #: a spike whose threshold lies within this time after a stimulus edge is a charging transient
    charging_guard_ms: float = 0.5
    #: AHP trough searched up to this long after the peak (or the next spike's threshold)
    ahp_window_ms: float = 100.0

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
    "threshold_t_s",
    "peak_t_s",
)


def _no_spikes() -> dict[str, np.ndarray]:
    """The per-spike table of a sweep without spikes (index columns are integer arrays, so they
    can index a trace)."""
    return {k: np.empty(0, dtype=int if k.endswith("_index") else float) for k in SPIKE_COLUMNS}


def dvdt_V_per_s(v_mV: np.ndarray, dt_s: float) -> np.ndarray:
    """First difference of V in V/s (mV/ms); element i is the slope between samples i and i+1."""
    return np.diff(v_mV) / (dt_s * 1e3)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the True runs of a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).view(np.int8)))
    return edges[::2], edges[1::2]


def detect_spikes(
    v_mV: np.ndarray,
    dt_s: float,
    params: SpikeParams | None = None,
    edges_s: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
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

    Returns
    -------
    dict
        One numpy array per name in :data:`SPIKE_COLUMNS` (indices are samples of ``v_mV``).
    """
    p = params or SpikeParams()
    v = np.asarray(v_mV, dtype=np.float64)
    n = v.size
    dt_ms = dt_s * 1e3
    if n < 4:
        return _no_spikes()
    dv = np.diff(v) / dt_ms
    starts, ends = _runs(dv > p.min_upstroke_V_per_s)
    if starts.size == 0:
        return _no_spikes()
    gap = max(1, int(round(p.merge_gap_ms / dt_ms)))
    if starts.size > 1:
        keep = np.r_[True, starts[1:] - ends[:-1] > gap]
        starts = starts[keep]
        ends = np.r_[ends[np.flatnonzero(keep)[1:] - 1], ends[-1]]
    # vectorised pre-filter: V must rise by >= half the minimum height across the run (+ 1 sample)
    rise = v[np.minimum(ends, n - 1)] - v[starts]
    ok = rise >= 0.5 * p.min_height_mV
    starts, ends = starts[ok], ends[ok]
    max_back = max(2, int(round(p.max_rise_ms / dt_ms)))
    max_fall = max(2, int(round(p.max_fall_ms / dt_ms)))
    peak_win = max(2, int(round(p.peak_window_ms / dt_ms)))
    ahp_win = max(2, int(round(p.ahp_window_ms / dt_ms)))

    guard = None
    guard_n = int(round(p.charging_guard_ms / dt_ms))
    pre_n = int(round(0.2 / dt_ms))
    if edges_s is not None and len(edges_s):
        guard = np.sort(np.round(np.asarray(edges_s) / (dt_ms / 1e3)).astype(int))
    thr_i: list[int] = []
    peak_i: list[int] = []
    up_i: list[int] = []
    last_peak = -1
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if a <= last_peak:
            continue
        # peak: first sample after the run where V stops rising
        seg = dv[b : b + max_fall]
        nonpos = np.flatnonzero(seg <= 0)
        pk = b + int(nonpos[0]) if nonpos.size else min(b + seg.size, n - 1)
        # noise can stop the rise for a sample: the peak is the maximum within ``peak_window_ms``
        while True:
            w = v[pk : min(pk + peak_win, n)]
            j = int(np.argmax(w))
            if j == 0:
                break
            pk += j
        u = a + int(np.argmax(dv[a:pk])) if pk > a else a
        up = dv[u]
        lo = max(last_peak + 1, u - max_back, 0)
        back = dv[lo : u + 1]
        below = np.flatnonzero(back < p.onset_fraction * up)
        c = lo + int(below[-1]) if below.size else lo
        thr = c + int(np.argmin(dv[c : u + 1]))
        height = v[pk] - v[thr]
        if height < p.min_height_mV or up < p.min_upstroke_V_per_s or v[pk] < p.min_peak_mV:
            continue
        after = v[pk : min(pk + max_fall, n)]
        # the fall must happen before V climbs above this peak again (a notch on the way up to a
        # larger spike is not a spike: the next spike's repolarisation does not count for it)
        above = np.flatnonzero(after[1:] > v[pk] + 0.2 * height)  # 20 %: noise on broad peaks
        if above.size:
            after = after[: above[0] + 1]
        if after.size < 2 or (v[pk] - after.min()) < p.min_fall_fraction * height:
            continue
        if guard is not None:
            # the steepest rise within the guard after an edge (or 0.2 ms before it, sampling
            # jitter): charging transient, not a spike
            k = int(np.searchsorted(guard, u + pre_n, side="right")) - 1
            if k >= 0 and -pre_n <= u - guard[k] <= guard_n:
                # ... unless a spike takes off from it after the guard: a second upstroke with a
                # dV/dt minimum (kink) below half of it between the transient and the spike
                g_end = int(guard[k]) + guard_n + 1
                if g_end >= pk - 1:
                    continue
                u = g_end + int(np.argmax(dv[g_end:pk]))
                thr = g_end + int(np.argmin(dv[g_end : u + 1]))
                up = dv[u]
                if up < p.min_upstroke_V_per_s or dv[thr] >= 0.5 * up:
                    continue
                if v[pk] - v[thr] < p.min_height_mV:
                    continue
            # a spike rising out of a charging transient starts after the guard at the earliest
            k = int(np.searchsorted(guard, thr + pre_n, side="right")) - 1
            if k >= 0 and -pre_n <= thr - guard[k] <= guard_n:
                g_end = min(int(guard[k]) + guard_n + 1, u)
                thr = g_end + int(np.argmin(dv[g_end : u + 1]))
                if dv[thr] >= 0.5 * up or v[pk] - v[thr] < p.min_height_mV:
                    continue
        thr_i.append(thr)
        peak_i.append(pk)
        up_i.append(u)
        last_peak = pk
    return _spike_shapes(
        v, dv, dt_ms, np.array(thr_i, int), np.array(peak_i, int), np.array(up_i, int), ahp_win
    )


def _spike_shapes(
    v: np.ndarray,
    dv: np.ndarray,
    dt_ms: float,
    thr: np.ndarray,
    pk: np.ndarray,
    up: np.ndarray,
    ahp_win: int,
) -> dict[str, np.ndarray]:
    n = v.size
    k = thr.size
    out: dict[str, np.ndarray] = {
        "threshold_index": thr,
        "peak_index": pk,
        "upstroke_index": up,
        "threshold_mV": v[thr],
        "peak_mV": v[pk],
        "amplitude_mV": v[pk] - v[thr],
        "upstroke_V_per_s": dv[up] if k else np.empty(0),
        "threshold_t_s": thr * dt_ms / 1e3,
        "peak_t_s": pk * dt_ms / 1e3,
    }
    down = np.full(k, np.nan)
    hw = np.full(k, np.nan)
    trough = np.full(k, np.nan)
    trough_t = np.full(k, np.nan)
    nxt = np.r_[thr[1:], n - 1] if k else thr
    for j in range(k):
        t0, p0 = int(thr[j]), int(pk[j])
        end = int(min(nxt[j], p0 + ahp_win, n - 1))
        if end <= p0:
            end = min(p0 + 2, n - 1)
        seg = v[p0 : end + 1]
        tr = p0 + int(np.argmin(seg))
        trough[j] = v[tr]
        trough_t[j] = (tr - p0) * dt_ms
        if tr > p0:
            down[j] = float(dv[p0:tr].min())
        # half-width: linear interpolation of the crossings of (threshold + peak) / 2
        half = 0.5 * (v[t0] + v[p0])
        r = v[t0 : p0 + 1]
        ri = int(np.flatnonzero(r >= half)[0]) + t0
        f = v[p0 : end + 1]
        fb = np.flatnonzero(f < half)
        if fb.size and ri > 0:
            fi = p0 + int(fb[0])
            x_up = ri - 1 + (half - v[ri - 1]) / (v[ri] - v[ri - 1]) if v[ri] != v[ri - 1] else ri
            x_dn = fi - 1 + (v[fi - 1] - half) / (v[fi - 1] - v[fi]) if v[fi] != v[fi - 1] else fi
            hw[j] = (x_dn - x_up) * dt_ms
    out["downstroke_V_per_s"] = down
    out["half_width_ms"] = hw
    out["ahp_trough_mV"] = trough
    out["ahp_depth_mV"] = out["threshold_mV"] - trough if k else np.empty(0)
    out["ahp_time_ms"] = trough_t
    return out
