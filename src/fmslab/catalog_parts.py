"""Deferred catalog writes: a run's tables as a Parquet *part*, loaded later by one ingest step.

On a cluster, many jobs at once writing one embedded database on a shared filesystem (NFS, Lustre)
is where embedded databases break: ``flock`` does not hold across nodes on every filesystem, a
stale lock stalls the study, and every job rewrites the file. So a job run with
``defer=True`` (``--defer-catalog`` on the command line; the workflow passes it to every cluster
job) never opens the catalog: it writes what it would have written as a part,

    STUDY/results/catalog_parts/<started_at>_<run_id>/
        part.json        the run record (command, parameters, versions, times, status, message)
                         and the list of writes in order
        NNN_TABLE.parquet, NNN_scope.parquet   the rows and the scope of write NNN
        inputs.parquet   the inputs the run read (path, size, mtime, sha256)

into a temporary folder that is renamed into place when complete (a killed job leaves no part,
only a ``.tmp-*`` folder that ingest ignores, and removes once it is an hour old). :func:`ingest`, the only writer, then
replays every part not yet ingested through the ordinary catalog session (the same declared
tables and run-scoped replacement as a direct write), oldest run first, one transaction per part
that also records the part in ``ingested_parts``: ingesting twice, or again after a crash halfway,
gives the same catalog.

Rows are validated against the declared tables when the part is written, so a job whose rows do
not fit fails in the job (with the column and the reason), not later at ingest.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.errors import FmslabError
from fmslab.provenance import RunRecord, sha256_file

log = logging.getLogger(__name__)

PARTS_DIRNAME = "catalog_parts"
PART_FORMAT = 1
TMP_MAX_AGE_S = 3600.0


def parts_dir_for(db_path: str | Path) -> Path:
    """Where the parts of a catalog live: ``catalog_parts/`` beside the database file."""
    return Path(db_path).parent / PARTS_DIRNAME


@dataclass
class PartSession:
    """Collects one run's catalog writes for a part (same write methods as a catalog session).

    A deferred run cannot read the catalog (another job may be ingesting it), so reads are refused
    and :meth:`previous_inputs` is empty (no reuse of earlier results across deferred runs).
    """

    run: RunRecord
    db_path: Path
    study_root: Path | None = None
    checker: Any = None  # a catalog session on an empty in-memory catalog: the same checks
    writes: list[dict[str, Any]] = field(default_factory=list)
    inputs: pd.DataFrame | None = None

    def write_scope(
        self,
        family: str,
        frames: Mapping[str, pd.DataFrame],
        *,
        scope: pd.DataFrame | Mapping[str, Iterable[Any]] | None,
    ) -> None:
        """Record a run-scoped replacement (see ``CatalogSession.write_scope``)."""
        self.checker.write_scope(family, frames, scope=scope)
        scope_df = None if scope is None else pd.DataFrame(scope).reset_index(drop=True)
        self.writes.append(
            {"kind": "scope", "name": family, "frames": dict(frames), "scope": scope_df}
        )

    def write_table(
        self, name: str, df: pd.DataFrame, *, replace_on: list[str] | None = None
    ) -> None:
        """Record a keyed or whole-table replacement (see ``CatalogSession.write_table``)."""
        self.checker.write_table(name, df, replace_on=replace_on)
        self.writes.append(
            {"kind": "table", "name": name, "frames": {name: df}, "replace_on": replace_on}
        )

    def record_inputs(self, paths: Iterable[str | Path], *, progress: bool = False) -> pd.DataFrame:
        """Hash the run's inputs now (on the compute node); stored with the part."""
        rows = []
        for p in paths:
            path = str(Path(p).resolve())
            st = os.stat(path)
            rows.append((path, st.st_size, st.st_mtime_ns, sha256_file(path)))
        frame = pd.DataFrame(rows, columns=["path", "size_bytes", "mtime_ns", "sha256"])
        self.inputs = frame if self.inputs is None else pd.concat([self.inputs, frame])
        return frame

    def previous_inputs(self, command: str) -> pd.DataFrame:
        return pd.DataFrame(columns=["path", "sha256"])

    def read_table(self, name: str) -> pd.DataFrame:
        raise FmslabError(
            f"a run with a deferred catalog (--defer-catalog) cannot read catalog table '{name}'"
        )

    def has_table(self, name: str) -> bool:
        raise FmslabError("a run with a deferred catalog (--defer-catalog) cannot read the catalog")


def _stamp(run: RunRecord) -> str:
    return f"{run.started_at.strftime('%Y%m%dT%H%M%S%fZ')}_{run.run_id}"


