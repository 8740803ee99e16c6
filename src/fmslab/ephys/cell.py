"""Per-cell features from the per-sweep table of one recording.

* ``rmp_mV``: median pre-stimulus baseline of the sweeps with no current injected in the baseline
  window (no holding current; a continuous ramp's later sweeps start from the previous level).
* ``rin_MOhm``: slope of the steady-state V-I relation over subthreshold steps of <= 0 pA (plus a
  fixed prepulse, when the protocol has one), by least squares; mV/pA = GOhm. Steps where V did
  not follow the current (:func:`responds`) are left out.
* ``tau_ms``: median of the per-sweep exponential fits of hyperpolarising steps; when the
  protocol has none but a fixed hyperpolarising prepulse (18711001: -100 pA before every test
  step), the median of the fits of the prepulse's charging curve (``tau_method`` says which).
* ``capacitance_pF`` = tau / Rin.
* ``rheobase_pA``: the smallest depolarising step (> 0 pA) whose in-step firing rate exceeds the
  cell's own firing before the step (``pre_step_rate_hz``: spikes before the step onset per second,
  pooled over the step sweeps; 0 for a silent cell, so then it is the smallest step that evokes
  >= 1 spike peaking in the step). A spontaneously active cell fires in the step at the rate it
  already had at rest: that is not the current's effect. Spikes in hyperpolarising steps (rebound,
  anode break) never make a rheobase.
  ``rheobase_ramp_pA``: the injected current at the threshold of the first spike of a ramp protocol.
* F-I: ``fi_slope_Hz_per_pA`` is the least-squares slope of firing rate vs current over the steps
  at or above rheobase; ``max_firing_rate_hz`` and ``max_spikes`` over all steps;
  ``spikes_at_2x_rheobase`` on the step closest to twice rheobase.
* ``firing_pattern``: "phasic" (single/phasic: never more than 1 spike, or at most 4 spikes on
  every step, all within the first 25 % of the step) or "tonic" (repetitive); "none" when no step
  evokes a spike, "n/a" without step sweeps. ``max_spikes`` tells single from phasic.
* ``spontaneous_rate_hz``: spikes before the step (or in sweeps without stimulus) per second.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

NAN = float("nan")

#: per-sweep columns the cell features read
_NUMERIC = (
    "stim_pA",
    "holding_pA",
    "pre_stim_pA",
    "baseline_mV",
    "deflection_mV",
    "prepulse_deflection_mV",
    "prepulse_pA",
    "tau_ms",
    "prepulse_tau_ms",
    "stim_start_s",
    "stim_end_s",
    "duration_s",
    "firing_rate_hz",
    "ramp_current_at_first_spike_pA",
    "threshold_mV",
    "peak_mV",
    "half_width_ms",
    "ahp_depth_mV",
    "last_spike_ms",
)
_COUNTS = ("sweep", "n_spikes_stim", "n_spikes_pre", "n_spikes_total")


def _lsq_slope(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or np.ptp(x) == 0:
        return NAN
    return float(np.polyfit(x, y, 1)[0])


def _median(x: np.ndarray) -> float:
    """Median of the finite-or-infinite (not NaN) values, NaN when there are none (a pandas
    ``Series.median``)."""
    x = x[~np.isnan(x)]
    return float(np.median(x)) if x.size else NAN


def _sum0(x: np.ndarray):
    """Sum with NaN counted as 0 (a pandas ``fillna(0).sum()``), in the array's order."""
    return np.where(np.isnan(x), 0, x).sum() if x.dtype.kind == "f" else x.sum()


