"""Skin-nerve readers and channel maps, checked against pyabf and hand-made files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyabf
import pytest
import yaml

from fmslab.errors import InputError
from fmslab.skinnerve.channels import channel_map_for, guess_roles, load_channel_map, unit_from_name
from fmslab.skinnerve.io import AbfReader, NeoReader, open_reader, open_recording

MULTI = ["2015_09_10_0001.abf", "DM1_0000.abf", "File_axon_3.abf"]


def _all(reader, names, chunk):
    parts = {n: [] for n in names}
    for _s, block in reader.iter_chunks(names, chunk):
        for n in names:
            parts[n].append(block[n])
    return {n: np.concatenate(v) for n, v in parts.items()}


@pytest.mark.parametrize("name", MULTI)
def test_abf_chunks_match_pyabf(abf_dir: Path, name: str) -> None:
    # reference: pyabf's own fully loaded, scaled data (float32, so compare at float32 precision)
    abf = pyabf.ABF(str(abf_dir / name))
    reader = AbfReader(abf_dir / name)
    assert reader.names == abf.adcNames and reader.units == abf.adcUnits
    data = _all(reader, reader.names, 7777)  # a chunk size that does not divide the sweeps
    for ch, n in enumerate(reader.names):
        for sweep in range(abf.sweepCount):
            abf.setSweep(sweep, channel=ch)
            got = data[n][sweep * abf.sweepPointCount : (sweep + 1) * abf.sweepPointCount]
            np.testing.assert_allclose(got, abf.sweepY, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("name", MULTI)
def test_neo_reader_matches_pyabf_path(abf_dir: Path, name: str) -> None:
    # The neo path (used for Spike2 .smr through Spike2RawIO) is exercised with neo's AxonRawIO:
    # no .smr file is available here, so the generic RawIO code is checked against pyabf instead.
    from neo.rawio import AxonRawIO

    a, b = AbfReader(abf_dir / name), NeoReader(abf_dir / name, AxonRawIO)
    assert a.names == b.names and a.n_samples == b.n_samples
    np.testing.assert_array_equal(a.segment_starts, b.segment_starts)
    da, db = _all(a, a.names, 5000), _all(b, b.names, 3000)
    for n in a.names:
        np.testing.assert_allclose(da[n], db[n], rtol=1e-6, atol=1e-4)


def test_smr_that_is_not_spike2_is_refused(tmp_path: Path, abf_dir: Path) -> None:
    bad = tmp_path / "x.smr"
    bad.write_bytes((abf_dir / "File_axon_3.abf").read_bytes()[:4096])
    with pytest.raises(InputError, match="x.smr"):
        open_reader(bad)


def test_roles_found_by_name_and_units(abf_dir: Path) -> None:
    # the channels as the ABF headers (and the shared README) describe them
    rec = open_recording(abf_dir / "2015_09_10_0001.abf")
    assert rec.roles["displacement"] == "piezzo" and rec.factors["displacement"] == 1.0
    rec = open_recording(abf_dir / "DM1_0000.abf")
    assert rec.roles["pressure"] == "P_in"
    rec = open_recording(abf_dir / "File_axon_3.abf")
    assert rec.roles["stimulus"] == "stim" and rec.roles["nerve"] == "VmRK"
    assert rec.factors["nerve"] == 1000.0  # mV -> uV
    # units alone are enough when names say nothing
    assert guess_roles(["a", "b", "c"], ["uV", "g", "degC"]) == {
        "force": "b",
        "temperature": "c",
        "nerve": "a",
    }
    assert unit_from_name("force_mN") == "mN" and unit_from_name("temp (degC)") == "degC"
    assert unit_from_name("nerve") is None


def _csv(path: Path, fs: float = 1000.0, n: int = 500, jitter_row: int | None = None) -> Path:
    t = np.arange(n) / fs
    if jitter_row is not None:
        t[jitter_row] += 0.6 / fs
    nerve = np.sin(t * 50)
    force_g = np.where(t > 0.2, 2.0, 0.0)
    with open(path, "w") as fh:
        fh.write("time_s,nerve_uV,force_g,stim_V\n")
        for row in zip(t, nerve, force_g, np.zeros(n), strict=True):
            fh.write(",".join(f"{v:.6f}" for v in row) + "\n")
    return path


def test_csv_reader_chunks_and_units(tmp_path: Path) -> None:
    p = _csv(tmp_path / "r1.csv")
    (tmp_path / "r1.yaml").write_text(
        yaml.safe_dump(
            {"channels": {"nerve": "nerve_uV", "force": "force_g"}, "conduction_distance_mm": 12}
        )
    )
    rec = open_recording(p, channel_map_for(p))
    assert rec.fs_hz == pytest.approx(1000.0)
    blocks = list(rec.iter_roles(128))
    assert [s for s, _ in blocks] == [0, 128, 256, 384]
    force = np.concatenate([b["force"] for _, b in blocks])
    # 2 g = 2 * 9.80665 mN (standard gravity), exact up to the 6 decimals written
    assert force.max() == pytest.approx(19.6133, abs=1e-4)
    assert rec.conduction_distance_mm == 12.0


def test_csv_irregular_time_names_row(tmp_path: Path) -> None:
    p = _csv(tmp_path / "r2.csv", jitter_row=300)
    rec = open_recording(p, None)
    with pytest.raises(InputError, match=r"r2.csv, row 302, column 'time_s'"):
        list(rec.iter_roles(128))


def test_missing_channel_and_wrong_rate(tmp_path: Path) -> None:
    p = _csv(tmp_path / "r3.csv")
    day = tmp_path / "day.yaml"
    day.write_text(
        yaml.safe_dump(
            {
                "channels": {"nerve": "nerve_uV", "temperature": "temp_C"},
                "recordings": {
                    "r4.csv": {"channels": {"temperature": "nerve_uV"}, "sampling_rate_hz": 20000}
                },
            }
        )
    )
    with pytest.raises(
        InputError, match=r"r3.csv, column 'temp_C': temperature channel 'temp_C' is not"
    ):
        open_recording(p, channel_map_for(p, day))
    p4 = _csv(tmp_path / "r4.csv")
    with pytest.raises(
        InputError, match=r"sampling rate is 1000 Hz but the channel map .* says 20000 Hz"
    ):
        open_recording(p4, channel_map_for(p4, day))
    bad = tmp_path / "bad.yaml"
    bad.write_text("channels: {nerve: a, smell: b}\n")
    with pytest.raises(InputError, match="unknown channel role"):
        load_channel_map(bad)


def test_simulator_abf_round_trip(tmp_path: Path) -> None:
    from dataclasses import replace

    from fmslab.skinnerve.simulate import Protocol, SimConfig, simulate, write_abf

    proto = Protocol(baseline_s=1.0, n_electrical=2, forces_mn=(5.0,), hold_s=0.5,
                     step_interval_s=1.0, cold=False, heat=False, tail_s=0.5)  # fmt: skip
    sim = simulate(replace(SimConfig(), protocol=proto), seed=0)
    path = write_abf(sim, tmp_path / "sim.abf")
    rec = open_recording(path)
    got = np.concatenate([b["nerve"] for _s, b in rec.iter_roles(10_000)])
    assert got.size == sim.nerve_uv.size
    # pyabf's ABF1 writer picks a decade scale factor: for 99.997 < max|x| <= 999.97 it is 0.01,
    # i.e. one int16 step = 10 V / 2**15 / 0.01 = 0.0305 uV, and int() truncates: error < 1 step
    assert 99.997 < np.abs(sim.nerve_uv).max() <= 999.97
    np.testing.assert_allclose(got, sim.nerve_uv, atol=10 / 2**15 / 0.01)
