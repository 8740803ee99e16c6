"""The results catalog: one embedded DuckDB database per study.

It holds the study sheets and every result table, a ``runs`` table (what ran, with which parameters
and versions, when, and how it ended), an ``inputs`` table (path, size, sha256 of every input a run
read) and a ``schema_version`` table. Every result table is declared in
:mod:`fmslab.catalog_tables` (columns, types, primary key, the family of tables a run writes and
the columns naming its scope); it is created once from that declaration, and a frame that does not
fit is refused with the column and the reason.

A run replaces, in one DuckDB transaction, exactly the rows of its scope (the files, sheets or
contrasts it analysed) in every table of its family, results and errors together: rows are deleted
with ``IS NOT DISTINCT FROM`` on the scope columns and the new rows are inserted ``BY NAME``. The
transaction commits at the end of the run, so a failed or killed run leaves the catalog as it was
(DuckDB's write-ahead log makes the commit crash-safe); a failed run is recorded with status
``failed``.

Writers are serialised by a lock file beside the database (``fmslab.duckdb.lock``, see
:mod:`fmslab.locks`), locked with
``flock`` and holding the holder's pid, host, command and start time. A second fmslab process waits
up to ``lock_timeout_s`` and then fails with :class:`~fmslab.errors.CatalogBusyError` naming the
holder. The kernel releases the lock when its holder dies, so a lock file left by a killed process
is detected (its pid is gone) and taken over safely.

Typical use::

    with open_session(db_path, command="ephys analyze", parameters=params) as cat:
        cat.record_inputs(files)
        cat.write_scope("ephys", {"ephys_cells": cells, "ephys_errors": errors},
                        scope={"file": names})
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from fmslab.atomic import write_tables
from fmslab.catalog_tables import FAMILIES, SCHEMA_VERSION, TABLES, TableSpec
from fmslab.errors import CatalogBusyError, FmslabError
from fmslab.locks import hold_lock, lock_holder
from fmslab.progress import progress_bar
from fmslab.provenance import RunRecord, now_utc, sha256_file

log = logging.getLogger(__name__)

SYSTEM_TABLES = ("runs", "inputs", "schema_version", "ingested_parts")
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


class CatalogSchemaError(FmslabError):
    """A frame does not fit its declared catalog table (names the table, column and reason)."""


def _check_name(name: str) -> str:
    if not _NAME.match(name) or name in SYSTEM_TABLES:
        raise FmslabError(f"invalid catalog table name '{name}'")
    return name


def _spec(name: str) -> TableSpec:
    _check_name(name)
    found = TABLES.get(name)
    if found is None:
        raise CatalogSchemaError(
            f"'{name}' is not a declared catalog table (declared: {', '.join(sorted(TABLES))}); "
            f"declare it in fmslab.catalog_tables"
        )
    return found


# --- schema versions and migrations --------------------------------------------------------------


def _declared_ddl(spec: TableSpec, extra: Iterable[str] = ()) -> str:
    key = set(spec.key)
    cols = [f'"{c}" {t}{" NOT NULL" if c in key else ""}' for c, t in spec.columns]
    cols += [f'"{c}" VARCHAR' for c in extra]
    cols.append('"run_id" VARCHAR')
    if spec.key:
        cols.append("PRIMARY KEY (" + ", ".join(f'"{c}"' for c in spec.key) + ")")
    return f'CREATE TABLE "{spec.name}" ({", ".join(cols)})'


def _migrate_0_to_1(con: duckdb.DuckDBPyConnection) -> None:
    """Catalogs of fmslab before declared tables: rebuild each known table from its declaration.

    Rows whose key is empty are dropped (they could never be replaced), columns that are not
    declared are dropped from closed tables; both are logged.
    """
    for name in [t for t in table_names(con) if t in TABLES]:
        spec = TABLES[name]
        old = con.execute(f'SELECT * FROM "{name}"').df().drop(columns="run_id", errors="ignore")
        run_ids = con.execute(f'SELECT * FROM "{name}"').df().get("run_id")
        if not spec.open_text:
            dropped = [c for c in old.columns if spec.column_type(c) is None]
            if dropped:
                log.warning("migration: %s: dropped undeclared column(s) %s", name, dropped)
            old = old.drop(columns=dropped)
        if spec.key:
            empty = old[list(c for c in spec.key if c in old.columns)].isna().any(axis=1)
            if len(spec.key) > sum(c in old.columns for c in spec.key):
                empty[:] = True
            if empty.any():
                log.warning("migration: %s: dropped %d row(s) with an empty key", name, empty.sum())
            old = old[~empty]
        typed = conform(spec, old)
        if run_ids is not None:
            typed["run_id"] = run_ids[typed.index].astype("string").to_numpy()
        con.execute(f'DROP TABLE "{name}"')
        _create(
            con, spec, [c for c in typed.columns if c != "run_id" and spec.column_type(c) is None]
        )
        _insert(con, name, typed)


#: ``{version: step}``: the step that brings a catalog from ``version - 1`` to ``version``.
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {1: _migrate_0_to_1}


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The catalog's schema version (0: a catalog from before versions were recorded)."""
    if "schema_version" not in table_names(con):
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _ensure_schema(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    user_tables = [t for t in table_names(con) if t not in SYSTEM_TABLES]
    version = schema_version(con)
    if version > SCHEMA_VERSION:
        raise FmslabError(
            f"{db_path}: the catalog has schema version {version}, newer than this fmslab's "
            f"({SCHEMA_VERSION}); upgrade fmslab"
        )
    if version == SCHEMA_VERSION:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_SCHEMA)
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER, fmslab VARCHAR, migrated_at TIMESTAMPTZ)"
        )
        if user_tables or version > 0:  # an existing catalog: migrate it step by step
            for step in range(version + 1, SCHEMA_VERSION + 1):
                log.info("%s: migrating the catalog to schema version %d", db_path, step)
                MIGRATIONS[step](con)
        import fmslab

        con.execute(
            "INSERT INTO schema_version VALUES (?, ?, ?)",
            [SCHEMA_VERSION, fmslab.__version__, now_utc()],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@contextmanager
def connect(
    db_path: str | Path,
    *,
    read_only: bool = False,
    lock_timeout_s: float = 120.0,
    command: str = "",
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the catalog under its lock, creating it (and its system tables) if needed.

    A catalog of an older schema version is migrated when opened for writing.
    """
    db_path = Path(db_path)
    if read_only and not db_path.exists():
        raise FmslabError(f"{db_path}: no catalog here yet (run 'fmslab study catalog' first)")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(db_path, lock_timeout_s, command):
        try:
            con = duckdb.connect(str(db_path), read_only=read_only)
        except duckdb.Error as exc:
            raise CatalogBusyError(f"{db_path}: cannot open the catalog: {exc}") from exc
        try:
            if read_only:
                if schema_version(con) > SCHEMA_VERSION:
                    raise FmslabError(
                        f"{db_path}: the catalog has schema version {schema_version(con)}, newer "
                        f"than this fmslab's ({SCHEMA_VERSION}); upgrade fmslab"
                    )
            else:
                _ensure_schema(con, db_path)
            yield con
        finally:
            con.close()


@contextmanager
def _locked(db_path: Path, timeout_s: float, command: str = "") -> Iterator[None]:
    """Hold the catalog's lock file ``DB.lock``; fail with CatalogBusyError after ``timeout_s``."""
    with hold_lock(
        Path(str(db_path) + ".lock"),
        timeout_s=timeout_s,
        command=command,
        what=f"{db_path}: the catalog",
        error=CatalogBusyError,
    ):
        yield


def catalog_lock_holder(db_path: str | Path) -> dict[str, Any]:
    """Who holds the catalog's lock (pid, host, command, since), or last held it; ``{}``: free."""
    return lock_holder(Path(str(db_path) + ".lock"))


def table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def read_table(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """A whole catalog table as a DataFrame."""
    if name not in table_names(con):
        raise FmslabError(
            f"the catalog has no table '{name}' (it has: {', '.join(table_names(con))})"
        )
    return con.execute(f'SELECT * FROM "{name}"').df()


# --- fitting a frame to its declaration ----------------------------------------------------------


def _first_bad(mask: pd.Series, values: pd.Series) -> str:
    pos = int(np.flatnonzero(mask.to_numpy())[0])
    value = values.iloc[pos]
    shown = repr(value) if isinstance(value, str) else str(value)
    return f"row {pos + 1} has {shown}"


_TRUE = {"true", "t", "yes", "1"}
_FALSE = {"false", "f", "no", "0"}


def _to_bool(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return pd.NA
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer | float | np.floating) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None  # not a truth value


def _conform_column(table: str, column: str, kind: str, s: pd.Series) -> pd.Series:
    where = f"table '{table}', column '{column}'"
    present = s.notna()
    if kind == "VARCHAR":
        if isinstance(s.dtype, pd.StringDtype):
            return s.astype("string")  # already text (e.g. a catalog part read back from Parquet)
        if s.dtype == bool or pd.api.types.is_bool_dtype(s.dtype):
            out = s.map(lambda v: pd.NA if pd.isna(v) else str(bool(v)).lower())
        elif s.dtype == object and all(isinstance(v, str) for v in s[present]):
            out = s.where(present, None)  # text with gaps: no per-value conversion needed
        else:
            out = s.map(lambda v: pd.NA if pd.isna(v) else str(v))
        return out.astype("string")
    if kind == "BOOLEAN":
        out = s.map(_to_bool)
        bad = present & out.isna()
        if bad.any():
            raise CatalogSchemaError(f"{where}: {_first_bad(bad, s)}, not a BOOLEAN (true/false)")
        return out.astype("boolean")
    if pd.api.types.is_bool_dtype(s.dtype):
        raise CatalogSchemaError(f"{where}: true/false values where a number ({kind}) is declared")
    num = pd.to_numeric(s, errors="coerce")
    bad = present & num.isna()
    if bad.any():
        raise CatalogSchemaError(f"{where}: {_first_bad(bad, s)}, not a number ({kind})")
    if kind == "DOUBLE":
        return num.astype("float64")
    finite = num.dropna()
    frac = ~np.isfinite(finite) | (finite % 1 != 0)
    if frac.any():
        mask = pd.Series(False, index=s.index)
        mask[finite.index[frac.to_numpy()]] = True
        raise CatalogSchemaError(f"{where}: {_first_bad(mask, s)}, not a whole number (BIGINT)")
    return num.astype("Int64")


def conform(spec: TableSpec, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` typed as its declaration says; raises :class:`CatalogSchemaError` when it does not fit.

    Refused: a column that is not declared (unless the table stores extra columns as text), a value
    that is not of its column's type, a key column that is missing, empty, or not unique.
    """
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise CatalogSchemaError(f"table '{spec.name}': column(s) {dup} given twice")
    undeclared = [c for c in cols if c != "run_id" and spec.column_type(c) is None]
    if undeclared and not spec.open_text:
        raise CatalogSchemaError(
            f"table '{spec.name}': column '{undeclared[0]}' is not declared "
            f"(declared: {', '.join(spec.column_names)}); declare it in fmslab.catalog_tables"
        )
    for c in undeclared:  # a sheet's own columns are text; a computed column must be declared
        values = df[c].dropna()
        if (
            pd.api.types.is_numeric_dtype(df[c])
            or pd.api.types.is_bool_dtype(df[c])
            or not all(isinstance(v, str) for v in values)
        ):
            raise CatalogSchemaError(
                f"table '{spec.name}': column '{c}' is not declared and holds non-text values "
                f"(only a sheet's own text columns may be stored undeclared); declare it in "
                f"fmslab.catalog_tables"
            )
    missing = [k for k in spec.key if k not in cols]
    if missing and len(df.columns):
        raise CatalogSchemaError(f"table '{spec.name}': key column '{missing[0]}' is missing")
    columns = {
        str(c): _conform_column(spec.name, str(c), spec.column_type(str(c)) or "VARCHAR", df[c])
        for c in df.columns
        if c != "run_id"
    }
    out = pd.DataFrame(columns, index=df.index)
    for k in spec.key:
        if k not in out.columns:
            continue
        empty = out[k].isna()
        if spec.column_type(k) == "VARCHAR":
            empty |= out[k].fillna("").str.strip() == ""
        if empty.any():
            raise CatalogSchemaError(
                f"table '{spec.name}', key column '{k}': row "
                f"{int(np.flatnonzero(empty.to_numpy())[0]) + 1} is empty; keys may not be NULL"
            )
    if spec.key and len(out) and all(k in out.columns for k in spec.key):
        dup = out.duplicated(subset=list(spec.key), keep=False)
        if dup.any():
            first = out.loc[dup, list(spec.key)].iloc[0].tolist()
            raise CatalogSchemaError(
                f"table '{spec.name}': key ({', '.join(spec.key)}) = {tuple(first)} occurs "
                f"{int(dup.sum())} times; the key must be unique"
            )
    return out.reset_index(drop=True)


# --- sources of comparisons ----------------------------------------------------------------------


def source_sidecar(path: str | Path) -> Path:
    """Where :func:`fmslab.pipeline.steps.export_table` notes which catalog table a file holds."""
    return Path(str(path) + ".source.json")


def normalise_source(source: str, study_root: str | Path | None = None) -> str:
    """The one spelling of a comparison's source: a catalog table name or a study-relative path.

    ``catalog:ephys_cells`` and ``ephys_cells`` give ``ephys_cells``; a file exported from a catalog
    table (it has a ``.source.json`` note beside it) gives that table's name (with its filter, if
    any); any other file gives its path relative to the study (absolute when outside it).
    """
    text = str(source).strip()
    if text.startswith("catalog:"):
        text = text.removeprefix("catalog:")
    if _NAME.match(text):
        return text
    path = Path(text)
    note = source_sidecar(path)
    if note.is_file():
        try:
            meta = json.loads(note.read_text(encoding="utf-8"))
            table = str(meta["catalog_table"])
            where = meta.get("where")
            return table if not where else f"{table} where {where}"
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("%s: unreadable source note; using the file's path", note)
    resolved = path.resolve()
    if study_root is not None:
        try:
            return resolved.relative_to(Path(study_root).resolve()).as_posix()
        except ValueError:
            pass
    return resolved.as_posix()


def _infer_study_root(db_path: Path) -> Path | None:
    for folder in list(db_path.resolve().parents)[:3]:
        if (folder / "study.yaml").is_file():
            return folder
    return None


# --- writing -------------------------------------------------------------------------------------


def _create(con: duckdb.DuckDBPyConnection, spec: TableSpec, extra: list[str]) -> None:
    con.execute(_declared_ddl(spec, extra))


def _stored_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [name],
        ).fetchall()
    ]


def _insert(con: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame) -> None:
    if not len(df):
        return
    con.register("_fmslab_new", df)
    try:
        con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _fmslab_new')
    except duckdb.ConstraintException as exc:
        raise CatalogSchemaError(f"table '{name}': {exc}") from exc
    finally:
        con.unregister("_fmslab_new")


def _prepare(con: duckdb.DuckDBPyConnection, spec: TableSpec, df: pd.DataFrame) -> None:
    """Create the table from its declaration, or add this frame's extra text columns."""
    extra = [c for c in df.columns if c != "run_id" and spec.column_type(c) is None]
    if spec.name not in table_names(con):
        _create(con, spec, extra)
        return
    stored = set(_stored_columns(con, spec.name))
    for c, kind in spec.columns:  # declared after the table was created: nullable, added in place
        if c not in stored and c not in spec.key:
            log.info("catalog: %s: new declared column '%s' %s", spec.name, c, kind)
            con.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN "{c}" {kind}')
    for c in extra:
        if c not in stored:
            log.info("catalog: %s: new text column '%s' (from a sheet)", spec.name, c)
            con.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN "{c}" VARCHAR')


def _scope_frame(spec: TableSpec, scope: pd.DataFrame | None) -> pd.DataFrame | None:
    if scope is None:
        return None
    frame = scope[list(spec.scope)].drop_duplicates().reset_index(drop=True)
    return frame


def _delete_scope(con: duckdb.DuckDBPyConnection, name: str, scope: pd.DataFrame | None) -> None:
    if name not in table_names(con):
        return
    if scope is None:
        con.execute(f'DELETE FROM "{name}"')
        return
    if not len(scope):
        return
    con.register("_fmslab_scope", scope)
    try:
        cond = " AND ".join(f't."{c}" IS NOT DISTINCT FROM s."{c}"' for c in scope.columns)
        con.execute(
            f'DELETE FROM "{name}" AS t WHERE EXISTS (SELECT 1 FROM _fmslab_scope AS s WHERE {cond})'
        )
    finally:
        con.unregister("_fmslab_scope")


@dataclass
class CatalogSession:
    """One run's view of the catalog: everything it writes is committed together at the end."""

    con: duckdb.DuckDBPyConnection
    run: RunRecord
    db_path: Path
    study_root: Path | None = None
    written: dict[str, int] = field(default_factory=dict)

    def _normalised(self, spec: TableSpec, df: pd.DataFrame) -> pd.DataFrame:
        if not spec.source_columns or not len(df):
            return df
        df = df.copy()
        for c in spec.source_columns:
            if c in df.columns:
                df[c] = [
                    v if pd.isna(v) else normalise_source(str(v), self.study_root) for v in df[c]
                ]
        return df

    def _scope_of(self, spec: TableSpec, scope: Any) -> pd.DataFrame | None:
        if scope is None:
            return None
        frame = pd.DataFrame(scope) if not isinstance(scope, pd.DataFrame) else scope.copy()
        if list(frame.columns) != list(spec.scope) and set(frame.columns) != set(spec.scope):
            raise CatalogSchemaError(
                f"family '{spec.family}': a run's scope is named by {list(spec.scope)}, "
                f"not {list(frame.columns)}"
            )
        frame = self._normalised(spec, frame)
        typed = pd.DataFrame(
            {
                c: _conform_column(spec.name, c, spec.column_type(c) or "VARCHAR", frame[c])
                for c in spec.scope
            }
        )
        if typed.isna().any(axis=None):
            raise CatalogSchemaError(f"family '{spec.family}': a scope value is empty")
        return typed.drop_duplicates().reset_index(drop=True)

    def write_scope(
        self,
        family: str,
        frames: Mapping[str, pd.DataFrame],
        *,
        scope: pd.DataFrame | Mapping[str, Iterable[Any]] | None,
    ) -> None:
        """Replace one run's scope in every table of ``family``, results and errors together.

        Parameters
        ----------
        family
            The family of tables (:data:`fmslab.catalog_tables.FAMILIES`), e.g. ``"ephys"``.
        frames
            New rows per table; a table of the family that is not given gets no new rows (its
            rows of the scope are still removed: a file that failed before and succeeds now
            leaves no error row behind).
        scope
            What the run analysed, by the family's scope columns (e.g. ``{"file": names}``);
            ``None`` for families replaced whole. Every new row must lie inside the scope.
        """
        if family not in FAMILIES:
            raise CatalogSchemaError(
                f"unknown table family '{family}' (known: {', '.join(sorted(FAMILIES))})"
            )
        names = FAMILIES[family]
        unknown = sorted(set(frames) - set(names))
        if unknown:
            raise CatalogSchemaError(f"table(s) {unknown} are not of family '{family}' ({names})")
        first = TABLES[names[0]]
        if scope is None and first.scope:
            raise CatalogSchemaError(
                f"family '{family}' is replaced by scope {list(first.scope)}: give the run's scope"
            )
        if scope is not None and not first.scope:
            raise CatalogSchemaError(f"family '{family}' is replaced whole: give scope=None")
        scope_df = self._scope_of(first, scope)
        for name in names:
            spec = TABLES[name]
            df = self._normalised(spec, frames.get(name, pd.DataFrame()))
            typed = conform(spec, df) if len(df.columns) else pd.DataFrame()
            if scope_df is not None and len(typed):
                inside = (
                    typed[list(spec.scope)]
                    .merge(scope_df.drop_duplicates(), how="left", indicator=True)["_merge"]
                    .eq("both")
                )
                if not inside.all():
                    row = typed.loc[~inside.to_numpy(), list(spec.scope)].iloc[0].tolist()
                    raise CatalogSchemaError(
                        f"table '{name}': a row with {dict(zip(spec.scope, row, strict=True))} "
                        f"lies outside the run's scope"
                    )
            self._put(spec, typed, scope_df)

    def _put(self, spec: TableSpec, typed: pd.DataFrame, scope: pd.DataFrame | None) -> None:
        if len(typed.columns):
            _prepare(self.con, spec, typed)
        elif spec.name not in table_names(self.con):
            _create(self.con, spec, [])
        _delete_scope(self.con, spec.name, scope)
        if len(typed):
            typed = typed.assign(run_id=self.run.run_id)
            _insert(self.con, spec.name, typed)
        self.written[spec.name] = self.written.get(spec.name, 0) + len(typed)
        log.debug("catalog: wrote %d rows to %s", len(typed), spec.name)

    def write_table(
        self, name: str, df: pd.DataFrame, *, replace_on: list[str] | None = None
    ) -> None:
        """Store one declared table, tagged with this run's id in a ``run_id`` column.

        Parameters
        ----------
        name
            A declared table (:mod:`fmslab.catalog_tables`).
        df
            The rows; refused when they do not fit the declaration.
        replace_on
            Key columns: rows of the existing table with the same keys (``IS NOT DISTINCT FROM``)
            are replaced and other rows kept. ``None`` replaces the whole table. Prefer
            :meth:`write_scope`, which also clears the other tables of the run's family.
        """
        spec = _spec(name)
        missing = [c for c in replace_on or [] if c not in df.columns]
        if missing:
            raise FmslabError(f"table '{name}': replace_on column(s) {missing} not in the table")
        df = self._normalised(spec, df)
        typed = conform(spec, df)
        scope = None
        if replace_on:
            scope = pd.DataFrame(
                {
                    c: _conform_column(name, c, spec.column_type(c) or "VARCHAR", typed[c])
                    for c in replace_on
                }
            ).drop_duplicates()
            if scope.isna().any(axis=None):
                raise CatalogSchemaError(
                    f"table '{name}': a replace_on column ({', '.join(replace_on)}) is empty in a "
                    f"row; keys may not be NULL"
                )
        self._put(spec, typed, scope)

    def read_table(self, name: str) -> pd.DataFrame:
        return read_table(self.con, name)

    def has_table(self, name: str) -> bool:
        return name in table_names(self.con)

    def record_inputs(self, paths: Iterable[str | Path], *, progress: bool = False) -> pd.DataFrame:
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
        paths = list(paths)
        with progress_bar(len(paths), "Hashing inputs", enabled=progress) as advance:
            for p in paths:
                path = str(Path(p).resolve())
                st = os.stat(path)
                sha = known.get((path, st.st_size, st.st_mtime_ns)) or sha256_file(path)
                rows.append((self.run.run_id, path, st.st_size, st.st_mtime_ns, sha))
                advance(label=Path(path).name)
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
        chosen = (
            list(names)
            if names is not None
            else [t for t in table_names(self.con) if t not in SYSTEM_TABLES]
        )
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
    study_root: str | Path | None = None,
    defer: bool = False,
) -> Iterator[CatalogSession]:
    """Open the catalog for one run; commit its writes and its ``runs`` row at the end.

    On an exception the run's writes are rolled back, the run is recorded as ``failed`` with the
    error message, and the exception propagates. ``study_root`` (default: the study folder holding
    the catalog, if any) is what comparison sources are made relative to.

    With ``defer=True`` the catalog is not opened: the run's writes are checked against the declared
    tables and written as a part beside the catalog, for :func:`fmslab.catalog_parts.ingest` to
    load later (cluster jobs; see :mod:`fmslab.catalog_parts`).
    """
    db_path = Path(db_path)
    root = Path(study_root) if study_root is not None else _infer_study_root(db_path)
    if defer:
        from fmslab.catalog_parts import deferred_session

        with deferred_session(
            db_path, command=command, parameters=parameters, study_root=root
        ) as ses:
            yield ses
        return
    run = RunRecord(command=command, parameters=parameters)
    with connect(db_path, lock_timeout_s=lock_timeout_s, command=command) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            yield CatalogSession(con=con, run=run, db_path=db_path, study_root=root)
            run.finish("ok")
            _insert_run(con, run, None)
            con.execute("COMMIT")
        except BaseException as exc:
            con.execute("ROLLBACK")
            run.finish("failed")
            _insert_run(con, run, f"{type(exc).__name__}: {exc}")
            raise


# --- deferred writes (fmslab.catalog_parts) --------------------------------------------------
@contextmanager
def scratch_session(
    run: RunRecord, study_root: str | Path | None = None
) -> Iterator[CatalogSession]:
    """A session on an empty in-memory catalog: checks writes exactly as a real one, keeps nothing."""
    con = duckdb.connect(":memory:")
    try:
        _ensure_schema(con, Path(":memory:"))
        con.execute("BEGIN TRANSACTION")
        root = Path(study_root) if study_root is not None else None
        yield CatalogSession(con=con, run=run, db_path=Path(":memory:"), study_root=root)
    finally:
        con.close()


def record_run(con: duckdb.DuckDBPyConnection, run: RunRecord, message: str | None) -> None:
    """Insert (or replace) a run's row in ``runs``."""
    _insert_run(con, run, message)


def insert_inputs(con: duckdb.DuckDBPyConnection, run_id: str, inputs: pd.DataFrame) -> None:
    """Record a run's inputs (``path, size_bytes, mtime_ns, sha256``) in ``inputs``."""
    rows = [
        (run_id, str(r.path), int(r.size_bytes), int(r.mtime_ns), str(r.sha256))
        for r in inputs.itertuples(index=False)
    ]
    if rows:
        con.executemany("INSERT INTO inputs VALUES (?, ?, ?, ?, ?)", rows)


def ingested_part_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the parts already loaded (creating the ``ingested_parts`` table if needed)."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS ingested_parts ("
        "part VARCHAR PRIMARY KEY, run_id VARCHAR, ingested_at TIMESTAMPTZ)"
    )
    return {r[0] for r in con.execute("SELECT part FROM ingested_parts").fetchall()}


def mark_part_ingested(con: duckdb.DuckDBPyConnection, part: str, run_id: str) -> None:
    con.execute("INSERT INTO ingested_parts VALUES (?, ?, ?)", [part, run_id, now_utc()])


def query(db_path: str | Path, sql: str, *, lock_timeout_s: float = 120.0) -> pd.DataFrame:
    """Run one SQL statement on the catalog, read-only, and return the result."""
    with connect(db_path, read_only=True, lock_timeout_s=lock_timeout_s) as con:
        try:
            return con.execute(sql).df()
        except duckdb.Error as exc:
            raise FmslabError(f"query failed: {exc}") from exc
