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


def _umask() -> int:
    """This process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # pragma: no cover - not Linux
    os.umask(old)
    return old


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clear_stale_temps(path: Path) -> None:
    """Remove temporary files of ``path`` left by processes that died before renaming them."""
    for tmp in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        parts = tmp.name[len(path.name) + 2 :].split(".")
        if parts and parts[0].isdigit() and not _pid_alive(int(parts[0])):
            tmp.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary file lives in the same folder so that the rename is atomic on POSIX; its name
    carries this process's id, so that a temporary file left by a killed process is recognised and
    removed by the next write of the same output. The result gets the permissions of a file
    created normally (``0666`` less the umask), not ``mkstemp``'s private ``0600``. On an
    exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale_temps(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
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
    return [
        write_table(df, stem.with_suffix(".csv")),
        write_table(df, stem.with_suffix(".parquet")),
    ]
