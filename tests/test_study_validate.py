"""Each kind of sheet error produces its specific message, with file, row and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import BROKEN_STUDY
from fmslab.study import load_study, unblind, validate_study
from fmslab.study.blinding import read_unblinding
from fmslab.study.validate import is_valid


def test_sample_study_is_valid(sample_study):
    problems = validate_study(sample_study)
    assert problems == []
    study = load_study(sample_study)
    assert list(study.mice["mouse_id"]) == ["M01", "M02", "M03", "M04"]
    assert study.mice["dose_mg"].dtype.kind == "f"
    assert study.recordings_of("ephys_cc")["abs_path"].map(lambda p: Path(p).is_file()).all()


# (file, spreadsheet row, column, text in the reason): one row per error seeded in sample_study_broken
EXPECTED_ERRORS = [
    ("donors.csv", 3, "donor_id", "duplicate donor_id 'D01' (first at row 2)"),
    ("donors.csv", 4, "age", "'forty' is not a number"),
    ("donors.csv", 5, "FIQR", "140 is above the maximum 100"),
    ("mice.csv", 3, "sex", "'X' is not a sex"),
    ("mice.csv", 4, "donor_id", "unknown donor 'D99'"),
    ("mice.csv", 5, "dose_mg", "'eight' is not a number"),
    ("mice.csv", 5, "treatment_code", "treatment_code 'T-Z' is absent from the unblinding key"),
    ("mice.csv", 6, "mouse_id", "required cell is empty"),
    ("mice.csv", 6, "injection_days", "'day one' is not a list of whole numbers"),
    ("mice.csv", 7, "mouse_id", "duplicate mouse_id 'M01' (first at row 2)"),
    ("mice.csv", 8, "donor_id", "mouse has neither donor_id nor treatment_code"),
    ("recordings.csv", 3, "path", "file not found: ../sample_study/ephys/missing_file.abf"),
    ("recordings.csv", 4, "mouse_id", "unknown mouse 'M99'"),
    ("recordings.csv", 5, "modality", "'patch' is not a modality"),
    ("recordings.csv", 6, "cell_id", "ephys_cc recordings need a cell_id"),
    ("recordings.csv", 7, "path", "duplicate path '../sample_study/ephys/File_axon_5.abf'"),
    ("recordings.csv", 8, "date", "'2018-13-45' is not a date"),
    ("recordings.csv", 8, "path", "duplicate path '../sample_study/ephys/18711001.abf'"),
    ("unblinding.csv", 3, "donor_id", "unknown donor 'D42'"),
]


def test_broken_study_reports_every_error_at_once():
    problems = validate_study(BROKEN_STUDY)
    errors = [p for p in problems if p.severity == "error"]
    found = {(p.file, p.row, p.column): p.reason for p in errors}
    for file, row, column, text in EXPECTED_ERRORS:
        assert (file, row, column) in found, f"missing {file} row {row} {column}: {text}"
        assert text in found[(file, row, column)]
    assert len(errors) == len(EXPECTED_ERRORS), [str(p) for p in errors]
    warnings = {(p.file, p.row) for p in problems if p.severity == "warning"}
    assert warnings == {("donors.csv", 4), ("donors.csv", 5)}  # donors without mice
    assert not is_valid(problems)


def _copy(tmp_path: Path, src: Path) -> Path:
    dest = tmp_path / "study"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("results", "ephys"))
    return dest


def test_missing_required_column_and_sheet(tmp_path, sample_study):
    mice = pd.read_csv(sample_study / "mice.csv").drop(columns="sex")
    mice.to_csv(sample_study / "mice.csv", index=False)
    (sample_study / "donors.csv").unlink()
    msgs = [str(p) for p in validate_study(sample_study)]
    assert "error: mice.csv, column 'sex': required column is missing" in msgs
    assert "error: donors.csv: file not found" in msgs


def test_missing_study_yaml_and_bad_yaml(tmp_path, sample_study):
    (sample_study / "study.yaml").write_text("name: [unclosed\n")
    (problem,) = validate_study(sample_study)
    assert problem.file.endswith("study.yaml") and "not valid YAML" in problem.reason
    (sample_study / "study.yaml").write_text("name: x\nshets: {}\n")
    (problem,) = validate_study(sample_study)
    assert "unknown key(s) shets" in problem.reason
    (sample_study / "study.yaml").unlink()
    (problem,) = validate_study(sample_study)
    assert "no study.yaml" in problem.reason


def test_xlsx_sheets_are_read_like_csv(sample_study):
    for name in ("donors", "mice", "recordings"):
        df = pd.read_csv(sample_study / f"{name}.csv", dtype=str)
        df.to_excel(sample_study / f"{name}.xlsx", index=False)
        (sample_study / f"{name}.csv").unlink()
    text = (
        (sample_study / "study.yaml")
        .read_text()
        .replace(".csv", ".xlsx")
        .replace("unblinding.xlsx", "unblinding.csv")
    )
    (sample_study / "study.yaml").write_text(text)
    assert validate_study(sample_study) == []
    assert load_study(sample_study).mice["injection_days"].iloc[0] == "0,1,2,3"


def test_unblinding_outside_the_study_and_missing_key_warns(tmp_path, sample_study):
    key = tmp_path / "keys" / "key.csv"
    key.parent.mkdir()
    (sample_study / "unblinding.csv").rename(key)
    text = (sample_study / "study.yaml").read_text().replace("unblinding: unblinding.csv\n", "")
    (sample_study / "study.yaml").write_text(text)
    (warning,) = validate_study(sample_study)
    assert warning.severity == "warning" and "no unblinding key" in warning.reason
    assert validate_study(sample_study, unblinding=key) == []


def test_unblind_joins_groups_and_refuses_unknown_codes(sample_study):
    key = read_unblinding(sample_study / "unblinding.csv")
    mice = load_study(sample_study).mice
    out = unblind(mice, key)
    assert dict(zip(out["mouse_id"], out["group"], strict=True)) == {
        "M01": "FMS", "M02": "FMS", "M03": "HC", "M04": "HC",
    }  # fmt: skip
    assert "group" not in mice.columns  # the input is not modified
    bad = mice.assign(treatment_code=["T-A", "T-A", "T-B", "T-Q"])
    with pytest.raises(Exception, match="T-Q"):
        unblind(bad, key)
