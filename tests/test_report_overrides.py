"""QC decisions (qc_overrides sheet): read with certainty, honoured by compare, kept in the catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fmslab.catalog import connect, read_table
from fmslab.cli import app
from fmslab.errors import InputError
from fmslab.study.catalog_study import catalog_study
from fmslab.study.overrides import apply_overrides, read_overrides

runner = CliRunner()
HEADER = "level,id,file,action,reason,reviewer,date\n"


def _write(path: Path, body: str) -> Path:
    path.write_text(HEADER + body)
    return path


def test_apply_overrides_matches_level_id_and_file(tmp_path: Path) -> None:
    ov = read_overrides(
        _write(
            tmp_path / "qc_overrides.csv",
            "cell,M01_c2,,exclude,seal lost after sweep 8,AB,2026-03-10\n"
            "unit,1,M05_u1.csv,,two units merged,CD,2026-03-11\n"
            "mouse,M03,,exclude,injection failed,AB,2026-03-12\n",
        )
    )
    table = pd.DataFrame(
        {
            "file": ["a.abf", "b.abf", "M05_u1.csv", "M06_u1.csv", "c.abf"],
            "cell_id": ["M01_c1", "M01_c2", None, None, "M03_c1"],
            "unit_id": [None, None, 1, 1, None],
            "mouse_id": ["M01", "M01", "M05", "M06", "M03"],
        }
    )
    res = apply_overrides(table, ov)
    # by hand: M01_c2 (cell), unit 1 of M05_u1.csv only (not of M06_u1.csv), every row of M03
    assert res.kept["file"].tolist() == ["a.abf", "M06_u1.csv"]
    ex = res.excluded.set_index("file")
    assert ex.loc["b.abf", "reason"] == "seal lost after sweep 8"
    assert ex.loc["M05_u1.csv", "reviewer"] == "CD" and ex.loc["c.abf", "level"] == "mouse"


@pytest.mark.parametrize(
    "row, message",
    [
        ("cell,M01_c2,,exclude,,AB,2026-03-10\n", "row 2, column 'reason'"),
        ("neuron,M01_c2,,exclude,x,AB,2026-03-10\n", "level 'neuron'"),
        ("cell,M01_c2,,keep,x,AB,2026-03-10\n", "action 'keep'"),
        ("cell,M01_c2,,exclude,x,AB,last week\n", "date 'last week'"),
    ],
)
def test_an_unclear_decision_is_refused_with_its_row(tmp_path: Path, row: str, message) -> None:
    with pytest.raises(InputError, match=message):
        read_overrides(_write(tmp_path / "qc_overrides.csv", row))


def _cells(study: Path) -> pd.DataFrame:
    """Cells of the sample study's four mice (two per treatment code; T-A = FMS, T-B = HC)."""
    rng = np.random.default_rng(5)
    rows = []
    for mouse in ("M01", "M02", "M03", "M04"):
        for c in range(4):
            rows.append((f"{mouse}.abf", f"{mouse}_c{c}", mouse, float(rng.normal(60, 15))))
    return pd.DataFrame(rows, columns=["file", "cell_id", "mouse_id", "rheobase_pA"])


def _compare(table: Path, study: Path, out: Path) -> pd.DataFrame:
    res = runner.invoke(
        app,
        ["-q", "compare", str(table), "--study", str(study), "-o", "rheobase_pA", "--out", str(out),
         "--n-boot", "200", "--reference", "HC"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return pd.read_csv(out / "stats.csv")


def test_override_excludes_the_cell_from_compare_and_is_catalogued(
    sample_study: Path, tmp_path: Path
) -> None:
    cells = _cells(sample_study)
    cells.to_csv(tmp_path / "cells.csv", index=False)
    cells[cells["cell_id"] != "M02_c1"].to_csv(tmp_path / "cells_by_hand.csv", index=False)
    by_hand = _compare(tmp_path / "cells_by_hand.csv", sample_study, tmp_path / "by_hand")
    _write(sample_study / "qc_overrides.csv", "cell,M02_c1,,exclude,seal lost,AB,2026-03-10\n")
    summary = catalog_study(sample_study, export=False)
    got = _compare(tmp_path / "cells.csv", sample_study, tmp_path / "with_override")
    # the same statistics as the table with the cell removed by hand (reference = independent run)
    cols = ["model", "n_obs_ref", "n_obs_trt", "estimate", "ci_low", "ci_high", "p"]
    pd.testing.assert_frame_equal(got[cols], by_hand[cols])
    assert got.loc[got.model == "lmm", "n_obs_trt"].item() == 7  # FMS: 8 cells minus the one
    data = pd.read_csv(tmp_path / "with_override" / "data.csv")
    assert "M02_c1" not in set(data["cell_id"])
    excluded = pd.read_csv(tmp_path / "with_override" / "excluded.csv")
    assert excluded[["cell_id", "reason", "reviewer"]].values.tolist() == [
        ["M02_c1", "seal lost", "AB"]
    ]
    assert not (tmp_path / "by_hand" / "excluded.csv").exists()
    with connect(summary.db_path, read_only=True) as con:
        stored = read_table(con, "qc_overrides")
        inputs = read_table(con, "inputs")
    assert stored[["level", "id", "reason", "reviewer"]].values.tolist() == [
        ["cell", "M02_c1", "seal lost", "AB"]
    ]
    assert str((sample_study / "qc_overrides.csv").resolve()) in set(inputs["path"])
    # the report lists the decision (who, when, why) from the catalog and says who honours it
    from fmslab.report import build_report
    from report_study import parse_page

    page = parse_page(build_report(sample_study, tmp_path / "report").index)
    tab = page.tables["tbl-qc_overrides"]
    assert tab.column("id") == ["M02_c1"] and tab.column("reviewer") == ["AB"]
    assert tab.column("reason") == ["seal lost"] and tab.column("date") == ["2026-03-10"]
    text = " ".join(" ".join(page.text).split())
    assert "1 exclusion(s) decided by reviewers" in text
    assert "Honoured by: fmslab ephys / skinnerve / behaviour analyze --study" in text
    assert "fmslab compare (excluded rows are left out before any statistic" in text


def test_figures_build_leaves_out_the_excluded_cell(sample_study: Path, tmp_path: Path) -> None:
    _cells(sample_study).assign(group="x", donor_id="d").to_csv(tmp_path / "c.csv", index=False)
    _write(sample_study / "qc_overrides.csv", "cell,M02_c1,,exclude,seal lost,AB,2026-03-10\n")
    (tmp_path / "f.yaml").write_text(
        "figures:\n  - name: f\n    panels:\n"
        "      a: {type: superplot, table: c.csv, value: rheobase_pA, donor: null}\n"
    )
    res = runner.invoke(app, ["-q", "figures", "build", str(tmp_path / "f.yaml"),
                              "--study", str(sample_study)])  # fmt: skip
    assert res.exit_code == 0, res.output
    panel = pd.read_csv(tmp_path / "figures" / "f_panel_a.csv")
    cells = panel[panel["level"] == "cell"]
    # 16 cells, one excluded: mouse M02 keeps 3 of its 4
    assert len(cells) == 15 and (cells["mouse_id"] == "M02").sum() == 3
