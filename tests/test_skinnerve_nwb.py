"""NWB input: an ElectricalSeries written with pynwb is read back as the nerve channel (volts ->
uV), an AnnotationSeries as stimulus markers, a slower TimeSeries interpolated onto the nerve's
time base."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fmslab.errors import InputError
from fmslab.skinnerve.channels import ChannelMap
from fmslab.skinnerve.io import open_recording
from fmslab.skinnerve.stream import process


def _write(path: Path, nerve_v: np.ndarray, fs: float, marks_s: np.ndarray, force: np.ndarray):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.ecephys import ElectricalSeries
    from pynwb.misc import AnnotationSeries

    nwb = NWBFile("skin-nerve test", "id1", datetime(2026, 1, 1, tzinfo=UTC))
    dev = nwb.create_device("amp")
    grp = nwb.create_electrode_group("filament", "teased filament", "saphenous nerve", dev)
    nwb.add_electrode(group=grp, location="saphenous nerve")
    region = nwb.create_electrode_table_region([0], "the filament")
    nwb.add_acquisition(
        ElectricalSeries(name="nerve", data=nerve_v, electrodes=region, rate=fs, starting_time=0.0)
    )
    nwb.add_acquisition(
        TimeSeries(name="force", data=force, unit="mN", rate=1000.0, starting_time=0.0)
    )
    nwb.add_acquisition(
        AnnotationSeries(name="stim", data=["pulse"] * marks_s.size, timestamps=marks_s)
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb_electrical_series_and_markers(tmp_path: Path) -> None:
    fs = 20000.0
    rng = np.random.default_rng(0)
    nerve_v = rng.normal(0, 10e-6, int(2 * fs))  # volts, as NWB stores them
    marks = np.array([0.5, 0.502, 0.504, 1.5])  # includes a 500 Hz train
    force = np.linspace(0, 20, 2000)
    path = tmp_path / "rec.nwb"
    _write(path, nerve_v, fs, marks, force)
    rec = open_recording(path, ChannelMap(roles={"nerve": "nerve", "stimulus": "stim",
                                                 "force": "force"}))  # fmt: skip
    assert rec.fs_hz == fs and rec.factors["nerve"] == 1e6
    got = np.concatenate([b["nerve"] for _s, b in rec.iter_roles(7000, roles=["nerve"])])
    np.testing.assert_allclose(got, nerve_v * 1e6, rtol=1e-12)
    f = np.concatenate([b["force"] for _s, b in rec.iter_roles(7000, roles=["force"])])
    t = np.arange(got.size) / fs
    np.testing.assert_allclose(f, np.interp(t, np.arange(2000) / 1000.0, force), atol=1e-9)
    res = process(rec)
    np.testing.assert_array_equal(res.stimulus_samples, np.round(marks * fs).astype(int))
    # by number: analog channels are numbered in name order (force 1, nerve 2)
    assert open_recording(path, ChannelMap(roles={"nerve": 2})).roles["nerve"] == "nerve"


def test_not_an_nwb_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="bad.nwb.*not a readable NWB file"):
        open_recording(bad)


def test_smrx_without_sonpy_is_refused_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("neo")
    try:
        import sonpy  # noqa: F401

        pytest.skip("sonpy is installed: .smrx is read through neo's CedRawIO")
    except ImportError:
        pass
    f = tmp_path / "rec.smrx"
    f.write_bytes(b"\0" * 64)
    with pytest.raises(InputError, match=r"rec.smrx.*needs CED's sonpy.*32-bit \.smr"):
        open_recording(f)
