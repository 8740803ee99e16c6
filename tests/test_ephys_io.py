"""Reader tests on the real ABF files in ../shared/data/ephys/abf (README there)."""

from __future__ import annotations

import numpy as np
import pyabf
import pytest

from fmslab.ephys.io import AbfReader, choose_vm_channel, open_recording
from fmslab.errors import InputError


def test_vm_channel_found_by_units_not_position(abf_dir):
    # 18425108.abf: channel 0 is the current monitor 'Imemb' [nA], Vm is channel 1 '10_Vm' [mV]
    r = open_recording(abf_dir / "18425108.abf")
    assert r.vm_channel == 1
    assert r.current_channel == 0
    sw = r.sweep(0)
    # the resting potential of this cell is about -71 mV (pyabf channel 1, first 0.2 s)
    abf = pyabf.ABF(str(abf_dir / "18425108.abf"))
    abf.setSweep(0, channel=1)
    assert np.array_equal(sw.v_mV, abf.sweepY)
    assert -80 < np.median(sw.v_mV) < -60
    # the current monitor is converted nA -> pA
    abf.setSweep(0, channel=0)
    np.testing.assert_allclose(sw.i_pA, abf.sweepY * 1000.0)


def test_choose_vm_channel_skips_command_and_trigger_channels():
    assert choose_vm_channel(["stim", "VmRK"], ["V", "mV"], "x") == 1
    with pytest.raises(InputError, match="no membrane-potential channel"):
        choose_vm_channel(["Ipatch", "V command"], ["pA", "mV"], "x")


@pytest.mark.parametrize(
    "name", ["17o05024_vc_steps.abf", "05210017_vc_abf1.abf", "DM1_0000.abf", "2015_09_10_0001.abf"]
)
def test_voltage_clamp_is_refused(abf_dir, name):
    with pytest.raises(InputError, match="voltage-clamp recording") as exc:
        open_recording(abf_dir / name)
    assert name in str(exc.value)


def test_wrong_units_are_detected(abf_dir):
    # the same recording saved with pA units on a mV signal
    with pytest.raises(InputError, match="wrong units") as exc:
        open_recording(abf_dir / "opto_aps_bad_units.abf")
    assert "looks like a membrane potential" in str(exc.value)
    good = open_recording(abf_dir / "opto_aps_good_units.abf")
    assert good.units[good.vm_channel] == "mV"


def test_user_list_steps_are_the_true_steps(abf_dir):
    """2020_03_02_0000.abf: pyabf's sweepC ignores the user list; I_Com records the truth."""
    r = open_recording(abf_dir / "2020_03_02_0000.abf")
    stims = [r.sweep(s).stimulus for s in range(r.n_sweeps)]
    expected = [-200, -150, -100, -50, 0, 25, 50, 100, 150, 200, 250, 300, 350, 400, 500, 600]
    assert [s.stim_pA for s in stims] == expected
    assert {s.source for s in stims} == {"user_list"}
    # independent check against the recorded command current (channel 1, pA): median over the
    # step minus the median before it. The amplifier output differs from the command by its
    # calibration (<= 1.5 % here) plus ~1 pA offset, hence 2 % + 2 pA.
    for s, st in enumerate(stims):
        sw = r.sweep(s)
        a, b = int(st.stim_start_s / sw.dt_s), int(st.stim_end_s / sw.dt_s)
        measured = np.median(sw.i_pA[a + 20 : b - 20]) - np.median(sw.i_pA[: a - 20])
        assert abs(measured - st.stim_pA) <= 0.02 * abs(st.stim_pA) + 2.0
    # and pyabf's own sweepC is wrong from sweep 5 on (it says 50 pA where 25 pA was injected)
    abf = pyabf.ABF(str(abf_dir / "2020_03_02_0000.abf"))
    abf.setSweep(5)
    assert abf.sweepC[int(0.3 * abf.sampleRate)] == 50.0


