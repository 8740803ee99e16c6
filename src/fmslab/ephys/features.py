"""Per-sweep features of a current-clamp sweep (one dict per sweep, units in every key).

Windows: *baseline* = the 100 ms (at most) before the test-step onset (whole sweep when there is no
stimulus); *steady state* = the last 20 % of the step; *peak deflection* = the extreme of V during
the step (minimum for hyperpolarising steps). First-spike features are those of the first spike
whose peak lies in the test step (the first spike of the sweep when there is no step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fmslab.ephys.io import Stimulus, Sweep
from fmslab.ephys.spikes import SpikeParams, SpikeTable, detect_spikes
from fmslab.spiketrains import isi_cv

NAN = float("nan")
#: spikes peaking up to this long after a brief pulse ends count as its response
PULSE_RESPONSE_S = 0.010

#: features of the first spike in the test step, one column each
FIRST_SPIKE_KEYS = (
    "threshold_mV",
    "peak_mV",
    "amplitude_mV",
    "half_width_ms",
    "upstroke_V_per_s",
    "downstroke_V_per_s",
    "ahp_depth_mV",
    "ahp_trough_mV",
    "ahp_time_ms",
    "ahp_slow_depth_mV",
    "ahp_slow_trough_mV",
    "ahp_slow_time_ms",
)

#: Column order of the per-sweep table (after ``file`` and ``sweep``).
SWEEP_COLUMNS = (
    "stim_kind",
    "stim_source",
    "stim_pA",
    "stim_start_s",
    "stim_end_s",
    "holding_pA",
    "pre_stim_pA",
    "duration_s",
    "sample_rate_hz",
    "n_spikes_stim",
    "n_spikes_total",
    "n_spikes_pre",
    "firing_rate_hz",
    "latency_ms",
    *FIRST_SPIKE_KEYS,
    "threshold_mean_mV",
    "amplitude_mean_mV",
    "half_width_mean_ms",
    "isi_mean_ms",
    "isi_cv",
    "adaptation_index",
    "first_isi_ms",
    "last_spike_ms",
    "baseline_mV",
    "baseline_sd_mV",
    "steady_state_mV",
    "deflection_mV",
    "peak_deflection_mV",
    "sag_ratio",
    "tau_ms",
    "ramp_current_at_first_spike_pA",
    "prepulse_pA",
    "prepulse_deflection_mV",
    "prepulse_tau_ms",
)


def _window(t0_s: float, t1_s: float, dt_s: float, n: int) -> slice:
    a = max(0, int(round(t0_s / dt_s)))
    b = min(n, int(round(t1_s / dt_s)))
    return slice(a, max(a, b))


def fit_tau_ms(v_mV: np.ndarray, dt_s: float) -> float:
    """Membrane time constant from the charging curve of a hyperpolarising step.

    ``v_mV`` starts at the step onset and ends at the peak deflection. The curve between 10 % and
    95 % of the deflection is fitted with ``V(t) = V_inf + A exp(-t / tau)`` by least squares
    (:func:`fmslab.ephys.expfit.fit_exponential`, tau searched from a tenth of the fitted sampling
    interval to 10x the fitted span). Returns NaN when the fit is ill-posed or the best tau lies at
    an end of that range.
    """
    from fmslab.ephys.expfit import fit_exponential

    if v_mV.size < 8:
        return NAN
    v0, vmin = float(v_mV[0]), float(v_mV.min())
    span = v0 - vmin
    if span < 1.0:
        return NAN
    frac = (v0 - v_mV) / span
    a = int(np.argmax(frac >= 0.1))
    b = int(np.argmax(frac >= 0.95))
    if b - a < 5:
        return NAN
    y = v_mV[a:b]
    step = max(1, y.size // 400)  # the fit needs a few hundred points, not 10 000
    y = y[::step]
    dt_ms = dt_s * step * 1e3
    t = np.arange(y.size) * dt_ms
    fit = fit_exponential(t, y, tau_min=dt_ms / 10, tau_max=10 * max(float(t[-1]), 1e-9))
    return NAN if fit is None else float(fit[2])


@dataclass(frozen=True)
class SweepResult:
    """The analysis of one sweep: its features (:data:`SWEEP_COLUMNS`) and its spikes."""

    features: dict[str, float | str | int]
    spikes: SpikeTable


def sweep_features(sweep: Sweep, params: SpikeParams | None = None) -> dict[str, float | str | int]:
    """All per-sweep features of one sweep (see :data:`SWEEP_COLUMNS`)."""
    return analyze_sweep(sweep, params).features


def analyze_sweep(sweep: Sweep, params: SpikeParams | None = None) -> SweepResult:
    """The features and the per-spike table of one sweep."""
    v, dt = sweep.v_mV, sweep.dt_s
    st: Stimulus = sweep.stimulus
    # "unknown": current injected but not known -> analysed as spontaneous activity only
    has_stim = st.kind not in ("none", "unknown") and math.isfinite(st.stim_start_s)
    end = st.stim_end_s if has_stim and st.kind in ("step", "ramp") else None
    sp = detect_spikes(v, dt, params, sweep.edges_s, window_end_s=end)
    return SweepResult(_features(sweep, sp, has_stim), sp)


def _features(sweep: Sweep, sp: SpikeTable, has_stim: bool) -> dict[str, float | str | int]:
    v, dt = sweep.v_mV, sweep.dt_s
    n = v.size
    st: Stimulus = sweep.stimulus
    pk_t = sp["peak_t_s"]
    f: dict[str, float | str | int] = dict.fromkeys(SWEEP_COLUMNS, NAN)
    f.update(
        stim_kind=st.kind,
        stim_source=st.source,
        stim_pA=st.stim_pA,
        stim_start_s=st.stim_start_s,
        stim_end_s=st.stim_end_s,
        holding_pA=st.holding_pA,
        pre_stim_pA=st.pre_stim_pA,
        duration_s=n * dt,
        sample_rate_hz=1.0 / dt,
        n_spikes_total=int(pk_t.size),
        prepulse_pA=st.prepulse_pA,
    )
    if has_stim:
        # a brief pulse's response (the AP it evokes) may peak just after the pulse ends
        resp_end = st.stim_end_s + (PULSE_RESPONSE_S if st.kind in ("pulse", "train") else 0.0)
        in_stim = (pk_t >= st.stim_start_s) & (pk_t <= resp_end)
        f["n_spikes_pre"] = int((pk_t < st.stim_start_s).sum())
        base = v[_window(max(0.0, st.stim_start_s - 0.1), st.stim_start_s, dt, n)]
        step_dur = st.stim_end_s - st.stim_start_s
        sel = np.flatnonzero(in_stim)
    else:
        in_stim = np.ones(pk_t.size, bool)
        f["n_spikes_pre"] = 0
        base = v
        step_dur = n * dt
        sel = np.arange(pk_t.size)
    f["n_spikes_stim"] = int(sel.size)
    f["firing_rate_hz"] = sel.size / step_dur if step_dur > 0 else NAN
    if base.size:
        f["baseline_mV"] = float(np.median(base))
        # robust noise (1.4826 x MAD): spontaneous spikes in the baseline do not count as noise
        f["baseline_sd_mV"] = float(1.4826 * np.median(np.abs(base - f["baseline_mV"])))
    if sel.size:
        i0 = int(sel[0])
        t_thr = float(sp["threshold_t_s"][i0])
        if has_stim:
            f["latency_ms"] = (t_thr - st.stim_start_s) * 1e3
        for key in FIRST_SPIKE_KEYS:
            f[key] = float(sp[key][i0])
        f["threshold_mean_mV"] = float(np.mean(sp["threshold_mV"][sel]))
        f["amplitude_mean_mV"] = float(np.mean(sp["amplitude_mV"][sel]))
        f["half_width_mean_ms"] = (
            float(np.nanmean(sp["half_width_ms"][sel]))
            if np.isfinite(sp["half_width_ms"][sel]).any()
            else NAN
        )
        if has_stim:
            f["last_spike_ms"] = (float(sp["peak_t_s"][sel[-1]]) - st.stim_start_s) * 1e3
        if st.kind == "ramp":
            f["ramp_current_at_first_spike_pA"] = st.current_at(t_thr)
    if sel.size >= 2:
        isi = np.diff(sp["peak_t_s"][sel]) * 1e3
        f["isi_mean_ms"] = float(isi.mean())
        f["first_isi_ms"] = float(isi[0])
        f["isi_cv"] = isi_cv(isi)  # fmslab.spiketrains: sample SD (ddof=1) / mean
        if isi.size >= 2:
            # mean relative change of consecutive ISIs (IPFX "adapt", eFEL adaptation_index)
            f["adaptation_index"] = float(np.mean(np.diff(isi) / (isi[1:] + isi[:-1])))
    if has_stim and st.kind in ("step", "pulse") and step_dur > 0:
        w = v[_window(st.stim_start_s, st.stim_end_s, dt, n)]
        if w.size >= 10:
            ss = w[int(0.8 * w.size) :]
            f["steady_state_mV"] = float(np.mean(ss))
            f["deflection_mV"] = float(np.mean(ss)) - float(f["baseline_mV"])
            if st.stim_pA < 0:
                imin = int(np.argmin(w))
                f["peak_deflection_mV"] = float(w[imin])
                denom = float(f["baseline_mV"]) - float(w[imin])
                if denom > 1.0:
                    f["sag_ratio"] = (float(np.mean(ss)) - float(w[imin])) / denom
                if sel.size == 0 and sp["peak_t_s"].size == 0 or not in_stim.any():
                    f["tau_ms"] = fit_tau_ms(w[: imin + 1], dt)
            else:
                f["peak_deflection_mV"] = float(np.max(w)) if sel.size == 0 else NAN
    if math.isfinite(st.prepulse_start_s):
        w = v[_window(st.prepulse_start_s, st.prepulse_end_s, dt, n)]
        pre = v[_window(max(0.0, st.prepulse_start_s - 0.1), st.prepulse_start_s, dt, n)]
        if w.size >= 10 and pre.size:
            f["prepulse_deflection_mV"] = float(np.mean(w[int(0.8 * w.size) :]) - np.median(pre))
            pre_spikes = (pk_t >= st.prepulse_start_s) & (pk_t <= st.prepulse_end_s)
            if st.prepulse_pA < 0 and not pre_spikes.any():
                # a hyperpolarising prepulse charges the membrane like a test step
                f["prepulse_tau_ms"] = fit_tau_ms(w[: int(np.argmin(w)) + 1], dt)
    return f


def spike_table(sweep: Sweep, params: SpikeParams | None = None) -> SpikeTable:
    """The per-spike shape table of a sweep (for plots and inspection)."""
    return analyze_sweep(sweep, params).spikes
