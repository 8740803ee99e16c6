"""Reading sample sheets (CSV, TSV or XLSX) into string-typed DataFrames.

Cells are read as text so that validation, not the reader, decides what a value means: an id such as
``007`` keeps its zeros and an empty cell stays empty (NA).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pandas as pd

from fmslab.errors import InputError

SHEET_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")

log = logging.getLogger(__name__)


def _decode(path: Path) -> str:
    """The sheet's text: UTF-8 (with or without BOM), else Windows-1252 (Excel's "CSV" on Windows,
    a superset of Latin-1 for letters), said in the log."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise InputError(
                f"not UTF-8 text (byte {exc.start}) nor Windows-1252/Latin-1; save it as UTF-8 CSV",
                file=path,
            ) from None
        log.warning("%s: not UTF-8; read as Windows-1252 (Latin-1)", path)
        return text


def _check_row_lengths(text: str, sep: str, path: Path) -> None:
    """Refuse a row with more filled cells than the header has columns.

    pandas would silently turn the first column into an index and shift every value one column
    left: a wrong number that looks right.
    """
    rows = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(rows, None)
    if not header:
        return
    width = len(header)
    while width and not header[width - 1].strip():
        width -= 1
    for n, row in enumerate(rows, start=2):
        extra = [c for c in row[width:] if c.strip()]
        if extra:
            raise InputError(
                f"{len(row)} cells but the header has {width} column(s) (extra value "
                f"{extra[0]!r}); a cell holds a '{sep}' or a header is missing",
                file=path,
                row=n,
            )


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
    if path.is_dir():
        raise InputError("is a folder, not a sheet", file=path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            sep = "," if suffix == ".csv" else "\t"
            text = _decode(path)
            if not text.strip():
                raise InputError("empty file (no header row)", file=path)
            _check_row_lengths(text, sep, path)
            df = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                sep=sep,
                keep_default_na=False,
                skipinitialspace=True,
                index_col=False,
            )
        elif suffix in (".xlsx", ".xlsm"):
            df = pd.read_excel(path, dtype=str, sheet_name=sheet_name, keep_default_na=False)
        else:
            raise InputError(
                f"unknown sheet type '{suffix}' (use one of {', '.join(SHEET_SUFFIXES)})", file=path
            )
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
