"""Reading what the report shows: the study's ``study.yaml``, its catalog tables and its figures.

Nothing here writes. The catalog is opened read-only; the unblinding key is never read (group
labels reach the report only through tables that comparisons produced with the key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fmslab.catalog import connect, read_table, table_names
from fmslab.errors import FmslabError
from fmslab.study.model import STUDY_FILE

log = logging.getLogger(__name__)

#: Report sections for the analysed modalities: (key, title, results folder, recordings modality,
#: catalog table prefixes).
MODALITIES: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("ephys", "Current clamp (DRG)", "ephys", "ephys_cc", ("ephys_",)),
    ("skinnerve", "Skin-nerve", "skinnerve", "skinnerve", ("skinnerve_",)),
    ("behaviour", "Behaviour", "behaviour", "behaviour", ("behaviour_", "vonfrey")),
    ("rnaseq", "RNA-seq", "rnaseq", "rnaseq", ("rnaseq_",)),
)
#: Results folders whose figures belong to the statistics section.
STATS_FOLDERS = ("compare", "figures")
#: Figure types embedded in the page.
FIGURE_SUFFIXES = (".png", ".svg")


@dataclass
class ReportData:
    """Everything the page is built from.

    Attributes
    ----------
    root
        The study folder.
    name, description
        From ``study.yaml`` (the folder name when it has no name).
    catalog_path
        ``STUDY/results/fmslab.duckdb``.
    tables
        Every catalog table by name, including ``runs`` and ``inputs``.
    figures
        Figure files by results folder (``ephys``, ``compare``, ...), sorted by path.
    error_files
        ``results/<folder>/errors.csv`` files (batch failures written beside the outputs).
    """

    root: Path
    name: str
    description: str
    catalog_path: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, list[Path]] = field(default_factory=dict)
    error_files: dict[str, Path] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)


def read_study_header(root: Path) -> tuple[str, str]:
    """Name and description from ``study.yaml``; the folder name if the file cannot be read."""
    path = root / STUDY_FILE
    try:
        config: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("%s: cannot read (%s); using the folder name", path, exc)
        config = {}
    if not isinstance(config, dict):
        config = {}
    name = str(config.get("name") or root.name)
    description = str(config.get("description") or "").strip()
    return name, description


def read_catalog_tables(db_path: Path) -> dict[str, pd.DataFrame]:
    """All tables of the catalog, read-only."""
    with connect(db_path, read_only=True) as con:
        return {name: read_table(con, name) for name in table_names(con)}


def find_figures(results: Path, folder: str, *, exclude: Path | None = None) -> list[Path]:
    """PNG/SVG files under ``results/folder`` (any depth), hidden folders and ``exclude`` skipped."""
    base = results / folder
    if not base.is_dir():
        return []
    found = []
    for path in base.rglob("*"):
        rel = path.relative_to(results)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if exclude is not None and path.resolve().is_relative_to(exclude.resolve()):
            continue
        if path.is_file() and path.suffix.lower() in FIGURE_SUFFIXES:
            found.append(path)
    return sorted(found, key=lambda p: str(p.relative_to(results)))


def collect(root: str | Path, *, exclude: Path | None = None) -> ReportData:
    """Gather the study header, catalog tables, figures and errors files of a study.

    Parameters
    ----------
    root
        Study folder (with ``study.yaml`` and ``results/fmslab.duckdb``).
    exclude
        A folder whose figures are ignored (the report's own output folder).

    Raises
    ------
    FmslabError
        When the folder or its catalog does not exist.
    """
    root = Path(root)
    if not root.is_dir():
        raise FmslabError(f"{root}: study folder not found")
    catalog_path = root / "results" / "fmslab.duckdb"
    if not catalog_path.is_file():
        raise FmslabError(
            f"{catalog_path}: no catalog (run 'fmslab study catalog {root}' and the analyses first)"
        )
    name, description = read_study_header(root)
    data = ReportData(root=root, name=name, description=description, catalog_path=catalog_path)
    data.tables = read_catalog_tables(catalog_path)
    # the reviewers' decisions as the study's sheet says now (what compare applies), not as the
    # last 'study catalog' stored them; an unreadable sheet is refused like every --study command
    from fmslab.study.overrides import load_study_overrides

    overrides, sheet = load_study_overrides(root)
    if sheet is not None or "qc_overrides" in data.tables:
        data.tables["qc_overrides"] = overrides
    results = root / "results"
    folders = [m[2] for m in MODALITIES] + list(STATS_FOLDERS)
    for folder in folders:
        data.figures[folder] = find_figures(results, folder, exclude=exclude)
        errors = results / folder / "errors.csv"
        if errors.is_file():
            data.error_files[folder] = errors
    return data


def read_errors_file(path: Path) -> pd.DataFrame:
    """An ``errors.csv`` written by a batch (empty frame if the file is empty)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
