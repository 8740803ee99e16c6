"""The catalog round-trips tables, records runs and inputs, serialises writers, rolls back failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from fmslab.catalog import connect, open_session, query, read_table
from fmslab.errors import CatalogBusyError
from fmslab.provenance import sha256_file
from fmslab.study.catalog_study import catalog_study


def test_table_round_trip_with_types(tmp_path):
    db = tmp_path / "c.duckdb"
    df = pd.DataFrame(
        {
            "file": ["a.abf", "a.abf", "b.abf"],
            "sweep": np.array([0, 1, 0], dtype=np.int64),
            "stim_pA": [50.0, np.nan, 125.5],
            "qc_pass": [True, False, True],
            "qc_reasons": pd.array(["", "drift > 5 mV", pd.NA], dtype="string"),
        }
    )
    with open_session(db, command="test", parameters={"x": 1}) as cat:
        cat.write_table("ephys_sweeps", df)
    back = query(
        db,
        "SELECT file, sweep, stim_pA, qc_pass, qc_reasons FROM ephys_sweeps ORDER BY file, sweep",
    )
    pd.testing.assert_frame_equal(
        back.drop(columns="qc_reasons"), df.drop(columns="qc_reasons"), check_dtype=False
    )
    assert back["qc_reasons"].tolist()[:2] == ["", "drift > 5 mV"] and pd.isna(
        back["qc_reasons"][2]
    )
    assert back["sweep"].dtype.kind == "i" and back["qc_pass"].dtype == bool
    runs = query(db, "SELECT command, status, parameters::VARCHAR AS p, versions FROM runs")
    assert runs.loc[0, "command"] == "test" and runs.loc[0, "status"] == "ok"
    assert '"x": 1' in runs.loc[0, "p"] and "duckdb" in runs.loc[0, "versions"]


def test_replace_on_keeps_other_rows(tmp_path):
    db = tmp_path / "c.duckdb"
    first = pd.DataFrame({"file": ["a", "b"], "rmp_mV": [1.0, 2.0]})
    with open_session(db, command="t", parameters={}) as cat:
        cat.write_table("ephys_cells", first)
    with open_session(db, command="t", parameters={}) as cat:
        cat.write_table(
            "ephys_cells", pd.DataFrame({"file": ["b"], "rmp_mV": [20.0]}), replace_on=["file"]
        )
    out = query(db, "SELECT file, rmp_mV FROM ephys_cells ORDER BY file")
    assert out.to_dict("list") == {"file": ["a", "b"], "rmp_mV": [1.0, 20.0]}


def test_failed_run_rolls_back_and_is_recorded(tmp_path):
    db = tmp_path / "c.duckdb"
    with open_session(db, command="t", parameters={}) as cat:
        cat.write_table("ephys_cells", pd.DataFrame({"file": ["a"], "n_sweeps": [1]}))
    with pytest.raises(RuntimeError):
        with open_session(db, command="t", parameters={}) as cat:
            cat.write_table("ephys_cells", pd.DataFrame({"file": ["b", "c"], "n_sweeps": [2, 3]}))
            cat.write_table("ephys_errors", pd.DataFrame({"file": ["d"], "message": ["x"]}))
            raise RuntimeError("analysis crashed")
    assert query(db, "SELECT n_sweeps FROM ephys_cells")["n_sweeps"].tolist() == [1]
    assert (
        "ephys_errors"
        not in query(db, "SELECT table_name FROM information_schema.tables")["table_name"].tolist()
    )
    runs = query(db, "SELECT status, message FROM runs ORDER BY started_at")
    assert runs["status"].tolist() == ["ok", "failed"]
    assert "analysis crashed" in runs["message"].iloc[1]


def test_record_inputs_hashes_match_and_reuse(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc" * 1000)
    db = tmp_path / "c.duckdb"
    with open_session(db, command="t", parameters={}) as cat:
        rec = cat.record_inputs([f])
    import hashlib

    assert rec["sha256"].iloc[0] == hashlib.sha256(b"abc" * 1000).hexdigest() == sha256_file(f)
    assert rec["size_bytes"].iloc[0] == 3000


def test_study_catalog_round_trip_and_reuse(sample_study):
    first = catalog_study(sample_study)
    assert not first.reused and first.tables == {"donors": 2, "mice": 4, "recordings": 4}
    mice = query(first.db_path, "SELECT * EXCLUDE (run_id) FROM mice ORDER BY mouse_id")
    assert mice["mouse_id"].tolist() == ["M01", "M02", "M03", "M04"]
    rec = query(first.db_path, "SELECT path, sha256 FROM recordings")
    for path, sha in rec.itertuples(index=False):
        assert sha == sha256_file(sample_study / path)
    exported = pd.read_parquet(sample_study / "results" / "tables" / "mice.parquet")
    assert exported["mouse_id"].tolist() == mice["mouse_id"].tolist()
    assert (sample_study / "results" / "tables" / "recordings.csv").is_file()
    # unchanged inputs: reused; a changed sheet: rebuilt
    assert catalog_study(sample_study).reused
    mice_csv = sample_study / "mice.csv"
    mice_csv.write_text(mice_csv.read_text().replace("C57BL/6J", "BALB/c", 1))
    third = catalog_study(sample_study)
    assert not third.reused
    assert (
        query(third.db_path, "SELECT strain FROM mice WHERE mouse_id='M01'")["strain"][0]
        == "BALB/c"
    )
    n_runs = query(third.db_path, "SELECT count(*) AS n FROM runs WHERE status='ok'")["n"][0]
    assert n_runs == 3


def test_raw_data_are_never_modified(sample_study):
    files = sorted((sample_study / "ephys").glob("*.abf"))
    before = {f: (sha256_file(f), f.stat().st_mtime_ns) for f in files}
    catalog_study(sample_study)
    assert {f: (sha256_file(f), f.stat().st_mtime_ns) for f in files} == before


def test_busy_catalog_fails_with_clear_message(tmp_path):
    db = tmp_path / "c.duckdb"
    with connect(db):
        with pytest.raises(CatalogBusyError, match="in use by another fmslab process"):
            with open_session(db, command="t", parameters={}, lock_timeout_s=0.2):
                pass


_WRITER = """
import sys
import pandas as pd
from fmslab.catalog import open_session
db, tag = sys.argv[1], sys.argv[2]
for i in range(15):
    with open_session(db, command="writer", parameters={"tag": tag, "i": i}) as cat:
        rows = pd.DataFrame({"contrast": [tag] * 50, "gene": [f"g{j}" for j in range(50)]})
        cat.write_table("rnaseq_de_results", rows, replace_on=["contrast"])
