"""Every file in ../shared/data/ephys/abf gives correct results or a clear, specific error.

EXPECTED lists each file with what it must give; a file added to the folder without an entry here
fails, so nobody forgets to decide what it should give.
"""

from __future__ import annotations

import pytest

from fmslab.ephys.analysis import analyze_file
from fmslab.errors import InputError

VC = "voltage-clamp recording"
EXPECTED: dict[str, dict] = {
    # refused, with the reason
    "05210017_vc_abf1.abf": {"error": VC},
    "17o05024_vc_steps.abf": {"error": VC},
    "2015_09_10_0001.abf": {"error": VC},  # Ipatch [pA] + command [mV] + piezo: voltage clamp
    "DM1_0000.abf": {"error": VC},  # pA + pressure, command in mV
    # event-driven, variable-length sweeps (3540, 70040, 16040 samples) recorded in pA with a mV
    # command: voltage clamp, refused before any sweep is analysed
    "2020_06_16_0000.abf": {"error": VC},
    "opto_aps_bad_units.abf": {"error": "wrong units"},
    # analysed: number of sweeps, protocol, and checks on the cell row
    "171116sh_0016.abf": {"sweeps": 11, "protocol": "ramp"},
    "171116sh_0018.abf": {"sweeps": 17, "protocol": "steps", "rheobase_pA": 50.0},
    "17o05027_ic_ramp.abf": {"sweeps": 2, "protocol": "ramp"},
    "17o05028_ic_steps.abf": {"sweeps": 16, "protocol": "steps"},
    # DAC 1 epoch H is a pulse train (2 ms pulses of 2.5 nA every 10 ms), not one pulse
    "18425108.abf": {"sweeps": 1, "protocol": "train"},
    "18711001.abf": {"sweeps": 30, "protocol": "steps", "rheobase_pA": 70.0},
    "2020_03_02_0000.abf": {"sweeps": 16, "protocol": "steps", "stim_source": "user_list"},
    "File_axon_2.abf": {"sweeps": 1, "protocol": "spontaneous", "gap_free": True},
    "File_axon_3.abf": {"sweeps": 5, "protocol": "pulse", "stim_source": "trigger_channel"},
    "File_axon_5.abf": {"sweeps": 9, "protocol": "steps", "rheobase_pA": 200.0},
    "File_axon_6.abf": {"sweeps": 32, "protocol": "pulse"},
    "opto_aps_good_units.abf": {"sweeps": 3, "protocol": "spontaneous"},
}


def test_every_file_has_an_expectation(abf_dir):
    assert sorted(p.name for p in abf_dir.glob("*.abf")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file(abf_dir, name):
    exp = EXPECTED[name]
    path = abf_dir / name
    if "error" in exp:
        with pytest.raises(InputError) as exc:
            analyze_file(path)
        assert exp["error"] in str(exc.value)
        assert name in str(exc.value)  # the message names the file
        return
    sweeps, cells = analyze_file(path)
    cell = cells.iloc[0]
    assert len(sweeps) == exp["sweeps"]
    assert list(sweeps["sweep"]) == list(range(exp["sweeps"]))
    assert (sweeps["file"] == name).all() and cell["file"] == name
    assert cell["protocol"] == exp["protocol"]
    for key in ("rheobase_pA", "stim_source", "gap_free"):
        if key in exp:
            assert cell[key] == exp[key], key
    # every sweep's spike counts are consistent and every spike feature is physically sane
    assert (sweeps["n_spikes_stim"] <= sweeps["n_spikes_total"]).all()
    spiking = sweeps[sweeps["n_spikes_total"] > 0]
    assert (spiking["amplitude_mV"].dropna() >= 15).all()
    assert (spiking["peak_mV"].dropna() > spiking["threshold_mV"].dropna()).all()
    assert cell["qc_reasons"] == "" or not cell["qc_pass"]
