"""One vocabulary for what readers see: column name -> label and unit.

The table lives in ``fmslab/data/figures/labels.csv`` (``column,label,unit``). Every figure and the
report name a quantity with :func:`axis_label` (``"Rheobase (pA)"``) instead of its column name.
A column not in the table gets a label derived from its name (underscores to spaces, a trailing
unit suffix such as ``_pA``/``_mV``/``_hz`` as the unit), so nothing is shown as a raw column name.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

#: Unit suffixes of column names (``rheobase_pA``) and how they are written.
UNIT_SUFFIXES = {
    "pA": "pA", "nA": "nA", "mV": "mV", "uV": "µV", "uv": "µV", "ms": "ms", "s": "s",
    "hz": "Hz", "Hz": "Hz", "MOhm": "MΩ", "pF": "pF", "g": "g", "mN": "mN", "c": "°C",
    "pct": "%", "mn": "mN", "m_s": "m/s", "V_per_s": "V/s", "mm": "mm", "um": "µm",
}  # fmt: skip


@dataclass(frozen=True)
class Term:
    """A quantity as readers see it: ``label`` and ``unit`` (empty when dimensionless)."""

    column: str
    label: str
    unit: str

    def axis(self) -> str:
        """``Label (unit)``, or the label alone when dimensionless."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


@cache
def vocabulary() -> dict[str, Term]:
    """Every entry of ``labels.csv`` by column name."""
    path = files("fmslab") / "data" / "figures" / "labels.csv"
    with path.open(encoding="utf-8") as fh:
        return {
            r["column"]: Term(r["column"], r["label"], r["unit"] or "") for r in csv.DictReader(fh)
        }


def _derive(column: str) -> Term:
    for suffix in sorted(UNIT_SUFFIXES, key=len, reverse=True):
        if column.endswith("_" + suffix) and len(column) > len(suffix) + 1:
            stem = column[: -len(suffix) - 1]
            return Term(column, _humanise(stem), UNIT_SUFFIXES[suffix])
    return Term(column, _humanise(column), "")


def _humanise(name: str) -> str:
    words = re.sub(r"_+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else name


def term(column: str) -> Term:
    """The vocabulary entry of ``column`` (derived from the name when it has none).

    A binary outcome ``column=value`` (``firing_pattern=repetitive``) reads "Firing pattern:
    repetitive" (a proportion, no unit).
    """
    col, sep, value = column.partition("=")
    if sep:
        return Term(column, f"{term(col).label}: {value}", "")
    return vocabulary().get(column) or _derive(column)


def axis_label(column: str, *, unit: str | None = None) -> str:
    """``"Rheobase (pA)"`` for ``rheobase_pA``; ``unit`` overrides the vocabulary's unit."""
    t = term(column)
    if unit is not None:
        t = Term(t.column, t.label, unit)
    return t.axis()


def name_of(column: str) -> str:
    """The label alone (``"Rheobase"``), for sentences and titles."""
    return term(column).label


def unit_of(column: str) -> str:
    """The unit alone (``"pA"``; empty when dimensionless)."""
    return term(column).unit