"""


def test_concurrent_writers_serialise_without_corruption(tmp_path):
    db = tmp_path / "c.duckdb"
    env = {"PYTHONPATH": str(REPO / "src")}
    import os

    env = {**os.environ, **env}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), tag], env=env, stderr=subprocess.PIPE
        )
        for tag in ("A", "B")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    with duckdb.connect(str(db), read_only=True) as con:
        counts = con.execute(
            "SELECT contrast, count(*) FROM rnaseq_de_results GROUP BY contrast ORDER BY contrast"
        ).fetchall()
        runs = con.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    assert counts == [("A", 50), ("B", 50)]
    assert runs == [("ok", 30)]


def test_two_concurrent_cli_catalog_runs(sample_study):
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "fmslab", "-q", "study", "catalog", str(sample_study)]
    procs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    db = sample_study / "results" / "fmslab.duckdb"
    runs = query(db, "SELECT status FROM runs")["status"].tolist()
    assert runs == ["ok", "ok"]
    assert len(query(db, "SELECT * FROM recordings")) == 4


def test_read_table_unknown_name(tmp_path):
    db = tmp_path / "c.duckdb"
    with connect(db) as con:
        with pytest.raises(Exception, match="no table 'nope'"):
            read_table(con, "nope")


def test_query_without_catalog(tmp_path):
    with pytest.raises(Exception, match="no catalog here yet"):
        query(Path(tmp_path) / "none.duckdb", "SELECT 1")
