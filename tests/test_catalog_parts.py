"""Deferred catalog writes and the ingest step (fmslab.catalog_parts; issue 19 item 2).

On the real sample study (four real ABF files): a run with ``defer_catalog=True`` never opens the
catalog and leaves one part; ingesting the parts gives the same result tables as the same runs
written directly (the reference); ingesting twice, or again after a crash halfway through, gives
that same catalog; a part a killed job left half-written is not loaded.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fmslab import catalog
from fmslab.catalog_parts import ingest, parts_dir_for, pending_parts
from fmslab.ephys import run as ephys_run
from fmslab.errors import FmslabError

RESULT_TABLES = ["ephys_cells", "ephys_sweeps", "ephys_spikes", "ephys_errors"]


def _db(study: Path) -> Path:
    return study / "results" / "fmslab.duckdb"


def _tables(db: Path) -> dict[str, pd.DataFrame]:
    """Result tables without run ids (which differ between two runs by design), sorted."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        names = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        for t in RESULT_TABLES:
            if t in names:
                df = con.execute(f"SELECT * FROM {t}").df().drop(columns=["run_id"])
                out[t] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


def _runs(study: Path, *, defer: bool) -> None:
    """Two runs: all four files, then one file again (its rows must be replaced, not duplicated)."""
    files = sorted((study / "ephys").glob("*.abf"))
    ephys_run(files, study=study, out=study / "results" / "e1", figures=False, defer_catalog=defer)
    ephys_run(
        files[:1], study=study, out=study / "results" / "e2", figures=False, defer_catalog=defer
    )


@pytest.fixture
def two_studies(sample_study, tmp_path):
    other = tmp_path / "direct"
    shutil.copytree(sample_study, other)
    return sample_study, other


def test_deferred_runs_ingested_equal_direct_writes(two_studies):
    deferred, direct = two_studies
    _runs(direct, defer=False)
    _runs(deferred, defer=True)
    # the deferred runs never created (let alone opened) the catalog
    assert not _db(deferred).exists()
    parts = pending_parts(_db(deferred))
    assert len(parts) == 2
    meta = json.loads((parts[0] / "part.json").read_text())
    assert meta["run"]["command"] == "ephys analyze" and meta["run"]["status"] == "ok"
    report = ingest(_db(deferred))
    assert report.ingested == [p.name for p in parts] and report.already == 0
    a, b = _tables(_db(direct)), _tables(_db(deferred))
    assert set(a) == set(b) == set(RESULT_TABLES)
    for t in RESULT_TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)
    # the four files are each in the catalog once (the second run replaced its file's rows)
    assert len(b["ephys_cells"]) + len(b["ephys_errors"]) == 4
    with duckdb.connect(str(_db(deferred)), read_only=True) as con:
        runs = con.execute("SELECT run_id, status FROM runs ORDER BY started_at").fetchall()
        n_inputs = con.execute("SELECT count(*) FROM inputs").fetchone()[0]
    assert [r[0] for r in runs] == [
        json.loads((p / "part.json").read_text())["run"]["run_id"] for p in parts
    ]
    assert n_inputs == 5  # 4 files hashed by the first run, 1 by the second


def test_ingest_is_idempotent_and_survives_a_crash_halfway(sample_study, monkeypatch):
    _runs(sample_study, defer=True)
    db = _db(sample_study)
    # a crash while the second part is being loaded (after its rows, before its commit)
    real = catalog.mark_part_ingested
    calls = {"n": 0}

    def crash_on_second(con, part, run_id):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        real(con, part, run_id)

    monkeypatch.setattr(catalog, "mark_part_ingested", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        ingest(db)
    monkeypatch.setattr(catalog, "mark_part_ingested", real)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ingested_parts").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    second = ingest(db)
    assert len(second.ingested) == 1 and second.already == 1
    once = _tables(db)
    third = ingest(db)
    assert third.ingested == [] and third.already == 2
    for t, df in _tables(db).items():
        pd.testing.assert_frame_equal(df, once[t], obj=t)
    # and the same as ingesting everything into a new catalog in one go
    for f in db.parent.glob("fmslab.duckdb*"):
        f.unlink()
    ingest(db)
    for t, df in _tables(db).items():
        pd.testing.assert_frame_equal(df, once[t], obj=t)


def test_half_written_part_is_not_loaded(sample_study):
    files = sorted((sample_study / "ephys").glob("*.abf"))
    ephys_run(
        files,
        study=sample_study,
        out=sample_study / "results" / "e1",
        figures=False,
        defer_catalog=True,
    )
    parts = parts_dir_for(_db(sample_study))
    (done,) = pending_parts(_db(sample_study))
    # what a job killed while writing leaves: a temporary folder (here a copy missing its tables)
    tmp = parts / f".tmp-{done.name}-99999"
    tmp.mkdir()
    shutil.copy(done / "part.json", tmp / "part.json")
    report = ingest(_db(sample_study))
    assert report.ingested == [done.name]
    assert tmp.exists()  # young: it may belong to a job still running
    old = 2 * 3600
    os.utime(tmp, (tmp.stat().st_atime - old, tmp.stat().st_mtime - old))
    assert ingest(_db(sample_study)).removed_tmp == 1 and not tmp.exists()


def test_rows_that_do_not_fit_fail_in_the_job(sample_study):
    """A deferred run checks its rows against the declared tables at once, as a direct write does."""
    from fmslab.provenance import RunRecord

    with catalog.scratch_session(RunRecord(command="x", parameters={})) as ses:
        with pytest.raises(FmslabError, match="ephys_cells"):
            ses.write_scope(
                "ephys",
                {"ephys_cells": pd.DataFrame({"no_such_column": [1]})},
                scope={"file": ["a.abf"]},
            )
    with pytest.raises(FmslabError, match="ephys_cells"):
        with catalog.open_session(_db(sample_study), command="x", parameters={}, defer=True) as ses:
            ses.write_scope(
                "ephys",
                {"ephys_cells": pd.DataFrame({"no_such_column": [1]})},
                scope={"file": ["a.abf"]},
            )
    # the failed run is still recorded (a part with status failed and no rows)
    (part,) = pending_parts(_db(sample_study))
    meta = json.loads((part / "part.json").read_text())
    assert meta["run"]["status"] == "failed" and meta["writes"] == []
    report = ingest(_db(sample_study))
    assert len(report.failed_runs) == 1 and "ephys_cells" in report.failed_runs[0]