def test_test_step_is_the_changing_epoch_not_the_prepulse_or_repeat(abf_dir):
    # 171116sh_0018: the varying step repeats after a fixed -100 pA prepulse; the test step is the
    # first one (ABF2: a holding period of 1/64 sweep = 937 samples, then the 2000-sample epoch A)
    abf = pyabf.ABF(str(abf_dir / "171116sh_0018.abf"))
    abf.setSweep(10)
    r = open_recording(abf_dir / "171116sh_0018.abf")
    st = r.sweep(10).stimulus
    assert st.kind == "step" and st.stim_pA == 150.0
    assert st.stim_start_s == pytest.approx(abf.sweepEpochs.p1s[2] / abf.sampleRate)
    assert st.stim_end_s - st.stim_start_s == pytest.approx(0.5)
    # 18711001: fixed -100 pA prepulse in its own epoch, then 0..290 pA
    r = open_recording(abf_dir / "18711001.abf")
    st = r.sweep(29).stimulus
    assert st.stim_pA == 290.0 and st.prepulse_pA == -100.0
    assert st.prepulse_end_s < st.stim_start_s


def test_ramp_and_pulse_protocols(abf_dir):
    r = open_recording(abf_dir / "171116sh_0016.abf")
    st = r.sweep(5).stimulus
    assert st.kind == "ramp"
    # continuous ramp across sweeps: sweep 5 ramps from 40 to 50 pA (pyabf sweepC agrees)
    abf = pyabf.ABF(str(abf_dir / "171116sh_0016.abf"))
    abf.setSweep(5)
    for t in (0.1, 0.5, 0.9):
        assert st.current_at(t) == pytest.approx(abf.sweepC[int(t * abf.sampleRate)], abs=0.05)
    st6 = open_recording(abf_dir / "File_axon_6.abf").sweep(0).stimulus
    assert st6.kind == "pulse" and st6.stim_pA == 2000.0
    assert st6.stim_end_s - st6.stim_start_s == pytest.approx(0.002)


def test_gap_free_abf1(abf_dir):
    r = open_recording(abf_dir / "File_axon_2.abf")
    assert r.is_abf1 and r.gap_free and r.n_sweeps == 1
    sw = r.sweep(0)
    assert sw.dt_s == pytest.approx(1e-3)
    assert sw.v_mV.size == 1_200_000  # 20 min at 1 kHz
    assert sw.stimulus.kind == "none"


def test_sweeps_are_independent_of_the_pyabf_cursor(abf_dir):
    r = AbfReader(abf_dir / "171116sh_0018.abf")
    a = r.sweep(5)
    b = r.sweep(2)
    a2 = r.sweep(5)
    assert np.array_equal(a.v_mV, a2.v_mV)
    assert not np.array_equal(a.v_mV, b.v_mV)
    a.v_mV[:] = 0.0  # a caller modifying its copy changes nothing in the reader
    assert np.array_equal(r.sweep(5).v_mV, a2.v_mV)
    assert [s.index for s in r] == list(range(17))