def _columns(sweeps: pd.DataFrame, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The columns the features read, as arrays (in the order of ``rows``, default all)."""
    out: dict[str, np.ndarray] = {}
    for c in _NUMERIC + _COUNTS:
        if c in sweeps:
            a = sweeps[c].to_numpy()
            a = a.astype(float) if a.dtype.kind not in "fiu" else a
            out[c] = a if rows is None else a[rows]
    return out


def step_order(sweeps: pd.DataFrame) -> np.ndarray:
    """Row positions of the step sweeps sorted by ``stim_pA`` as pandas ``sort_values`` sorts
    them (numpy quicksort of the non-NaN amplitudes, NaN last), so that ties and least-squares
    fits see the rows in the same order."""
    rows = np.flatnonzero(sweeps["stim_kind"].to_numpy(object) == "step")
    amp = sweeps["stim_pA"].to_numpy(float)[rows]
    nan = np.isnan(amp)
    return np.r_[rows[~nan][np.argsort(amp[~nan], kind="quicksort")], rows[nan]].astype(np.int64)


def cell_features(sweeps: pd.DataFrame) -> dict[str, float | str | int]:
    """Per-cell features from the per-sweep table of one file (see the module docstring)."""
    out: dict[str, float | str | int] = {}
    kind = sweeps["stim_kind"].to_numpy(object)
    col = _columns(sweeps)
    order = step_order(sweeps)
    st = {k: v[order] for k, v in col.items()}  # the step sweeps by amplitude
    n_steps = order.size
    is_ramp = kind == "ramp"
    kinds = set(kind.tolist())
    out["protocol"] = (
        "steps"
        if n_steps
        else "ramp"
        if is_ramp.any()
        else "pulse"
        if "pulse" in kinds
        else "train"
        if "train" in kinds
        else "unknown"
        if "unknown" in kinds
        else "spontaneous"
    )
    # sweeps whose injected current is unknown give no resting potential and no spontaneous rate
    known = kind != "unknown"
    out["n_sweeps"] = int(kind.size)
    no_hold = (
        known
        & np.isclose(np.nan_to_num(col["holding_pA"], nan=0.0), 0.0)
        & np.isclose(np.nan_to_num(col["pre_stim_pA"], nan=0.0), 0.0)
    )
    out["rmp_mV"] = _median(col["baseline_mV"][no_hold if no_hold.any() else known])

    # input resistance
    sub = (
        (st["n_spikes_stim"] == 0)
        & (st["stim_pA"] <= 0)
        & _responds(st["stim_pA"], st["n_spikes_stim"], st["deflection_mV"])
    )
    x = st["stim_pA"][sub].astype(float)
    y = st["deflection_mV"][sub].astype(float)
    pre = col["prepulse_deflection_mV"]
    pre = pre[~np.isnan(pre)]
    method = "steps"
    if pre.size and (~np.isnan(col["prepulse_pA"])).any():
        x = np.r_[x, _median(col["prepulse_pA"])]
        y = np.r_[y, float(np.median(pre))]
        if not sub.any():
            x, y = np.r_[x, 0.0], np.r_[y, 0.0]  # the prepulse against the baseline it starts from
        method = "steps+prepulse" if sub.any() else "prepulse"
    ok = np.isfinite(x) & np.isfinite(y)
    out["rin_MOhm"] = _lsq_slope(x[ok], y[ok]) * 1e3
    out["rin_method"] = method if ok.sum() >= 2 else "none"
    taus = st["tau_ms"][st["stim_pA"] < 0]
    taus = taus[~np.isnan(taus)]
    out["tau_method"] = "steps" if taus.size else "none"
    if not taus.size and "prepulse_tau_ms" in col:
        taus = col["prepulse_tau_ms"][~np.isnan(col["prepulse_tau_ms"])]
        out["tau_method"] = "prepulse" if taus.size else "none"
    out["tau_ms"] = float(np.median(taus)) if taus.size else NAN
    rin = float(out["rin_MOhm"])
    tau = float(out["tau_ms"])
    out["capacitance_pF"] = tau / rin * 1e3 if rin > 0 and math.isfinite(tau) else NAN

    # rheobase and F-I
    pre_rate = _pre_step_rate_hz(st["stim_start_s"], st["n_spikes_pre"])
    out["pre_step_rate_hz"] = pre_rate
    firing = np.flatnonzero(
        (st["stim_pA"] > 0)
        & (st["n_spikes_stim"] >= 1)
        & (st["firing_rate_hz"] > (pre_rate if math.isfinite(pre_rate) else 0.0))
    )
    rheo = float(st["stim_pA"][firing].min()) if firing.size else NAN
    out["rheobase_pA"] = rheo
    out["rheobase_ramp_pA"] = NAN
    if is_ramp.any():
        cur = col["ramp_current_at_first_spike_pA"]
        r = np.flatnonzero(is_ramp & ~np.isnan(cur) & (col["stim_pA"] != 0))
        quiet = r[col["n_spikes_pre"][r] == 0]  # a flat "ramp" (0 pA) injects nothing
        r = quiet if quiet.size else r
        if r.size:
            i = r[np.argsort(col["sweep"][r], kind="quicksort")[0]]
            out["rheobase_ramp_pA"] = float(cur[i] + col["holding_pA"][i])
    above = st["stim_pA"] >= rheo if math.isfinite(rheo) else np.zeros(n_steps, dtype=bool)
    out["fi_slope_Hz_per_pA"] = _lsq_slope(
        st["stim_pA"][above].astype(float), st["firing_rate_hz"][above].astype(float)
    )
    rates = st["firing_rate_hz"][~np.isnan(st["firing_rate_hz"])]
    out["max_firing_rate_hz"] = float(rates.max()) if rates.size else NAN
    out["max_spikes"] = int(st["n_spikes_stim"].max()) if n_steps else 0
    out["spikes_at_2x_rheobase"] = NAN
    out["stim_2x_rheobase_pA"] = NAN
    if math.isfinite(rheo) and rheo > 0:
        j = int(np.nanargmin(np.abs(st["stim_pA"] - 2 * rheo)))
        out["spikes_at_2x_rheobase"] = int(st["n_spikes_stim"][j])
        out["stim_2x_rheobase_pA"] = float(st["stim_pA"][j])
    out["threshold_at_rheobase_mV"] = NAN
    out["ap_peak_at_rheobase_mV"] = NAN
    out["half_width_at_rheobase_ms"] = NAN
    out["ahp_depth_at_rheobase_mV"] = NAN
    if firing.size:
        i = firing[0]
        out["threshold_at_rheobase_mV"] = float(st["threshold_mV"][i])
        out["ap_peak_at_rheobase_mV"] = float(st["peak_mV"][i])
        out["half_width_at_rheobase_ms"] = float(st["half_width_ms"][i])
        out["ahp_depth_at_rheobase_mV"] = float(st["ahp_depth_mV"][i])
    out["firing_pattern"] = _firing_pattern(
        st["n_spikes_stim"], st["stim_start_s"], st["stim_end_s"], st["last_spike_ms"]
    )

    # spontaneous firing
    rest = kind[known] != "none"
    pre_t = np.where(rest, col["stim_start_s"][known], col["duration_s"][known])
    n_pre = np.where(rest, col["n_spikes_pre"][known], col["n_spikes_total"][known])
    tot_t = float(_sum0(pre_t))
    out["spontaneous_rate_hz"] = float(_sum0(n_pre)) / tot_t if tot_t > 0 else NAN
    out["spontaneous_firing"] = bool(out["spontaneous_rate_hz"] > 0)  # NaN -> False
    return out


#: a step of at least this size (pA) must move V by at least NO_RESPONSE_MV
NO_RESPONSE_MIN_PA, NO_RESPONSE_MV = 50.0, 0.5


def _responds(stim_pA: np.ndarray, n_spikes: np.ndarray, deflection_mV: np.ndarray) -> np.ndarray:
    big = (np.abs(stim_pA) >= NO_RESPONSE_MIN_PA) & (n_spikes == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = deflection_mV / stim_pA
    typical = _median(ratio[big & (stim_pA < 0)]) if big.any() else NAN
    if math.isfinite(typical) and typical > 0:
        flat = np.where(np.isnan(ratio), np.inf, ratio) < 0.1 * typical
    else:
        flat = np.abs(deflection_mV) < NO_RESPONSE_MV
    return ~(big & flat)


def responds(steps: pd.DataFrame) -> pd.Series:
    """False for step sweeps where V did not follow the injected current (amplifier off or
    saturated, electrode lost): a step of >= 50 pA without spikes that moved V by less than a
    tenth of the cell's median mV/pA over such hyperpolarising steps (by less than 0.5 mV when the
    cell has none to compare with)."""
    follows = _responds(
        steps["stim_pA"].to_numpy(float),
        steps["n_spikes_stim"].to_numpy(),
        steps["deflection_mV"].to_numpy(float),
    )
    return pd.Series(follows, index=steps.index)


def _pre_step_rate_hz(stim_start_s: np.ndarray, n_spikes_pre: np.ndarray) -> float:
    if not stim_start_s.size:
        return NAN
    t = float(_sum0(np.where(stim_start_s < 0, 0.0, stim_start_s)))
    return float(_sum0(n_spikes_pre)) / t if t > 0 else NAN


def pre_step_rate_hz(steps: pd.DataFrame) -> float:
    """Spontaneous firing rate before the step, pooled over the step sweeps (spikes / s)."""
    return _pre_step_rate_hz(
        steps["stim_start_s"].to_numpy(float), steps["n_spikes_pre"].to_numpy()
    )


def _firing_pattern(
    n_spikes: np.ndarray, start_s: np.ndarray, end_s: np.ndarray, last_spike_ms: np.ndarray
) -> str:
    if not n_spikes.size:
        return "n/a"  # no step protocol (ramp, pulse, gap-free)
    f = n_spikes >= 1
    if not f.any():
        return "none"
    most = int(n_spikes[f].max())
    if most == 1:
        return "phasic"  # single-spiking: the extreme of phasic firing
    dur_ms = (end_s[f] - start_s[f]) * 1e3
    early = bool((last_spike_ms[f] <= 0.25 * dur_ms).all())
    if most <= 4 and early:
        return "phasic"
    return "tonic"


def firing_pattern(steps: pd.DataFrame) -> str:
    """ "n/a", "none", "phasic" or "tonic" from the step sweeps (see the module docstring)."""
    if not len(steps):
        return "n/a"
    return _firing_pattern(
        steps["n_spikes_stim"].to_numpy(),
        steps["stim_start_s"].to_numpy(float),
        steps["stim_end_s"].to_numpy(float),
        steps["last_spike_ms"].to_numpy(float),
    )
