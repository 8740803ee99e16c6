"""Every file in ../shared/data/ephys/formats and abf_more: read right or refused, never a traceback.

EXPECTED lists each file; a file added to a folder without an entry fails, so its outcome is decided.
Analysed files are checked for their sweep count, the Vm channel and the injected current of each
sweep (against the file's own stimulus, read independently with h5py or igor2); refused files for a
specific message naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fmslab.ephys.analysis import analyze_file
from fmslab.ephys.io import open_recording
from fmslab.errors import InputError

VC = "voltage-clamp recording"
NOT_VM = "is not a membrane potential"
EXPECTED: dict[str, dict] = {
    # ---- formats/
    "99111002.nwb": {"sweeps": 16, "vm": "ic__Step__1", "source": "nwb_stimulus"},
    "B6_Ch3_IDRest_181.ibw": {
        "sweeps": 1,
        "vm": "tempB6_IDRest_Ch3_181",
        "source": "stimulus_file",
    },
    "B6_Ch3_IDRest_185.ibw": {
        "sweeps": 1,
        "vm": "tempB6_IDRest_Ch3_185",
        "source": "stimulus_file",
    },
    "B6_Ch0_IDRest_181.ibw": {"error": "it is read as the stimulus of B6_Ch3_IDRest_181.ibw"},
    "B6_Ch0_IDRest_185.ibw": {"error": "it is read as the stimulus of B6_Ch3_IDRest_185.ibw"},
    # a current trace plus five unnamed, unit-less columns: nothing in volts
    "AxoGraph_X_File.axgx": {"error": "no membrane-potential channel (units V/mV)"},
    # human physiology: RC (V) exceeds any Vm range, abdo (V) wanders 80 mV, FDI/soleus are
    # EMG at the 0.01-0.5 mV level: all refused by the Vm gate, each with its reason
    "physiology.smr": {"error": "no channel is a membrane potential: 'RC' (V): 0.1-99.9 % range"},
    "biomech0deg.smr": {"error": "no membrane-potential channel (units V/mV)"},
    "heka_patchmaster_1.dat": {"error": "HEKA PatchMaster bundle"},
    "test_file.cfs": {"error": "a CED CFS file"},
    "test_002.wcp": {"error": "WinWCP file with no records"},
    # ---- abf_more/
    "130618-1-12.abf": {"error": VC},
    "14o16001_vc_pair_step.abf": {"error": VC},
    # 'IN 3' (mV) is flat at 0.1 mV: no cell on that input
    "16d22006_kim_gapfree.abf": {"error": f"channel 'IN 3' (mV) {NOT_VM}: flat near 0 mV"},
    "171116sh_0011.abf": {"error": VC},
    "171116sh_0012.abf": {"error": VC},
    "171116sh_0013.abf": {"error": VC},
    "171116sh_0014.abf": {"error": VC},
    "171116sh_0015.abf": {"error": VC},
    # sine-wave current from a stimulus file: analysed as spontaneous, the cell fails QC
    "171116sh_0017.abf": {"sweeps": 3, "vm": "IN 0", "source": "none", "kind": "unknown"},
    "171116sh_0020.abf": {"error": VC},
    "171116sh_0020_saved.abf": {"error": "no channel in mV"},
    "17o05026_vc_stim.abf": {"error": VC},
    "180415_aaron_temp.abf": {"error": "wrong units: channel 'IN 0' is labelled 'V'"},
    "18702001-pulseTrain.abf": {"error": VC},
    "18702001-ramp.abf": {"error": VC},
    "18702001-step.abf": {"error": VC},
    "18807005.abf": {"error": "wrong units: the command is a current (pA)"},
    "18808025.abf": {"error": VC},
    "2018_08_23_0009.abf": {"error": VC},
    "2018_11_16_sh_0006.abf": {"error": VC},
    "2018_12_09_pCLAMP11_0001.abf": {"error": VC},
    "2018_12_15_0000.abf": {"error": VC},
    "DM1_0001.abf": {"error": VC},
    "DM1_0002.abf": {"error": VC},
    "DM1_0003.abf": {"error": VC},
    "File_axon_1.abf": {"error": "wrong units: the command is a current (nA)"},
    "File_axon_7.abf": {"error": VC},
    "f1_saved.abf": {"error": "no channel in mV"},
    "invalidDate-abf1.abf": {"error": "no channel in mV"},
    "model_vc_step.abf": {"error": VC},
    "pclamp11_4ch.abf": {"error": VC},
    # 'AO #0' (mV) is the analog-output monitor of a voltage-clamp command; IN 0 is in pA
    "multichannelAbf1WithTags.abf": {"error": VC},
    # all 16 channels within 0.4 mV of zero: no cell connected
    "test_0001.abf": {"error": f"channel 'V1' (mV) {NOT_VM}: flat near 0 mV"},
}


def _path(test_data, name: str) -> Path:
    folder = "ephys/formats" if f"ephys/formats/{name}" in test_data.entries else "ephys/abf_more"
    return test_data(f"{folder}/{name}")


def test_every_file_has_an_expectation(test_data):
    names = {
        n.split("/")[-1]
        for n in test_data.entries
        if n.startswith(("ephys/formats/", "ephys/abf_more/"))
    }
    assert names == set(EXPECTED), (names - set(EXPECTED), set(EXPECTED) - names)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_read_right_or_refused(test_data, name):
    path = _path(test_data, name)
    exp = EXPECTED[name]
    if "error" in exp:
        with pytest.raises(InputError) as exc:
            analyze_file(path)
        assert exp["error"] in str(exc.value)
        assert name in str(exc.value)
        return
    r = open_recording(path)
    info = r.info()
    assert r.n_sweeps == exp["sweeps"]
    assert info.vm_name == exp["vm"]
    assert info.stim_source == exp["source"]
    if "kind" in exp:
        assert {r.sweep(k).stimulus.kind for k in range(r.n_sweeps)} == {exp["kind"]}
    sweeps, cells = analyze_file(path)
    assert len(sweeps) == exp["sweeps"]


def test_nwb_sweeps_and_stimuli_from_the_file(test_data):
    """99111002.nwb: 16 sweeps in time order, each with the step amplitude of its own
    CurrentClampStimulusSeries, read here independently with h5py (data x conversion, A -> pA)."""
    import h5py

    path = test_data("ephys/formats/99111002.nwb")
    r = open_recording(path)
    assert r.n_sweeps == 16 and r.rate_hz == 10000.0
    with h5py.File(path, "r") as h5:
        expected = []
        for k in range(1, 17):
            d = h5[f"stimulus/presentation/ics__Step__{k}/data"]
            i = d[()] * d.attrs["conversion"] * 1e12
            v = h5[f"acquisition/ic__Step__{k}/data"]
            expected.append((float(i[i.size // 2] - i[0]), v[()] * v.attrs["conversion"] * 1e3))
    for k, (amp, v_mV) in enumerate(expected):
        sw = r.sweep(k)
        # float32 commands: 200 pA is stored as 200.00003; the reader rounds to 0.01 pA
        assert sw.stimulus.stim_pA == pytest.approx(amp, abs=0.01)
        np.testing.assert_allclose(sw.v_mV, v_mV, rtol=1e-6)
    amps = [r.sweep(k).stimulus.stim_pA for k in range(16)]
    assert amps == [-2000.0 + 200.0 * k for k in range(16)]
    # the step runs from sample 312 to 4312 of each 7168-sample sweep (0.0312-0.4312 s)
    st = r.sweep(15).stimulus
    assert st.kind == "step" and st.source == "nwb_stimulus"
    assert (st.stim_start_s, st.stim_end_s) == pytest.approx((0.0312, 0.4312))
    # the 0 pA sweep (stored as 3e-17 A) is that family's 0 pA step
    assert r.sweep(10).stimulus.kind == "step" and r.sweep(10).stimulus.stim_pA == 0.0
    notes = " ".join(r.info().notes)
    assert "IntracellularRecordingsTable" in notes and "Electrode 1" in notes


def test_nwb_cell_has_positive_rheobase_and_ignores_sweeps_that_do_not_respond(test_data):
    """Sweeps 1-5 of 99111002 (-2 to -1.2 nA) leave V where it was (an amplifier that did not
    inject): they fail sweep QC and stay out of Rin; spikes in hyperpolarising steps are no
    rheobase. Rin from the responding steps: -1000 pA -> -109 mV ... -200 pA -> -18 mV, a slope of
    about 0.1 mV/pA (hand calculation from the deflections: 106 MOhm)."""
    sweeps, cells = analyze_file(test_data("ephys/formats/99111002.nwb"))
    cell = cells.iloc[0]
    assert cell["rheobase_pA"] == 200.0
    assert 90 < cell["rin_MOhm"] < 120
    assert "does not follow the -2000 pA step" in sweeps.loc[0, "qc_reasons"]
    assert not cell["qc_pass"]  # RMP about -13 mV: a depolarised, damaged cell


@pytest.mark.parametrize("sweep", ["181", "185"])
def test_igor_pair_current_from_ch0(test_data, sweep):
    """B6 IDRest: the Ch3 wave is Vm, the Ch0 wave of the same sweep its injected current. Its
    note gives the protocol: 100 + 600 ms at holding, then the 2000 ms step. The step amplitude is
    checked against igor2's own read of the Ch0 wave (median in the step window minus median
    before it), the window within 2 ms (the current monitor's rise)."""
    from igor2 import binarywave

    d = test_data("ephys/formats")
    r = open_recording(d / f"B6_Ch3_IDRest_{sweep}.ibw")
    st = r.sweep(0).stimulus
    wave = binarywave.load(str(d / f"B6_Ch0_IDRest_{sweep}.ibw"))["wave"]
    i = np.asarray(wave["wData"], dtype=float)
    note = wave["note"].decode("latin-1")
    durs = [float(m[1]) for m in re.findall(r"P0DUR(\d):(\d+)", note)]
    fs = 4000.0
    t0 = (durs[0] + durs[1]) / 1e3
    t1 = t0 + durs[2] / 1e3
    amp = np.median(i[int(t0 * fs) : int(t1 * fs)]) - np.median(i[: int(t0 * fs)])
    assert st.kind == "step" and st.source == "stimulus_file"
    assert st.stim_start_s == pytest.approx(t0, abs=0.002)
    assert st.stim_end_s == pytest.approx(t1, abs=0.002)
    # current monitor quantised at 3.125 pA: medians agree within one step
    assert st.stim_pA == pytest.approx(amp, abs=3.2)
    sweeps, cells = analyze_file(d / f"B6_Ch3_IDRest_{sweep}.ibw")
    assert sweeps.loc[0, "n_spikes_stim"] > 0 and sweeps.loc[0, "n_spikes_pre"] == 0


def test_stimulus_file_protocol_never_passes_as_steps(test_data):
    """171116sh_0017: DAC 0 plays 'sine sweep magnitude 20.abf' (nWaveformSource = 2); the epoch
    table (-10 pA steps) is inactive. No step amplitudes are invented; the cell fails QC naming it."""
    sweeps, cells = analyze_file(test_data("ephys/abf_more/171116sh_0017.abf"))
    assert set(sweeps["stim_kind"]) == {"unknown"}
    assert sweeps["stim_pA"].isna().all()
    cell = cells.iloc[0]
    assert cell["protocol"] == "unknown" and not cell["qc_pass"]
    assert "plays a stimulus file (sine sweep magnitude 20.abf)" in cell["qc_reasons"]
    assert np.isnan(cell["rmp_mV"]) and np.isnan(cell["tau_ms"]) and np.isnan(cell["rheobase_pA"])


def test_explicit_stimulus_file(test_data, tmp_path):
    """A wave without the Igor naming convention takes its current from ``stimulus=``."""
    import shutil

    d = test_data("ephys/formats")
    v = tmp_path / "cell_voltage.ibw"
    shutil.copy(d / "B6_Ch3_IDRest_181.ibw", v)
    assert open_recording(v).sweep(0).stimulus.kind == "none"
    st = open_recording(v, stimulus=d / "B6_Ch0_IDRest_181.ibw").sweep(0).stimulus
    ref = open_recording(d / "B6_Ch3_IDRest_181.ibw").sweep(0).stimulus
    assert st == ref


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "a directory, not a recording"),
        (lambda p: p.symlink_to(p.with_name("missing.abf")), "dangling symbolic link"),
        (
            lambda p: (p.with_name("y.abf").symlink_to(p), p.symlink_to(p.with_name("y.abf"))),
            "symbolic-link loop",
        ),
        (lambda p: p.write_bytes(b""), "pyabf cannot read it"),
    ],
)
def test_odd_paths_are_refused(tmp_path, make, message):
    p = tmp_path / "x.abf"
    make(p)
    with pytest.raises(InputError, match=message):
        open_recording(p)


