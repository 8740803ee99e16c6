"""`fmslab ephys analyze`: tables, errors, figures, provenance, cache and the study catalog."""

from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from fmslab.cli import app as root_app
from fmslab.ephys.analysis import analyze_file
from fmslab.ephys.io import open_recording
from fmslab.errors import InputError

runner = CliRunner()


def _run(*args: str):
    res = runner.invoke(root_app, ["--quiet", "ephys", "analyze", *args])
    assert res.exit_code == 0, res.output
    return res


def test_analyze_folder_with_sheet_and_a_bad_file(abf_dir, tmp_path):
    data = tmp_path / "day"
    data.mkdir()
    for f in ["171116sh_0018.abf", "File_axon_5.abf", "17o05024_vc_steps.abf"]:
        shutil.copy(abf_dir / f, data / f)
    sheet = tmp_path / "sheet.csv"
    pd.DataFrame(
        {
            "file": ["171116sh_0018.abf", "File_axon_5.abf"],
            "cell_id": ["c1", "c2"],
            "mouse_id": ["m1", "m1"],
        }
    ).to_csv(sheet, index=False)
    out = tmp_path / "out"
    _run(str(data), "--out", str(out), "--sheet", str(sheet), "--jobs", "2", "--pdf",
         "--allow-failures")  # fmt: skip

    sweeps = pd.read_csv(out / "sweeps.csv")
    cells = pd.read_csv(out / "cells.csv")
    errors = pd.read_csv(out / "errors.csv")
    assert list(sweeps.columns[:4]) == ["file", "cell_id", "mouse_id", "sweep"]
    assert len(sweeps) == 17 + 9 and sorted(cells["file"]) == [
        "171116sh_0018.abf",
        "File_axon_5.abf",
    ]
    # the batch equals the single-file analysis (same numbers through the process pool)
    direct, _ = analyze_file(abf_dir / "171116sh_0018.abf")
    got = sweeps[sweeps["file"] == "171116sh_0018.abf"].reset_index(drop=True)
    pd.testing.assert_series_equal(got["n_spikes_stim"], direct["n_spikes_stim"], check_dtype=False)
    assert cells.set_index("file").loc["171116sh_0018.abf", "rheobase_pA"] == 50.0
    assert cells.set_index("file").loc["File_axon_5.abf", "cell_id"] == "c2"
    # the voltage-clamp file is reported, the batch went on
    assert errors.to_dict("records") == [
        {
            "file": "17o05024_vc_steps.abf",
            "error_type": "InputError",
            "message": errors["message"].iloc[0],
        }
    ]
    assert "voltage-clamp" in errors["message"].iloc[0]
    assert pd.read_parquet(out / "cells.parquet").shape == cells.shape
    # per-spike table: one row per spike, consistent with the per-sweep totals
    spikes = pd.read_csv(out / "spikes.csv")
    per_sweep = spikes.groupby(["file", "sweep"]).size()
    tot = sweeps.set_index(["file", "sweep"])["n_spikes_total"]
    assert per_sweep.sum() == tot.sum() and (per_sweep == tot[per_sweep.index]).all()
    assert list(spikes.columns[:4]) == ["file", "cell_id", "mouse_id", "sweep"]
    for f in ["171116sh_0018", "File_axon_5"]:
        assert (out / "figures" / f"{f}.png").stat().st_size > 10_000
        assert (out / "figures" / f"{f}.pdf").is_file()
    prov = json.loads((out / "provenance.json").read_text())
    assert set(prov["inputs_sha256"]) == {"171116sh_0018.abf", "File_axon_5.abf"}
    assert prov["n_failed"] == 1 and prov["n_cached"] == 0

    # a re-run takes both results from the cache
    _run(str(data), "--out", str(out), "--sheet", str(sheet), "--jobs", "1", "--allow-failures")
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["n_cached"] == 2
    pd.testing.assert_frame_equal(pd.read_csv(out / "sweeps.csv"), sweeps)


def test_analyze_sample_study_into_catalog(sample_study):
    _run("--study", str(sample_study), "--jobs", "2", "--no-figures")
    out = sample_study / "results" / "ephys"
    cells = pd.read_csv(out / "cells.csv")
    errors = pd.read_csv(out / "errors.csv")
    assert len(cells) == 4 and errors.empty  # the 4 real files analyse cleanly
    with duckdb.connect(str(sample_study / "results" / "fmslab.duckdb"), read_only=True) as con:
        cat = con.execute("select * from ephys_cells").df()
        n_sweeps = con.execute("select count(*) from ephys_sweeps").fetchone()[0]
        tables = {r[0] for r in con.execute("show tables").fetchall()}
    assert {"ephys_sweeps", "ephys_cells", "ephys_errors", "ephys_spikes"} <= tables
    assert sorted(cat["cell_id"]) == ["M01_c1", "M02_c1", "M03_c1", "M04_c1"]
    assert set(cat["mouse_id"]) == {"M01", "M02", "M03", "M04"}
    assert n_sweeps == 9 + 30 + 11 + 2
    rheo = cat.set_index("cell_id")["rheobase_pA"]
    assert rheo["M01_c1"] == 200.0 and rheo["M02_c1"] == 70.0


