"""Provenance: content hashes of inputs, versions of fmslab and its dependencies, run records."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import sys
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import fmslab

#: Packages whose versions are recorded with every run.
TRACKED_PACKAGES = (
    "numpy", "scipy", "pandas", "pyabf", "neo", "elephant", "statsmodels", "pydeseq2",
    "scanpy", "anndata", "matplotlib", "duckdb",
)  # fmt: skip

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's content, read in 1 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """SHA-256 of a JSON-serialisable object in canonical form (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    out = [("fmslab", fmslab.__version__), ("python", sys.version.split()[0])]
    for name in TRACKED_PACKAGES:
        try:
            out.append((name, version(name)))
        except PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)


def package_versions() -> dict[str, str]:
    """Versions of fmslab, Python and the tracked dependencies.

    Read from the installed packages' metadata once per process (installing a package while a
    process runs does not change the code it has imported).
    """
    return dict(_installed_versions())


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunRecord:
    """What one fmslab command did: stored in the catalog's ``runs`` table and beside outputs."""

    command: str
    parameters: dict[str, Any]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime = field(default_factory=now_utc)
    finished_at: datetime | None = None
    status: str = "running"
    versions: dict[str, str] = field(default_factory=package_versions)
    platform: str = field(default_factory=platform.platform)

    def finish(self, status: str = "ok") -> RunRecord:
        self.finished_at = now_utc()
        self.status = status
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return d
