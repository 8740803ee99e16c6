"""Which catalog tables carry group labels from the unblinding key, found from their actual values.

The report never reads the key. Group labels are the names compared (``compare_stats``'s
``reference``/``treatment``) and any ``group`` value that is not a treatment code of the mice sheet
(nor ``blinded``). A table carries labels when one of its text columns holds such a label as a
value or as a word of a value (``group_FMS_vs_HC``); treatment codes alone are blinded.
"""

from __future__ import annotations

import re

import pandas as pd

#: Sheets (listed separately) and bookkeeping columns never scanned.
SHEETS = ("donors", "mice", "recordings")
SKIP_COLUMNS = ("run_id", "sha256", "path", "file")
#: Values that are not group labels.
NOT_LABELS = {"", "blinded", "unassigned", "all", "nan", "none"}


def treatment_codes(tables: dict[str, pd.DataFrame]) -> set[str]:
    """The treatment codes of the mice sheet."""
    mice = tables.get("mice")
    if mice is None or "treatment_code" not in mice.columns:
        return set()
    return set(mice["treatment_code"].dropna().astype(str))


def group_labels(tables: dict[str, pd.DataFrame]) -> set[str]:
    """Group labels present anywhere in the catalog (never the codes)."""
    codes = treatment_codes(tables)
    labels: set[str] = set()
    stats = tables.get("compare_stats")
    if stats is not None:
        for col in ("reference", "treatment"):
            if col in stats.columns:
                labels |= set(stats[col].dropna().astype(str))
    for name, df in tables.items():
        if name in SHEETS or "group" not in df.columns:
            continue
        labels |= set(df["group"].dropna().astype(str))
    return {g for g in labels if g.strip().lower() not in NOT_LABELS and g not in codes}


_WORDS = re.compile(r"[A-Za-z0-9]+")


def label_columns(tables: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Table -> its columns holding group labels (tables other than the sheets)."""
    labels = group_labels(tables)
    if not labels:
        return {}
    out: dict[str, list[str]] = {}
    for name, df in sorted(tables.items()):
        if name in SHEETS:
            continue
        cols = []
        for col in df.columns:
            if col in SKIP_COLUMNS or not (
                pd.api.types.is_object_dtype(df[col]) or pd.api.types.is_string_dtype(df[col])
            ):
                continue
            values = set(df[col].dropna().astype(str).unique()[:5000])
            if values & labels or any(set(_WORDS.findall(v)) & labels for v in values):
                cols.append(col)
        if cols:
            out[name] = cols
    return out


def blinding_statement(tables: dict[str, pd.DataFrame]) -> tuple[str, dict[str, list[str]]]:
    """The sentence the report shows, and the tables/columns it is computed from."""
    found = label_columns(tables)
    donors = tables.get("donors")
    sheet_note = ""
    if donors is not None and "group" in donors.columns:
        g = {str(v) for v in donors["group"].dropna()} - {"blinded", ""}
        if g:
            sheet_note = " The donor sheet itself names the groups."
    if not found:
        return (
            "Blinded: no catalog table carries group labels; results are shown by treatment code."
            + sheet_note,
            found,
        )
    listed = "; ".join(f"{t} ({', '.join(c)})" for t, c in found.items())
    return (
        f"Group labels from the unblinding key appear in: {listed}. Every other table holds "
        "treatment codes only." + sheet_note,
        found,
    )
