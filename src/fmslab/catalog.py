"""The results catalog: one embedded DuckDB database per study.

It holds the study sheets and every result table, a ``runs`` table (what ran, with which parameters
and versions, when, and how it ended) and an ``inputs`` table (path, size, sha256 of every input a run
read). Writers are serialised by a lock file beside the database: a second fmslab process waits up to
``lock_timeout_s`` and then fails with :class:`~fmslab.errors.CatalogBusyError`. All data a run writes
are committed in one DuckDB transaction at the end of the run, so a failed or killed run leaves the
catalog as it was (DuckDB's write-ahead log makes the commit crash-safe); the run itself is then
recorded with status ``failed``.

Typical use::

    with open_session(db_path, command="ephys analyze", parameters=params) as cat:
        cat.record_inputs(files)
        cat.write_table("ephys_sweeps", sweeps, replace_on=["file"])
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from filelock import FileLock, Timeout

from fmslab.atomic import write_tables
from fmslab.errors import CatalogBusyError, FmslabError
from fmslab.provenance import RunRecord, sha256_file

log = logging.getLogger(__name__)

SYSTEM_TABLES = ("runs", "inputs")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, command VARCHAR, parameters JSON, versions JSON, platform VARCHAR,
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, status VARCHAR, message VARCHAR
);
CREATE TABLE IF NOT EXISTS inputs (
    run_id VARCHAR, path VARCHAR, size_bytes BIGINT, mtime_ns BIGINT, sha256 VARCHAR
);
"""


def _check_name(name: str) -> str:
    if not _NAME.match(name) or name in SYSTEM_TABLES:
        raise FmslabError(f"invalid catalog table name '{name}'")
    return name


