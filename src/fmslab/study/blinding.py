"""The unblinding key: joined only when groups are compared."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fmslab.errors import InputError
from fmslab.study.schema import UNBLINDING
from fmslab.study.sheets import read_sheet


def read_unblinding(path: str | Path) -> pd.DataFrame:
    """Read a key with ``treatment_code`` and ``group`` (and optionally ``donor_id``)."""
    key = read_sheet(path)
    missing = [c.name for c in UNBLINDING.columns if c.required and c.name not in key.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=path)
    dupes = key["treatment_code"][key["treatment_code"].duplicated()].unique().tolist()
    if dupes:
        raise InputError(f"treatment_code listed twice: {', '.join(map(str, dupes))}", file=path)
    return key


def unblind(
    table: pd.DataFrame,
    key: pd.DataFrame,
    *,
    code_column: str = "treatment_code",
    group_column: str = "group",
) -> pd.DataFrame:
    """Add the true group to a results table by joining the unblinding key on the code.

    Rows whose code is not in the key raise: an unblinded comparison must never silently drop or
    mislabel animals.
    """
    if code_column not in table.columns:
        raise InputError(f"table has no '{code_column}' column to unblind")
    lookup = key.set_index("treatment_code")["group"]
    unknown = sorted(set(table[code_column].dropna().astype(str)) - set(lookup.index.astype(str)))
    if unknown:
        raise InputError(f"code(s) absent from the unblinding key: {', '.join(unknown)}")
    out = table.copy()
    out[group_column] = out[code_column].astype(str).map(lookup).astype("string")
    return out