def test_nothing_to_analyse_is_a_clear_error(tmp_path):
    res = runner.invoke(root_app, ["ephys", "analyze", "--out", str(tmp_path)])
    assert res.exit_code != 0
    res = runner.invoke(
        root_app, ["ephys", "analyze", str(tmp_path / "missing.abf"), "--out", str(tmp_path)]
    )
    assert res.exit_code != 0


def test_inspect_shows_the_user_list_steps(abf_dir):
    res = runner.invoke(root_app, ["ephys", "inspect", str(abf_dir / "2020_03_02_0000.abf")])
    assert res.exit_code == 0, res.output
    assert "user_list" in res.output and "Potential" in res.output
    assert "│ 600 " in res.output  # the last user-list step (pyabf's sweepC says 550)


def test_duplicate_file_names_are_refused(abf_dir, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(abf_dir / "File_axon_5.abf", tmp_path / d / "File_axon_5.abf")
    res = runner.invoke(
        root_app,
        [
            "ephys",
            "analyze",
            str(tmp_path / "a"),
            str(tmp_path / "b"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert res.exit_code != 0
    assert "occur more than once" in str(res.exception)


def test_identical_content_under_two_names_keeps_each_name(abf_dir, tmp_path):
    # the result cache is keyed by content; a copy served from it must carry its own file name
    from fmslab.ephys.batch import analyze_paths

    for name in ("day1_cell.abf", "day2_cell.abf"):
        shutil.copy(abf_dir / "File_axon_5.abf", tmp_path / name)
    paths = [tmp_path / "day1_cell.abf", tmp_path / "day2_cell.abf"]
    res = analyze_paths(paths, tmp_path / "out", n_jobs=1, progress=False, figures=False)
    assert res.n_cached == 1  # the second file was served from the cache ...
    for table in (res.cells, res.sweeps, res.spikes):  # ... under its own name
        assert sorted(table["file"].unique()) == ["day1_cell.abf", "day2_cell.abf"]
    a, b = (
        res.sweeps[res.sweeps["file"] == n].drop(columns="file")
        for n in ("day1_cell.abf", "day2_cell.abf")
    )
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    fresh = analyze_paths(
        paths, tmp_path / "out2", n_jobs=1, progress=False, figures=False, use_cache=False
    )
    assert fresh.n_cached == 0 and not (tmp_path / "out2" / ".cache").exists()
    pd.testing.assert_frame_equal(fresh.cells, res.cells)


def test_inspect_any_format_or_why_it_is_refused(test_data):
    d = test_data("ephys/formats")
    res = runner.invoke(root_app, ["ephys", "inspect", str(d / "99111002.nwb")])
    assert res.exit_code == 0, res.output
    assert "pynwb" in res.output and "nwb_stimulus" in res.output and "│ 1000 " in res.output
    res = runner.invoke(root_app, ["ephys", "inspect", str(d / "heka_patchmaster_1.dat")])
    assert res.exit_code != 0
    # the CLI's main() prints an InputError as one "error: ..." line (no traceback)
    assert isinstance(res.exception, InputError) and "HEKA PatchMaster" in str(res.exception)


def test_analyze_with_an_explicit_stimulus_file(test_data, tmp_path):
    """A voltage wave renamed out of the Igor convention: --stimulus gives it its current."""
    d = test_data("ephys/formats")
    v = tmp_path / "cell7.ibw"
    shutil.copy(d / "B6_Ch3_IDRest_181.ibw", v)
    out = tmp_path / "out"
    args = ["ephys", "analyze", str(v), "--out", str(out), "--no-figures"]
    res = runner.invoke(root_app, [*args, "--stimulus", str(d / "B6_Ch0_IDRest_181.ibw")])
    assert res.exit_code == 0, res.output
    sweeps = pd.read_csv(out / "sweeps.csv")
    assert sweeps.loc[0, "stim_kind"] == "step" and sweeps.loc[0, "stim_source"] == "stimulus_file"
    ref = open_recording(d / "B6_Ch3_IDRest_181.ibw").sweep(0).stimulus
    assert sweeps.loc[0, "stim_pA"] == pytest.approx(ref.stim_pA)