def test_batch_refuses_a_symlink_loop_and_goes_on(abf_dir, tmp_path):
    from fmslab.ephys.batch import analyze_paths

    (tmp_path / "a.abf").symlink_to(tmp_path / "b.abf")
    (tmp_path / "b.abf").symlink_to(tmp_path / "a.abf")
    good = tmp_path / "File_axon_5.abf"
    good.write_bytes((abf_dir / "File_axon_5.abf").read_bytes())
    res = analyze_paths(
        [tmp_path / "a.abf", good], tmp_path / "out", n_jobs=1, progress=False, figures=False
    )
    assert list(res.cells["file"]) == ["File_axon_5.abf"]
    assert res.errors.to_dict("records") == [
        {
            "file": "a.abf",
            "error_type": "InputError",
            "message": f"{tmp_path / 'a.abf'}: symbolic-link loop",
        }
    ]


def test_truncated_abf_is_refused_not_a_traceback(abf_dir, tmp_path):
    """Header-only and truncated copies of a real ABF: an InputError, never IndexError/OSError."""
    data = (abf_dir / "171116sh_0018.abf").read_bytes()
    for n in (512, 2048, 6144, len(data) // 2):
        p = tmp_path / f"cut{n}.abf"
        p.write_bytes(data[:n])
        try:
            r = open_recording(p)
            for k in range(r.n_sweeps):
                r.sweep(k)
        except InputError:
            pass
