"""The analyses honour the study's qc_overrides: excluded rows are kept and marked, left out of
every statistic, and the decisions are kept with the run in the catalog.

References are independent runs on the same inputs with the excluded rows removed by hand, and
means worked out with pandas from the analysis' own table (plain arithmetic: 1e-9).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fmslab.catalog import connect, read_table
from fmslab.cli import app

runner = CliRunner()
HEADER = "level,id,file,action,reason,reviewer,date\n"


def _overrides(study: Path, body: str) -> Path:
    path = study / "qc_overrides.csv"
    path.write_text(HEADER + body)
    return path


def _last_run(db: Path, command: str) -> tuple[dict, pd.DataFrame]:
    with connect(db, read_only=True) as con:
        runs = read_table(con, "runs")
        inputs = read_table(con, "inputs")
    run = runs[runs["command"] == command].iloc[-1]
    return json.loads(run["parameters"]), inputs[inputs["run_id"] == run["run_id"]]


def _compare(args: list[str], out: Path) -> pd.DataFrame:
    res = runner.invoke(
        app, ["-q", "compare", *args, "-o", "rmp_mV", "--out", str(out), "--n-boot", "200",
              "--reference", "HC"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return pd.read_csv(out / "stats.csv")


def test_ephys_run_marks_the_excluded_cell_and_compare_leaves_it_out(
    sample_study: Path, tmp_path: Path
) -> None:
    sheet = _overrides(sample_study, "cell,M02_c1,,exclude,seal lost,AB,2026-03-10\n")
    res = runner.invoke(app, ["-q", "ephys", "analyze", "--study", str(sample_study),
                              "--no-figures", "--jobs", "1", "--allow-failures"])  # fmt: skip
    assert res.exit_code == 0, res.output
    cells = pd.read_csv(sample_study / "results" / "ephys" / "cells.csv")
    # every cell is kept (the raw result stays visible); only M02_c1 is marked, with the decision
    assert len(cells) == 4
    marked = cells.set_index("cell_id")
    assert marked["excluded"].tolist() == [False, True, False, False]
    assert marked.at["M02_c1", "exclusion_reason"] == "cell M02_c1: seal lost (AB, 2026-03-10)"
    assert marked["exclusion_reason"].drop("M02_c1").isna().all()
    db = sample_study / "results" / "fmslab.duckdb"
    with connect(db, read_only=True) as con:
        stored = read_table(con, "ephys_cells").set_index("cell_id")
    assert stored["excluded"].to_dict() == marked["excluded"].to_dict()
    params, inputs = _last_run(db, "ephys analyze")
    decisions = params["qc_overrides"]["decisions"]
    assert [(d["id"], d["reason"], d["reviewer"]) for d in decisions] == [
        ("M02_c1", "seal lost", "AB")
    ]
    assert str(sheet.resolve()) in set(inputs["path"])

    # compare on the catalog table: M02_c1 (FMS, code T-A) is left out before the statistics.
    # By hand from the analysis' own numbers: FMS = M01 alone, HC = mean of M03 and M04.
    got = _compare(["ephys_cells", "--study", str(sample_study)], tmp_path / "cmp")
    lmm = got[got["model"] == "lmm"].iloc[0]
    rmp = marked["rmp_mV"]
    by_hand = rmp["M01_c1"] - (rmp["M03_c1"] + rmp["M04_c1"]) / 2
    assert (lmm["n_obs_trt"], lmm["n_obs_ref"]) == (1, 2)
    assert lmm["estimate"] == pytest.approx(by_hand, abs=1e-9)
    excluded = pd.read_csv(tmp_path / "cmp" / "excluded.csv")
    assert excluded[["cell_id", "reason"]].values.tolist() == [["M02_c1", "seal lost"]]

    # the same table compared without its study: the analysis' marks are honoured, and the
    # statistics equal those of the table with the cell removed by hand
    groups = {"M01": ("FMS", "D01"), "M02": ("FMS", "D01"), "M03": ("HC", "D02"),
              "M04": ("HC", "D02")}  # fmt: skip
    table = cells.assign(
        group=cells["mouse_id"].map(lambda m: groups[m][0]),
        donor_id=cells["mouse_id"].map(lambda m: groups[m][1]),
    )
    table.to_csv(tmp_path / "marked.csv", index=False)
    table[~table["excluded"]].drop(columns=["excluded", "exclusion_reason"]).to_csv(
        tmp_path / "by_hand.csv", index=False
    )
    a = _compare([str(tmp_path / "marked.csv")], tmp_path / "marked")
    b = _compare([str(tmp_path / "by_hand.csv")], tmp_path / "by_hand")
    cols = ["model", "n_obs_ref", "n_obs_trt", "estimate", "ci_low", "ci_high", "p"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a.loc[a["model"] == "lmm", "estimate"].item() == pytest.approx(by_hand, abs=1e-9)
    assert pd.read_csv(tmp_path / "marked" / "excluded.csv")["cell_id"].tolist() == ["M02_c1"]


def test_withdrawn_decision_no_longer_excludes_with_the_study(
    sample_study: Path, tmp_path: Path
) -> None:
    """The study's current sheet decides: a mark left by an earlier run does not exclude."""
    cells = pd.DataFrame(
        {"file": ["a.abf", "b.abf", "c.abf", "d.abf"], "cell_id": ["c1", "c2", "c3", "c4"],
         "mouse_id": ["M01", "M02", "M03", "M04"], "rmp_mV": [-70.0, -60.0, -65.0, -50.0],
         "excluded": [False, True, False, False]}
    )  # fmt: skip
    cells.to_csv(tmp_path / "cells.csv", index=False)
    got = _compare([str(tmp_path / "cells.csv"), "--study", str(sample_study)], tmp_path / "c")
    lmm = got[got["model"] == "lmm"].iloc[0]
    # no qc_overrides sheet: all four cells; FMS mean -65, HC mean -57.5 -> -7.5
    assert (lmm["n_obs_trt"], lmm["n_obs_ref"]) == (2, 2)
    assert lmm["estimate"] == pytest.approx(-7.5, abs=1e-9)


