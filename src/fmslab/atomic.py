"""Atomic output: every file fmslab writes is written to a temporary file and renamed into place.

A reader (or a crash) never sees a half-written output file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary file lives in the same folder so that the rename is atomic on POSIX.
    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result onto ``path`` (for savefig and the like)."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame atomically as CSV or Parquet, chosen by the suffix of ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return write_with(path, lambda p: df.to_csv(p, index=False))
    if suffix == ".parquet":
        return write_with(path, lambda p: df.to_parquet(p, index=False))
    raise ValueError(f"{path}: unsupported table format '{suffix}' (use .csv or .parquet)")


def write_tables(df: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Write ``STEM.csv`` and ``STEM.parquet``; returns both paths."""
    stem = Path(stem)
    return [write_table(df, stem.with_suffix(".csv")), write_table(df, stem.with_suffix(".parquet"))]
