"""The Frictionless data package: every exported table as CSV with its Table Schema.

``datapackage.json`` lists one tabular resource per table (``tables/<name>.csv``) with a field per
column (type, description, unit), ``missingValues`` (an empty cell is missing), the primary key
and the foreign keys that tie the levels together (sweep -> cell -> mouse -> donor; response ->
unit -> mouse; trial, mouse-day, sample -> mouse; spike -> sweep).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import fmslab
from fmslab.atomic import write_json, write_table
from fmslab.export.fields import UNDESCRIBED, describe, table_description
from fmslab.export.settings import ExportSettings

#: Foreign keys: table -> [(columns, referenced table, referenced columns)].
FOREIGN_KEYS: dict[str, list[tuple[list[str], str, list[str]]]] = {
    "mice": [(["donor_id"], "donors", ["donor_id"])],
    "ephys_cells": [(["mouse_id"], "mice", ["mouse_id"])],
    "ephys_sweeps": [(["cell_id"], "ephys_cells", ["cell_id"])],
    "ephys_spikes": [(["cell_id", "sweep"], "ephys_sweeps", ["cell_id", "sweep"])],
    "skinnerve_units": [(["mouse_id"], "mice", ["mouse_id"])],
    "skinnerve_responses": [
        (["recording_id", "unit_id"], "skinnerve_units", ["recording_id", "unit_id"])
    ],
    "behaviour_trials": [(["mouse_id"], "mice", ["mouse_id"])],
    "behaviour_mouse_day": [(["mouse_id"], "mice", ["mouse_id"])],
    "behaviour_mouse": [(["mouse_id"], "mice", ["mouse_id"])],
    "rnaseq_samples": [(["mouse_id"], "mice", ["mouse_id"])],
    "rnaseq_channels": [(["contrast", "gene"], "rnaseq_de_results", ["contrast", "gene"])],
}
TABLES_DIR = "tables"

log = logging.getLogger(__name__)


def package_name(title: str) -> str:
    """A data package name: lower-case letters, digits, ``-``, ``_``, ``.``."""
    return re.sub(r"[^a-z0-9._-]+", "-", title.lower()).strip("-") or "fmslab-export"


def table_schema(name: str, df: pd.DataFrame, primary_key: list[str], present: set[str]) -> dict:
    """The Table Schema of one exported table."""
    fields = []
    undescribed = []
    for col in df.columns:
        f = describe(name, str(col), df[col])
        if UNDESCRIBED in f.description:
            undescribed.append(str(col))
        entry: dict[str, Any] = {"name": f.name, "type": f.type, "description": f.description}
        if f.unit:
            entry["unit"] = f.unit
        if f.name in primary_key:
            entry["constraints"] = {"required": True}
        fields.append(entry)
    if undescribed:
        log.warning("export: %s columns without a description: %s", name, ", ".join(undescribed))
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if primary_key:
        schema["primaryKey"] = list(primary_key)
    fks = []
    for cols, ref, ref_cols in FOREIGN_KEYS.get(name, []):
        if ref in present and all(c in df.columns for c in cols):
            fks.append({"fields": cols, "reference": {"resource": ref, "fields": ref_cols}})
    if fks:
        schema["foreignKeys"] = fks
    return schema


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans as true/false, integers without a trailing .0 where NA forced floats."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_bool_dtype(s):
            out[c] = s.map({True: "true", False: "false"})
    return out


def write_datapackage(
    out: Path,
    tables: dict[str, pd.DataFrame],
    primary_keys: dict[str, list[str]],
    *,
    title: str,
    description: str | None,
    settings: ExportSettings,
) -> Path:
    """Write ``tables/<name>.csv`` for every table and ``datapackage.json``; returns its path."""
    resources = []
    present = set(tables)
    for name, df in tables.items():
        rel = f"{TABLES_DIR}/{name}.csv"
        write_table(_csv_ready(df), out / rel)
        resources.append(
            {
                "name": name,
                "path": rel,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "description": table_description(name),
                "schema": table_schema(name, df, primary_keys.get(name, []), present),
            }
        )
    descriptor: dict[str, Any] = {
        "profile": "tabular-data-package",
        "name": package_name(title),
        "title": title,
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "licenses": [
            {"name": settings.licence, "path": settings.licence_url, "title": settings.licence}
        ],
        "sources": [{"title": f"fmslab {fmslab.__version__} (fmslab export)"}],
        "resources": resources,
    }
    if description:
        descriptor["description"] = description
    if settings.keywords:
        descriptor["keywords"] = list(settings.keywords)
    return write_json(out / "datapackage.json", descriptor)
