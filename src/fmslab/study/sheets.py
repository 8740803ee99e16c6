"""Reading sample sheets (CSV, TSV or XLSX) into string-typed DataFrames.

Cells are read as text so that validation, not the reader, decides what a value means: an id such as
``007`` keeps its zeros and an empty cell stays empty (NA).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fmslab.errors import InputError

SHEET_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")


def read_sheet(path: str | Path, *, sheet_name: str | int = 0) -> pd.DataFrame:
    """Read a sample sheet as strings, with surrounding whitespace stripped and blanks as NA.

    Parameters
    ----------
    path
        ``.csv``, ``.tsv``/``.txt`` (tab-separated) or ``.xlsx``.
    sheet_name
        Worksheet for Excel files.

    Raises
    ------
    InputError
        The file is missing, unreadable, of an unknown type, or has duplicated column names.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        elif suffix in (".tsv", ".txt"):
            df = pd.read_csv(path, dtype=str, sep="\t", keep_default_na=False)
        elif suffix in (".xlsx", ".xlsm"):
            df = pd.read_excel(path, dtype=str, sheet_name=sheet_name, keep_default_na=False)
        else:
            raise InputError(f"unknown sheet type '{suffix}' (use one of {', '.join(SHEET_SUFFIXES)})", file=path)
    except InputError:
        raise
    except Exception as exc:  # pandas raises many types for malformed files
        raise InputError(f"cannot read sheet: {exc}", file=path) from exc
    columns = [str(c).strip() for c in df.columns]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise InputError(f"duplicated column name(s): {', '.join(dupes)}", file=path)
    df.columns = columns
    df = df.loc[:, [not c.startswith("Unnamed:") for c in columns]]
    df = df.apply(lambda s: s.str.strip()).replace("", pd.NA)
    return df.dropna(how="all").astype("string")


def sheet_row(index: int) -> int:
    """Row number as a spreadsheet shows it (header is row 1, first data row is row 2)."""
    return int(index) + 2
