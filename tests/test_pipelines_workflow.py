"""The Snakemake workflow (pipelines/Snakefile) run end to end on a small demo study.

One study is generated and run once for the module (``--cores 2``); the tests then check the
outputs against the study sheets (every ephys_cc recording must end in ephys_cells or
ephys_errors), that a dry run after completion schedules nothing, and that changing one recording
day's file reruns only that day and what depends on it. Slow (~3 min on the shared 2-core box):
the workflow itself starts ~15 fmslab processes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from tests.conftest import REPO

pytestmark = pytest.mark.slow

snakemake_bin = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which(
    "snakemake"
)
if snakemake_bin is None:  # pragma: no cover - snakemake is in the test extra
    pytest.skip("snakemake is not installed", allow_module_level=True)

SNAKEFILE = REPO / "pipelines" / "Snakefile"
TEST_CONFIG = {
    "n_boot": 100,  # bootstrap size does not matter here; the statistics are tested in compare
    "compare": [
        {
            "name": "ephys_rheobase",
            "table": "ephys_cells",
            "where": "qc_pass == True",
            "outcomes": ["rheobase_pA", "rmp_mV"],
        },
        {
            "name": "hargreaves_day5",
            "table": "behaviour_mouse_day",
            "where": "assay == 'hargreaves' and day == 5",
            "outcomes": ["value"],
        },
    ],
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    return env


def snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the workflow's snakemake in ``workdir`` (where its .snakemake/ metadata lives)."""
    cmd = [snakemake_bin, "-s", str(SNAKEFILE), "--configfile", str(config), *args]
    return subprocess.run(cmd, cwd=workdir, env=_env(), capture_output=True, text=True)


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Parse snakemake's 'Job stats' table of a dry run: {rule: count}."""
    counts: dict[str, int] = {}
    if "Job stats:" not in dry_run_output:
        return counts
    table = dry_run_output.split("Job stats:", 1)[1]
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    counts.pop("total", None)
    return counts


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Generate the --small demo study and run the whole workflow once with 2 cores."""
    root = tmp_path_factory.mktemp("pipelines")
    demo = root / "demo"
    gen = subprocess.run(
        [
            sys.executable,
            "-m",
            "fmslab",
            "-q",
            "demo",
            "--out",
            str(demo),
            "--small",
            "--seed",
            "1",
            "--no-analyse",  # the workflow does the analysis
        ],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert gen.returncode == 0, gen.stderr
    study = demo / "study"
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"study": str(study), **TEST_CONFIG}))
    res = snakemake(root, config, "--cores", "2")
    assert res.returncode == 0, res.stderr[-4000:]
    return {"root": root, "study": study, "config": config, "log": res.stderr}


def _catalog(study: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(study / "results" / "fmslab.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def test_every_recording_is_accounted_for(run):
    study = run["study"]
    rec = pd.read_csv(study / "recordings.csv", dtype=str)
    ephys = rec[rec["modality"] == "ephys_cc"]
    days = sorted(ephys["date"].unique())
    results = study / "results"
    # one job (folder) per recording day, with its own log
    assert sorted(p.name for p in (results / "ephys").iterdir() if p.is_dir()) == days
    for day in days:
        assert (results / "logs" / "ephys" / f"{day}.log").is_file()
        cells = pd.read_csv(results / "ephys" / day / "cells.csv")
        errors = pd.read_csv(results / "ephys" / day / "errors.csv")
        expected = {Path(p).name for p in ephys.loc[ephys["date"] == day, "path"]}
        got = set(cells["file"]) | {Path(f).name for f in errors["file"]}
        assert got == expected, day
    # the catalog holds every ephys_cc recording exactly once, as a cell or an error
    cat_cells = _catalog(study, "SELECT file, cell_id FROM ephys_cells")
    cat_err = _catalog(study, "SELECT file FROM ephys_errors")
    in_catalog = list(cat_cells["file"]) + [Path(f).name for f in cat_err["file"]]
    assert sorted(in_catalog) == sorted(Path(p).name for p in ephys["path"])
    # cell ids come from the sheet, not from the file names
    sheet_ids = dict(zip([Path(p).name for p in ephys["path"]], ephys["cell_id"], strict=True))
    assert all(
        sheet_ids[f] == c for f, c in zip(cat_cells["file"], cat_cells["cell_id"], strict=True)
    )
    # the demo's two unreadable cells (voltage clamp, truncated) must be errors, not cells
    truth = pd.read_csv(study.parent / "ground_truth" / "ephys_cells.csv")
    bad = set(truth.loc[truth["qc_truth"].isin(["voltage_clamp", "corrupt"]), "cell_id"])
    assert bad and not bad & set(cat_cells["cell_id"])


def test_skinnerve_and_behaviour_outputs(run):
    study = run["study"]
    rec = pd.read_csv(study / "recordings.csv", dtype=str)
    results = study / "results"
    skin = rec[rec["modality"] == "skinnerve"]
    for day, rows in skin.groupby("date"):
        units = pd.read_csv(results / "skinnerve" / day / "units.csv")
        errors = pd.read_csv(results / "skinnerve" / day / "errors.csv")
        got = {Path(f).name for f in units.get("file", [])} | {Path(f).name for f in errors["file"]}
        assert got == {Path(p).name for p in rows["path"]}
    beh = rec[rec["modality"] == "behaviour"]
    for p in beh["path"]:
        stem = Path(p).stem
        trials = pd.read_csv(results / "behaviour" / "sheets" / stem / "trials.csv")
        sheet = pd.read_csv(study / p)
        # every row of the sheet is scored or listed as a problem in the sheet's errors.csv
        errors = pd.read_csv(results / "behaviour" / "sheets" / stem / "errors.csv")
        assert len(trials) + errors["row"].nunique() >= len(sheet) > 0
        assert (results / "logs" / "behaviour" / f"{stem}.log").is_file()
    md = _catalog(study, "SELECT DISTINCT mouse_id FROM behaviour_mouse_day")
    assert set(md["mouse_id"]) == set(beh["mouse_id"])


def test_comparisons_figures_and_logs(run):
    study = run["study"]
    results = study / "results"
    for comp in TEST_CONFIG["compare"]:
        stats = pd.read_csv(results / "compare" / comp["name"] / "stats.csv")
        assert set(stats["outcome"]) == set(comp["outcomes"])
        assert (results / "logs" / "compare" / f"{comp['name']}.log").is_file()
    # the compared rows are exactly the QC-passed cells of the catalog
    data = pd.read_csv(results / "compare" / "ephys_rheobase" / "data.csv")
    n_pass = _catalog(study, "SELECT count(*) AS n FROM ephys_cells WHERE qc_pass")["n"].iloc[0]
    assert len(data) == n_pass > 0
    stored = _catalog(study, "SELECT DISTINCT outcome FROM compare_stats")
    assert {"rheobase_pA", "rmp_mV", "value"} <= set(stored["outcome"])
    for name in ("ephys_rheobase", "hargreaves_day5"):
        for ext in ("pdf", "svg", "png"):
            assert (results / "figures" / f"{name}.{ext}").stat().st_size > 1000
    assert (results / "report" / "index.html").is_file()
    # DE per contrast (the demo's contrast: group,FMS,HC)
    de_dir = results / "rnaseq" / "de" / "group_FMS_vs_HC"
    assert (de_dir / "provenance.json").is_file()
    n_genes = len(pd.read_csv(study / "rnaseq" / "counts.csv"))
    stored = _catalog(study, "SELECT DISTINCT contrast FROM rnaseq_de_results")
    assert list(stored["contrast"]) == ["group_FMS_vs_HC"]
    assert 0 < len(pd.read_csv(de_dir / "de_results.csv")) <= n_genes


def test_dry_run_after_completion_schedules_nothing(run):
    res = snakemake(run["root"], run["config"], "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    assert job_counts(out) == {}
    assert "Nothing to be done" in out


def test_changed_day_reruns_only_that_day_and_downstream(run):
    study = run["study"]
    results = study / "results"
    rec = pd.read_csv(study / "recordings.csv", dtype=str)
    ephys = rec[rec["modality"] == "ephys_cc"]
    days = sorted(ephys["date"].unique())
    changed, other = days[-1], days[0]
    # a re-exported file: same name, new content time (as when a day is re-copied from the rig)
    target = study / ephys.loc[ephys["date"] == changed, "path"].iloc[0]
    os.utime(target)
    res = snakemake(run["root"], run["config"], "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr
    counts = job_counts(res.stdout + res.stderr)
    assert counts.get("ephys_day") == 1
    for rule in ("study_catalog", "skinnerve_day", "behaviour_sheet", "behaviour_study"):
        assert rule not in counts, counts
    # downstream of ephys only: its comparison input/stats and the figures
    assert counts.get("compare_input") == 1 and counts.get("compare") == 1
    assert f"day={changed}" in res.stdout + res.stderr
    assert f"day={other}" not in res.stdout + res.stderr
    before_other = (results / "ephys" / other / "cells.csv").stat().st_mtime_ns
    before_changed = (results / "ephys" / changed / "cells.csv").stat().st_mtime_ns
    before_beh = (results / "compare" / "hargreaves_day5" / "stats.csv").stat().st_mtime_ns
    res = snakemake(run["root"], run["config"], "--cores", "2")
    assert res.returncode == 0, res.stderr[-4000:]
    assert (results / "ephys" / other / "cells.csv").stat().st_mtime_ns == before_other
    assert (results / "ephys" / changed / "cells.csv").stat().st_mtime_ns > before_changed
    assert (results / "compare" / "hargreaves_day5" / "stats.csv").stat().st_mtime_ns == before_beh
    # the catalog still holds every ephys_cc recording once (the day's rows were replaced)
    n = len(_catalog(study, "SELECT file FROM ephys_cells")) + len(
        _catalog(study, "SELECT file FROM ephys_errors")
    )
    assert n == len(ephys)


def test_bad_config_fails_schema_validation(run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "study": str(run["study"]),
                "compare": [{"name": "rheobase by day", "table": "ephys_cells", "outcomes": []}],
            }
        )
    )
    res = snakemake(tmp_path, bad, "-n", "--cores", "1")
    assert res.returncode != 0
    msg = res.stdout + res.stderr
    assert "Error validating config file" in msg
    assert "'rheobase by day' does not match" in msg
    # an unknown key is refused, naming it
    bad.write_text(yaml.safe_dump({"study": str(run["study"]), "ephys": {"figure": True}}))
    res = snakemake(tmp_path, bad, "-n", "--cores", "1")
    assert res.returncode != 0 and "'figure' was unexpected" in res.stdout + res.stderr


def test_edited_sheet_row_reruns_only_its_day(run):
    """Last test of the module: it edits recordings.csv (and puts it back)."""
    study = run["study"]
    sheet = study / "recordings.csv"
    original = sheet.read_text()
    rec = pd.read_csv(sheet, dtype=str)
    ephys = rec[rec["modality"] == "ephys_cc"]
    day = sorted(ephys["date"].unique())[0]
    row = ephys.index[ephys["date"] == day][0]
    rec.loc[row, "cell_id"] = rec.loc[row, "cell_id"] + "_renamed"
    rec.to_csv(sheet, index=False)
    try:
        res = snakemake(run["root"], run["config"], "-n", "--cores", "2")
        assert res.returncode == 0, res.stderr
        out = res.stdout + res.stderr
        counts = job_counts(out)
        assert counts.get("ephys_day") == 1 and f"day={day}" in out, counts
        assert counts.get("study_catalog") == 1  # the sheets in the catalog are refreshed
        for rule in ("skinnerve_day", "behaviour_sheet", "behaviour_study"):
            assert rule not in counts, counts
    finally:
        sheet.write_text(original)
