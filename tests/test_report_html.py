"""The HTML study report built from the real sample study, checked against the catalog and the files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import REPO, SAMPLE_STUDY
from fmslab.cli import app
from fmslab.report import build_report
from fmslab.report.html import esc, format_value
from report_study import analysed_sample_study, copy_sample_study, parse_page, run_cli, runner


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return analysed_sample_study(tmp_path_factory)


@pytest.fixture(scope="module")
def report(study: Path):
    res = build_report(study)
    return res, parse_page(res.index)


def catalog(study: Path, name: str) -> pd.DataFrame:
    con = duckdb.connect(str(study / "results" / "fmslab.duckdb"), read_only=True)
    try:
        return con.execute(f'SELECT * FROM "{name}"').df()
    finally:
        con.close()


def text_of(page) -> str:
    return " ".join(" ".join(page.text).split())


def test_default_location_and_outputs(study, report):
    res, _ = report
    assert res.index == study / "results" / "report" / "index.html"
    prov = json.loads((res.out_dir / "provenance.json").read_text())
    assert prov["command"] == "report" and prov["status"] == "ok"
    # the catalog's hash, computed here independently
    db = study / "results" / "fmslab.duckdb"
    cat_input = next(i for i in prov["inputs"] if i["path"] == str(db.resolve()))
    assert cat_input["sha256"] == hashlib.sha256(db.read_bytes()).hexdigest()
    assert "index.html" in prov["outputs"]


def test_self_contained(report):
    res, page = report
    html = res.index.read_text()
    # inline CSS and JS only: no external stylesheet, script or image source
    assert all("src" not in s for s in page.scripts) and len(page.scripts) == 1
    assert all(link.get("rel") != "stylesheet" for link in page.links)
    assert all(link.get("href", "").startswith("data:") for link in page.links)
    assert page.images and all(i["src"].startswith("data:image/") for i in page.images)
    assert "http://" not in html and "https://" not in html
    # the only relative links are the CSV files written beside the page
    for a in page.anchors:
        href = a["href"]
        assert href.startswith("#") or (res.out_dir / href).is_file(), href


def test_overview_counts_match_the_sheets(report):
    _, page = report
    text = text_of(page)
    donors = pd.read_csv(SAMPLE_STUDY / "donors.csv")
    mice = pd.read_csv(SAMPLE_STUDY / "mice.csv")
    recs = pd.read_csv(SAMPLE_STUDY / "recordings.csv")
    assert f"{len(donors)} donors" in text and f"{len(mice)} mice" in text
    assert f"{len(recs)} recordings" in text
    n_cc = int((recs["modality"] == "ephys_cc").sum())
    assert f"{n_cc} ephys_cc recordings" in text and "0 skinnerve recordings" in text
    assert "fmslab sample study" in text
    assert page.tables["tbl-mice"].column("mouse_id") == mice["mouse_id"].tolist()
    assert page.tables["tbl-recordings"].column("path") == recs["path"].tolist()


def test_blinded(report):
    _, page = report
    text = text_of(page)
    key = pd.read_csv(SAMPLE_STUDY / "unblinding.csv")
    # the key's groups (FMS, HC) and the donors' clinical column never reach the visible page
    for group in key["group"]:
        assert f" {group} " not in f" {text} "
    assert "fibromyalgia" not in text
    assert "No comparisons have been run" in text
    assert "Blinded: no catalog table carries group labels" in text
    assert "Blinded. No group comparison has been run" in text
    assert "tbl-compare_stats" not in page.tables


def test_ephys_tables_match_catalog(study, report):
    _, page = report
    for name in ("ephys_cells", "ephys_sweeps"):
        cat = catalog(study, name)
        tab = page.tables[f"tbl-{name}"]
        assert tab.headers == list(cat.columns)
        assert len(tab.rows) == len(cat) == tab.n_rows_attr
    cat = catalog(study, "ephys_cells")
    tab = page.tables["tbl-ephys_cells"]
    assert tab.column("cell_id") == cat["cell_id"].tolist()
    # floats: the sort value is the exact float, the text its 4-significant-digit rounding
    for col in ("rheobase_pA", "rin_MOhm", "rmp_mV"):
        for raw, shown, want in zip(tab.raw_column(col), tab.column(col), cat[col], strict=True):
            if pd.isna(want):
                assert raw is None and shown == ""
            else:
                assert float(raw) == want
                assert abs(float(shown) - want) <= 5e-4 * abs(want) + 1e-12
    # spot check against the CLI's printed table (File_axon_5 rheobase 200 pA, 18711001 70 pA)
    rheo = dict(zip(tab.column("file"), tab.column("rheobase_pA"), strict=True))
    assert rheo["File_axon_5.abf"] == "200" and rheo["18711001.abf"] == "70"


def test_qc_section(study, report):
    _, page = report
    text = text_of(page)
    cells = catalog(study, "ephys_cells")
    sweeps = catalog(study, "ephys_sweeps")
    n_pass, s_pass = int(cells["qc_pass"].sum()), int(sweeps["qc_pass"].sum())
    assert f"{n_pass} cells passed QC" in text
    assert f"{len(cells) - n_pass} cells failed QC" in text
    assert f"{s_pass} sweeps passed QC" in text
    assert f"{len(sweeps) - s_pass} sweeps failed QC" in text
    failed = cells[~cells["qc_pass"]]
    tab = page.tables["tbl-ephys_qc_failed_cells"]
    assert tab.column("cell_id") == failed["cell_id"].tolist()
    assert tab.column("qc_reasons") == failed["qc_reasons"].tolist()
    assert "passed validation (0 problems)" in text
    summary = page.tables["tbl-errors_summary"]
    assert summary.column("source") == ["catalog: ephys_errors"]
    assert summary.column("failures") == [str(len(catalog(study, "ephys_errors")))]


def test_missing_modalities_say_not_analysed(report):
    _, page = report
    text = text_of(page)
    for title in ("Skin-nerve", "Behaviour", "RNA-seq"):
        assert f"{title}: not analysed." in text


def test_figures_are_the_ephys_pngs(study, report):
    _, page = report
    pngs = sorted((study / "results" / "ephys" / "figures").glob("*.png"))
    assert len(pngs) == 4
    embedded = {
        i["alt"]: base64.b64decode(i["src"].split(",", 1)[1])
        for i in page.images
        if i["src"].startswith("data:image/png;base64,") and i["alt"].startswith("ephys/")
    }
    assert {f"ephys/figures/{p.name}" for p in pngs} == set(embedded)
    for p in pngs:
        assert embedded[f"ephys/figures/{p.name}"] == p.read_bytes()


def test_provenance_runs_and_input_hashes(study, report):
    _, page = report
    runs = catalog(study, "runs")
    tab = page.tables["tbl-runs"]
    assert sorted(tab.column("run_id")) == sorted(runs["run_id"])
    assert set(tab.column("command")) == {"study catalog", "ephys analyze"}
    assert set(tab.column("status")) == {"ok"}
    assert len(tab.column("versions")[0]) > 0
    inputs = page.tables["tbl-inputs"]
    shas = dict(zip(inputs.column("path"), inputs.column("sha256"), strict=True))
    # hashes of the raw files computed here, independently of fmslab
    for rel in ("ephys/File_axon_5.abf", "ephys/18711001.abf", "mice.csv"):
        assert shas[rel] == hashlib.sha256((study / rel).read_bytes()).hexdigest()
    versions = page.tables["tbl-report_versions"]
    assert "fmslab" in versions.column("package")


def test_truncation_links_full_csv(study, tmp_path):
    res = build_report(study, tmp_path / "rep", max_rows=10, max_figures=1)
    page = parse_page(res.index)
    tab = page.tables["tbl-ephys_sweeps"]
    cat = catalog(study, "ephys_sweeps")
    assert len(tab.rows) == 10 and tab.n_rows_attr == len(cat) == 52
    assert f"{len(cat)} rows; only the first 10 are shown; full table" in text_of(page)
    full = pd.read_csv(tmp_path / "rep" / "tables" / "ephys_sweeps.csv")
    assert len(full) == len(cat)
    assert full["stim_pA"].tolist() == cat["stim_pA"].tolist()
    assert res.n_figures == 1 and "the first 1 are shown" in text_of(page)


def test_sheet_values_are_escaped(tmp_path):
    study = copy_sample_study(tmp_path / "s")
    evil = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>&amp;'
    mice = pd.read_csv(study / "mice.csv")
    mice.loc[0, "strain"] = evil
    mice.to_csv(study / "mice.csv", index=False)
    run_cli("study", "catalog", str(study))
    res = build_report(study)
    html = res.index.read_text()
    page = parse_page(res.index)
    assert len(page.scripts) == 1 and len(page.images) == 0
    assert esc(evil) in html and evil not in html
    assert page.tables["tbl-mice"].column("strain")[0] == evil


def test_failed_file_listed_with_reason(study, tmp_path, abf_dir):
    """A real voltage-clamp ABF added to the study is refused by the ephys analysis; the report's QC
    section lists it with the analysis' reason, as stored in the catalog's ephys_errors."""
    s3 = tmp_path / "s3"
    shutil.copytree(study, s3, ignore=shutil.ignore_patterns("report", "*.lock"))
    shutil.copy(abf_dir / "17o05024_vc_steps.abf", s3 / "ephys" / "17o05024_vc_steps.abf")
    with open(s3 / "recordings.csv", "a") as fh:
        fh.write("ephys/17o05024_vc_steps.abf,ephys_cc,M04,M04_c2,2017-10-05,steps\n")
    run_cli("study", "catalog", str(s3))
    run_cli(
        "ephys", "analyze", "--study", str(s3), "--jobs", "1", "--no-figures", "--allow-failures"
    )
    errors = catalog(s3, "ephys_errors")
    assert errors["file"].tolist() == ["17o05024_vc_steps.abf"]
    page = parse_page(build_report(s3).index)
    text = text_of(page)
    assert "1 failure(s) recorded by the analyses" in text
    tab = page.tables["tbl-ephys_errors"]
    assert tab.column("file") == ["17o05024_vc_steps.abf"]
    assert tab.column("message") == errors["message"].tolist()
    assert "voltage" in tab.column("message")[0].lower()
    assert page.tables["tbl-errors_summary"].column("failures") == ["1"]


def test_compare_stats_shown_when_comparisons_ran(study, tmp_path):
    s2 = tmp_path / "s2"
    shutil.copytree(study, s2, ignore=shutil.ignore_patterns("report", "*.lock"))
    run_cli(
        "compare", "ephys_cells", "--study", str(s2), "-o", "rmp_mV",
        "--levels", "mouse", "--n-boot", "200", "--out", str(s2 / "results" / "compare"),
    )  # fmt: skip
    # an SVG figure (matplotlib's) under results/figures/ and a PNG in a hidden folder
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    svg = s2 / "results" / "figures" / "fig1.svg"
    svg.parent.mkdir(parents=True)
    fig.savefig(svg, format="svg")
    plt.close(fig)
    hidden = s2 / "results" / "ephys" / ".cache" / "x.png"
    shutil.copy(next((s2 / "results" / "ephys" / "figures").glob("*.png")), hidden)
    res = build_report(s2)
    page = parse_page(res.index)
    svgs = [i for i in page.images if i["src"].startswith("data:image/svg+xml;base64,")]
    assert [i["alt"] for i in svgs] == ["figures/fig1.svg"]
    assert base64.b64decode(svgs[0]["src"].split(",", 1)[1]) == svg.read_bytes()
    files = [i for i in page.images if i["alt"].startswith(("ephys/", "figures/"))]
    assert len(files) == 5  # 4 ephys PNGs + the SVG; the hidden copy is not embedded
    cat = catalog(s2, "compare_stats")
    tab = page.tables["tbl-compare_stats"]
    assert tab.headers == list(cat.columns) and len(tab.rows) == len(cat) >= 1
    assert tab.column("outcome") == cat["outcome"].tolist()
    text = text_of(page)
    assert "No comparisons have been run" not in text
    # compare_stats names the groups (FMS vs HC from the key) and the page says where they come from
    assert "Group labels from the unblinding key appear in: compare_stats" in text


def test_format_value():
    assert format_value(float("nan")) == ("", None, False)
    assert format_value(None) == ("", None, False)
    assert format_value(163.670959) == ("163.7", "163.670959", True)
    assert format_value(20000.0) == ("20000", "20000.0", True)
    assert format_value(123456.7) == ("123457", "123456.7", True)
    assert format_value(True) == ("True", None, False)
    assert format_value(7) == ("7", None, True)


def test_cli(study, tmp_path):
    out = tmp_path / "cli_report"
    result = runner.invoke(app, ["-q", "report", str(study), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file() and (out / "tables" / "ephys_cells.csv").is_file()
    empty = tmp_path / "no_catalog"
    empty.mkdir()
    # through the real entry point: a user error is one line and exit code 2
    proc = subprocess.run(
        [sys.executable, "-m", "fmslab", "report", str(empty)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == 2, proc.stderr
    assert "no catalog" in proc.stderr and "fmslab study catalog" in proc.stderr
