"""The stimulus of sweeps whose injected current is a waveform, not an epoch table.

NWB stimulus series, neo current channels, Igor stimulus waves and pyabf's command waveform give
the injected current sample by sample. :mod:`fmslab.ephys.io` reads a step from each sweep on its
own; this module adds what one sweep cannot tell:

* :func:`family_steps`: the *test step of a family* of piecewise-constant commands is the epoch
  whose level changes across sweeps (the ABF reader's rule for epoch tables). A sweep whose test
  step is 0 pA shows only its fixed prepulse (18711001 sweep 0: -100 pA, then a 0 pA step): read
  alone, its prepulse would be taken for the step.
* :func:`ramp_from_command`: a noise-free command made of at most :data:`MAX_PIECES` linear pieces
  with exactly one sloped piece is a ramp (start, end, slope); any other waveform is not.
* :func:`ramp_from_recorded`: the epoch of a noisy recorded current is a ramp when one straight
  line fits it within the noise of the sweep's baseline (see the function for the tolerance).
"""

from __future__ import annotations

import math

import numpy as np

from fmslab.ephys.io import Stimulus

#: a noise-free command's pieces deviate from a straight line by at most this much (pA): half the
#: step of a typical current-clamp DAC (16 bit over +-10 V at 400 pA/V: 0.125 pA) and far above
#: the rounding of float32 storage (6e-8 relative: 1e-4 pA at 2 nA)
COMMAND_TOL_PA = 0.1
#: at most this many linear pieces: more is a waveform (sine, noise, train), not a ramp protocol
MAX_PIECES = 12
#: a sloped piece must change the current by at least this much (pA) to be a ramp
MIN_RAMP_PA = 1.0
#: the DAC step allowed for in a recorded current (pA): its quantisation noise is step / sqrt(12)
RECORDED_DAC_STEP_PA = 1.0


def _linear_breaks(i: np.ndarray, tol: float, max_breaks: int) -> list[int] | None:
    """Sample indices splitting ``i`` into pieces that each lie within ``tol`` of the chord
    between their end samples (recursive splitting at the worst sample), or None when more than
    ``max_breaks`` are needed."""
    n = i.size
    breaks = {0, n - 1}
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        seg = i[a : b + 1]
        chord = i[a] + (i[b] - i[a]) * np.arange(b - a + 1) / (b - a)
        dev = np.abs(seg - chord)
        k = int(np.argmax(dev))
        if dev[k] <= tol:
            continue
        breaks.add(a + k)
        if len(breaks) > max_breaks:
            return None
        stack.extend([(a, a + k), (a + k, b)])
    return sorted(breaks)


