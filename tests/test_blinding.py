"""Blinding holds until the comparison step.

The trial study (sample study with its blinded donors sheet, a behaviour sheet and a skin-nerve
recording) goes through every step that comes before a comparison: ``study catalog``, ephys,
skin-nerve and (blind) behaviour analysis, the report. No output file (tables, provenance, figures'
source data, the report) and no catalog table may then contain a group label of the unblinding key,
and the report may not show the donors' clinical columns. After the comparison the labels appear
(so the scan is not blind to them).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import kill_harness as kh

WORDS = re.compile(r"[A-Za-z0-9]+")
DATA_URI = re.compile(r"data:[A-Za-z/+.-]+;base64,[A-Za-z0-9+/=]+")
CLINICAL = ("FIQR", "pain_score", "diagnosis", "fibromyalgia")
TEXT_SUFFIXES = {".csv", ".json", ".html", ".htm", ".txt", ".yaml", ".svg", ".md", ".js"}


def _labels(study: Path) -> set[str]:
    return set(pd.read_csv(study / "unblinding.csv", dtype=str)["group"])


def _leaks_in_files(results: Path, labels: set[str]) -> list[str]:
    found = []
    for p in sorted(results.rglob("*")):
        if not p.is_file() or "fmslab.duckdb" in p.name or p.name.startswith("."):
            continue
        if p.suffix.lower() in TEXT_SUFFIXES:
            text = DATA_URI.sub(" ", p.read_text(encoding="utf-8", errors="replace"))
        elif p.suffix.lower() == ".parquet":
            text = pd.read_parquet(p).to_csv(index=False)
        else:
            continue  # PNG/PDF: their source data are the CSVs beside them
        hits = labels & set(WORDS.findall(text))
        if hits:
            found.append(f"{p.relative_to(results)}: {sorted(hits)}")
    return found


def _leaks_in_catalog(db: Path, labels: set[str]) -> list[str]:
    found = []
    with duckdb.connect(str(db), read_only=True) as con:
        for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            text = con.execute(f'SELECT * FROM "{name}"').df().to_csv(index=False)
            hits = labels & set(WORDS.findall(text))
            if hits:
                found.append(f"{name}: {sorted(hits)}")
    return found


@pytest.fixture(scope="module")
def blinded_run(tmp_path_factory):
    from fmslab.behaviour import run as behaviour_run
    from fmslab.ephys import run as ephys_run
    from fmslab.report import build_report
    from fmslab.skinnerve import run as skinnerve_run
    from fmslab.study.catalog_study import catalog_study

    study = kh.build_study(tmp_path_factory.mktemp("blind") / "study")
    catalog_study(study)
    ephys_run(study=study, n_jobs=1, figures=False)
    skinnerve_run(study=study, n_jobs=1)
    behaviour_run(study=study, blind=True)
    build_report(study, study / "results" / "report")
    return study


def test_nothing_before_the_comparison_carries_a_group_label(blinded_run):
    study = blinded_run
    labels = _labels(study)
    assert labels == {"FMS", "HC"}
    assert _leaks_in_files(study / "results", labels) == []
    assert _leaks_in_catalog(study / "results" / "fmslab.duckdb", labels) == []
    # the analyses did run and did write what the scan looked at
    assert (study / "results" / "ephys" / "cells.csv").is_file()
    assert (study / "results" / "behaviour" / "vonfrey.csv").is_file()
    assert any((study / "results" / "report").rglob("*.html"))


def test_report_shows_no_donor_clinical_columns_before_unblinding(blinded_run):
    html = " ".join(
        DATA_URI.sub(" ", p.read_text(encoding="utf-8"))
        for p in (blinded_run / "results" / "report").rglob("*.html")
    )
    shown = [c for c in CLINICAL if c in html]
    assert shown == [], shown


def test_the_comparison_step_is_where_labels_appear(blinded_run, tmp_path):
    """The scan finds labels once the key is joined: it is not blind to them."""
    from fmslab.compare import run as compare_run

    compare_run(
        "ephys_cells",
        outcomes=["rmp_mV"],
        out=tmp_path / "cmp",
        study=blinded_run,
        n_boot=50,
        reference="HC",
    )
    labels = _labels(blinded_run)
    assert _leaks_in_files(tmp_path, labels)  # data.csv/stats.csv carry FMS and HC now