@contextmanager
def _locked(db_path: Path, timeout_s: float) -> Iterator[None]:
    lock = FileLock(str(db_path) + ".lock")
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout:
        raise CatalogBusyError(
            f"{db_path}: the catalog is in use by another fmslab process (waited {timeout_s:g} s for "
            f"{lock.lock_file}); let it finish or raise --lock-timeout"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def connect(
    db_path: str | Path, *, read_only: bool = False, lock_timeout_s: float = 120.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the catalog under its lock, creating it (and its system tables) if needed."""
    db_path = Path(db_path)
    if read_only and not db_path.exists():
        raise FmslabError(f"{db_path}: no catalog here yet (run 'fmslab study catalog' first)")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(db_path, lock_timeout_s):
        try:
            con = duckdb.connect(str(db_path), read_only=read_only)
        except duckdb.IOException as exc:
            raise CatalogBusyError(f"{db_path}: cannot open the catalog: {exc}") from exc
        try:
            if not read_only:
                con.execute(_SCHEMA)
            yield con
        finally:
            con.close()


def table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables ORDER BY table_name").fetchall()
    return [r[0] for r in rows]


def read_table(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """A whole catalog table as a DataFrame."""
    if name not in table_names(con):
        raise FmslabError(f"the catalog has no table '{name}' (it has: {', '.join(table_names(con))})")
    return con.execute(f'SELECT * FROM "{name}"').df()


def _replace_rows(
    con: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame, replace_on: list[str] | None
) -> None:
    """Put ``df`` into table ``name``: replace the table, or only the rows sharing ``replace_on`` keys."""
    con.register("_fmslab_new", df)
    try:
        if replace_on and name in table_names(con):
            keys = ", ".join(f'"{c}"' for c in replace_on)
            existing = con.execute(
                f'SELECT * FROM "{name}" WHERE ({keys}) NOT IN (SELECT DISTINCT {keys} FROM _fmslab_new)'
            ).df()
            combined = pd.concat([existing, df], ignore_index=True) if len(existing) else df
            con.unregister("_fmslab_new")
            con.register("_fmslab_new", combined)
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _fmslab_new')
    finally:
        con.unregister("_fmslab_new")


@dataclass
class CatalogSession:
    """One run's view of the catalog: everything it writes is committed together at the end."""

    con: duckdb.DuckDBPyConnection
    run: RunRecord
    db_path: Path

    def write_table(self, name: str, df: pd.DataFrame, *, replace_on: list[str] | None = None) -> None:
        """Store a result table, tagged with this run's id in a ``run_id`` column.

        Parameters
        ----------
        name
            Table name (letters, digits, underscores).
        df
            The table.
        replace_on
            Key columns: rows of the existing table with the same keys are replaced and other rows
            kept (e.g. ``["file"]`` when re-analysing some files). ``None`` replaces the whole table.
        """
        _check_name(name)
        missing = [c for c in replace_on or [] if c not in df.columns]
        if missing:
            raise FmslabError(f"table '{name}': replace_on column(s) {missing} not in the table")
        tagged = df.copy()
        tagged["run_id"] = self.run.run_id
        _replace_rows(self.con, name, tagged, replace_on)
        log.debug("catalog: wrote %d rows to %s", len(df), name)

    def read_table(self, name: str) -> pd.DataFrame:
        return read_table(self.con, name)

    def has_table(self, name: str) -> bool:
        return name in table_names(self.con)

    def record_inputs(self, paths: Iterable[str | Path]) -> pd.DataFrame:
        """Hash the inputs and record them for this run.

        A file whose size and modification time match its last record reuses that hash instead of
        reading the file again. Returns the rows recorded (``path, size_bytes, mtime_ns, sha256``).
        """
        known = {
            (r[0], r[1], r[2]): r[3]
            for r in self.con.execute(
                "SELECT path, size_bytes, mtime_ns, sha256 FROM inputs ORDER BY rowid"
            ).fetchall()
        }
        rows = []
        for p in paths:
            path = str(Path(p).resolve())
            st = os.stat(path)
            sha = known.get((path, st.st_size, st.st_mtime_ns)) or sha256_file(path)
            rows.append((self.run.run_id, path, st.st_size, st.st_mtime_ns, sha))
        frame = pd.DataFrame(rows, columns=["run_id", "path", "size_bytes", "mtime_ns", "sha256"])
        if rows:
            self.con.executemany("INSERT INTO inputs VALUES (?, ?, ?, ?, ?)", rows)
        return frame.drop(columns="run_id")

    def previous_inputs(self, command: str) -> pd.DataFrame:
        """Inputs of the last successful run of ``command`` (for skipping unchanged work)."""
        return self.con.execute(
            """SELECT path, sha256 FROM inputs WHERE run_id = (
                   SELECT run_id FROM runs WHERE command = ? AND status = 'ok'
                   ORDER BY finished_at DESC LIMIT 1)""",
            [command],
        ).df()

    def export(self, out_dir: str | Path, names: Iterable[str] | None = None) -> list[Path]:
        """Write tables as Parquet and CSV into ``out_dir`` (atomically); all user tables by default."""
        chosen = list(names) if names is not None else [t for t in table_names(self.con) if t not in SYSTEM_TABLES]
        written: list[Path] = []
        for name in chosen:
            written += write_tables(read_table(self.con, name), Path(out_dir) / name)
        return written


def _insert_run(con: duckdb.DuckDBPyConnection, run: RunRecord, message: str | None) -> None:
    con.execute("DELETE FROM runs WHERE run_id = ?", [run.run_id])
    con.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id, run.command, json.dumps(run.parameters, default=str), json.dumps(run.versions),
            run.platform, run.started_at, run.finished_at, run.status, message,
        ],
    )  # fmt: skip


@contextmanager
def open_session(
    db_path: str | Path,
    *,
    command: str,
    parameters: dict[str, Any],
    lock_timeout_s: float = 120.0,
) -> Iterator[CatalogSession]:
    """Open the catalog for one run; commit its writes and its ``runs`` row at the end.

    On an exception the run's writes are rolled back, the run is recorded as ``failed`` with the
    error message, and the exception propagates.
    """
    run = RunRecord(command=command, parameters=parameters)
    with connect(db_path, lock_timeout_s=lock_timeout_s) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            yield CatalogSession(con=con, run=run, db_path=Path(db_path))
            run.finish("ok")
            _insert_run(con, run, None)
            con.execute("COMMIT")
        except BaseException as exc:
            con.execute("ROLLBACK")
            run.finish("failed")
            _insert_run(con, run, f"{type(exc).__name__}: {exc}")
            raise


def query(db_path: str | Path, sql: str, *, lock_timeout_s: float = 120.0) -> pd.DataFrame:
    """Run one SQL statement on the catalog, read-only, and return the result."""
    with connect(db_path, read_only=True, lock_timeout_s=lock_timeout_s) as con:
        try:
            return con.execute(sql).df()
        except duckdb.Error as exc:
            raise FmslabError(f"query failed: {exc}") from exc