def test_a_catalog_table_made_before_the_columns_gets_them(sample_study: Path) -> None:
    from fmslab.ephys import run

    run(study=sample_study, figures=False, n_jobs=1)
    db = sample_study / "results" / "fmslab.duckdb"
    with connect(db) as con:  # a catalog written before excluded/exclusion_reason were declared
        con.execute('ALTER TABLE ephys_cells DROP COLUMN "excluded"')
        con.execute('ALTER TABLE ephys_cells DROP COLUMN "exclusion_reason"')
    _overrides(sample_study, "mouse,M04,,exclude,injection failed,CD,2026-03-11\n")
    run(study=sample_study, figures=False, n_jobs=1)
    with connect(db, read_only=True) as con:
        stored = read_table(con, "ephys_cells").set_index("mouse_id")
    assert stored["excluded"].to_dict() == {"M01": False, "M02": False, "M03": False, "M04": True}
    assert stored.at["M04", "exclusion_reason"] == "mouse M04: injection failed (CD, 2026-03-11)"


def _hargreaves(path: Path, mice: list[str]) -> Path:
    """Paw-withdrawal latencies of ``mice`` on days -1, 7 and 14 (two trials a day)."""
    rng = np.random.default_rng(11)
    rows = [
        (m, day, "hargreaves", "left", trial, round(float(rng.normal(10 - day / 4, 1.5)), 2))
        for m in mice
        for day in (-1, 7, 14)
        for trial in (1, 2)
    ]
    cols = ["mouse_id", "day", "assay", "side", "trial", "latency_s"]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
    return path


