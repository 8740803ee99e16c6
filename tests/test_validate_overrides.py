"""`fmslab study validate` checks the qc_overrides sheet: every problem with its row and column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmslab.cli import app
from fmslab.errors import InputError
from fmslab.study.validate import validate_study
from fmslab.study.validate_overrides import check_overrides

HEADER = "level,id,file,action,reason,reviewer,date\n"
#: Sheet rows (row 1 is the header) and what is wrong with each, worked out by reading them
#: against the sample study (cells M01_c1..M04_c1, mice M01..M04, four ABF recordings).
BAD = [
    ("cell,M02_c1,,exclude,seal lost,AB,2026-03-10", None),  # row 2: fine
    ("cell,M09_c1,,exclude,x,AB,2026-03-10", ("id", "unknown cell_id 'M09_c1'")),
    ("mouse,M03,,,,AB,2026-13-01", ("date", "'2026-13-01' is not a date")),
    ("neuron,M01_c1,,exclude,x,AB,2026-03-10", ("level", "level 'neuron' is not one of")),
    ("cell,M01_c1,,keep,x,AB,2026-03-10", ("action", "action 'keep' is not one of exclude")),
    ("cell,M03_c1,,exclude,x,,2026-03-10", ("reviewer", "required cell is empty")),
    ("cell,M02_c1,,exclude,again,CD,2026-03-11", ("id", "already at row 2")),
    ("unit,3,nope.abf,,merged,CD,2026-03-11", ("file", "file 'nope.abf' is not a recording")),
    ("unit,4,,,merged,CD,2026-03-11", ("id", "unknown unit_id '4'")),
    ("mouse,M01,,exclude,late,CD,2026-12-02", ("date", "is after today (2026-12-01)")),
]


def _sheet(study: Path, rows: list[str]) -> Path:
    path = study / "qc_overrides.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def test_every_problem_of_the_sheet_is_listed_with_its_row(sample_study: Path) -> None:
    _sheet(sample_study, [r for r, _ in BAD])
    got = check_overrides(sample_study, *_sheets(sample_study), today=date(2026, 12, 1))
    assert all(p.file == "qc_overrides.csv" and p.severity == "error" for p in got)
    found = {(p.row, p.column): p.reason for p in got}
    expected = {(i + 2, w[0]): w[1] for i, (_, w) in enumerate(BAD) if w is not None}
    expected[(4, "reason")] = "required cell is empty"  # row 4 also lacks its reason
    assert set(found) == set(expected)
    for where, text in expected.items():
        assert text in found[where], (where, found[where])


def _sheets(study: Path):
    from fmslab.study.sheets import read_sheet

    return read_sheet(study / "mice.csv"), read_sheet(study / "recordings.csv")


def test_a_unit_number_with_its_file_is_accepted(sample_study: Path) -> None:
    # unit numbers of one recording are known only to the analysis: with a known file, accepted
    _sheet(sample_study, ["unit,3,18711001.abf,,merged,CD,2026-03-11",
                          "mouse,M01,,exclude,injection failed,AB,2026-03-10"])  # fmt: skip
    assert check_overrides(sample_study, *_sheets(sample_study), today=date(2026, 12, 1)) == []


def test_study_validate_and_catalog_refuse_a_bad_sheet(sample_study: Path) -> None:
    from fmslab.study.catalog_study import catalog_study

    assert [p for p in validate_study(sample_study) if p.severity == "error"] == []
    _sheet(sample_study, ["cell,M02_c1,,exclude,seal lost,AB,2026-03-10",
                          "cell,M02_c1,,exclude,seal lost,AB,2026-03-10"])  # fmt: skip
    res = CliRunner().invoke(app, ["study", "validate", str(sample_study)])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "qc_overrides.csv" in text and "already at row 2" in text
    with pytest.raises(InputError, match="row 3, column 'id': the same decision"):
        catalog_study(sample_study, export=False)


def test_a_sheet_named_in_study_yaml_but_missing_is_an_error(sample_study: Path) -> None:
    yaml = sample_study / "study.yaml"
    yaml.write_text(yaml.read_text().replace("sheets:\n", "sheets:\n  qc_overrides: qc.csv\n"))
    got = [p for p in validate_study(sample_study) if p.severity == "error"]
    assert len(got) == 1 and "qc_overrides sheet named in study.yaml not found" in got[0].reason