def test_missing_file_and_sweep(abf_dir, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        open_recording(tmp_path / "nope.abf")
    with pytest.raises(InputError, match="no sweep 99"):
        open_recording(abf_dir / "File_axon_5.abf").sweep(99)
    bad = tmp_path / "broken.abf"
    bad.write_bytes(b"ABF2" + b"\0" * 100)
    with pytest.raises(InputError, match="pyabf cannot read it"):
        open_recording(bad)


def test_neo_reader_matches_pyabf(abf_dir):
    """neo's AxonIO is an independent ABF parser: same channel choice, identical samples."""
    from fmslab.ephys.io import NeoReader

    for name in ["171116sh_0018.abf", "18425108.abf"]:
        n, a = NeoReader(abf_dir / name), AbfReader(abf_dir / name)
        assert n.vm_channel == a.vm_channel and n.n_sweeps == a.n_sweeps
        assert n.rate_hz == a.rate_hz
        last = a.n_sweeps - 1
        np.testing.assert_array_equal(n.sweep(last).v_mV, a.sweep(last).v_mV)


def test_other_formats_go_through_neo(abf_dir, tmp_path):
    """A non-ABF file (here neo's pickle format, written from the ABF's sweeps) is read by neo and
    gives the same spikes."""
    import neo
    import quantities as pq

    from fmslab.ephys.spikes import detect_spikes

    a = AbfReader(abf_dir / "171116sh_0018.abf")
    block = neo.Block()
    for s in (8, 16):
        sw = a.sweep(s)
        seg = neo.Segment()
        sig = neo.AnalogSignal(
            sw.v_mV[:, None] / 1000.0, units="V", sampling_rate=20 * pq.kHz, name="Vm"
        )
        seg.analogsignals.append(sig)
        block.segments.append(seg)
    path = tmp_path / "cell.pkl"
    neo.io.PickleIO(str(path)).write_block(block)
    r = open_recording(path)
    assert r.n_sweeps == 2
    got = r.sweep(1)
    np.testing.assert_allclose(got.v_mV, a.sweep(16).v_mV, atol=1e-9)  # V -> mV conversion
    ref = detect_spikes(a.sweep(16).v_mV, a.sweep(16).dt_s)
    assert np.array_equal(detect_spikes(got.v_mV, got.dt_s)["peak_index"], ref["peak_index"])


def test_vm_labelled_mv_with_impossible_values_is_refused(abf_dir, tmp_path, monkeypatch):
    """The opposite mislabel: a 'mV' channel whose values are 20x too large (as the bad-units file's
    gain) is refused; we simulate it by scaling pyabf's data of the good file."""
    import fmslab.ephys.io as eio

    orig = eio.AbfReader._raw

    def scaled(self, sweep, channel):
        return orig(self, sweep, channel) * 20.0

    monkeypatch.setattr(eio.AbfReader, "_raw", scaled)
    with pytest.raises(InputError, match="wrong units: channel 'IN 0' is labelled 'mV'"):
        open_recording(abf_dir / "opto_aps_good_units.abf")


def test_abf1_step_protocol_from_its_epoch_table(abf_dir, tmp_path):
    """ABF1 current-clamp steps (no such file in ../shared): sweeps 6-8 of 171116sh_0018 (50, 75,
    100 pA, real Vm) rewritten as ABF1 with the same epoch table by fmslab's demo writer (its own
    tests read it back with pyabf and neo). The reader takes the steps from the ABF1 epochs and
    the analysis gives the ABF2 original's results."""
    from fmslab.demo.abf_writer import Epoch, write_abf1
    from fmslab.ephys.analysis import analyze_file

    a = AbfReader(abf_dir / "171116sh_0018.abf")
    sweeps = [a.sweep(s) for s in (6, 7, 8)]
    n = sweeps[0].v_mV.size
    data = np.stack([sw.v_mV for sw in sweeps])[:, None, :]
    epochs = [Epoch(0.0, 2000), Epoch(50.0, 10000, level_inc=25.0), Epoch(0.0, 20000)]
    path = tmp_path / "abf1_steps.abf"
    write_abf1(path, data, 20000.0, units=["mV"], names=["IN 0"], lsb=[0.01], epochs=epochs)
    r = open_recording(path)
    assert r.is_abf1 and r.n_sweeps == 3 and r.sweep(0).v_mV.size == n
    st = [r.sweep(s).stimulus for s in range(3)]
    assert [s.stim_pA for s in st] == [50.0, 75.0, 100.0]
    assert {s.source for s in st} == {"epochs"}
    assert st[0].stim_start_s == pytest.approx(sweeps[0].stimulus.stim_start_s)
    assert st[0].stim_end_s == pytest.approx(sweeps[0].stimulus.stim_end_s)
    got, cell = analyze_file(path)
    ref, _ = analyze_file(abf_dir / "171116sh_0018.abf")
    assert list(got["n_spikes_stim"]) == list(ref["n_spikes_stim"].iloc[6:9]) == [1, 1, 3]
    # 0.01 mV quantisation of the writer: thresholds equal within 0.05 mV
    np.testing.assert_allclose(got["threshold_mV"], ref["threshold_mV"].iloc[6:9], atol=0.05)
    assert cell["rheobase_pA"].iloc[0] == 50.0


def _header_state(abf) -> dict:
    """Every header value pyabf parsed (sections without their file handle), data not loaded."""
    from pyabf import abfReader

    out = {}
    for k, v in vars(abf).items():
        if isinstance(v, abfReader.AbfReader):
            out[k] = {kk: repr(vv) for kk, vv in vars(v).items() if kk != "_fb"}
        elif k not in ("_fb",):
            out[k] = repr(v)
    return out


def test_bulk_byte_reads_give_pyabf_the_same_headers(abf_dir, monkeypatch):
    """fmslab replaces pyabf's byte-by-byte ``readBytes`` (speed_up_pyabf); every header value
    of every shared ABF file (ABF1 and ABF2, reference and abf_more) is the same as with pyabf's
    own definition (one ``readByte`` per byte)."""
    from pyabf import abfReader

    from fmslab.ephys.io import speed_up_pyabf

    speed_up_pyabf()
    fast = abfReader.AbfReader.readBytes
    assert fast.__name__ != "readBytes"  # replaced
    files = sorted(abf_dir.glob("*.abf")) + sorted((abf_dir.parent / "abf_more").glob("*.abf"))
    assert len(files) >= 10
    for f in files:
        a = _header_state(pyabf.ABF(str(f), loadData=False))
        with monkeypatch.context() as m:
            m.setattr(
                abfReader.AbfReader,
                "readBytes",
                lambda self, n: [self.readByte() for _ in range(n)],
            )
            b = _header_state(pyabf.ABF(str(f), loadData=False))
        assert a == b, f.name
    # a short read fails as pyabf's own does (struct.error), not with fewer bytes
    import io
    import struct

    r = abfReader.AbfReader(io.BytesIO(b"\x01\x02"))
    assert r.readBytes(2) == [1, 2]
    with pytest.raises(struct.error):
        r.readBytes(1)


def test_smrx_without_sonpy_is_refused_naming_what_to_do(tmp_path):
    """.smrx (Spike2 9+) needs CED's sonpy, whose only PyPI release (1.9.12) ships a Windows
    binary: without it the file is refused naming the format and the way out, not handed to
    another reader."""
    import importlib.util

    if importlib.util.find_spec("sonpy") is not None:
        pytest.skip("sonpy is installed here")
    f = tmp_path / "rec.smrx"
    f.write_bytes(b"\0" * 4096)
    with pytest.raises(InputError, match=r"rec\.smrx.*64-bit Spike2.*sonpy.*\.smr or export it"):
        open_recording(f)


def _monitor_noise(abf_dir, n: int) -> np.ndarray:
    """Real current-monitor noise: the recorded I_Com channel of 2020_03_02_0000 (pA, robust SD
    ~5 pA, 0.305 pA steps) after each step, once back at holding, minus its median."""
    r = open_recording(abf_dir / "2020_03_02_0000.abf")
    parts = []
    for k in range(r.n_sweeps):
        sw = r.sweep(k)
        a = int((sw.stimulus.stim_end_s + 0.05) / sw.dt_s)
        parts.append(sw.i_pA[a:] - np.median(sw.i_pA[a:]))
        if sum(p.size for p in parts) >= n:
            break
    return np.concatenate(parts)[:n]


@pytest.mark.parametrize("name, sweep", [("17o05027_ic_ramp.abf", 1), ("171116sh_0016.abf", 10)])
def test_a_ramp_in_the_recorded_current_is_read_as_that_ramp(abf_dir, name, sweep):
    """The real ramp commands of the two ramp cells (pyabf's sweepC: 0 -> 10 pA and 90 -> 100 pA
    over 0.965 s) given as a recorded current, noise-free and with real current-monitor noise
    (SD ~5 pA) added: both are ramps, never a step of their median (the NWB round trip of the
    sample study once read them as ~7.45 pA steps with a rheobase) nor "unknown". The fitted
    line's current (holding + current_at) is within 0.2 pA of the noise-free command over the
    ramp (the line also runs over the 20 ms the command then holds: <= 0.1 pA bias) and within
    1 pA, a tenth of the ramp's change, with the noise: the reader accepts a line whose residual
    bends by up to that much, as the monitor's noise is not white (its slow part moves a line
    fitted to one sweep by ~0.4 pA here, 3x a white-noise standard error); the slope within 2 %
    and 10 %."""
    import pyabf

    from fmslab.ephys.io import stimulus_from_current

    abf = pyabf.ABF(str(abf_dir / name))
    abf.setSweep(sweep)
    dt = 1.0 / abf.dataRate
    ref = open_recording(abf_dir / name).sweep(sweep).stimulus
    clean, noisy = np.zeros(abf.sweepC.size), _monitor_noise(abf_dir, abf.sweepC.size)
    for noise, tol_pA, tol_slope in ((clean, 0.2, 0.02), (noisy, 1.0, 0.1)):
        st = stimulus_from_current(abf.sweepC + noise, dt)
        assert st.kind == "ramp" and st.source == "current_channel", st
        assert st.ramp_slope_pA_per_s == pytest.approx(ref.ramp_slope_pA_per_s, rel=tol_slope)
        for t in np.linspace(ref.stim_start_s + 0.1, ref.stim_end_s - 0.01, 9):
            got = st.holding_pA + st.current_at(t)
            assert got == pytest.approx(abf.sweepC[int(round(t / dt))], abs=tol_pA), t


def test_other_waveforms_in_a_recorded_current_stay_unknown(abf_dir):
    """Not one straight line: the real ramp up and then back down (a triangle), and the ramp
    followed by a hold as long as itself, each with real monitor noise, are "unknown" with the
    reason. A real step (17o05028_ic_steps sweep 0, -50 pA) is still that step."""
    import pyabf

    from fmslab.ephys.io import stimulus_from_current

    ramp = pyabf.ABF(str(abf_dir / "17o05027_ic_ramp.abf"))
    ramp.setSweep(1)
    c = ramp.sweepC
    dt = 1.0 / ramp.dataRate
    for wave in (np.r_[c, c[::-1]], np.r_[c, np.full(c.size, c[-1])]):
        st = stimulus_from_current(wave + _monitor_noise(abf_dir, wave.size), dt)
        assert st.kind == "unknown" and np.isnan(st.stim_pA)
        assert "not a step" in st.reason
    steps = pyabf.ABF(str(abf_dir / "17o05028_ic_steps.abf"))
    steps.setSweep(0)
    st = stimulus_from_current(steps.sweepC, 1.0 / steps.dataRate)
    assert st.kind == "step" and st.stim_pA == pytest.approx(-50.0, abs=0.01)


def test_a_ramp_command_is_the_abf_readers_ramp(abf_dir):
    """pyabf's noise-free command of every ramp sweep of 171116sh_0016 read as a waveform is the
    ABF reader's ramp: same window (to the sample), same end level and slope within 1 / 19 300
    (pyabf's linspace reaches the end level on the epoch's last sample, the ABF reader one sample
    later)."""
    import pyabf

    from fmslab.ephys.io import stimuli_from_currents

    abf = pyabf.ABF(str(abf_dir / "171116sh_0016.abf"))
    r = open_recording(abf_dir / "171116sh_0016.abf")
    dt = 1.0 / abf.dataRate
    cmds = []
    for k in range(abf.sweepCount):
        abf.setSweep(k)
        cmds.append(abf.sweepC.copy())
    got = stimuli_from_currents(cmds, dt, "command")
    for k, st in enumerate(got):
        ref = r.sweep(k).stimulus
        assert st.kind == "ramp"
        assert (st.stim_start_s, st.stim_end_s) == pytest.approx(
            (ref.stim_start_s, ref.stim_end_s), abs=0.5 * dt
        )
        assert st.holding_pA + st.stim_pA == pytest.approx(ref.holding_pA + ref.stim_pA, abs=0.01)
        assert st.ramp_slope_pA_per_s == pytest.approx(ref.ramp_slope_pA_per_s, rel=1e-4, abs=1e-9)


def test_a_recorded_current_of_noise_alone_is_no_step(abf_dir):
    """Real current-monitor noise without any injection (SD ~5 pA, as large as the 5 pA step
    criterion) crosses the criterion again and again: its longest crossing is no step or pulse
    of a few pA (which the reader gave before runs were joined and checked for flatness)."""
    from fmslab.ephys.io import stimulus_from_current

    st = stimulus_from_current(_monitor_noise(abf_dir, 20_000), 1e-4)
    assert st.kind in ("none", "unknown"), st