def ramp_from_command(i_pA: np.ndarray, dt_s: float, source: str) -> Stimulus | None:
    """A linear ramp in a noise-free command waveform, or None when it is no single ramp.

    The command is split into linear pieces (within :data:`COMMAND_TOL_PA`); a piece of two
    samples that jumps is an edge. The first piece is the holding level (it must be flat); the
    ramp is the one piece whose current changes by >= :data:`MIN_RAMP_PA` over >= 3 samples. Its
    window is ``[first sample, last sample + 1)`` as an epoch; ``stim_pA`` (the end level relative
    to holding, the ABF reader's convention) is the line's value at the window's end; the level
    before the ramp is ``pre_stim_pA`` and an earlier flat piece away from holding the prepulse.
    """
    i = np.asarray(i_pA, dtype=np.float64)
    if i.size < 8 or not np.all(np.isfinite(i)):
        return None
    brk = _linear_breaks(i, COMMAND_TOL_PA, 3 * MAX_PIECES)
    if brk is None:
        return None
    pieces = []  # (first sample, last sample, value at first, value at last)
    for a, b in zip(brk[:-1], brk[1:], strict=True):
        if b - a == 1 and abs(i[b] - i[a]) > COMMAND_TOL_PA:
            continue  # a jump between two pieces
        pieces.append((a, b, float(i[a]), float(i[b])))
    # neighbouring flat pieces at one level split by nothing are one piece
    merged: list[tuple[int, int, float, float]] = []
    for p in pieces:
        if merged:
            q = merged[-1]
            flat_p = abs(p[3] - p[2]) <= COMMAND_TOL_PA
            flat_q = abs(q[3] - q[2]) <= COMMAND_TOL_PA
            if flat_p and flat_q and q[1] == p[0] and abs(p[2] - q[3]) <= COMMAND_TOL_PA:
                merged[-1] = (q[0], p[1], q[2], p[3])
                continue
        merged.append(p)
    if len(merged) > MAX_PIECES or not merged:
        return None
    if abs(merged[0][3] - merged[0][2]) > COMMAND_TOL_PA:
        return None  # no flat holding level at the start
    sloped = [
        k for k, p in enumerate(merged) if abs(p[3] - p[2]) >= MIN_RAMP_PA and p[1] - p[0] >= 2
    ]
    if len(sloped) != 1:
        return None  # no ramp, or a triangle / several ramps: not one ramp protocol
    k = sloped[0]
    a, b, va, vb = merged[k]
    if any(abs(p[3] - p[2]) > COMMAND_TOL_PA for j, p in enumerate(merged) if j != k):
        return None
    hold = merged[0][2]
    slope = (vb - va) / ((b - a) * dt_s)
    end = b + 1  # the epoch's end: one sample past the ramp's last one
    pre_kw: dict[str, float] = {"pre_stim_pA": float(i[a - 1] - hold) if a > 0 else 0.0}
    earlier = [p for p in merged[1:k] if abs(p[2] - hold) > COMMAND_TOL_PA]
    if earlier:
        p = earlier[-1]
        pre_kw.update(
            prepulse_pA=round(p[2] - hold, 2),
            prepulse_start_s=p[0] * dt_s,
            prepulse_end_s=(p[1] + 1) * dt_s,
        )
    return Stimulus(
        "ramp",
        va - hold + slope * (end - a) * dt_s,
        a * dt_s,
        end * dt_s,
        hold,
        source,
        ramp_slope_pA_per_s=slope,
        ramp_start_pA=va - hold,
        **pre_kw,
    )


