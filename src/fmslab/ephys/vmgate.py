"""Is this channel a membrane potential in current clamp? One gate, used by every reader.

A channel labelled in volts is accepted as the membrane potential (Vm) only when its signal looks
like one. :func:`vm_problem` returns the first failed criterion (``None`` when all pass); readers
refuse the file with an :class:`~fmslab.errors.InputError` naming the channel and this reason.

Criteria (checked on up to :data:`MAX_SWEEPS_CHECKED` sweeps spread over the recording, at about
:data:`GATE_RATE_HZ`; the real current-clamp recordings of ``../shared`` pass all of them also
when their injected current is not known, except the passive model cell 2020_03_02_0000, whose
steps reach +300 mV):

1. **Range**: the median lies within ``-150..+100`` mV and the 0.1-99.9 % range of the samples
   without injected current within ``-200..+150`` mV (a neuron rests between about -90 and
   -30 mV, APs overshoot to about +60 mV). A value scaled wrongly by 10^3 fails here.
2. **Not flat at 0 mV**: a signal that stays within ``FLAT_RANGE_MV`` of 0 mV everywhere is an open
   input, a bath electrode or a µV-level extracellular/EMG signal, not a cell's Vm.
3. **Noise**: in 100-ms pieces of the recording without injected current, the interquartile range
   of V is at most ``MAX_IQR_100MS_MV`` (median over pieces): a membrane potential at rest sits
   within a few mV (APs are brief and do not move quartiles).
4. **Stable level**: the 1-s medians of V without injected current spread (5-95 %) over at most
   ``MAX_BASELINE_SPREAD_MV``; a respiration belt recorded in volts (``physiology.smr``'s
   ``abdo``, 80 mV) wanders far more than any resting potential.
5. **Step response**: when the injected current of some sweeps is known and at least
   ``MIN_TEST_STEP_PA`` away from holding, V must move with it: a steady-state deflection of at
   least ``MIN_RESPONSE_MV`` or an AP in one step, or (a very leaky cell) deflections of three or
   more steps that follow the current (correlation >= ``MIN_PROPORTIONAL_R``). A channel that does
   not follow the current is not the Vm of the injected cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: sweeps examined per recording (first, last and evenly spaced between)
MAX_SWEEPS_CHECKED = 8
#: the traces are examined at (at most about) this rate: every k-th sample
GATE_RATE_HZ = 5000.0
MEDIAN_RANGE_MV = (-150.0, 100.0)
EXTREME_RANGE_MV = (-200.0, 150.0)
#: a signal within +-FLAT_RANGE_MV of 0 mV everywhere is not a Vm
FLAT_RANGE_MV = 3.0
#: upper bound of the median interquartile range of V within 100 ms (criterion 3)
MAX_IQR_100MS_MV = 10.0
#: upper bound of the 5-95 % spread of the 1-s medians of V (criterion 4)
MAX_BASELINE_SPREAD_MV = 50.0
MIN_TEST_STEP_PA = 20.0
MIN_RESPONSE_MV = 0.5
#: ... or, over >= 3 steps, a correlation of deflection with current of at least this
MIN_PROPORTIONAL_R = 0.95


def _pick(n: int) -> list[int]:
    if n <= MAX_SWEEPS_CHECKED:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, MAX_SWEEPS_CHECKED)})


def _stim_span(st) -> tuple[float, float]:
    """Start and end (s) of the injected current of a stimulus, prepulse included; NaN if none."""
    if st is None or getattr(st, "kind", "none") == "none":
        return math.nan, math.nan
    t0 = float(st.stim_start_s)
    pre = float(getattr(st, "prepulse_start_s", math.nan))
    if math.isfinite(pre):
        t0 = min(t0, pre)
    return t0, float(st.stim_end_s)


def _quiet_windows(v: np.ndarray, dt_s: float, start_s: float, end_s: float) -> list[np.ndarray]:
    """1-s windows of ``v`` outside the stimulus ``[start_s, end_s]`` (the whole sweep if NaN)."""
    n = v.size
    w = max(8, int(round(1.0 / dt_s)))
    if math.isfinite(start_s) and math.isfinite(end_s):
        a, b = int(start_s / dt_s), int(math.ceil(end_s / dt_s))
        parts = [v[: max(0, a)], v[min(n, b + int(0.05 / dt_s)) :]]  # 50 ms after: relaxation
    else:
        parts = [v]
    out = []
    for p in parts:
        for k in range(0, p.size, w):
            seg = p[k : k + w]
            if seg.size >= min(w, 50):
                out.append(seg)
    return out


def vm_problem(
    v_sweeps: Sequence[np.ndarray],
    dt_s: float,
    stimuli: Sequence | None = None,
) -> str | None:
    """Why the traces ``v_sweeps`` (mV) are not a membrane potential, or ``None`` if they may be.

    Parameters
    ----------
    v_sweeps
        The channel's signal of some or all sweeps, in mV (already scaled by its units).
    dt_s
        Sampling interval, s.
    stimuli
        The :class:`~fmslab.ephys.io.Stimulus` of each sweep (same order), or ``None``.
    """
    if not len(v_sweeps):
        return "no samples"
    idx = _pick(len(v_sweeps))
    # quantiles and medians do not need every sample: at most ~5 kHz is examined
    step = max(1, int(1.0 / (GATE_RATE_HZ * dt_s)))
    vs = [np.asarray(v_sweeps[i], dtype=np.float64)[::step] for i in idx]
    dt_s = dt_s * step
    sts = [stimuli[i] for i in idx] if stimuli is not None else [None] * len(idx)
    vs_ok = [v for v in vs if v.size]
    if not vs_ok:
        return "no samples"
    allv = np.concatenate([v[:: max(1, v.size // 200_000)] for v in vs_ok])
    if not np.all(np.isfinite(allv)):
        return "contains NaN/inf samples"
    med = float(np.median(allv))
    if not MEDIAN_RANGE_MV[0] <= med <= MEDIAN_RANGE_MV[1]:
        return (
            f"median {med:.1f} mV is outside {MEDIAN_RANGE_MV[0]:g}..{MEDIAN_RANGE_MV[1]:g} mV "
            f"(wrong units or scale factor?)"
        )
    quiet: list[np.ndarray] = []
    for v, st in zip(vs, sts, strict=True):
        quiet.extend(_quiet_windows(v, dt_s, *_stim_span(st)))
    q = np.concatenate(quiet) if quiet else allv
    lo, hi = (float(x) for x in np.percentile(q, [0.1, 99.9]))
    if lo < EXTREME_RANGE_MV[0] or hi > EXTREME_RANGE_MV[1]:
        return (
            f"0.1-99.9 % range {lo:.1f}..{hi:.1f} mV (without injected current) exceeds "
            f"{EXTREME_RANGE_MV[0]:g}..{EXTREME_RANGE_MV[1]:g} mV"
        )
    lo_all, hi_all = (float(x) for x in np.percentile(allv, [0.1, 99.9]))
    if max(abs(lo_all), abs(hi_all)) < FLAT_RANGE_MV:
        return (
            f"flat near 0 mV (0.1-99.9 % range {lo_all:.2f}..{hi_all:.2f} mV): an open input, "
            f"bath electrode or extracellular signal, not a membrane potential"
        )
    if quiet:
        # windows of one length stacked: one quantile call per length, not per window (numpy's
        # cost per call was most of the gate's time); medians and quantiles of the rows are
        # those of each window, and the statistics over them do not depend on their order
        by_size: dict[int, list[np.ndarray]] = {}
        for w in quiet:
            by_size.setdefault(w.size, []).append(w)
        short, meds_parts = [], []
        for size, ws in by_size.items():
            block = np.stack(ws)
            meds_parts.append(np.median(block, axis=1))
            m = size // 10  # 100-ms pieces of the 1-s windows
            if m >= 5:
                pieces = block[:, : m * 10].reshape(len(ws) * 10, m)
                q = np.percentile(pieces, [25, 75], axis=1)
                short.append(q[1] - q[0])
        iqr = float(np.median(np.concatenate(short))) if short else 0.0
        if iqr > MAX_IQR_100MS_MV:
            return (
                f"too noisy for a membrane potential: V spans {iqr:.1f} mV within 100 ms "
                f"(interquartile range, median over the recording) > {MAX_IQR_100MS_MV:g} mV"
            )
        meds = np.concatenate(meds_parts)
        if meds.size >= 5:
            p5, p95 = np.percentile(meds, [5, 95])
            if p95 - p5 > MAX_BASELINE_SPREAD_MV:
                return (
                    f"the resting level wanders over {p95 - p5:.0f} mV (5-95 % of 1-s medians "
                    f"{p5:.0f}..{p95:.0f} mV) > {MAX_BASELINE_SPREAD_MV:g} mV: not a stable "
                    f"membrane potential"
                )
    return _step_response_problem(vs, dt_s, sts)


def _step_response_problem(vs: list[np.ndarray], dt_s: float, sts: list) -> str | None:
    tested = []
    for v, st in zip(vs, sts, strict=True):
        if st is None or getattr(st, "kind", "none") != "step":
            continue
        amp = float(st.stim_pA)
        t0, t1 = float(st.stim_start_s), float(st.stim_end_s)
        if not (math.isfinite(amp) and abs(amp) >= MIN_TEST_STEP_PA and t1 - t0 >= 0.02):
            continue
        n = v.size
        a, b = int(t0 / dt_s), min(n, int(t1 / dt_s))
        base = v[max(0, a - int(0.1 / dt_s)) : a]
        if base.size < 5 or b - a < 10:
            continue
        ss = v[a + (b - a) // 2 : b]
        dv = float(np.median(ss) - np.median(base))
        fired = float(np.max(v[a:b])) - float(np.median(base)) > 20.0
        tested.append((amp, dv))
        if abs(dv) >= MIN_RESPONSE_MV or fired:
            return None
    if len(tested) >= 3:
        # a very leaky cell moves little but in proportion to the current (QC then flags its
        # Rin); a channel that is not the cell's Vm does not
        i_pa, d_mv = np.array(tested).T
        if np.ptp(i_pa) > 0 and np.ptp(d_mv) > 0:
            r = float(np.corrcoef(i_pa, d_mv)[0, 1])
            if r >= MIN_PROPORTIONAL_R:
                return None
    if tested:
        amps = ", ".join(f"{a:g} pA: {d:+.2f} mV" for a, d in tested[:4])
        return (
            f"does not move with the injected current ({amps}): not the membrane potential of "
            f"the injected cell"
        )
    return None
