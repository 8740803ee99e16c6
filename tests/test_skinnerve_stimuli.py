"""Stimulus parsing on the real multi-channel ABFs (references: their protocol epoch tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyabf
import pytest

from fmslab.errors import InputError
from fmslab.skinnerve.channels import ChannelMap
from fmslab.skinnerve.io import MemoryReader, open_recording
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.stimuli import find_steps, find_thermal_ramps
from fmslab.skinnerve.stream import process


def _epochs(abf: pyabf.ABF, sweep: int, channel: int):
    abf.setSweep(sweep, channel=channel)
    return abf.sweepEpochs


def test_piezo_steps_match_protocol(abf_dir: Path) -> None:
    path = abf_dir / "2015_09_10_0001.abf"
    res = process(open_recording(path))
    steps = find_steps(res.aux_time_s, res.aux["displacement"], min_step=0.1)
    abf = pyabf.ABF(str(path))
    assert len(steps) == abf.sweepCount == 13
    for sweep, st in enumerate(steps.itertuples(index=False)):
        ep = _epochs(abf, sweep, 1)  # DAC1 commands the piezo (um): ramp up, hold, ramp down
        base = sweep * abf.sweepPointCount / abf.dataRate
        ramp_on = base + ep.p1s[2] / abf.dataRate
        hold_off = base + ep.p1s[4] / abf.dataRate
        # the sensor lags the command: in the raw trace it crosses half the step 3.8-6 ms after the
        # command's ramp starts (looked up with pyabf), so onset is within 0-6 ms of the command
        assert 0.0 <= st.onset_s - ramp_on <= 0.006
        assert st.hold_end_s == pytest.approx(hold_off, abs=0.006)
        # commanded level vs measured displacement: the piezo sensor reads 2-3 % low (see the PNG)
        assert st.amplitude == pytest.approx(ep.levels[2], rel=0.05)
        assert st.direction == 1


def test_pressure_steps_are_negative_and_match_protocol(abf_dir: Path) -> None:
    path = abf_dir / "DM1_0000.abf"
    res = process(open_recording(path))
    steps = find_steps(res.aux_time_s, res.aux["pressure"], min_step=0.3)
    abf = pyabf.ABF(str(path))
    commanded = []
    for sweep in range(abf.sweepCount):
        ep = _epochs(abf, sweep, 1)
        if ep.levels[2] != 0:
            base = sweep * abf.sweepPointCount / abf.dataRate
            commanded.append(
                (base + ep.p1s[2] / abf.dataRate, base + ep.p1s[3] / abf.dataRate, ep.levels[2])
            )
    assert len(steps) == len(commanded) == 6  # sweep 0 commands 0 mmHg
    for st, (on, off, level) in zip(steps.itertuples(index=False), commanded, strict=True):
        assert st.direction == -1
        assert st.onset_s == pytest.approx(on, abs=0.002)
        assert st.hold_end_s == pytest.approx(off, abs=0.002)
        # suction reaches the commanded level within 1.5 mmHg (the plateau is read off the trace)
        assert st.amplitude == pytest.approx(abs(level), abs=1.5)


def test_trigger_pulses_match_protocol(abf_dir: Path) -> None:
    path = abf_dir / "File_axon_3.abf"
    res = process(open_recording(path))
    abf = pyabf.ABF(str(path))
    ep = _epochs(abf, 0, 0)
    # the recorded trigger channel holds two TTL pulses per sweep (4.24 V for 9 samples each,
    # back to -0.28 V in between): the first inside the protocol's 0.5 ms epoch at samples
    # 347-357, the second 35 samples (1.75 ms) later; both are stimuli (no minimum interval)
    starts = np.repeat(np.arange(abf.sweepCount) * abf.sweepPointCount, 2)
    assert abf.sweepCount == 5 and len(res.stimulus_samples) == 10
    rel = res.stimulus_samples - starts
    assert np.all((rel[::2] >= ep.p1s[2]) & (rel[::2] < ep.p1s[3])), rel
    assert np.all(rel[1::2] - rel[::2] == 35), rel


def test_no_stimulus_markers_is_an_error(abf_dir: Path) -> None:
    # the piezo file's "V command" channel is flat: taken as a stimulus channel it has no pulses
    cmap = ChannelMap(roles={"nerve": "Ipatch", "stimulus": "piezzo"}, units={"piezzo": "V"})
    flat = np.full(20000, 0.3)
    rec = open_recording(
        MemoryReader({"n": np.random.default_rng(0).normal(size=20000), "s": flat}, 20000.0),
        ChannelMap(roles={"nerve": "n", "stimulus": "s"}, units={"s": "V"}),
    )
    with pytest.raises(InputError, match=r"column 's': no stimulus markers"):
        process(rec)
    assert cmap.roles["stimulus"] == "piezzo"


def test_simulated_force_and_thermal_ramps() -> None:
    from fmslab.skinnerve.simulate import quick_config, simulate

    sim = simulate(quick_config(), seed=3)
    t = sim.time_s[::20]
    steps = find_steps(t, sim.force_mn[::20], min_step=Params().mech_min_step["force"])
    truth = sim.stimuli[sim.stimuli["kind"] == "mechanical"]
    assert len(steps) == len(truth)
    # force noise 0.05 mN -> plateau medians within 0.05 mN. Onset: the 20 % crossing of the
    # smallest step (0.5 mN over 0.1 s, 5 mN/s) moves by noise/slope ~ 0.02/5 s = 4 ms (SD): 10 ms
    np.testing.assert_allclose(steps["amplitude"], truth["amplitude"], atol=0.05)
    np.testing.assert_allclose(steps["onset_s"], truth["onset_s"], atol=0.010)
    ramps = find_thermal_ramps(t, sim.temp_c[::20])
    assert list(ramps["kind"]) == ["cold", "heat"]
    np.testing.assert_allclose(ramps["extreme_c"], [16.0, 46.0], atol=0.1)
    np.testing.assert_allclose(ramps["rate_c_per_s"], [-2.0, 2.0], rtol=0.05)
