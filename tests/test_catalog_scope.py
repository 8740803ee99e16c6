"""Declared catalog tables and run-scoped replacement: the four defects of issue 12 stay fixed.

Each regression test reproduces one way the old ``NOT IN`` replacement lost or kept wrong rows; the
expected rows are written out by hand from the frames the test stores.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from fmslab.catalog import (
    CatalogSchemaError,
    connect,
    normalise_source,
    open_session,
    query,
    schema_version,
)
from fmslab.catalog_tables import FAMILIES, SCHEMA_VERSION, TABLES, TYPES


def _cells(files, rheo):
    return pd.DataFrame({"file": files, "rheobase_pA": rheo})


def _errors(files):
    return pd.DataFrame(
        {"file": files, "error_type": ["InputError"] * len(files), "message": ["bad"] * len(files)}
    )


def _ephys_run(db, cells, errors, files):
    with open_session(db, command="ephys analyze", parameters={}) as cat:
        cat.write_scope(
            "ephys", {"ephys_cells": cells, "ephys_errors": errors}, scope={"file": files}
        )


# --- defect 1: a file that failed and then succeeds left its error row -------------------------


def test_failed_then_succeeding_file_leaves_no_error_row(tmp_path):
    db = tmp_path / "c.duckdb"
    _ephys_run(db, _cells(["a.abf"], [50.0]), _errors(["b.abf"]), ["a.abf", "b.abf"])
    assert query(db, "SELECT file FROM ephys_errors")["file"].tolist() == ["b.abf"]
    # b.abf is fixed and re-analysed alone
    _ephys_run(db, _cells(["b.abf"], [75.0]), _errors([]), ["b.abf"])
    cells = query(db, "SELECT file, rheobase_pA FROM ephys_cells ORDER BY file")
    assert cells.to_dict("list") == {"file": ["a.abf", "b.abf"], "rheobase_pA": [50.0, 75.0]}
    assert query(db, "SELECT count(*) AS n FROM ephys_errors")["n"][0] == 0
    # and the other way: a file that analysed before and fails now loses its stale result row
    _ephys_run(db, _cells([], []), _errors(["a.abf"]), ["a.abf"])
    assert query(db, "SELECT file FROM ephys_cells")["file"].tolist() == ["b.abf"]
    assert query(db, "SELECT file FROM ephys_errors")["file"].tolist() == ["a.abf"]


# --- defect 2: one new row with a NULL key emptied the whole table -----------------------------


def test_null_key_in_new_rows_is_refused_and_keeps_the_table(tmp_path):
    db = tmp_path / "c.duckdb"
    _ephys_run(db, _cells(["a.abf", "b.abf"], [50.0, 60.0]), _errors([]), ["a.abf", "b.abf"])
    with pytest.raises(CatalogSchemaError, match="key column 'file'.*row 2 is empty"):
        with open_session(db, command="t", parameters={}) as cat:
            cat.write_table("ephys_cells", _cells(["c.abf", None], [1.0, 2.0]), replace_on=["file"])
    assert query(db, "SELECT file FROM ephys_cells ORDER BY file")["file"].tolist() == [
        "a.abf",
        "b.abf",
    ]


# --- defect 3: existing rows with a NULL key disappeared on any write --------------------------


def test_legacy_rows_with_null_keys_are_kept_apart_and_migrated(tmp_path):
    """A catalog written before declared tables (NULL keys possible) is migrated once: rows
    with an empty key are dropped and logged, every other row survives with declared types."""
    db = tmp_path / "c.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE ephys_cells AS SELECT * FROM (VALUES ('a.abf', 50, 'r1'), "
        "(NULL, 60, 'r1'), ('b.abf', 70, 'r1')) t(file, rheobase_pA, run_id)"
    )
    con.execute("CREATE TABLE notes AS SELECT 1 AS x")  # not declared: left alone
    con.close()
    with connect(db) as con:
        assert schema_version(con) == SCHEMA_VERSION
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'ephys_cells'"
            ).fetchall()
        )
        assert types["rheobase_pA"] == "DOUBLE" and types["n_sweeps"] == "BIGINT"
        assert con.execute("SELECT x FROM notes").fetchall() == [(1,)]
    _ephys_run(db, _cells(["c.abf"], [80.0]), _errors([]), ["c.abf"])
    got = query(db, "SELECT file, rheobase_pA, run_id FROM ephys_cells ORDER BY file")
    assert got["file"].tolist() == ["a.abf", "b.abf", "c.abf"]
    assert got["rheobase_pA"].tolist() == [50.0, 70.0, 80.0]
    assert got["run_id"].tolist()[:2] == ["r1", "r1"]


def test_scope_replacement_uses_is_not_distinct_from(tmp_path):
    """Rows of other scopes survive a write whatever their non-key values (NULLs included)."""
    db = tmp_path / "c.duckdb"
    with open_session(db, command="t", parameters={}) as cat:
        cat.write_table(
            "compare_stats",
            pd.DataFrame(
                {
                    "source": ["ephys_cells", "ephys_cells"],
                    "outcome": ["rmp_mV", "rin_MOhm"],
                    "model": ["lmm", "lmm"],
                    "estimate": [np.nan, 1.0],
                    "unit": [None, "MOhm"],
                }
            ),
            replace_on=["source", "outcome"],
        )
    with open_session(db, command="t", parameters={}) as cat:
        cat.write_table(
            "compare_stats",
            pd.DataFrame(
                {
                    "source": ["ephys_cells"],
                    "outcome": ["rin_MOhm"],
                    "model": ["lmm"],
                    "estimate": [2.0],
                }
            ),
            replace_on=["source", "outcome"],
        )
    got = query(db, "SELECT outcome, estimate FROM compare_stats ORDER BY outcome")
    assert got["outcome"].tolist() == ["rin_MOhm", "rmp_mV"]
    assert got["estimate"].iloc[0] == 2.0 and np.isnan(got["estimate"].iloc[1])


# --- defect 4: compare_stats keyed by the source string as typed -------------------------------


def test_compare_sources_are_normalised_so_runs_replace_each_other(tmp_path):
    study = tmp_path / "study"
    (study / "results" / "pipeline").mkdir(parents=True)
    (study / "study.yaml").write_text("name: s\n")
    db = study / "results" / "fmslab.duckdb"
    exported = study / "results" / "pipeline" / "ephys_cells.csv"
    exported.write_text("file\n")
    (study / "results" / "pipeline" / "ephys_cells.csv.source.json").write_text(
        json.dumps({"catalog_table": "ephys_cells", "where": None})
    )
    other = study / "results" / "other.csv"
    other.write_text("x\n")

    def run(source, estimate):
        stats = pd.DataFrame(
            {"source": [source], "outcome": ["rmp_mV"], "model": ["lmm"], "estimate": [estimate]}
        )
        with open_session(db, command="compare", parameters={}) as cat:
            cat.write_table("compare_stats", stats, replace_on=["source", "outcome"])

    run("catalog:ephys_cells", 1.0)  # the demo's spelling
    run(str(exported), 2.0)  # the workflow's: a file exported from that table
    got = query(db, "SELECT source, estimate FROM compare_stats")
    assert got.to_dict("list") == {"source": ["ephys_cells"], "estimate": [2.0]}
    run(str(other), 3.0)  # a file of the study: stored relative to the study
    assert sorted(query(db, "SELECT source FROM compare_stats")["source"]) == [
        "ephys_cells",
        "results/other.csv",
    ]
    assert normalise_source(str(other), study) == "results/other.csv"
    assert normalise_source("/elsewhere/x.csv", study) == "/elsewhere/x.csv"


# --- declarations ----------------------------------------------------------------------------


def test_declarations_are_complete_and_consistent():
    for name, spec in TABLES.items():
        assert spec.name == name and spec.family in FAMILIES
        assert all(t in TYPES for _, t in spec.columns), name
        names = spec.column_names
        assert len(set(names)) == len(names), name
        assert set(spec.key) <= set(names) and set(spec.scope) <= set(spec.key or names), name
    for family, names in FAMILIES.items():
        assert len({TABLES[n].scope for n in names}) == 1, family


def test_write_that_does_not_fit_names_column_and_reason(tmp_path):
    db = tmp_path / "c.duckdb"
    cases = [
        (_cells(["a"], [1.0]).assign(rheobase_nA=[0.001]), "column 'rheobase_nA' is not declared"),
        (_cells(["a"], ["fifty"]), "column 'rheobase_pA': row 1 has 'fifty', not a number"),
        (
            _cells(["a"], [1.0]).assign(n_sweeps=[2.5]),
            "column 'n_sweeps': row 1 has 2.5, not a whole number",
        ),
        (_cells(["a"], [1.0]).assign(qc_pass=["maybe"]), "column 'qc_pass': row 1 has 'maybe'"),
        (_cells(["a", "a"], [1.0, 2.0]), r"key \(file\) = \('a',\) occurs 2 times"),
        (pd.DataFrame({"rheobase_pA": [1.0]}), "key column 'file' is missing"),
        (_cells([" "], [1.0]), "key column 'file': row 1 is empty"),
    ]
    for frame, message in cases:
        with pytest.raises(CatalogSchemaError, match=message):
            with open_session(db, command="t", parameters={}) as cat:
                cat.write_table("ephys_cells", frame)
    with pytest.raises(CatalogSchemaError, match="'ephys_cell' is not a declared catalog table"):
        with open_session(db, command="t", parameters={}) as cat:
            cat.write_table("ephys_cell", _cells(["a"], [1.0]))
    with pytest.raises(CatalogSchemaError, match="outside the run's scope"):
        _ephys_run(db, _cells(["a"], [1.0]), _errors([]), ["b"])


def test_types_are_fixed_and_tables_are_not_rebuilt(tmp_path):
    """A column keeps its declared type whatever pandas infers (all-NULL, integers, floats), and
    writes insert into the same table (same DuckDB table oid) instead of re-creating it."""
    db = tmp_path / "c.duckdb"
    _ephys_run(db, _cells(["a"], [None]), _errors([]), ["a"])

    def state():
        with duckdb.connect(str(db), read_only=True) as con:
            oid = con.execute(
                "SELECT table_oid FROM duckdb_tables() WHERE table_name = 'ephys_cells'"
            ).fetchone()[0]
            kind = con.execute(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'ephys_cells' AND column_name = 'rheobase_pA'"
            ).fetchone()[0]
        return oid, kind

    first = state()
    _ephys_run(db, _cells(["b"], [50]), _errors([]), ["b"])
    assert state() == first and first[1] == "DOUBLE"


def test_open_tables_take_sheet_columns_as_text(tmp_path):
    db = tmp_path / "c.duckdb"
    mice = pd.DataFrame({"mouse_id": ["M1"], "sex": ["F"], "cohort": ["3"], "dose_mg": ["0.5"]})
    with open_session(db, command="t", parameters={}) as cat:
        cat.write_scope("study", {"mice": mice}, scope=None)
    got = query(db, "SELECT cohort, dose_mg FROM mice")
    assert got["cohort"].tolist() == ["3"] and got["dose_mg"].tolist() == [0.5]
    # a computed (non-text) column is never stored undeclared, even in an open table
    with pytest.raises(CatalogSchemaError, match="'weight_g' is not declared and holds non-text"):
        with open_session(db, command="t", parameters={}) as cat:
            cat.write_scope("study", {"mice": mice.assign(weight_g=[21.5])}, scope=None)


def test_newer_catalog_is_refused(tmp_path):
    db = tmp_path / "c.duckdb"
    with connect(db) as con:
        con.execute("INSERT INTO schema_version VALUES (?, 'future', now())", [SCHEMA_VERSION + 1])
    with pytest.raises(Exception, match="newer than this fmslab"):
        with connect(db):
            pass
