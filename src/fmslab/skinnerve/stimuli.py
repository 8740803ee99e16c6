"""Stimulus parsing from the (down-sampled) stimulus channels.

- :func:`find_steps`: ramp-and-hold steps of a mechanical channel (force, displacement, pressure).
  The resting level is the most common level of the channel (histogram mode, bins of
  ``max(min_step / 2, 4 noise)``), so that long steps do not move it; its noise the MAD of the first
  difference (divided by sqrt 2). Steps go the way of the larger excursion from rest (pressure
  channels often step negative, suction); ``amplitude`` is the size of the step and ``direction``
  its sign. A step is a run beyond ``rest + max(min_step, 6 noise)`` lasting at least
  ``min_duration``. Inside it, the plateau is the median of the run's samples above
  ``rest + plateau_fraction * (max - rest)``; the dynamic phase runs from onset (the ramp's
  20-80 % rise extrapolated back to rest) to the first sample reaching ``plateau_fraction`` of the
  plateau, the static phase
  from there to the last such sample, and the offset is the end of the run.
- :func:`find_thermal_ramps`: cold and heat ramps of the temperature channel: runs farther than
  ``min_change_c`` from the bath temperature (the median), below it (cold) or above it (heat);
  the ramp rate is taken between the 20 % and 80 % crossings of the excursion and ``extreme_s`` is
  the first time it reaches 95 % of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STEP_COLUMNS = [
    "step",
    "onset_s",
    "ramp_end_s",
    "hold_end_s",
    "offset_s",
    "rest",
    "amplitude",
    "peak",
    "direction",
]
RAMP_COLUMNS = [
    "ramp",
    "kind",
    "onset_s",
    "extreme_s",
    "offset_s",
    "bath_c",
    "extreme_c",
    "rate_c_per_s",
]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array (stop exclusive)."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1:
        return x
    k = np.ones(n) / n
    return np.convolve(np.pad(x, (n // 2, n - 1 - n // 2), mode="edge"), k, mode="valid")


def find_steps(
    time_s: np.ndarray,
    x: np.ndarray,
    *,
    min_step: float,
    min_duration_s: float = 0.02,
    plateau_fraction: float = 0.9,
    merge_gap_s: float = 0.005,
) -> pd.DataFrame:
    """Ramp-and-hold steps of a mechanical stimulus channel (see the module docstring).

    ``amplitude`` is ``|plateau - rest|`` in the channel's unit (mN, um or mmHg).
    """
    if x.size < 3:
        return pd.DataFrame(columns=STEP_COLUMNS)
    dt = float(np.median(np.diff(time_s)))
    xs = _smooth(np.asarray(x, dtype=np.float64), max(1, int(round(0.005 / dt))))
    noise = float(np.median(np.abs(np.diff(x))) / 0.6745 / np.sqrt(2)) if x.size > 2 else 0.0
    width = max(min_step / 2, 4 * noise, 1e-12)
    lo, hi = float(xs.min()), float(xs.max())
    counts, edges = np.histogram(xs, bins=max(1, int(np.ceil((hi - lo) / width))))
    k = int(np.argmax(counts))
    in_bin = xs[(xs >= edges[k]) & (xs <= edges[k + 1])]
    rest = float(np.median(in_bin))
    direction = 1.0 if hi - rest >= rest - lo else -1.0
    xs = direction * (xs - rest)
    rest_out, rest = rest, 0.0
    thr = rest + max(min_step, 6 * noise)
    runs = _runs(xs > thr)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and (a - merged[-1][1]) * dt < merge_gap_s:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    rows = []
    for a, b in merged:
        if (b - a) * dt < min_duration_s:
            continue
        seg = xs[a:b]
        peak = float(seg.max())
        near = seg >= rest + plateau_fraction * (peak - rest)
        plateau = float(np.median(seg[near]))
        level = rest + plateau_fraction * (plateau - rest)
        above = np.flatnonzero(seg >= level)
        # onset: walk back from the crossing to where the signal leaves rest (2 noise SD)
        on = a
        while on > 0 and xs[on - 1] > rest + 2 * noise + 0.05 * (plateau - rest):
            on -= 1
        off = b
        while off < xs.size - 1 and xs[off] > rest + 2 * noise + 0.05 * (plateau - rest):
            off += 1
        # onset refined by extrapolating the ramp (last 20 % and 80 % up-crossings before the
        # plateau) back to rest
        onset = float(time_s[on])
        j90 = a + int(above[0])
        lo_bound = max(0, j90 - int(round(1.0 / dt)))
        below80 = np.flatnonzero(xs[lo_bound:j90] < 0.8 * plateau)
        if below80.size:
            k80 = lo_bound + int(below80[-1]) + 1
            below20 = np.flatnonzero(xs[lo_bound:k80] < 0.2 * plateau)
            if below20.size:
                k20 = lo_bound + int(below20[-1]) + 1
                t20, t80 = float(time_s[k20]), float(time_s[k80])
                onset = t20 - (t80 - t20) / 3.0
        rows.append(
            {
                "onset_s": onset,
                "ramp_end_s": time_s[a + above[0]],
                "hold_end_s": time_s[a + above[-1]],
                "offset_s": time_s[min(off, time_s.size - 1)],
                "rest": rest_out,
                "amplitude": plateau - rest,
                "peak": peak - rest,
                "direction": int(direction),
            }
        )
    df = pd.DataFrame(rows, columns=STEP_COLUMNS[1:])
    df.insert(0, "step", np.arange(1, len(df) + 1))
    return df


def find_thermal_ramps(
    time_s: np.ndarray,
    temp_c: np.ndarray,
    *,
    min_change_c: float = 2.0,
    min_duration_s: float = 1.0,
) -> pd.DataFrame:
    """Cold and heat ramps: runs of the temperature farther than ``min_change_c`` from the bath."""
    if temp_c.size < 3:
        return pd.DataFrame(columns=RAMP_COLUMNS)
    dt = float(np.median(np.diff(time_s)))
    ts = _smooth(np.asarray(temp_c, dtype=np.float64), max(1, int(round(0.1 / dt))))
    bath = float(np.median(ts))
    rows = []
    for kind, mask in (("cold", ts < bath - min_change_c), ("heat", ts > bath + min_change_c)):
        for a, b in _runs(mask):
            if (b - a) * dt < min_duration_s:
                continue
            # onset/offset: where the temperature leaves/returns within 0.5 degC of the bath
            on = a
            while on > 0 and abs(ts[on - 1] - bath) > 0.5:
                on -= 1
            off = min(b, ts.size - 1)  # a ramp may run to the end of the recording
            while off < ts.size - 1 and abs(ts[off] - bath) > 0.5:
                off += 1
            seg = ts[on:off]
            k = int(np.argmin(seg) if kind == "cold" else np.argmax(seg))
            extreme = float(seg[k])
            frac = (seg - bath) / (extreme - bath)
            i20, i80, i95 = (int(np.argmax(frac >= f)) for f in (0.2, 0.8, 0.95))
            t_ext = float(time_s[on + i95])
            span = float(time_s[on + i80] - time_s[on + i20])
            rate = 0.6 * (extreme - bath) / span if span > 0 else float("nan")
            rows.append(
                {
                    "kind": kind,
                    "onset_s": float(time_s[on]),
                    "extreme_s": t_ext,
                    "offset_s": float(time_s[off]),
                    "bath_c": bath,
                    "extreme_c": extreme,
                    "rate_c_per_s": rate,
                }
            )
    df = pd.DataFrame(rows, columns=RAMP_COLUMNS[1:]).sort_values("onset_s", ignore_index=True)
    df.insert(0, "ramp", np.arange(1, len(df) + 1))
    return df
