"""The named stages of reading a behaviour sheet and resolving mice, each on a few rows of the
test sheets (tests/data/behaviour, README there) and the sample study's mice sheet and key.

Expected values are read off the rows by hand (quoted in the comments)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest

from fmslab.behaviour.pipeline import (
    fill_from_study,
    join_key,
    mice_from_trials,
    missing_groups,
    resolve_mice,
)
from fmslab.behaviour.sheet import (
    Cutoff,
    Problem,
    Reading,
    RowProblem,
    TrialKey,
    check_meta,
    drop_duplicate_trials,
    number_trials,
    parse_cutoff,
    parse_reading,
    parse_trial_key,
    read_sheet_table,
    unscore_dropped_tests,
)
from fmslab.errors import InputError
from fmslab.study import load_study
from fmslab.study.blinding import read_unblinding

DATA = Path(__file__).parent / "data" / "behaviour"
STUDY = Path(__file__).resolve().parents[1] / "sample_recordings" / "sample_study"


@pytest.fixture(scope="module")
def vf() -> pd.DataFrame:
    return read_sheet_table(DATA / "vonfrey_passive_transfer.csv")


@pytest.fixture(scope="module")
def other() -> pd.DataFrame:
    return read_sheet_table(DATA / "other_assays.csv")


def _row(df: pd.DataFrame, sheet_row: int) -> pd.Series:
    return df.iloc[sheet_row - 2]  # sheet row 2 is the first data row


def test_read_sheet_table_refuses_a_sheet_without_required_columns():
    with pytest.raises(InputError, match="required column.*assay"):
        read_sheet_table(DATA / "broken_no_assay_column.csv")


def test_trial_key_of_good_rows(vf, other):
    # row 2: M01,-1,vonfrey,left,1
    assert parse_trial_key(_row(vf, 2), vf.columns) == TrialKey("M01", -1.0, "vonfrey", "left", 1)
    # row 29: M04,7,"tail flick",tail,1 -> the assay's canonical name
    assert parse_trial_key(_row(other, 29), other.columns).assay == "tail_flick"
    # no trial column: trial left for number_trials
    no_trial = vf.drop(columns="trial")
    assert parse_trial_key(_row(no_trial, 2), no_trial.columns).trial is None


def test_trial_key_problems(other):
    # row 46: M02,x,hargreaves -> day; row 44: hot_plate -> unknown assay
    assert parse_trial_key(_row(other, 46), other.columns) == RowProblem(
        "day", "day 'x' is not a number"
    )
    bad = parse_trial_key(_row(other, 44), other.columns)
    assert bad.column == "assay" and bad.reason.startswith("unknown assay 'hot_plate'")
    empty = _row(other, 2).copy()
    empty["mouse_id"] = pd.NA
    assert parse_trial_key(empty, other.columns) == RowProblem("mouse_id", "required cell is empty")
    half = _row(other, 2).copy()
    half["trial"] = "1.5"
    assert parse_trial_key(half, other.columns).column == "trial"


def test_cutoff_from_the_row_or_the_assay(other):
    # row 27: cold plate with its own 30 s cut-off; row 2: Hargreaves without one (default 20 s)
    assert parse_cutoff(_row(other, 27), other.columns, 60.0) == Cutoff(30.0, "row")
    assert parse_cutoff(_row(other, 2), other.columns, 20.0) == Cutoff(20.0, "default")
    neg = _row(other, 27).copy()
    neg["cutoff"] = "-5"
    assert parse_cutoff(neg, other.columns, 60.0).column == "cutoff"


def test_reading_of_each_kind(other):
    # row 2: Hargreaves latency 10.0 s; row 30: Randall-Selitto 142 g; row 42: locomotor
    # 2450 cm in 600 s; row 45: latency "n/a" is a problem
    assert parse_reading(_row(other, 2), other.columns, "hargreaves") == Reading("latency_s", 10.0)
    assert parse_reading(_row(other, 30), other.columns, "randall_selitto") == Reading(
        "force_g", 142.0
    )
    assert parse_reading(_row(other, 42), other.columns, "locomotor") == Reading(
        "distance_cm", 2450.0, 600.0
    )
    bad = parse_reading(_row(other, 45), other.columns, "tail_flick")
    assert isinstance(bad, RowProblem) and bad.column == "latency_s"


def _trials(rows: list[tuple]) -> pd.DataFrame:
    cols = ["row", "mouse_id", "day", "assay", "side", "trial"]
    return pd.DataFrame(rows, columns=cols)


def test_number_trials_in_sheet_order():
    t = _trials(
        [
            (2, "M01", -1.0, "hargreaves", "left", 1),
            (3, "M01", -1.0, "hargreaves", "left", 1),
            (4, "M01", -1.0, "hargreaves", "right", 1),
            (5, "M01", -1.0, "hargreaves", "left", 1),
        ]
    )
    assert number_trials(t)["trial"].tolist() == [1, 2, 1, 3]
    assert t["trial"].tolist() == [1, 1, 1, 1]  # the input is not changed


def test_duplicates_are_all_dropped_and_each_names_the_other(vf):
    # rows 18 and 19 of the von Frey sheet: M04, day 14, left, trial 1 twice
    t = _trials([(r, "M04", 14.0, "vonfrey", "left", 1) for r in (18, 19)])
    t = pd.concat([t, _trials([(17, "M03", 14.0, "vonfrey", "left", 1)])], ignore_index=True)
    kept, problems = drop_duplicate_trials(t, "vf.csv")
    assert kept["row"].tolist() == [17]
    assert [(p.row, p.reason.split(" (")[0]) for p in problems] == [
        (18, "duplicate of row(s) 19"),
        (19, "duplicate of row(s) 18"),
    ]


def test_check_meta_flags_a_mouse_with_two_codes():
    t = _trials([(2, "M01", -1.0, "vonfrey", "left", 1), (3, "M01", 3.0, "vonfrey", "left", 1)])
    t["treatment_code"] = ["T-A", "T-B"]
    assert check_meta(t, ["treatment_code"], "s.csv") == [
        Problem(
            "s.csv", 2, "treatment_code", "mouse M01 has several treatment_code values: T-A, T-B"
        )
    ]


def test_unscore_dropped_tests_returns_a_new_frame():
    vonfrey = pd.DataFrame({"row": [17, 18], "threshold_g": [0.6, 0.4], "flag": ["", "at_max"]})
    out = unscore_dropped_tests(vonfrey, {17})
    assert out["flag"].tolist() == ["", "at_max;duplicate_row"]
    assert out["threshold_g"].iloc[0] == 0.6 and math.isnan(out["threshold_g"].iloc[1])
    assert vonfrey["flag"].tolist() == ["", "at_max"]  # no output parameter


# ---- resolving mice: sample study mice.csv (M01/M02 T-A, M03/M04 T-B), key T-A FMS D01, T-B HC D02


@pytest.fixture(scope="module")
def study():
    return load_study(STUDY)


def _meta(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["mouse_id", "group", "treatment_code", "donor_id"])


def test_mice_from_trials_refuses_contradicting_sheets():
    trials = _meta(
        [("M01", None, "T-A", None), ("M01", None, "T-B", None), ("M02", None, None, None)]
    )
    stage = mice_from_trials(trials)
    assert stage.mice["mouse_id"].tolist() == ["M01", "M02"]
    assert stage.mice["treatment_code"].isna().all()
    assert [p.reason for p in stage.problems] == [
        "mouse M01 has several treatment_code values across sheets"
    ]


def test_fill_from_study(study):
    mice = _meta([("M01", None, None, None), ("M03", None, "T-A", None), ("M09", None, None, None)])
    stage = fill_from_study(mice, study.mice, "mice.csv")
    assert stage.mice.set_index("mouse_id").loc["M01", "treatment_code"] == "T-A"
    assert [p.reason for p in stage.problems] == [
        "mouse M03: sheets say treatment_code T-A, the study says T-B",
        "mouse M09 of the behaviour sheets is not in the study's mice sheet",
    ]
    assert mice["treatment_code"].isna().iloc[0]  # the input is not changed


def test_join_key(study):
    key = read_unblinding(STUDY / "unblinding.csv")
    mice = _meta(
        [("M01", None, "T-A", None), ("M03", "FMS", "T-B", None), ("M05", None, "T-Z", None)]
    )
    stage = join_key(mice, key, "unblinding.csv")
    got = stage.mice.set_index("mouse_id")
    assert (got.loc["M01", "group"], got.loc["M01", "donor_id"]) == ("FMS", "D01")
    assert got.loc["M03", "group"] is None  # the sheet said FMS, the key says HC
    assert got.loc["M03", "donor_id"] == "D02"
    assert stage.n_keyed == 2
    assert [p.column for p in stage.problems] == ["treatment_code", "group"]


def test_missing_groups():
    assert missing_groups(_meta([("M01", None, "T-A", None)])) == []  # nobody has a group
    assert [
        p.reason
        for p in missing_groups(_meta([("M01", "FMS", None, None), ("M02", None, None, None)]))
    ] == ["mouse M02 has no group: left out of the statistics"]


def test_resolve_mice_on_the_sample_study(study):
    trials = _meta([(m, None, None, None) for m in ("M01", "M02", "M03", "M04")])
    res = resolve_mice(trials, study=study)
    assert res.group_source == "unblinding key unblinding.csv"
    assert res.mice.set_index("mouse_id")["group"].to_dict() == {
        "M01": "FMS", "M02": "FMS", "M03": "HC", "M04": "HC"
    }  # fmt: skip
    assert res.problems == []
    blind = resolve_mice(trials, study=dataclasses.replace(study, unblinding_path=None))
    assert blind.group_source == "treatment_code (blinded: groups are codes)"
    assert blind.mice["group"].tolist() == ["T-A", "T-A", "T-B", "T-B"]
