"""Reuse of results by content hash: unchanged input + same parameters + same fmslab version.

Entries are folders ``ROOT/STEP/KEY/`` holding one Parquet file per table (or, for a cache made
with ``fmt="pickle"``, one ``tables.pkl`` holding all of them), written atomically; an entry counts
only once its ``done.json`` marker exists.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import fmslab
from fmslab.atomic import write_json, write_table, write_with
from fmslab.provenance import sha256_json


def cache_key(*, input_sha256: str, parameters: dict[str, Any], step: str) -> str:
    """Key of one result: the input's hash, the parameters, the step and the fmslab version."""
    return sha256_json(
        {
            "input": input_sha256,
            "parameters": parameters,
            "step": step,
            "fmslab": fmslab.__version__,
        }
    )[:32]


@dataclass(frozen=True)
class ResultCache:
    root: Path
    #: ``"parquet"``: one file per table, readable by other tools; ``"pickle"``: one file for all
    #: tables, about 10x faster to write for small tables (fmslab's own batch caches, which only
    #: fmslab reads back from the run's own output folder; never point a cache at files from
    #: someone else: unpickling runs code)
    fmt: str = "parquet"

    def _entry(self, step: str, key: str) -> Path:
        return Path(self.root) / step / key

    def get(self, step: str, key: str) -> dict[str, pd.DataFrame] | None:
        """The tables stored under ``key``, or None when there is no complete entry."""
        entry = self._entry(step, key)
        if not (entry / "done.json").is_file():
            return None
        pkl = entry / "tables.pkl"
        if pkl.is_file():
            with pkl.open("rb") as fh:
                return pickle.load(fh)
        return {p.stem: pd.read_parquet(p) for p in sorted(entry.glob("*.parquet"))}

    def put(
        self,
        step: str,
        key: str,
        tables: dict[str, pd.DataFrame],
        meta: dict[str, Any] | None = None,
    ) -> None:
        entry = self._entry(step, key)
        if self.fmt == "pickle":
            blob = pickle.dumps(dict(tables), protocol=pickle.HIGHEST_PROTOCOL)
            write_with(entry / "tables.pkl", lambda p: Path(p).write_bytes(blob))
        elif self.fmt == "parquet":
            for name, df in tables.items():
                write_table(df, entry / f"{name}.parquet")
        else:
            raise ValueError(f"unknown cache format {self.fmt!r} (parquet or pickle)")
        write_json(entry / "done.json", meta or {})
