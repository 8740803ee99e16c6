"""`fmslab skinnerve analyze` end to end: outputs, errors.csv, provenance, catalog tables."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fmslab.cli import app
from fmslab.skinnerve.simulate import Protocol, SimConfig, simulate, write_csv


def _short_csv(path: Path) -> Path:
    proto = Protocol(
        baseline_s=2.0,
        n_electrical=8,
        electrical_interval_s=0.5,
        forces_mn=(5.0, 50.0),
        hold_s=1.0,
        step_interval_s=2.0,
        cold=False,
        heat=False,
        tail_s=1.0,
    )
    return write_csv(simulate(replace(SimConfig(), protocol=proto), seed=4), path)


@pytest.mark.slow
def test_analyze_study_with_a_bad_file(sample_study: Path, abf_dir: Path) -> None:
    rec_dir = sample_study / "skinnerve"
    rec_dir.mkdir()
    _short_csv(rec_dir / "u1.csv")
    (rec_dir / "u2.csv").write_text("time_s,nerve_uV\n0.0,1\n0.001,oops\n0.002,3\n0.003,4\n")
    (rec_dir / "u3.abf").write_bytes((abf_dir / "File_axon_3.abf").read_bytes())
    sheet = sample_study / "recordings.csv"
    rows = pd.read_csv(sheet)
    extra = pd.DataFrame(
        {
            "path": ["skinnerve/u1.csv", "skinnerve/u2.csv", "skinnerve/u3.abf"],
            "modality": "skinnerve",
            "mouse_id": ["M01", "M02", "M03"],
            "unit_id": ["M01_u1", "M02_u1", "M03_u1"],
        }
    )
    pd.concat([rows, extra], ignore_index=True).to_csv(sheet, index=False)
    out = sample_study / "out"
    res = CliRunner().invoke(
        app,
        [
            "-q",
            "skinnerve",
            "analyze",
            "--study",
            str(sample_study),
            "--out",
            str(out),
            "--jobs",
            "1",
            "--allow-failures",  # u2.csv is broken on purpose
        ],
    )
    assert res.exit_code == 0, res.output
    errors = pd.read_csv(out / "errors.csv")
    assert len(errors) == 1 and errors["file"].iloc[0].endswith("u2.csv")
    assert "u2.csv" in errors["message"].iloc[0]
    units = pd.read_csv(out / "units.csv")
    spikes = pd.read_csv(out / "spikes.csv")
    assert list(spikes.columns[:3]) == ["file", "unit_id", "time_s"]
    assert set(units["file"]) == {"u1.csv", "u3.abf"}
    assert (units.groupby("file")["is_unit_under_study"].sum() == 1).all()
    # the simulated SAM (80 uV, CV 12 m/s over 25 mm) is the unit under study of u1.csv
    u1 = units[(units["file"] == "u1.csv") & units["is_unit_under_study"]].iloc[0]
    assert abs(u1["cv_m_s"] - 12.0) < 0.6 and u1["receptor_type"] == "SAM"
    assert u1["recording_unit_id"] == "M01_u1"
    for f in units["figure"]:
        assert (out / "figures" / f).stat().st_size > 10_000
    prov = json.loads((out / "provenance.json").read_text())
    assert len(prov["inputs"]) == 3 and all(len(i["sha256"]) == 64 for i in prov["inputs"])
    from fmslab.catalog import query

    db = sample_study / "results" / "fmslab.duckdb"
    n = query(db, "SELECT count(*) AS n FROM skinnerve_spikes")["n"].iloc[0]
    assert n == len(spikes)
    assert set(query(db, "SELECT DISTINCT file FROM skinnerve_units")["file"]) == {
        "u1.csv",
        "u3.abf",
    }
    # a second run reuses the cached results and gives the same tables
    res = CliRunner().invoke(
        app,
        [
            "-q",
            "skinnerve",
            "analyze",
            "--study",
            str(sample_study),
            "--out",
            str(out),
            "--jobs",
            "1",
            "--allow-failures",
        ],
    )
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "spikes.csv"), spikes)


def test_no_inputs_is_a_clear_error(tmp_path: Path) -> None:
    from fmslab.errors import InputError

    res = CliRunner().invoke(app, ["skinnerve", "analyze", "--out", str(tmp_path / "o")])
    assert isinstance(res.exception, InputError) and "no recordings given" in str(res.exception)


@pytest.mark.slow
def test_day_channel_file_and_wrong_rate(tmp_path: Path) -> None:
    import yaml

    csv = _short_csv(tmp_path / "a.csv")
    csv.with_suffix(".yaml").unlink()  # the day file must be used instead
    (tmp_path / "b.csv").write_bytes(csv.read_bytes())
    day = tmp_path / "day.yaml"
    day.write_text(yaml.safe_dump({
        "channels": {"nerve": "nerve_uV", "force": "force_mN", "stimulus": "stim_V"},
        "conduction_distance_mm": 25,
        "recordings": {"b.csv": {"sampling_rate_hz": 10000}},
    }))  # fmt: skip
    out = tmp_path / "out"
    args = ["-q", "skinnerve", "analyze", str(csv), str(tmp_path / "b.csv")]
    args += ["--channels", str(day), "--out", str(out), "--jobs", "1", "--allow-failures"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    errors = pd.read_csv(out / "errors.csv")
    assert list(errors["file"].map(lambda p: Path(p).name)) == ["b.csv"]
    assert "sampling rate is 20000 Hz" in errors["message"].iloc[0]
    units = pd.read_csv(out / "units.csv")
    top = units[units["is_unit_under_study"]].iloc[0]
    assert abs(top["cv_m_s"] - 12.0) < 0.6  # distance from the day file
