"""Small workflow steps that are not analyses: table export, unblinded sample sheet, figure spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fmslab.atomic import write_table, write_text
from fmslab.errors import InputError


def export_table(
    catalog_path: str | Path, table: str, out: str | Path, *, where: str | None = None
) -> pd.DataFrame:
    """Copy one catalog table (rows kept by the pandas query ``where``) to ``out`` (.csv).

    The catalog is read under its lock (:func:`fmslab.catalog.query`), so other workflow jobs may
    be writing to it at the same time.
    """
    from fmslab.catalog import _check_name, query

    df = query(catalog_path, f"SELECT * FROM {_check_name(table)}")
    if where:
        try:
            df = df.query(where)
        except Exception as exc:  # pandas raises many types for a bad expression
            raise InputError(
                f"cannot filter table '{table}' with where: {where!r}: {exc}"
            ) from None
    if df.empty:
        raise InputError(
            f"catalog table '{table}' has no rows" + (f" where {where!r}" if where else ""),
            file=str(catalog_path),
        )
    write_table(df, Path(out))
    # comparisons of this file are stored under the table's name (fmslab.catalog.normalise_source)
    from fmslab.atomic import write_json
    from fmslab.catalog import source_sidecar

    write_json(source_sidecar(out), {"catalog_table": table, "where": where})
    return df


def unblinded_samples(samples: str | Path, key: str | Path, out: str | Path) -> pd.DataFrame:
    """Join the unblinding key to an RNA-seq sample sheet (for the DE contrast on ``group``)."""
    from fmslab.study import unblind
    from fmslab.study.blinding import read_unblinding

    sheet = pd.read_csv(samples)
    table = unblind(sheet, read_unblinding(key))
    write_table(table, Path(out))
    return table


def default_figure_spec(comparisons: list[dict[str, Any]], out: str | Path) -> dict[str, Any]:
    """A figures.yaml with one figure per comparison: SuperPlot + estimation plot of its outcomes.

    Tables are named relative to the spec (``../compare/NAME/data.csv``), as ``fmslab figures
    build`` expects. Binary outcomes (``COL=VALUE``) are left out (no SuperPlot of a 0/1 column).
    """
    figures = []
    for comp in comparisons:
        outcomes = [o for o in comp["outcomes"] if "=" not in o]
        if not outcomes:
            continue
        table = f"../compare/{comp['name']}/data.csv"
        letters = "abcdefghijklmnopqrstuvwxyz"
        panels: dict[str, Any] = {}
        rows = []
        for i, outcome in enumerate(outcomes[:6]):
            a, b = letters[2 * i], letters[2 * i + 1]
            panels[a] = {"type": "superplot", "table": table, "value": outcome}
            panels[b] = {"type": "estimation", "table": table, "value": outcome}
            rows.append(a + b)
        figures.append(
            {
                "name": comp["name"],
                "width": "double",
                "height_mm": 60 * len(rows),
                "layout": rows,
                "panels": panels,
            }
        )
    spec = {"figures": figures}
    write_text(Path(out), yaml.safe_dump(spec, sort_keys=False))
    return spec
