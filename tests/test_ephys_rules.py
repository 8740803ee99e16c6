"""The cell-feature rules of docs/ephys.md against IPFX/eFEL on the shared real cells.

References: ../shared/data/ephys/reference/{efel,ipfx}_features.csv (eFEL 5.7.34 setting
``default_interp0.1ms``, IPFX 2.1.2 ``filter_None``; first step = test step) and
tests/data/ephys_efel_prepulse_tau.csv (eFEL on the prepulse, written by
benchmarks/ephys_reference.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmslab.ephys.analysis import analyze_file

DATA = Path(__file__).parent / "data"
CELLS = ["171116sh_0018", "17o05028_ic_steps", "18711001", "File_axon_5"]


@pytest.fixture(scope="module")
def results(abf_dir):
    return {c: analyze_file(abf_dir / f"{c}.abf") for c in CELLS}


@pytest.fixture(scope="module")
def ref(test_data):
    d = test_data("ephys/reference")
    ef = pd.read_csv(d / "efel_features.csv")
    ip = pd.read_csv(d / "ipfx_features.csv")
    ef = ef[ef["efel_setting"] == "default_interp0.1ms"]
    ip = ip[ip["ipfx_setting"] == "filter_None"]
    return ef.merge(ip, on=["file", "sweep", "stim_pA"])


def test_rheobase_of_a_spontaneously_active_cell(results, ref):
    """17o05028 fires ~4 Hz before every step. Rheobase = the first depolarising step whose in-step
    rate exceeds that: 10 pA (the issue's verified truth). Recomputed from eFEL's own in-step spike
    counts (Spikecount_stimint / 0.5 s step) against fmslab's pre-step rate, the rule gives the same
    step; the old rule (first step with any spike) gave 0 pA."""
    sweeps, cell = results["17o05028_ic_steps"]
    c = cell.iloc[0]
    assert c["rheobase_pA"] == 10.0
    assert 3.0 < c["pre_step_rate_hz"] < 5.0
    e = ref[ref["file"] == "17o05028_ic_steps"].sort_values("stim_pA")
    rate = e["Spikecount_stimint"] / 0.5
    first = e.loc[(e["stim_pA"] > 0) & (rate > c["pre_step_rate_hz"]), "stim_pA"].min()
    assert first == c["rheobase_pA"]
    assert e.loc[e["stim_pA"] == 0, "Spikecount_stimint"].iloc[0] > 0  # 0 pA fires: not rheobase


def test_silent_cells_keep_their_rheobase(results):
    # no spikes before the steps: the rule reduces to the first step with an AP (README values)
    assert results["171116sh_0018"][1]["rheobase_pA"].iloc[0] == 50.0
    assert results["18711001"][1]["rheobase_pA"].iloc[0] == 70.0
    assert results["File_axon_5"][1]["rheobase_pA"].iloc[0] == 200.0


def test_tau_from_the_prepulse(results):
    """18711001 has no hyperpolarising test step, only a -100 pA prepulse: tau comes from it.
    eFEL's time_constant on the same prepulse: median 20.8 ms over the 30 sweeps. The two fit
    different parts of the curve (fmslab 10-95 % of the deflection, eFEL from the onset to the
    minimum); on cells where both fit test steps they differ by up to 8 % (171116sh_0018 sweep 0:
    IPFX 37.1, eFEL 40.3 ms), so 12 % on the median."""
    sweeps, cell = results["18711001"]
    c = cell.iloc[0]
    assert c["tau_method"] == "prepulse"
    efel = pd.read_csv(DATA / "ephys_efel_prepulse_tau.csv")
    assert len(efel) == 30
    ratio = c["tau_ms"] / efel["efel_time_constant_ms"].median()
    assert abs(ratio - 1) < 0.12
    # per sweep (one fit of a noisy 300-ms prepulse each): fmslab/eFEL 0.98-1.26, median 1.08
    m = sweeps.merge(efel, on="sweep")
    assert np.all(np.abs(m["prepulse_tau_ms"] / m["efel_time_constant_ms"] - 1) < 0.3)
    # capacitance from it: tau / Rin
    assert c["capacitance_pF"] == pytest.approx(c["tau_ms"] / c["rin_MOhm"] * 1e3)


def slack(name: str, s: pd.Series) -> float:
    """How far below the tools' interval the fast AHP may lie: 1 mV (the tools' thresholds differ
    by up to 2.3 mV, README); 2.5 mV on 18711001's 70-110 pA sweeps, whose spikes repolarise
    slowly into a broad AHP: V still falls after 5 ms and IPFX's fast trough lies 1.7-2.5 mV
    deeper than the 5-ms minimum (eFEL's trough, the minimum before the next spike, 9-15 mV)."""
    return 2.5 if name == "18711001" and s["stim_pA"] <= 110 else 1.0


def test_fast_ahp_between_the_tools(results, ref):
    """Fast AHP depth (threshold - minimum within 5 ms of the peak) of every step's first spike.
    IPFX's fast trough and eFEL's trough (minimum to the next spike) bracket it (see
    :func:`slack`)."""
    n = 0
    for name in CELLS:
        sweeps = results[name][0]
        r = ref[ref["file"] == name].set_index("sweep")
        for _, s in sweeps[sweeps["n_spikes_stim"] > 0].iterrows():
            if s["sweep"] not in r.index:
                continue
            row = r.loc[s["sweep"]]
            ipfx = -row["ahp_fast_trough_minus_thr_first"]
            efel = row["AP_begin_voltage_first"] - row["AHP_depth_abs_first"]
            if not (np.isfinite(ipfx) and np.isfinite(efel)):
                continue
            lo, hi = min(ipfx, efel), max(ipfx, efel)
            assert lo - slack(name, s) <= s["ahp_depth_mV"] <= hi + 1.0, (name, s["sweep"])
            n += 1
    assert n >= 40


def test_ahp_at_rheobase_is_not_the_step_relaxation(results, ref):
    """171116sh_0018 at rheobase (50 pA, one spike): eFEL 4.5 mV, IPFX 3.4 mV. The minimum up to
    100 ms (16.3 mV) was the membrane relaxing to the step's steady state; that is no slow AHP
    either (no recovery after it)."""
    sweeps, cell = results["171116sh_0018"]
    assert 3.0 < cell["ahp_depth_at_rheobase_mV"].iloc[0] < 5.0
    assert np.isnan(sweeps.loc[6, "ahp_slow_depth_mV"])


def test_slow_ahp_of_a_regular_spiking_cell(results):
    """18711001 at 70-100 pA: two or three spikes 40-90 ms apart; between them V falls well below
    the fast trough and recovers before the next spike: a slow AHP, deeper than the fast one,
    its trough tens of ms after the peak."""
    sweeps = results["18711001"][0]
    s = sweeps[(sweeps["stim_pA"] >= 70) & (sweeps["stim_pA"] <= 100)]
    assert (s["ahp_slow_depth_mV"] > s["ahp_depth_mV"] + 5).all()
    assert s["ahp_slow_time_ms"].between(10, 100).all()


@pytest.mark.parametrize(
    "tau_ms, amp_mV, splice_ms",
    [(1.0, 60, 1.0), (2.0, 60, 1.0), (1.0, 40, 0.7), (3.0, 50, 1.5), (2.0, 25, 2.0)],
)
def test_threshold_of_a_spike_riding_the_charging_transient(abf_dir, tau_ms, amp_mV, splice_ms):
    """A real AP (171116sh_0018's rheobase spike, from its threshold on) added onto a step-onset
    charging curve V = -65 + A (1 - exp(-t / tau)) while the membrane still charges at 5-22 V/s
    (up to 7 % of the AP's upstroke, IPFX's 5 % criterion does not stop there). The threshold is
    the splice point, within one sample (0.05 ms; the charging moves V by at most 1.1 mV per
    sample), not on the transient; the onset edge itself is no spike."""
    from fmslab.ephys.io import open_recording
    from fmslab.ephys.spikes import detect_spikes

    sw = open_recording(abf_dir / "171116sh_0018.abf").sweep(6)
    dt = sw.dt_s
    real = detect_spikes(sw.v_mV, dt, edges_s=sw.edges_s)
    t0 = int(real.threshold_index[0])
    ap = sw.v_mV[t0 : t0 + int(0.03 / dt)] - sw.v_mV[t0]
    n0, k = int(0.05 / dt), int(round(splice_ms * 1e-3 / dt))
    t = np.arange(k + ap.size + 2000) * dt * 1e3
    charge = -65 + amp_mV * (1 - np.exp(-t / tau_ms))
    add = np.zeros_like(charge)
    add[k : k + ap.size] = ap
    add[k + ap.size :] = ap[-1]
    trace = np.r_[np.full(n0, -65.0), charge + add]
    got = detect_spikes(trace, dt, edges_s=np.array([n0 * dt]))
    assert len(got) == 1
    assert abs(int(got.threshold_index[0]) - (n0 + k)) <= 1
    assert abs(got.threshold_mV[0] - trace[n0 + k]) < 1.2


def test_kinked_ap_on_a_plateau_that_repolarises_half_way(abf_dir):
    """A real AP (171116sh_0018's rheobase spike: threshold kink, ~330 V/s upstroke) that falls
    only 40 % of its height and then stays on a depolarised plateau (entering depolarisation
    block) is an AP; the same excursion rising at 10 V/s (a block oscillation, no fast upstroke)
    is not. Both constructed from the real trace: the AP up to 40 % repolarisation, then flat."""
    from fmslab.ephys.io import open_recording
    from fmslab.ephys.spikes import SpikeParams, detect_spikes

    sw = open_recording(abf_dir / "171116sh_0018.abf").sweep(6)
    dt, v = sw.dt_s, sw.v_mV
    real = detect_spikes(v, dt, edges_s=sw.edges_s)
    t0, pk = int(real.threshold_index[0]), int(real.peak_index[0])
    height = v[pk] - v[t0]
    fall_end = pk + int(np.flatnonzero(v[pk:] < v[pk] - 0.4 * height)[0])
    pre = v[t0 - int(0.02 / dt) : t0]
    ap = v[t0:fall_end]
    trace = np.r_[pre, ap, np.full(int(0.05 / dt), ap[-1])]
    got = detect_spikes(trace, dt)
    assert len(got) == 1
    assert got.peak_mV[0] == pytest.approx(v[pk])
    # the rule is what counts it: with the plain 50 % criterion it is not a spike
    assert len(detect_spikes(trace, dt, SpikeParams(kinked_fall_fraction=0.5))) == 0
    # slow rise (10 V/s) to the same peak, same partial fall and plateau: no spike
    rise = np.linspace(v[t0], v[pk], int((v[pk] - v[t0]) / 10.0 / (dt * 1e3)))
    slow = np.r_[pre, rise, v[pk:fall_end], np.full(int(0.05 / dt), ap[-1])]
    assert len(detect_spikes(slow, dt)) == 0
