"""Loading a study folder: ``study.yaml`` plus its sheets, typed and normalised."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fmslab.errors import InputError
from fmslab.study.schema import SEX_VALUES, SPECS, SheetSpec
from fmslab.study.sheets import SHEET_SUFFIXES, read_sheet

STUDY_FILE = "study.yaml"
REQUIRED_SHEETS = ("donors", "mice", "recordings")
KNOWN_KEYS = {
    "name",
    "description",
    "sheets",
    "unblinding",
    "catalog",
    "parameters",
    "groups",
    "contrasts",  # planned contrasts of `fmslab compare` (fmslab.compare.design.Contrast)
}


@dataclass(frozen=True)
class Study:
    """A loaded study. Frames hold the sheets with typed columns; paths are absolute.

    The unblinding key is *not* part of a study: analysis works on codes, and only the
    comparison step calls :func:`fmslab.study.unblind` with the key.
    """

    root: Path
    name: str
    config: dict[str, Any]
    sheet_paths: dict[str, Path]
    donors: pd.DataFrame
    mice: pd.DataFrame
    recordings: pd.DataFrame
    unblinding_path: Path | None = None

    @property
    def catalog_path(self) -> Path:
        """Default catalog: ``STUDY/results/fmslab.duckdb`` unless ``catalog:`` says otherwise."""
        return self.resolve(self.config.get("catalog", "results/fmslab.duckdb"))

    @property
    def results_dir(self) -> Path:
        return self.catalog_path.parent

    def resolve(self, relative: str | Path) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else (self.root / p).resolve()

    def recordings_of(self, modality: str) -> pd.DataFrame:
        """Recording rows of one modality, with ``abs_path`` added."""
        rows = self.recordings[self.recordings["modality"] == modality].copy()
        rows["abs_path"] = [str(self.resolve(p)) for p in rows["path"]]
        return rows


def read_config(root: Path) -> dict[str, Any]:
    """Read and check ``study.yaml``; raises :class:`InputError` naming the problem."""
    path = root / STUDY_FILE
    if not root.is_dir():
        raise InputError("study folder not found", file=root)
    if not path.is_file():
        raise InputError(f"no {STUDY_FILE} in the study folder", file=root)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", file=path) from exc
    if not isinstance(config, dict):
        raise InputError("must be a mapping of keys (name, sheets, ...)", file=path)
    unknown = sorted(set(config) - KNOWN_KEYS)
    if unknown:
        raise InputError(
            f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}",
            file=path,
        )
    sheets = config.get("sheets", {}) or {}
    if not isinstance(sheets, dict):
        raise InputError("'sheets' must map sheet names to files", file=path)
    return config


def sheet_paths(root: Path, config: dict[str, Any]) -> dict[str, Path]:
    """Where each required sheet is: from ``sheets:`` or ``NAME.csv``/``NAME.xlsx`` in the folder."""
    out: dict[str, Path] = {}
    declared = config.get("sheets", {}) or {}
    for name in REQUIRED_SHEETS:
        if name in declared:
            out[name] = (root / str(declared[name])).resolve()
            continue
        found = [root / f"{name}{s}" for s in SHEET_SUFFIXES if (root / f"{name}{s}").is_file()]
        out[name] = found[0] if found else root / f"{name}.csv"
    return out


def unblinding_path(root: Path, config: dict[str, Any], override: str | Path | None) -> Path | None:
    if override is not None:
        return Path(override).resolve()
    if config.get("unblinding"):
        return (root / str(config["unblinding"])).resolve()
    return None


def coerce(df: pd.DataFrame, spec: SheetSpec) -> pd.DataFrame:
    """Type the columns the spec knows (numbers, sex codes); other columns stay text."""
    df = df.copy()
    for col in spec.columns:
        if col.name not in df.columns:
            continue
        if col.kind == "number":
            df[col.name] = pd.to_numeric(df[col.name], errors="coerce").astype("float64")
        elif col.kind == "integer":
            df[col.name] = pd.to_numeric(df[col.name], errors="coerce").astype("Int64")
        elif col.kind == "sex":
            df[col.name] = df[col.name].str.lower().map(SEX_VALUES).astype("string")
    return df.reset_index(drop=True)


def load_study(root: str | Path, *, unblinding: str | Path | None = None) -> Study:
    """Load a study folder without checking cross-references (see :func:`validate_study`).

    Raises
    ------
    InputError
        ``study.yaml`` or a sheet is missing or unreadable.
    """
    root = Path(root).resolve()
    config = read_config(root)
    paths = sheet_paths(root, config)
    frames = {name: coerce(read_sheet(p), SPECS[name]) for name, p in paths.items()}
    return Study(
        root=root,
        name=str(config.get("name", root.name)),
        config=config,
        sheet_paths=paths,
        donors=frames["donors"],
        mice=frames["mice"],
        recordings=frames["recordings"],
        unblinding_path=unblinding_path(root, config, unblinding),
    )