def write_part(session: PartSession, *, message: str | None = None) -> Path:
    """Write the session's part atomically (temporary folder renamed into place); its path."""
    parts = parts_dir_for(session.db_path)
    parts.mkdir(parents=True, exist_ok=True)
    name = _stamp(session.run)
    tmp = parts / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    entries = []
    for k, w in enumerate(session.writes):
        entry: dict[str, Any] = {"kind": w["kind"], "name": w["name"], "tables": {}}
        for table, df in w["frames"].items():
            fname = f"{k:03d}_{table}.parquet"
            df.reset_index(drop=True).to_parquet(tmp / fname, index=False)
            entry["tables"][table] = fname
        if w["kind"] == "scope" and w["scope"] is not None:
            entry["scope"] = f"{k:03d}_scope.parquet"
            w["scope"].to_parquet(tmp / entry["scope"], index=False)
        if w["kind"] == "table":
            entry["replace_on"] = w["replace_on"]
        entries.append(entry)
    if session.inputs is not None and len(session.inputs):
        session.inputs.reset_index(drop=True).to_parquet(tmp / "inputs.parquet", index=False)
    meta = {
        "format": PART_FORMAT,
        "run": session.run.to_dict(),
        "message": message,
        "study_root": str(session.study_root) if session.study_root else None,
        "writes": entries,
    }
    (tmp / "part.json").write_text(json.dumps(meta, indent=1, default=str))
    for f in tmp.iterdir():  # the part's bytes are on disk before it becomes visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    final = parts / name
    os.rename(tmp, final)
    return final


@contextmanager
def deferred_session(
    db_path: str | Path,
    *,
    command: str,
    parameters: dict[str, Any],
    study_root: str | Path | None = None,
) -> Iterator[PartSession]:
    """Collect one run's catalog writes and write them as a part at its end.

    A run that fails writes a part with status ``failed`` and no tables (ingest records the failed
    run, as a direct write would), then the exception propagates.
    """
    from fmslab.catalog import scratch_session

    run = RunRecord(command=command, parameters=parameters)
    root = Path(study_root) if study_root else None
    with scratch_session(run, root) as checker:
        ses = PartSession(run=run, db_path=Path(db_path), study_root=root, checker=checker)
        try:
            yield ses
        except BaseException as exc:
            run.finish("failed")
            ses.writes.clear()
            ses.inputs = None
            write_part(ses, message=f"{type(exc).__name__}: {exc}")
            raise
        run.finish("ok")
        write_part(ses)


def _load_run(meta: dict[str, Any]) -> RunRecord:
    r = meta["run"]
    run = RunRecord(command=r["command"], parameters=r["parameters"])
    run.run_id = r["run_id"]
    run.started_at = datetime.fromisoformat(r["started_at"])
    run.finished_at = datetime.fromisoformat(r["finished_at"]) if r["finished_at"] else None
    run.status = r["status"]
    run.versions = r["versions"]
    run.platform = r["platform"]
    return run


def pending_parts(db_path: str | Path) -> list[Path]:
    """Complete parts beside the catalog, oldest run first (temporary folders are not parts)."""
    parts = parts_dir_for(db_path)
    if not parts.is_dir():
        return []
    return sorted(p for p in parts.iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did."""

    ingested: list[str]
    already: int
    failed_runs: list[str]
    removed_tmp: int


def ingest(db_path: str | Path, *, lock_timeout_s: float = 120.0) -> IngestReport:
    """Load every part not yet in the catalog, oldest first, one transaction per part.

    Idempotent: a part is recorded in ``ingested_parts`` in the same transaction as its rows, so
    a second ingest, or one after a crash halfway, loads exactly the parts still missing.
    """
    from fmslab import catalog

    db_path = Path(db_path)
    parts_root = parts_dir_for(db_path)
    removed = 0
    ingested: list[str] = []
    failed: list[str] = []
    already = 0
    with catalog.connect(db_path, lock_timeout_s=lock_timeout_s, command="study ingest") as con:
        done = catalog.ingested_part_ids(con)
        for part in pending_parts(db_path):
            if part.name in done:
                already += 1
                continue
            meta = json.loads((part / "part.json").read_text())
            if meta.get("format") != PART_FORMAT:
                raise FmslabError(f"{part}: catalog part format {meta.get('format')} is not known")
            run = _load_run(meta)
            inputs = (
                pd.read_parquet(part / "inputs.parquet")
                if (part / "inputs.parquet").is_file()
                else None
            )
            root = Path(meta["study_root"]) if meta.get("study_root") else None
            con.execute("BEGIN TRANSACTION")
            try:
                ses = catalog.CatalogSession(con=con, run=run, db_path=db_path, study_root=root)
                for w in meta["writes"]:
                    frames = {t: pd.read_parquet(part / f) for t, f in w["tables"].items()}
                    if w["kind"] == "scope":
                        scope = pd.read_parquet(part / w["scope"]) if w.get("scope") else None
                        ses.write_scope(w["name"], frames, scope=scope)
                    else:
                        ses.write_table(w["name"], frames[w["name"]], replace_on=w["replace_on"])
                if inputs is not None:
                    catalog.insert_inputs(con, run.run_id, inputs)
                catalog.record_run(con, run, meta.get("message"))
                catalog.mark_part_ingested(con, part.name, run.run_id)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            ingested.append(part.name)
            if run.status != "ok":
                failed.append(f"{run.command} ({run.run_id}): {meta.get('message')}")
            log.info("ingested %s (%s, %d write(s))", part.name, run.command, len(meta["writes"]))
    if (
        parts_root.is_dir()
    ):  # temporary folders of jobs killed over an hour ago (not of running ones)
        cutoff = time.time() - TMP_MAX_AGE_S
        for tmp in parts_root.glob(".tmp-*"):
            if tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
    return IngestReport(ingested=ingested, already=already, failed_runs=failed, removed_tmp=removed)
