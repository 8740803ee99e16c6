"""Per-sweep features against eFEL 5.7.34 and IPFX 2.1.2 outputs on the same sweeps.

References: ../shared/data/ephys/reference/{efel,ipfx}_features.csv (settings ``native_dt`` and
``filter_None``: both tools on the unfiltered trace at its own sampling rate, like fmslab).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmslab.ephys.analysis import analyze_file
from fmslab.ephys.features import sweep_features
from fmslab.ephys.io import Stimulus, Sweep, open_recording
from fmslab.ephys.spikes import detect_spikes

REF_FILES = [
    "171116sh_0018",
    "17o05028_ic_steps",
    "18711001",
    "2020_03_02_0000",
    "File_axon_5",
    "File_axon_6",
]
CLEAN = ["171116sh_0018", "18711001", "File_axon_5", "File_axon_6"]


@pytest.fixture(scope="module")
def merged(abf_dir, test_data) -> pd.DataFrame:
    ref = test_data("ephys/reference")
    ip = pd.read_csv(ref / "ipfx_features.csv")
    ef = pd.read_csv(ref / "efel_features.csv")
    ip = ip[ip["ipfx_setting"] == "filter_None"].drop(columns="stim_pA")
    ef = ef[ef["efel_setting"] == "native_dt"].drop(columns="stim_pA")
    ours = pd.concat([analyze_file(abf_dir / f"{f}.abf")[0] for f in REF_FILES])
    ours["file"] = ours["file"].str.removesuffix(".abf")
    m = ours.merge(ip, on=["file", "sweep"], suffixes=("", "_ipfx"))
    m = m.merge(ef, on=["file", "sweep"], suffixes=("", "_efel"))
    assert len(m) == 120  # every reference sweep has a row
    return m


def test_spike_counts_exact_where_efel_and_ipfx_agree(merged):
    agree = merged[merged["n_spikes"] == merged["Spikecount_stimint"]]
    assert len(agree) >= 115
    np.testing.assert_array_equal(agree["n_spikes_stim"], agree["n_spikes"])


def test_small_late_spikes_are_counted(merged):
    """17o05028 at 90/100 pA: IPFX drops late spikes rising < 20 V/s (17, 12); eFEL and the trace
    (plotted and inspected: every spike of the train overshoots -5 mV from a -25 mV trough) say
    20 and 21."""
    m = merged.set_index(["file", "sweep"])
    assert m.loc[("17o05028_ic_steps", 15), "n_spikes_stim"] == 21
    assert m.loc[("17o05028_ic_steps", 14), "n_spikes_stim"] == 20
    assert m.loc[("17o05028_ic_steps", 15), "n_spikes"] == 12  # the IPFX miscount we fix


def test_charging_transient_is_not_the_ap_onset(merged):
    """File_axon_6: a 2 ms, 2 nA pulse charges the membrane at ~20 V/s from -56 mV before the AP
    takes off at about -37 mV (phase plot inspected). eFEL puts the onset at the start of the
    charging (-54 mV); IPFX at the kink. Exactly one AP per sweep, threshold at the kink."""
    a6 = merged[merged["file"] == "File_axon_6"]
    assert len(a6) == 32
    assert (a6["n_spikes_stim"] == 1).all() and (a6["n_spikes_total"] == 1).all()
    # same sample as IPFX's threshold (the data are quantised to 0.03 mV): 0.05 mV
    np.testing.assert_allclose(a6["threshold_mV"], a6["threshold_v_first"], atol=0.05)
    assert (a6["threshold_mV"] > a6["AP_begin_voltage_first"] + 10).all()


@pytest.mark.parametrize(
    ("ours", "ipfx", "atol"),
    [
        # threshold: both use a dV/dt criterion; eFEL and IPFX onsets differ by 0.3-2.3 mV on the
        # same spikes, so agreeing with IPFX within 2 mV is agreement within the tools' spread
        ("threshold_mV", "threshold_v_first", 2.0),
        # the peak is the same sample: quantisation step 0.03 mV, allow half a mV for resampling
        ("peak_mV", "peak_v_first", 0.5),
        # latency to threshold (IPFX convention, eFEL measures to the peak): 1 ms
        ("latency_ms", "latency_ms_ipfx", 1.0),
        # half-width at half height between threshold and peak; IPFX interpolates differently
        # (0.1 ms median offset, one sample = 0.05 ms): 0.5 ms
        ("half_width_ms", "width_ms_first", 0.5),
        ("first_isi_ms", "first_isi_ms_ipfx", 1.0),
        ("adaptation_index", "adapt", 0.01),
    ],
)
def test_first_spike_features_match_ipfx_on_clean_cells(merged, ours, ipfx, atol):
    m = merged[merged["file"].isin(CLEAN)].dropna(subset=[ours, ipfx])
    assert len(m) >= 10
    np.testing.assert_allclose(m[ours], m[ipfx], atol=atol)


def test_upstroke_and_downstroke_match_ipfx(merged):
    # both are the extreme first difference of V: identical to 1 %
    m = merged.dropna(subset=["upstroke_first", "downstroke_first", "downstroke_V_per_s"])
    np.testing.assert_allclose(m["upstroke_V_per_s"], m["upstroke_first"], rtol=0.01)
    np.testing.assert_allclose(m["downstroke_V_per_s"], m["downstroke_first"], rtol=0.01)


def test_passive_features_match_where_tools_agree(merged):
    hyper = merged[
        (merged["stim_pA"] < 0) & (merged["file"].isin(["171116sh_0018", "2020_03_02_0000"]))
    ]
    # baseline: median of the 100 ms before the step, like IPFX's v_baseline (mean): 0.5 mV
    np.testing.assert_allclose(hyper["baseline_mV"], hyper["v_baseline"], atol=0.5)
    # peak deflection: the minimum during the step, same definition as IPFX
    np.testing.assert_allclose(hyper["peak_deflection_mV"], hyper["peak_deflect_v"], atol=0.05)
    # steady state (last 20 % of the step) vs eFEL's steady_state_voltage_stimend (last 10 %): 1 mV
    np.testing.assert_allclose(
        hyper["steady_state_mV"], hyper["steady_state_voltage_stimend"], atol=1.0
    )
    # sag ratio where eFEL and IPFX agree within 0.05
    s = hyper[(hyper["sag"] - hyper["sag_ratio1"]).abs() < 0.05]
    assert len(s) >= 5
    np.testing.assert_allclose(s["sag_ratio"], s["sag_ratio1"], atol=0.05)


def test_tau_on_the_passive_cell(merged):
    """2020_03_02 (passive cell): IPFX 13.9-14.2 ms, eFEL 14.1-15.6 ms; we fit 10-95 % of the
    charging curve. Within 3 % of IPFX on the -200..-100 pA steps (a well-conditioned fit)."""
    m = merged[(merged["file"] == "2020_03_02_0000") & (merged["stim_pA"] <= -100)]
    np.testing.assert_allclose(m["tau_ms"], m["tau_ms_ipfx"], rtol=0.03)


def _synthetic(v: np.ndarray, dt: float, start: float, end: float, pa: float) -> Sweep:
    return Sweep(
        0, v, dt, Stimulus("step", pa, start, end, 0.0, "epochs"), edges_s=np.array([start, end])
    )


def test_depolarisation_block_and_plateau_are_not_spikes():
    """Hand-made traces (20 kHz): a 20 mV, 40 Hz oscillation around -25 mV (max 3 V/s, no upstroke)
    and a step to a -10 mV plateau contain no spike; one 80 mV spike on the plateau is one spike."""
    dt = 5e-5
    t = np.arange(20000) * dt
    on = (t > 0.2) & (t < 0.8)
    # exponential charging (tau 5 ms, fastest at the step onset) to -25 mV, then the oscillation
    charge = np.where(on, 1 - np.exp(-(t - 0.2) / 0.005), 0.0)
    osc = -60 + charge * (35 + 10 * np.sin(2 * np.pi * 40 * (t - 0.2)))
    assert detect_spikes(osc[5000:], dt)["peak_index"].size == 0  # the oscillation alone
    # with the step: the charging at the onset is guarded by the stimulus edge (Sweep.edges_s)
    sw = Sweep(
        0, osc, dt, Stimulus("step", 300, 0.2, 0.8, 0.0, "epochs"), edges_s=np.array([0.2, 0.8])
    )
    assert sweep_features(sw)["n_spikes_total"] == 0
    plateau = np.where((t > 0.2) & (t < 0.8), -10.0, -60.0)
    plateau = -60 + np.convolve(plateau + 60, np.ones(100) / 100, mode="same")  # 5 ms charging
    f = sweep_features(_synthetic(plateau, dt, 0.2, 0.8, 300))
    assert f["n_spikes_total"] == 0
    spike = plateau.copy()
    k = np.arange(-40, 60)
    spike[10000 + k] += np.where(k < 0, 70 * np.exp(k / 8.0), 70 * np.exp(-k / 15.0))
    f = sweep_features(_synthetic(spike, dt, 0.2, 0.8, 300))
    assert f["n_spikes_stim"] == 1
    assert f["peak_mV"] == pytest.approx(60.0, abs=0.5)  # -10 + 70: no -20 mV crossing needed


def test_gap_free_spontaneous_file(abf_dir):
    """File_axon_2: 20 min at 1 kHz, baseline about -55 mV, spikes 1-2 samples wide peaking above
    -12 mV. Independent count: upward crossings of -30 mV (valid on this trace: nothing else
    reaches it), 113. We find 112: the one difference (207.65 s) is a 17 mV event inside a burst
    rising at <= 4 V/s (sample values inspected), below the documented 5 V/s upstroke criterion."""
    sw = open_recording(abf_dir / "File_axon_2.abf").sweep(0)
    v = sw.v_mV
    sp = detect_spikes(v, sw.dt_s)
    crossings = np.flatnonzero((v[1:] >= -30) & (v[:-1] < -30))
    assert crossings.size == 113
    assert sp["peak_index"].size == 112
    # every detected spike is at a crossing (peak within 10 samples after it)
    d = sp["peak_index"][:, None] - crossings[None, :]
    assert (((d >= 0) & (d <= 10)).any(axis=1)).all()
    assert (sp["amplitude_mV"] >= 15).all()


def test_trigger_artefact_is_not_a_spike_but_the_evoked_ap_is(abf_dir):
    """File_axon_3: a biphasic stimulus artefact (trigger channel 'stim' [V], edges 17.5-19.8 ms)
    swings V from -53 to -79 and back to -39 mV; the AP it evokes takes off from the artefact at a
    dV/dt kink near -31 mV and peaks at +15..+25 mV (plotted sample by sample and inspected). One
    evoked AP per sweep, latency from the trigger onset 2.8 ms (+- 1 sample)."""
    sweeps, cells = analyze_file(abf_dir / "File_axon_3.abf")
    assert cells["stim_source"].iloc[0] == "trigger_channel"
    assert (sweeps["n_spikes_stim"] == 1).all()
    np.testing.assert_allclose(sweeps["latency_ms"], 2.8, atol=0.05)
    assert sweeps["threshold_mV"].between(-34, -28).all()
    assert (sweeps["peak_mV"] > 10).all()


def test_pulse_train_charging_is_not_counted(abf_dir):
    """18425108: 2.5 nA pulses through an unbalanced bridge drive V from -90 to +20 mV in a straight
    charging ramp without a dV/dt kink and V falls back when each pulse ends (plotted and
    inspected): charging transients, not spikes, under the documented rule."""
    sweeps, _ = analyze_file(abf_dir / "18425108.abf")
    assert sweeps["n_spikes_total"].iloc[0] == 0


def test_detection_is_independent_of_the_sampling_rate(abf_dir):
    """171116sh_0018 (20 kHz) resampled to 100 kHz (linear interpolation) and decimated to 10 and
    5 kHz: the same spikes, thresholds within 1 mV of the native analysis (1.5 mV at 5 kHz, where
    one sample is 0.2 ms and V moves ~1 mV per sample just before the upstroke)."""
    r = open_recording(abf_dir / "171116sh_0018.abf")
    for s in (6, 10, 16):
        sw = r.sweep(s)
        v, dt = sw.v_mV, sw.dt_s
        ref = detect_spikes(v, dt)
        t = np.arange(v.size) * dt
        t5 = np.arange(v.size * 5 - 4) * dt / 5
        for vv, d in ((np.interp(t5, t, v), dt / 5), (v[::2], dt * 2), (v[::4], dt * 4)):
            got = detect_spikes(vv, d)
            np.testing.assert_allclose(got["peak_t_s"], ref["peak_t_s"], atol=2 * max(d, dt))
            tol = 1.0 if d <= 1e-4 else 1.5
            np.testing.assert_allclose(got["threshold_mV"], ref["threshold_mV"], atol=tol)


def test_optogenetic_aps_match_overshoot_count(abf_dir):
    """opto_aps_good_units: light-evoked APs from -75 mV, every one overshooting to > +30 mV; the
    count per sweep equals the upward crossings of 0 mV (50 in each of the 3 sweeps)."""
    r = open_recording(abf_dir / "opto_aps_good_units.abf")
    for s in range(r.n_sweeps):
        sw = r.sweep(s)
        v = sw.v_mV
        sp = detect_spikes(v, sw.dt_s, edges_s=sw.edges_s)
        crossings = np.flatnonzero((v[1:] >= 0) & (v[:-1] < 0)).size
        assert sp["peak_index"].size == crossings == 50
