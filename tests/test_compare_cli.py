"""`fmslab compare` end to end: a CSV, and a catalog table of the sample study with its key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from fmslab.catalog import connect, open_session, read_table
from fmslab.cli import app
from fmslab.errors import InputError
from fmslab.provenance import sha256_file
from fmslab.study.catalog_study import catalog_study

runner = CliRunner()


def _cells(path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for g in ("HC", "FMS"):
        for d in range(4):
            u = rng.normal()
            for m in range(2):
                for _ in range(5):
                    rows.append(
                        (
                            g,
                            f"{g}{d}",
                            f"{g}{d}m{m}",
                            50 + 10 * (u + rng.normal()),
                            rng.choice(["repetitive", "single"]),
                        )
                    )
    pd.DataFrame(
        rows, columns=["group", "donor_id", "mouse_id", "rheobase_pA", "firing_pattern"]
    ).to_csv(path, index=False)
    return path


def test_compare_csv_writes_stats_and_provenance(tmp_path: Path) -> None:
    table = _cells(tmp_path / "cells.csv")
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "compare",
            str(table),
            "--outcome",
            "rheobase_pA",
            "-o",
            "firing_pattern=repetitive",
            "--out",
            str(out),
            "--n-boot",
            "200",
            "--reference",
            "HC",
        ],
    )
    assert res.exit_code == 0, res.output
    stats = pd.read_csv(out / "stats.csv")
    assert {"lmm", "gee_logit", "bootstrap_hedges_g"} <= set(stats["model"])
    # the lmm estimate is the difference of donor means (balanced design): check by hand
    df = pd.read_csv(table)
    dm = df.groupby(["group", "donor_id"]).rheobase_pA.mean().groupby("group").mean()
    lmm = stats[(stats.model == "lmm")].iloc[0]
    assert (
        lmm["estimate"] == np.float64(lmm["estimate"])
        and abs(lmm["estimate"] - (dm["FMS"] - dm["HC"])) < 1e-6
    )
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["inputs_sha256"][str(table.resolve())] == sha256_file(table)
    assert prov["parameters"]["outcomes"] == ["rheobase_pA", "firing_pattern=repetitive"]


def test_compare_catalog_table_unblinds_and_stores(sample_study: Path, tmp_path: Path) -> None:
    summary = catalog_study(sample_study, export=False)
    cells = pd.DataFrame(
        {
            "file": [f"c{i}.abf" for i in range(6)],
            "cell_id": ["M01_c1", "M01_c2", "M02_c1", "M03_c1", "M03_c2", "M04_c1"],
            "mouse_id": ["M01", "M01", "M02", "M03", "M03", "M04"],
            "rmp_mV": [-60.0, -61.0, -58.0, -55.0, -54.0, -57.0],
        }
    )
    with open_session(summary.db_path, command="test", parameters={}) as cat:
        cat.write_table("ephys_cells", cells)
    out = tmp_path / "cmp"
    res = runner.invoke(
        app,
        [
            "compare",
            "ephys_cells",
            "--study",
            str(sample_study),
            "--outcome",
            "rmp_mV",
            "--out",
            str(out),
            "--n-boot",
            "100",
            "--reference",
            "HC",
        ],
    )
    assert res.exit_code == 0, res.output
    data = pd.read_csv(out / "data.csv")
    # the key maps T-A (M01, M02) to FMS / donor D01 and T-B (M03, M04) to HC / donor D02
    assert dict(zip(data.mouse_id, data.group, strict=True)) == {
        "M01": "FMS",
        "M02": "FMS",
        "M03": "HC",
        "M04": "HC",
    }
    with connect(summary.db_path, read_only=True) as con:
        stored = read_table(con, "compare_stats")
    lmm = stored[stored.model == "lmm"].iloc[0]
    assert lmm["n_donors_ref"] == 1 and lmm["n_obs_trt"] == 3
    assert "no degrees of freedom" in lmm["warnings"]  # one donor per group: no test, said so
    assert np.isnan(lmm["p"])


def test_compare_unknown_outcome_is_an_input_error(tmp_path: Path) -> None:
    table = _cells(tmp_path / "cells.csv")
    res = runner.invoke(
        app, ["compare", str(table), "--outcome", "nope", "--out", str(tmp_path / "o")]
    )
    assert isinstance(res.exception, InputError)
    assert "outcome column 'nope'" in str(res.exception)
