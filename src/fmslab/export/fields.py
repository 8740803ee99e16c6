"""What each exported column means: description, unit and Table Schema type.

Descriptions live in the packaged ``data/export/fields.yaml`` (by column name, shared by every
table). A column's unit is the one declared there, else the one its name ends with
(:data:`UNIT_SUFFIXES`: ``rmp_mV`` is in mV, ``cv_m_s`` in m/s). A column without a description
is exported with one saying so (and a warning); the tests require that there be none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import pandas as pd
import yaml

from fmslab.errors import FmslabError

#: Column-name suffix -> unit (longest suffix first when matching).
UNIT_SUFFIXES = {
    "_Hz_per_pA": "Hz/pA",
    "_V_per_s": "V/s",
    "_spikes_per_unit": "spikes per stimulus unit",
    "_pct_days": "%*day",
    "_m_s": "m/s",
    "_MOhm": "MOhm",
    "_mV": "mV",
    "_pA": "pA",
    "_pF": "pF",
    "_ms": "ms",
    "_hz": "Hz",
    "_uv": "uV",
    "_mn": "mN",
    "_mg": "mg",
    "_pct": "%",
    "_c": "degC",
    "_s": "s",
    "_g": "g",
}


@dataclass(frozen=True)
class Field:
    """One exported column."""

    name: str
    description: str
    unit: str | None
    type: str  # Table Schema type: string, integer, number, boolean


@cache
def _registry() -> dict:
    text = files("fmslab.data").joinpath("export/fields.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def table_description(table: str) -> str:
    """Description of an exported table (raises for an unknown table)."""
    try:
        return _registry()["tables"][table]["description"]
    except KeyError:
        raise FmslabError(f"export: table '{table}' has no description in fields.yaml") from None


def unit_of(column: str) -> str | None:
    """The unit a column's name declares, or None."""
    entry = _registry()["columns"].get(column) or {}
    if entry.get("unit"):
        return str(entry["unit"])
    for suffix in sorted(UNIT_SUFFIXES, key=len, reverse=True):
        if column.endswith(suffix):
            return UNIT_SUFFIXES[suffix]
    return None


def schema_type(series: pd.Series) -> str:
    """Table Schema type of a column from its pandas dtype."""
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "number"
    non_na = series.dropna()
    if len(non_na) and all(isinstance(v, bool) for v in non_na):
        return "boolean"
    return "string"


#: Description of a column fields.yaml does not know yet (tests require there be none).
UNDESCRIBED = "not yet described in fmslab's fields.yaml"


def describe(table: str, column: str, series: pd.Series, *, strict: bool = False) -> Field:
    """The :class:`Field` of ``column`` of ``table``.

    A column fields.yaml lacks raises with ``strict``; otherwise it gets a description that says
    so (:data:`UNDESCRIBED`); :func:`fmslab.export.datapackage.write_datapackage` warns once.
    """
    reg = _registry()
    entry = (reg.get("tables", {}).get(table, {}).get("columns") or {}).get(column) or reg[
        "columns"
    ].get(column)
    if not entry or not entry.get("description"):
        if strict:
            raise FmslabError(
                f"export: column '{column}' of table {table} has no description in fields.yaml"
            )
        entry = {"description": f"{column} ({table}; {UNDESCRIBED})"}
    return Field(
        name=column,
        description=str(entry["description"]),
        unit=unit_of(column),
        type=str(entry.get("type") or schema_type(series)),
    )