def test_behaviour_run_keeps_the_excluded_mouse_out_of_its_statistics(
    sample_study: Path, tmp_path: Path
) -> None:
    from fmslab.behaviour import flow
    from fmslab.behaviour.pipeline import analyze_sheets
    from fmslab.study import load_study

    mice = pd.read_csv(sample_study / "mice.csv", dtype=str)
    more = mice.iloc[[0, 2]].assign(mouse_id=["M05", "M06"])  # M05: T-A (FMS), M06: T-B (HC)
    pd.concat([mice, more]).to_csv(sample_study / "mice.csv", index=False)
    sheet = _hargreaves(tmp_path / "hargreaves.csv", ["M01", "M02", "M03", "M04", "M05", "M06"])
    # reference: the sheet with mouse M05's rows removed by hand, analysed without any decision
    hand = tmp_path / "by_hand" / "hargreaves.csv"
    hand.parent.mkdir()
    _hargreaves(hand, ["M01", "M02", "M03", "M04", "M05", "M06"])
    df = pd.read_csv(hand)
    df[df["mouse_id"] != "M05"].to_csv(hand, index=False)
    ref = analyze_sheets([hand], study=load_study(sample_study))
    _overrides(sample_study, "mouse,M05,,exclude,wrong injection,AB,2026-03-12\n")
    done = flow.run([sheet], study=sample_study, out=tmp_path / "beh")
    res = done.result
    num = ["difference_b_minus_a", "se", "df", "p_value", "p_holm", "n_mice_a", "n_mice_b"]
    keys = ["assay", "measure", "test", "day"]
    a = res.stats.sort_values(keys).reset_index(drop=True)
    b = ref.stats.sort_values(keys).reset_index(drop=True)
    assert (a["test"] == "per_day_contrast").sum() == 3  # days -1, 7, 14: really computed
    per_day = a[a["test"] == "per_day_contrast"]
    assert set(per_day["group_a"]) == {"FMS"} and set(per_day["group_b"]) == {"HC"}
    assert per_day["n_mice_a"].tolist() == [2, 2, 2]  # FMS: M01, M02 (M05 excluded)
    assert per_day["n_mice_b"].tolist() == [3, 3, 3]  # HC: M03, M04, M06
    pd.testing.assert_frame_equal(a[keys + num], b[keys + num], check_dtype=False)
    # the mouse's rows are kept in every table, marked; the others are not
    for table in (res.trials, res.mouse_day, res.mice):
        is_m05 = table["mouse_id"] == "M05"
        assert is_m05.any() and (table["excluded"] == is_m05).all()
        assert set(table.loc[is_m05, "exclusion_reason"]) == {
            "mouse M05: wrong injection (AB, 2026-03-12)"
        }
    params, inputs = _last_run(sample_study / "results" / "fmslab.duckdb", "behaviour analyze")
    assert params["qc_overrides"]["n_decisions"] == 1
    assert str((sample_study / "qc_overrides.csv").resolve()) in set(inputs["path"])
    with connect(sample_study / "results" / "fmslab.duckdb", read_only=True) as con:
        md = read_table(con, "behaviour_mouse_day")
    assert set(md.loc[md["excluded"], "mouse_id"]) == {"M05"}


@pytest.mark.slow
def test_skinnerve_run_marks_the_excluded_unit(sample_study: Path) -> None:
    from fmslab.skinnerve.simulate import Protocol, SimConfig, simulate, write_csv

    proto = Protocol(baseline_s=2.0, n_electrical=8, electrical_interval_s=0.5,
                     forces_mn=(5.0, 50.0), hold_s=1.0, step_interval_s=2.0, cold=False,
                     heat=False, tail_s=1.0)  # fmt: skip
    (sample_study / "skinnerve").mkdir()
    for name, seed in (("u1.csv", 4), ("u2.csv", 5)):
        write_csv(simulate(replace(SimConfig(), protocol=proto), seed=seed),
                  sample_study / "skinnerve" / name)  # fmt: skip
    rows = pd.read_csv(sample_study / "recordings.csv")
    extra = pd.DataFrame({"path": ["skinnerve/u1.csv", "skinnerve/u2.csv"],
                          "modality": "skinnerve", "mouse_id": ["M01", "M03"],
                          "unit_id": ["M01_u1", "M03_u1"]})  # fmt: skip
    pd.concat([rows, extra], ignore_index=True).to_csv(sample_study / "recordings.csv", index=False)
    first = runner.invoke(app, ["-q", "skinnerve", "analyze", "--study", str(sample_study),
                                "--jobs", "1"])  # fmt: skip
    assert first.exit_code == 0, first.output
    units = pd.read_csv(sample_study / "results" / "skinnerve" / "units.csv")
    assert not units["excluded"].any()  # no sheet yet: nothing marked
    unit = int(
        units.loc[(units["file"] == "u1.csv") & units["is_unit_under_study"], "unit_id"].item()
    )
    _overrides(sample_study, f"unit,{unit},u1.csv,exclude,two units merged,CD,2026-03-11\n")
    again = runner.invoke(app, ["-q", "skinnerve", "analyze", "--study", str(sample_study),
                                "--jobs", "1"])  # fmt: skip
    assert again.exit_code == 0, again.output
    units = pd.read_csv(sample_study / "results" / "skinnerve" / "units.csv")
    hit = (units["file"] == "u1.csv") & (units["unit_id"] == unit)
    assert hit.sum() == 1 and (units["excluded"] == hit).all()
    assert units.loc[hit, "exclusion_reason"].item() == (
        f"unit {unit}: two units merged (CD, 2026-03-11)"
    )
    resp = pd.read_csv(sample_study / "results" / "skinnerve" / "responses.csv")
    r_hit = (resp["file"] == "u1.csv") & (resp["unit_id"] == unit)
    assert (resp["excluded"] == r_hit).all()
    with connect(sample_study / "results" / "fmslab.duckdb", read_only=True) as con:
        stored = read_table(con, "skinnerve_units")
    assert stored["excluded"].sum() == 1
    params, _ = _last_run(sample_study / "results" / "fmslab.duckdb", "skinnerve analyze")
    assert params["qc_overrides"]["decisions"][0]["reason"] == "two units merged"
