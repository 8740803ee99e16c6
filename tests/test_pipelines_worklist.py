"""The workflow's work list and glue steps (fmslab.pipeline), on the sample study of real ABFs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from fmslab.errors import InputError
from fmslab.pipeline import work_list
from fmslab.pipeline.__main__ import main as glue_main
from fmslab.pipeline.steps import default_figure_spec, export_table, unblinded_samples
from fmslab.pipeline.worklist import UNDATED, contrast_id, safe_name


def test_days_follow_the_sheet_dates(sample_study: Path) -> None:
    # two cells recorded the same day and one without a date, added to the real sample study
    rec = pd.read_csv(sample_study / "recordings.csv", dtype=str)
    extra = rec.iloc[[0, 1]].copy()
    extra["path"] = ["ephys/18711001.abf", "ephys/File_axon_5.abf"]
    extra["cell_id"] = ["M02_c2", "M01_c9"]
    extra["date"] = ["2007-02-09", None]
    extra["mouse_id"] = ["M01", "M01"]
    pd.concat([rec, extra]).to_csv(sample_study / "recordings.csv", index=False)
    # duplicate paths are refused by the study; use copies under new names
    for old, new in (("18711001.abf", "copy_a.abf"), ("File_axon_5.abf", "copy_b.abf")):
        (sample_study / "ephys" / new).write_bytes((sample_study / "ephys" / old).read_bytes())
    sheet = pd.read_csv(sample_study / "recordings.csv", dtype=str)
    sheet.loc[sheet.index[-2:], "path"] = ["ephys/copy_a.abf", "ephys/copy_b.abf"]
    sheet.to_csv(sample_study / "recordings.csv", index=False)

    wl = work_list(sample_study)
    # hand-made expectation from the sheet written above (4 dated days, 1 shared, 1 undated)
    names = {d: sorted(p.name for p in ps) for d, ps in wl.ephys_days.items()}
    assert names == {
        "2007-02-09": ["File_axon_5.abf", "copy_a.abf"],
        "2017-10-05": ["17o05027_ic_ramp.abf"],
        "2017-11-16": ["171116sh_0016.abf"],
        "2018-07-11": ["18711001.abf"],
        UNDATED: ["copy_b.abf"],
    }
    assert all(p.is_absolute() and p.is_file() for ps in wl.ephys_days.values() for p in ps)
    assert wl.skinnerve_days == {} and wl.behaviour_sheets == {} and wl.contrasts == {}
    assert wl.catalog_path == (sample_study / "results" / "fmslab.duckdb").resolve()


def test_contrasts_and_names() -> None:
    assert contrast_id("group,FMS,HC") == "group_FMS_vs_HC"
    assert contrast_id(" sex , F , M ") == "sex_F_vs_M"
    with pytest.raises(InputError, match="VAR,TARGET,REF"):
        contrast_id("group,FMS")
    assert safe_name("2026/03 08") == "2026_03_08"
    assert safe_name("  ") == UNDATED


def test_contrasts_from_study_parameters(sample_study: Path) -> None:
    cfg = yaml.safe_load((sample_study / "study.yaml").read_text())
    cfg.setdefault("parameters", {})["rnaseq"] = {"contrast": ["group", "FMS", "HC"]}
    (sample_study / "study.yaml").write_text(yaml.safe_dump(cfg))
    assert work_list(sample_study).contrasts == {"group_FMS_vs_HC": "group,FMS,HC"}
    wl = work_list(sample_study, contrasts=["sex,F,M", "group,FMS,HC"])
    assert list(wl.contrasts) == ["sex_F_vs_M", "group_FMS_vs_HC"]


def test_export_table_filters_under_the_lock(sample_study: Path, tmp_path: Path) -> None:
    from fmslab.catalog import open_session

    db = sample_study / "results" / "fmslab.duckdb"
    cells = pd.DataFrame({"file": list("abcd"), "qc_pass": [True, False, True, True]})
    with open_session(db, command="test", parameters={}) as ses:
        ses.write_table("ephys_cells", cells, replace_on=["file"])
    out = tmp_path / "x" / "input.csv"
    got = export_table(db, "ephys_cells", out, where="qc_pass == True")
    assert list(got["file"]) == ["a", "c", "d"]
    assert list(pd.read_csv(out)["file"]) == ["a", "c", "d"]
    with pytest.raises(InputError, match="no rows"):
        export_table(db, "ephys_cells", out, where="qc_pass == True and file == 'b'")
    with pytest.raises(InputError, match="cannot filter"):
        export_table(db, "ephys_cells", out, where="no_such_column > 1")
    # the command-line form used by the workflow: one line and exit code 2 on a bad table
    assert glue_main(["export-table", "--catalog", str(db), "--table", "ephys_cells",
                      "--out", str(out)]) == 0  # fmt: skip
    assert len(pd.read_csv(out)) == 4
    assert glue_main(["export-table", "--catalog", str(db), "--table", "nope",
                      "--out", str(out)]) == 2  # fmt: skip


def test_unblinded_samples_and_figure_spec(sample_study: Path, tmp_path: Path) -> None:
    key = pd.read_csv(sample_study / "unblinding.csv", dtype=str)
    samples = tmp_path / "samples.csv"
    pd.DataFrame(
        {"sample_id": ["S1", "S2"], "treatment_code": list(key["treatment_code"][:2])}
    ).to_csv(samples, index=False)
    table = unblinded_samples(samples, sample_study / "unblinding.csv", tmp_path / "u.csv")
    assert list(table["group"]) == list(key["group"][:2])
    spec = default_figure_spec(
        [{"name": "ephys", "outcomes": ["rheobase_pA", "firing_pattern=single"]}],
        tmp_path / "figures.yaml",
    )
    fig = yaml.safe_load((tmp_path / "figures.yaml").read_text())["figures"]
    assert fig == spec["figures"] and len(fig) == 1
    assert fig[0]["layout"] == ["ab"]  # the binary outcome gets no SuperPlot
    assert fig[0]["panels"]["a"] == {
        "type": "superplot",
        "table": "../compare/ephys/data.csv",
        "value": "rheobase_pA",
    }