def ramp_from_recorded(
    i_pA: np.ndarray, dt_s: float, a: int, b: int, base_pA: float, threshold_pA: float
) -> Stimulus | None:
    """The epoch ``[a, b)`` of a recorded (noisy) current as a linear ramp, or None.

    A straight line is fitted to the epoch by least squares. It is a ramp when the residuals'
    RMS is at most 1.5 x the noise expected of a straight current on this sweep, sqrt(sd^2 +
    q^2 / 12) with sd the robust SD (1.4826 x MAD) of the baseline (the first 5 % of the sweep)
    and q = :data:`RECORDED_DAC_STEP_PA` the DAC step (quantisation), and the line changes by
    more than :data:`MIN_RAMP_PA` and 5 standard errors of that change (noise x sqrt(12 / N) for
    N samples) over the epoch, and the line does not bend: the mean residual of each sixteenth of
    the epoch is within 4 standard errors or a tenth of the change. The residual RMS of a line
    plus white noise is the noise SD (within a few % over thousands of samples), so 1.5x keeps
    every true ramp; a ramp that then holds its level, a triangle, a sine or a train bends by a
    third of its change or more and is refused (None: the caller reports the current unknown).
    The line's current is then within about a tenth of the ramp's change of the true one.

    The epoch starts where the current first left the baseline by ``threshold_pA``; when the
    line there is within ``threshold_pA`` + 3 sd of the baseline the ramp rose out of the
    baseline, and its start is where the line meets it.
    """
    n = i_pA.size
    n0 = max(1, n // 20)
    head = i_pA[:n0]
    sd = float(1.4826 * np.median(np.abs(head - np.median(head))))
    noise = math.sqrt(sd**2 + RECORDED_DAC_STEP_PA**2 / 12.0)
    y_all = i_pA - base_pA
    w1 = max(1, round(1e-3 / dt_s))
    if b - a < 10:
        return None
    # the fit leaves out the averaging's reach at each edge (a jump is blurred over w1)
    fa, fb = (a + w1, b - w1) if b - a > 4 * w1 + 10 else (a, b)
    t = np.arange(fa, fb, dtype=np.float64)
    y = y_all[fa:fb]
    slope, icpt = np.polyfit(t, y, 1)
    rms = float(np.sqrt(np.mean((y - (slope * t + icpt)) ** 2)))
    change = float(slope * (b - a))
    # the change's standard error for a line fitted to N samples with white noise: noise * sqrt(12 / N)
    se_change = noise * math.sqrt(12.0 / (fb - fa))
    if rms > 1.5 * noise or abs(change) <= max(MIN_RAMP_PA, 5 * se_change):
        return None
    # no bend: the mean residual of each sixteenth of the epoch within 4 standard errors (white
    # noise) or a tenth of the ramp's change (a monitor's slow noise), whichever is larger; a
    # ramp that then holds, or a triangle, bends by a third of its change or more
    block_means = [float(np.mean(r)) for r in np.array_split(y - (slope * t + icpt), 16)]
    bend = max(abs(m) for m in block_means)
    if bend > max(4 * noise / math.sqrt((fb - fa) / 16), 0.1 * abs(change)):
        return None
    start = float(a)
    at_a = slope * a + icpt
    if abs(at_a) <= threshold_pA + 3 * sd and slope != 0:
        start = min(float(a), max(0.0, -icpt / slope))  # where the line meets the baseline
    start_pA = slope * start + icpt
    return Stimulus(
        "ramp",
        float(slope * b + icpt),
        start * dt_s,
        b * dt_s,
        base_pA,
        "current_channel",
        ramp_slope_pA_per_s=float(slope / dt_s),
        ramp_start_pA=float(start_pA),
        pre_stim_pA=0.0,
        reason=f"ramp fitted to the recorded current (residual RMS {rms:.2f} pA)",
    )


def family_steps(
    i_list: list[np.ndarray | None], dt_s: float, source: str, tol_pA: float = 0.5
) -> list[Stimulus] | None:
    """The test step of a family of piecewise-constant commands, or None (read sweep by sweep).

    Every sweep is cut at the union of all sweeps' level changes (> ``tol_pA`` between samples);
    a segment's level is its median (rounded to 0.01 pA) relative to the sweep's first segment
    (its holding current). The test step is the first segment whose level differs across sweeps;
    an earlier segment away from holding that is the same in every sweep is the prepulse
    (the last one before the test step), and the level of the segment just before the test step
    is ``pre_stim_pA``. None when the sweeps differ in length, a sweep is not piecewise constant
    within its segments, no segment changes across sweeps, or a sweep's test level equals a
    neighbouring segment's while differing from holding (an epoch whose duration changes across
    sweeps: segments of the union are not epochs then).
    """
    if len(i_list) < 2 or any(i is None for i in i_list):
        return None
    arrays = [np.asarray(i, dtype=np.float64) for i in i_list if i is not None]
    if len({a.size for a in arrays}) != 1 or arrays[0].size < 4:
        return None
    if not all(np.all(np.isfinite(a)) for a in arrays):
        return None
    n = arrays[0].size
    cuts = {0, n}
    for a in arrays:
        cuts.update((np.flatnonzero(np.abs(np.diff(a)) > tol_pA) + 1).tolist())
        if len(cuts) > 2 * MAX_PIECES + 2:
            return None
    bounds = np.array(sorted(cuts))
    segs = list(zip(bounds[:-1], bounds[1:], strict=True))
    levels = np.empty((len(arrays), len(segs)))
    for s, a in enumerate(arrays):
        for j, (p, q) in enumerate(segs):
            part = a[p:q]
            if np.ptp(part) > 2 * tol_pA:
                return None
            levels[s, j] = round(float(np.median(part)), 2)
    hold = levels[:, 0]
    rel = levels - hold[:, None]
    varying = [j for j in range(len(segs)) if np.ptp(rel[:, j]) > tol_pA]
    if not varying or varying[0] == 0:
        return None
    j = varying[0]
    for s in range(len(arrays)):
        if abs(rel[s, j]) <= tol_pA:
            continue
        for k in (j - 1, j + 1):
            if 0 <= k < len(segs) and abs(rel[s, j] - rel[s, k]) <= tol_pA:
                return None
    p, q = int(segs[j][0]), int(segs[j][1])
    out = []
    for s in range(len(arrays)):
        pre_kw: dict[str, float] = {"pre_stim_pA": float(rel[s, j - 1])}
        away = [k for k in range(1, j) if abs(rel[s, k]) > tol_pA]
        if away and away[-1] not in varying:
            k = away[-1]
            pre_kw.update(
                prepulse_pA=float(rel[s, k]),
                prepulse_start_s=float(segs[k][0]) * dt_s,
                prepulse_end_s=float(segs[k][1]) * dt_s,
            )
        out.append(
            Stimulus("step", float(rel[s, j]), p * dt_s, q * dt_s, float(hold[s]), source, **pre_kw)
        )
    return out
