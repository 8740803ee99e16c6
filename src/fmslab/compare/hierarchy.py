"""Hierarchy columns: join donor/group information and check that the nesting is consistent."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fmslab.errors import InputError
from fmslab.study.blinding import unblind


@dataclass(frozen=True)
class Hierarchy:
    """Names of the columns that define the design.

    Parameters
    ----------
    group
        The compared factor (e.g. ``group`` with values ``FMS``/``HC``); constant within a donor.
    levels
        Clustering columns from the top down, e.g. ``("donor_id", "mouse_id")``. The rows of the
        table are the lowest level (cells, units, mouse-days). May be empty (rows independent).
    """

    group: str = "group"
    levels: tuple[str, ...] = ("donor_id", "mouse_id")

    @property
    def top(self) -> str | None:
        return self.levels[0] if self.levels else None


_ALIASES = {"donor": "donor_id", "mouse": "mouse_id", "cell": "cell_id", "unit": "unit_id"}


def resolve_levels(
    levels: list[str] | tuple[str, ...], columns: list[str] | pd.Index
) -> tuple[str, ...]:
    """Map short level names (``donor``, ``mouse``) to columns (``donor_id``, ``mouse_id``)."""
    out = []
    for name in levels:
        name = name.strip()
        if not name:
            continue
        if name not in columns and _ALIASES.get(name) is not None:
            name = _ALIASES[name]
        out.append(name)
    return tuple(out)


def prepare_table(
    table: pd.DataFrame,
    *,
    hierarchy: Hierarchy,
    mice: pd.DataFrame | None = None,
    key: pd.DataFrame | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Return ``table`` with the group and every hierarchy column present and checked.

    Missing columns are filled from the study's ``mice`` sheet (``mouse_id`` -> ``donor_id`` or
    ``treatment_code``) and from the unblinding ``key`` (``treatment_code`` -> ``group`` and
    optionally ``donor_id``), joined here and only here (blinding ends at the comparison step).

    Raises
    ------
    InputError
        When a column cannot be found or joined, or when the nesting is inconsistent (a mouse under
        two donors, a donor in two groups): such a table would give wrong replication counts.
    """
    df = table.copy()
    mouse_col = "mouse_id"
    need_key_cols = [c for c in (hierarchy.group, *hierarchy.levels) if c not in df.columns]
    if need_key_cols and mice is not None and mouse_col in df.columns:
        extra = [c for c in mice.columns if c != mouse_col and c not in df.columns]
        extra = [c for c in extra if c in ("donor_id", "treatment_code", *need_key_cols)]
        if extra:
            dup = mice[mouse_col][mice[mouse_col].duplicated()].unique().tolist()
            if dup:
                raise InputError(f"mice sheet lists mouse_id twice: {dup}", column=mouse_col)
            # ids typed differently in the two files (e.g. 1 vs "1") must still match
            sheet = mice[[mouse_col, *extra]].astype({mouse_col: str})
            df[mouse_col] = df[mouse_col].astype(str).where(df[mouse_col].notna())
            df = df.merge(sheet, on=mouse_col, how="left")
    if hierarchy.group not in df.columns:
        if key is None:
            raise InputError(
                f"no '{hierarchy.group}' column: give the unblinding key (--unblinding) or a table "
                "that already has the group", file=source,
            )  # fmt: skip
        if "treatment_code" not in df.columns:
            raise InputError(
                "cannot unblind: the table has no treatment_code and no mouse_id to find it in the "
                "mice sheet (give --study)", file=source,
            )  # fmt: skip
        df = unblind(df, key, group_column=hierarchy.group)
        if "donor_id" in key.columns and "donor_id" not in df.columns:
            df = df.merge(key[["treatment_code", "donor_id"]], on="treatment_code", how="left")
    for col in hierarchy.levels:
        if col not in df.columns:
            raise InputError(
                f"hierarchy column '{col}' not in the table, mice sheet or key", file=source
            )
        if df[col].isna().any():
            rows = df.index[df[col].isna()].tolist()[:5]
            raise InputError(f"hierarchy column '{col}' is empty in rows {rows}", file=source)
        df[col] = df[col].astype(str)
    if df[hierarchy.group].isna().any():
        rows = df.index[df[hierarchy.group].isna()].tolist()[:5]
        raise InputError(f"group '{hierarchy.group}' is empty in rows {rows}", file=source)
    df[hierarchy.group] = df[hierarchy.group].astype(str)
    check_nesting(df, hierarchy, source=source)
    return df


def check_nesting(df: pd.DataFrame, hierarchy: Hierarchy, *, source: str | None = None) -> None:
    """Raise when a lower level sits under two parents or the top level spans two groups."""
    chain = [hierarchy.group, *hierarchy.levels]
    for parent, child in zip(chain[:-1], chain[1:], strict=True):
        n_parents = df.groupby(child)[parent].nunique()
        bad = n_parents[n_parents > 1].index.tolist()
        if bad:
            raise InputError(
                f"'{child}' value(s) {bad[:5]} belong to more than one '{parent}': the nesting "
                f"{' > '.join(chain)} is broken", file=source,
            )  # fmt: skip


def counts(df: pd.DataFrame, hierarchy: Hierarchy, group_value: str) -> dict[str, int]:
    """Number of distinct units at each level and rows in one group."""
    sub = df[df[hierarchy.group] == group_value]
    out = {f"n_{_short(c)}": int(sub[c].nunique()) for c in hierarchy.levels}
    out["n_rows"] = len(sub)
    return out


def _short(col: str) -> str:
    return col[:-3] if col.endswith("_id") else col
