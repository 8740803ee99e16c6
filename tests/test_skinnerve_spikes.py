"""Spike detection, sorting and per-unit measures against the simulator's ground truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fmslab.skinnerve.analysis import analyze_recording
from fmslab.skinnerve.channels import parse_channel_map
from fmslab.skinnerve.io import MemoryReader, open_recording
from fmslab.skinnerve.params import CvCutoffs, Params
from fmslab.skinnerve.responses import fibre_class, latency_to_stimuli, receptor_type
from fmslab.skinnerve.simulate import channel_map_yaml, quick_config, simulate
from fmslab.skinnerve.spikes import (
    contamination_hill,
    mad_sigma,
    match_spike_times,
    shift_wave,
    sort_spikes,
    template_distance,
)
from fmslab.skinnerve.stream import process


def _rec(sim):
    data = {
        "nerve_uV": sim.nerve_uv,
        "force_mN": sim.force_mn,
        "temp_degC": sim.temp_c,
        "stim_V": sim.stim_v,
    }
    cmap, _ = parse_channel_map(channel_map_yaml(sim), source="sim")
    return open_recording(MemoryReader(data, sim.config.fs_hz, path="sim.csv"), cmap)


@pytest.fixture(scope="module")
def sim():
    return simulate(quick_config(), seed=11)


@pytest.fixture(scope="module")
def result(sim):
    return analyze_recording(_rec(sim))


def test_mad_sigma_of_gaussian_noise() -> None:
    x = np.random.default_rng(0).normal(0, 7.0, 200_000)
    # the MAD estimator's SE is ~1.17 sd/sqrt(n) ~ 0.02 here; 1 % is > 3 SE
    assert mad_sigma(x) == pytest.approx(7.0, rel=0.01)


def test_contamination_hill_by_hand() -> None:
    # N=1000 spikes in 1000 s, tau_r 2 ms, tau_c 0: a = 2*0.002*1e6/1000 = 4;
    # 3 violations -> f(1-f) = 0.75/4 ... no: r = 3/4 = 0.75 > 0.25 -> 1.0
    assert contamination_hill(3, 1000, 1000.0, 2e-3) == 1.0
    # 0.4 violations: r = 0.1 -> f = (1 - sqrt(0.6))/2 = 0.1127
    assert contamination_hill(0.4, 1000, 1000.0, 2e-3) == pytest.approx((1 - np.sqrt(0.6)) / 2)
    assert contamination_hill(0, 1000, 1000.0, 2e-3) == 0.0


def test_template_distance_undoes_a_shift() -> None:
    t = np.arange(50)
    a = -np.exp(-0.5 * ((t - 20) / 2.0) ** 2)
    d, s = template_distance(a, shift_wave(a, -7), max_shift=10)
    assert s == 7 and d < 1e-9


def test_chunking_does_not_change_detection(sim) -> None:
    # with the same threshold (the MAD is otherwise per chunk), overlap-padded 3-s chunks must give
    # the same spikes and waveforms as one chunk holding the whole recording
    a = process(_rec(sim), Params(chunk_s=3.0, fixed_noise_uv=7.0))
    b = process(_rec(sim), Params(chunk_s=200.0, fixed_noise_uv=7.0))
    np.testing.assert_array_equal(a.spike_samples, b.spike_samples)
    # filter transients from the chunk edges decay within the 50 ms pad: below 0.01 uV
    np.testing.assert_allclose(a.waveforms_uv, b.waveforms_uv, atol=0.01)
    np.testing.assert_array_equal(a.stimulus_samples, b.stimulus_samples)


def test_artefacts_are_blanked_over_their_measured_extent(sim) -> None:
    res = process(_rec(sim))
    stim = res.stimulus_samples
    truth_pulses = sim.stimuli.loc[sim.stimuli["kind"] == "electrical", "onset_s"].to_numpy()
    np.testing.assert_allclose(stim / 2e4, truth_pulses, atol=1 / 2e4)
    # the simulated artefact is 400 uV sin(2 pi t / 0.4 ms) exp(-t / 0.15 ms) from the pulse: its
    # envelope falls under 5 noise SD (50 uV) at 0.15 ms * ln(8) = 0.31 ms, so the measured extent
    # must start at the pulse (+-1 sample) and end 0.2-0.6 ms after it (not a fixed window)
    rel = res.blank_spans - stim[:, None]
    assert np.all(np.abs(rel[:, 0]) <= 1), rel
    assert np.all((rel[:, 1] >= 0.2e-3 * 2e4) & (rel[:, 1] <= 0.6e-3 * 2e4)), rel
    # no first-pass detection inside a blanked span
    for a0, b0 in res.blank_spans:
        assert not np.any((res.spike_samples >= a0) & (res.spike_samples <= b0))


def _best_unit(result, truth_times):
    best, best_m = None, -1
    for k in result.units["unit_id"]:
        t = result.spikes.loc[result.spikes["unit_id"] == k, "time_s"].to_numpy()
        m = match_spike_times(truth_times, t)
        if m > best_m:
            best, best_m = k, m
    t = result.spikes.loc[result.spikes["unit_id"] == best, "time_s"].to_numpy()
    return best, best_m / len(truth_times), best_m / max(len(t), 1)


def test_units_recovered_with_cv_and_type(sim, result) -> None:
    units = result.units.set_index("unit_id")
    truth = sim.units.set_index("name")
    # minimum recall: SAM and AM (broadband SNR 8 and 5.5) are well above threshold; the C unit's
    # 40 uV spike loses amplitude in the 300 Hz high-pass and sits near the 4.5 SD threshold, so
    # about half its spikes are missed (see the table in docs/skinnerve.md)
    for name, expect_type, min_recall in [
        ("SAM", "SAM", 0.8),
        ("AM", "AM", 0.8),
        ("CMC", "C-MC", 0.35),
    ]:
        times = sim.spikes.loc[sim.spikes["unit"] == name, "time_s"].to_numpy()
        k, recall, precision = _best_unit(result, times)
        assert recall > min_recall and precision > 0.85, (name, recall, precision)
        row = units.loc[k]
        true_cv = truth.loc[name, "cv_m_s"]
        # latency from spike alignment (the filtered peak) vs the true peak sample: within 0.1 ms,
        # which is < 3 % of CV for latencies >= 2 ms (CMC 50 ms, AM 6.25 ms, SAM 2.08 ms -> 5 %)
        assert row["cv_m_s"] == pytest.approx(true_cv, rel=0.05), name
        assert row["receptor_type"] == expect_type, name
    cmc = units.loc[
        _best_unit(result, sim.spikes.loc[sim.spikes["unit"] == "CMC", "time_s"].to_numpy())[0]
    ]
    # simulated cold drive starts at 22 degC, 0.8 Hz/degC: 2 spikes in 2 s needs ~1 Hz -> ~20 degC;
    # the threshold must lie between that and the ramp's floor
    assert 16.0 < cmc["cold_threshold_c"] <= 22.0
    assert not cmc["heat_responsive"]


def test_mechanical_measures_of_sam(sim, result) -> None:
    times = sim.spikes.loc[sim.spikes["unit"] == "SAM", "time_s"].to_numpy()
    k, _r, _p = _best_unit(result, times)
    resp = result.responses
    mech = resp[(resp["unit_id"] == k) & (resp["stimulus"] == "mechanical")].reset_index()
    truth = sim.stimuli[sim.stimuli["kind"] == "mechanical"].reset_index()
    for i in range(len(truth)):
        # count the true spikes in the detected step window; detection loses a few (recall > 0.8)
        on, off = mech.loc[i, "onset_s"], mech.loc[i, "offset_s"]
        n_true = int(((times >= on) & (times < off)).sum())
        assert mech.loc[i, "total_spikes"] <= n_true + 2
        assert mech.loc[i, "total_spikes"] >= 0.7 * n_true - 1
    # threshold 2 mN in the simulator: the 0.5 mN step gives nothing, 5 mN responds
    assert result.units.set_index("unit_id").loc[k, "von_frey_threshold_mn"] == pytest.approx(
        5.0, abs=0.1
    )
    assert result.units.set_index("unit_id").loc[k, "slowly_adapting"]


def test_latency_rule_by_hand() -> None:
    stim = np.arange(10) * 1.0
    spikes = np.sort(np.concatenate([stim[:8] + 0.0123, [3.5, 7.2]]))
    out = latency_to_stimuli(spikes, stim, Params())
    assert out["latency_ms"] == pytest.approx(12.3, abs=1e-6)
    assert out["follow_fraction"] == pytest.approx(0.8)


def test_class_and_receptor_rules() -> None:
    c = CvCutoffs()
    assert [fibre_class(v, c) for v in (15, 10, 5, 1, 0.5, np.nan)] == [
        "Abeta",
        "Adelta",
        "Adelta",
        "Adelta",
        "C",
        "unknown",
    ]
    rat = CvCutoffs(abeta_min_m_s=14.0, adelta_min_m_s=2.0)
    assert fibre_class(12.0, rat) == "Adelta"
    p = Params()
    assert receptor_type("Abeta", True, False, 1.0, False, False, p) == "RAM"
    assert receptor_type("Adelta", True, False, 0.5, False, False, p) == "D-hair"
    assert receptor_type("Adelta", True, True, 0.5, False, False, p) == "AM"
    assert receptor_type("C", True, True, 30.0, False, True, p) == "C-MH"
    assert receptor_type("C", True, True, 30.0, False, False, p) == "C-M"


def test_sorting_separates_distinct_shapes() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(50)
    a = -8 * np.exp(-0.5 * ((t - 20) / 2.0) ** 2)
    b = 5 * np.exp(-0.5 * ((t - 20) / 4.0) ** 2) - 2 * np.exp(-0.5 * ((t - 32) / 4.0) ** 2)
    waves = np.vstack([a + rng.normal(0, 1, (300, 50)), b + rng.normal(0, 1, (200, 50))])
    labels, templates, _off = sort_spikes(waves, max_shift=5)
    assert sorted(np.bincount(labels[labels > 0])[1:]) == [200, 300]
    assert (labels[:300] == 1).all() and (labels[300:] == 2).all()


def test_noise_only_gives_few_spikes() -> None:
    # white noise, 4.5 SD threshold on |x| of a band-passed signal: the expected false-crossing rate
    # is of order 1 Hz; 10 s must not give more than ~50 events
    cfg = replace(quick_config(), units=())
    s = simulate(cfg, seed=2)
    res = process(_rec(s))
    assert len(res.spike_samples) < 5 * s.time_s[-1]


def test_spontaneous_and_train_statistics_by_hand() -> None:
    import pandas as pd

    from fmslab.skinnerve.responses import baseline_intervals, spontaneous, train_statistics

    steps = pd.DataFrame({"onset_s": [20.0], "offset_s": [22.0]})
    ramps = pd.DataFrame(columns=["onset_s", "offset_s"])
    # pulses at 5 s; margin 2 s -> baseline [0,3) + [7,18) + [24,30) = 3 + 11 + 6 = 20 s
    base = baseline_intervals(30.0, np.array([5.0]), steps, ramps, 2.0)
    assert base == [(0.0, 3.0), (7.0, 18.0), (24.0, 30.0)]
    spikes = np.array([1.0, 2.0, 8.0, 9.0, 11.0, 21.0, 25.0, 26.0])
    sp = spontaneous(spikes, base)
    # 7 baseline spikes (21.0 is in the step) over 20 s; ISIs inside intervals: 1, 1, 2, 1
    assert sp["spont_rate_hz"] == pytest.approx(7 / 20)
    # one definition (fmslab.spiketrains): sample SD, ddof=1: by hand, mean 1.25, SD
    # sqrt((3 * 0.0625 + 0.5625) / 3) = 0.5 -> CV 0.4
    assert sp["spont_isi_cv"] == pytest.approx(0.4)
    ts = train_statistics(spikes, 30.0)
    assert ts["rate_hz"] == pytest.approx(8 / 30)
    d = np.diff(spikes)
    assert ts["isi_cv"] == pytest.approx(d.std(ddof=1) / d.mean())


def test_local_rate_sum_equals_n2_over_t_when_stationary() -> None:
    from fmslab.skinnerve.spikes import local_rate_sum

    t = np.arange(1000) * 0.1 + 0.05  # 10 Hz for 100 s: N^2/T = 10000
    # each spike sees 10 spikes in its 1-s window, except the 5 at each end (6..9): -0.3 %
    assert local_rate_sum(t, 1.0) == pytest.approx(1e4, rel=0.005)
    # the same 1000 spikes packed in 10 bursts of 100 at 100 Hz (10 s apart): spike k of a burst
    # sees spikes j with j - k in [-50, 50), i.e. min(99, k + 49) - max(0, k - 50) + 1 of them
    b = (np.arange(1000) % 100) * 0.01 + (np.arange(1000) // 100) * 10.0
    per_burst = sum(min(99, k + 49) - max(0, k - 50) + 1 for k in range(100))
    # (spikes lying exactly on a window edge may fall either way in floating point: 0.1 %)
    assert local_rate_sum(b, 1.0) == pytest.approx(10 * per_burst, rel=1e-3)
    assert 10 * per_burst > 6 * 1000**2 / 91.0  # far above N^2/T


def test_fast_unit_latency_from_the_raw_onset() -> None:
    # planted: one Abeta unit at 25 m/s over 25 mm -> 1.000 ms from the pulse to its onset (the
    # simulator places the onset, 10 % of the peak on the raw waveform, at the latency). Timing at
    # the band-passed peak instead was 0.2 ms late here (CV -17 %); the raw-onset latency must be
    # within 0.03 ms (< 1 sample at 20 kHz, CV error < 3 %)
    from fmslab.skinnerve.simulate import UnitSpec

    unit = UnitSpec("fast", 80.0, "neg", 0.25, 25.0, 0.5, receptor_type="")
    cfg = replace(quick_config(thermal=False), units=(unit,))
    s = simulate(cfg, seed=3)
    fr = analyze_recording(_rec(s))
    row = fr.units.iloc[0]
    assert row["follow_fraction"] == 1.0
    assert row["latency_ms"] == pytest.approx(1.0, abs=0.03)
    assert row["latency_peak_ms"] > row["latency_ms"] + 0.1
    assert row["cv_m_s"] == pytest.approx(25.0, rel=0.03)


def _train_recording(wave: np.ndarray, rate_hz: float, dur_s: float, noise_uv: float, seed: int,
                     hum_uv: float = 0.0):  # fmt: skip
    fs = 20000.0
    rng = np.random.default_rng(seed)
    n = int(dur_s * fs)
    t = np.cumsum(0.003 + rng.exponential(1 / rate_hz, int(rate_hz * dur_s * 1.5)))
    t = t[t < dur_s - 0.01]
    x = rng.normal(0, noise_uv, n)
    k0 = int(np.argmax(np.abs(wave)))
    for s_ in np.round(t * fs).astype(int):
        x[s_ - k0 : s_ - k0 + wave.size] += wave
    tt = np.arange(n) / fs
    for h, a in ((1, 1.0), (3, 0.5), (7, 0.3)):
        x += hum_uv * a * np.sin(2 * np.pi * 50 * h * tt)
    rec = open_recording(MemoryReader({"nerve_uV": x}, fs), parse_channel_map(
        {"channels": {"nerve": "nerve_uV"}}, source="test")[0])  # fmt: skip
    return rec, t


def test_biphasic_unit_with_equal_phases_is_one_unit() -> None:
    # negative then positive phase of (nearly) the same size 0.3 ms apart: threshold detection
    # aligns some spikes on each phase; the unit must come out as one unit, not two 0.3 ms apart
    ms = (np.arange(40) - 15) / 20.0
    wave = 80 * (-np.exp(-0.5 * (ms / 0.08) ** 2) + 0.97 * np.exp(-0.5 * ((ms - 0.3) / 0.08) ** 2))
    rec, truth = _train_recording(wave, 8.0, 40.0, 8.0, seed=1)
    fr = analyze_recording(rec)
    assert len(fr.units) == 1, fr.units[["unit_id", "n_spikes", "snr"]]
    found = fr.spikes["time_s"].to_numpy()
    m = match_spike_times(truth, found, 0.5e-3)
    assert m / truth.size > 0.95 and m / found.size > 0.95


def test_mains_hum_is_found_and_notched() -> None:
    ms = (np.arange(40) - 15) / 20.0
    wave = -70 * np.exp(-0.5 * (ms / 0.1) ** 2) + 25 * np.exp(-0.5 * ((ms - 0.35) / 0.15) ** 2)
    quiet, _t = _train_recording(wave, 5.0, 30.0, 8.0, seed=2)
    hum, _t = _train_recording(wave, 5.0, 30.0, 8.0, seed=2, hum_uv=30.0)
    a, b = process(quiet), process(hum)
    assert a.hum_hz == []
    assert {150.0, 350.0} <= set(b.hum_hz) and all(f % 50 == 0 for f in b.hum_hz)
    # after the notch the noise estimate is that of the hum-free recording (within 3 %; without
    # the notch it is 76 % higher here: 6.9 vs 3.9 uV, the 350 Hz harmonic sits in the pass band)
    assert b.noise_uv == pytest.approx(a.noise_uv, rel=0.03)
