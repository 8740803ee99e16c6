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


def _lsq_slope(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or np.ptp(x) == 0:
        return NAN
    return float(np.polyfit(x, y, 1)[0])


def cell_features(sweeps: pd.DataFrame) -> dict[str, float | str | int]:
    """Per-cell features from the per-sweep table of one file (see the module docstring)."""
    out: dict[str, float | str | int] = {}
    steps = sweeps[sweeps["stim_kind"] == "step"].sort_values("stim_pA")
    ramps = sweeps[sweeps["stim_kind"] == "ramp"]
    kinds = set(sweeps["stim_kind"])
    out["protocol"] = (
        "steps"
        if len(steps)
        else "ramp"
        if len(ramps)
        else "pulse"
        if "pulse" in kinds
        else "train"
        if "train" in kinds
        else "unknown"
        if "unknown" in kinds
        else "spontaneous"
    )
    # sweeps whose injected current is unknown give no resting potential and no spontaneous rate
    known = sweeps[sweeps["stim_kind"] != "unknown"]
    out["n_sweeps"] = int(len(sweeps))
    no_hold = known[
        np.isclose(known["holding_pA"].fillna(0.0), 0.0)
        & np.isclose(known["pre_stim_pA"].fillna(0.0), 0.0)
    ]
    base = (no_hold if len(no_hold) else known)["baseline_mV"].dropna()
    out["rmp_mV"] = float(base.median()) if len(base) else NAN

    # input resistance
    sub = steps[(steps["n_spikes_stim"] == 0) & (steps["stim_pA"] <= 0) & responds(steps)]
    x = sub["stim_pA"].to_numpy(float)
    y = sub["deflection_mV"].to_numpy(float)
    pre = sweeps["prepulse_deflection_mV"].dropna()
    method = "steps"
    if len(pre) and sweeps["prepulse_pA"].notna().any():
        x = np.r_[x, float(sweeps["prepulse_pA"].dropna().median())]
        y = np.r_[y, float(pre.median())]
        if len(sub) == 0:
            x, y = np.r_[x, 0.0], np.r_[y, 0.0]  # the prepulse against the baseline it starts from
        method = "steps+prepulse" if len(sub) else "prepulse"
    ok = np.isfinite(x) & np.isfinite(y)
    out["rin_MOhm"] = _lsq_slope(x[ok], y[ok]) * 1e3
    out["rin_method"] = method if ok.sum() >= 2 else "none"
    taus = steps.loc[steps["stim_pA"] < 0, "tau_ms"].dropna()
    out["tau_method"] = "steps" if len(taus) else "none"
    if not len(taus) and "prepulse_tau_ms" in sweeps:
        taus = sweeps["prepulse_tau_ms"].dropna()
        out["tau_method"] = "prepulse" if len(taus) else "none"
    out["tau_ms"] = float(taus.median()) if len(taus) else NAN
    rin = float(out["rin_MOhm"])
    tau = float(out["tau_ms"])
    out["capacitance_pF"] = tau / rin * 1e3 if rin > 0 and math.isfinite(tau) else NAN

    # rheobase and F-I
    pre_rate = pre_step_rate_hz(steps)
    out["pre_step_rate_hz"] = pre_rate
    firing = steps[
        (steps["stim_pA"] > 0)
        & (steps["n_spikes_stim"] >= 1)
        & (steps["firing_rate_hz"] > (pre_rate if math.isfinite(pre_rate) else 0.0))
    ]
    rheo = float(firing["stim_pA"].min()) if len(firing) else NAN
    out["rheobase_pA"] = rheo
    out["rheobase_ramp_pA"] = NAN
    if len(ramps):
        r = ramps.dropna(subset=["ramp_current_at_first_spike_pA"])
        r = r[r["stim_pA"] != 0]  # a flat "ramp" (0 pA) injects nothing
        r = r[r["n_spikes_pre"] == 0] if (r["n_spikes_pre"] == 0).any() else r
        if len(r):
            out["rheobase_ramp_pA"] = float(
                r.sort_values("sweep")["ramp_current_at_first_spike_pA"].iloc[0]
                + r.sort_values("sweep")["holding_pA"].iloc[0]
            )
    above = steps[steps["stim_pA"] >= rheo] if math.isfinite(rheo) else steps.iloc[0:0]
    out["fi_slope_Hz_per_pA"] = _lsq_slope(
        above["stim_pA"].to_numpy(float), above["firing_rate_hz"].to_numpy(float)
    )
    out["max_firing_rate_hz"] = float(steps["firing_rate_hz"].max()) if len(steps) else NAN
    out["max_spikes"] = int(steps["n_spikes_stim"].max()) if len(steps) else 0
    out["spikes_at_2x_rheobase"] = NAN
    out["stim_2x_rheobase_pA"] = NAN
    if math.isfinite(rheo) and rheo > 0:
        j = (steps["stim_pA"] - 2 * rheo).abs().idxmin()
        out["spikes_at_2x_rheobase"] = int(steps.loc[j, "n_spikes_stim"])
        out["stim_2x_rheobase_pA"] = float(steps.loc[j, "stim_pA"])
    out["threshold_at_rheobase_mV"] = NAN
    out["ap_peak_at_rheobase_mV"] = NAN
    out["half_width_at_rheobase_ms"] = NAN
    out["ahp_depth_at_rheobase_mV"] = NAN
    if len(firing):
        first = firing.iloc[0]
        out["threshold_at_rheobase_mV"] = float(first["threshold_mV"])
        out["ap_peak_at_rheobase_mV"] = float(first["peak_mV"])
        out["half_width_at_rheobase_ms"] = float(first["half_width_ms"])
        out["ahp_depth_at_rheobase_mV"] = float(first["ahp_depth_mV"])
    out["firing_pattern"] = firing_pattern(steps)

    # spontaneous firing
    pre_t = known["stim_start_s"].where(known["stim_kind"] != "none", known["duration_s"])
    n_pre = known["n_spikes_pre"].where(known["stim_kind"] != "none", known["n_spikes_total"])
    tot_t = float(pre_t.fillna(0).sum())
    out["spontaneous_rate_hz"] = float(n_pre.fillna(0).sum()) / tot_t if tot_t > 0 else NAN
    out["spontaneous_firing"] = bool(out["spontaneous_rate_hz"] > 0)  # NaN -> False
    return out


#: a step of at least this size (pA) must move V by at least NO_RESPONSE_MV
NO_RESPONSE_MIN_PA, NO_RESPONSE_MV = 50.0, 0.5


def responds(steps: pd.DataFrame) -> pd.Series:
    """False for step sweeps where V did not follow the injected current (amplifier off or
    saturated, electrode lost): a step of >= 50 pA without spikes that moved V by less than a
    tenth of the cell's median mV/pA over such hyperpolarising steps (by less than 0.5 mV when the
    cell has none to compare with)."""
    big = (steps["stim_pA"].abs() >= NO_RESPONSE_MIN_PA) & (steps["n_spikes_stim"] == 0)
    ratio = steps["deflection_mV"] / steps["stim_pA"]
    typical = float(ratio[big & (steps["stim_pA"] < 0)].median()) if big.any() else NAN
    if math.isfinite(typical) and typical > 0:
        flat = ratio.fillna(np.inf) < 0.1 * typical
    else:
        flat = steps["deflection_mV"].abs() < NO_RESPONSE_MV
    return ~(big & flat)


def pre_step_rate_hz(steps: pd.DataFrame) -> float:
    """Spontaneous firing rate before the step, pooled over the step sweeps (spikes / s)."""
    if not len(steps):
        return NAN
    t = float(steps["stim_start_s"].clip(lower=0).sum())
    return float(steps["n_spikes_pre"].fillna(0).sum()) / t if t > 0 else NAN


def firing_pattern(steps: pd.DataFrame) -> str:
    """ "n/a", "none", "phasic" or "tonic" from the step sweeps (see the module docstring)."""
    if not len(steps):
        return "n/a"  # no step protocol (ramp, pulse, gap-free)
    firing = steps[steps["n_spikes_stim"] >= 1]
    if not len(firing):
        return "none"
    if int(firing["n_spikes_stim"].max()) == 1:
        return "phasic"  # single-spiking: the extreme of phasic firing
    dur_ms = (firing["stim_end_s"] - firing["stim_start_s"]) * 1e3
    early = (firing["last_spike_ms"] <= 0.25 * dur_ms).all()
    if int(firing["n_spikes_stim"].max()) <= 4 and early:
        return "phasic"
    return "tonic"
