"""``fmslab study validate`` of the ``qc_overrides`` sheet: every problem, each with its row.

Checked: the sheet reads and has the required columns and no unknown ones; each decision has a
level (``cell``/``unit``/``mouse``/``sample``), an id, a reason, a reviewer and a date (a real date,
not after today); the action is ``exclude`` (or empty); the id is known to the study (a cell,
mouse or sample id of its sheets; a unit either a ``unit_id`` of the recordings sheet or, with
``file``, the unit number of that recording, which only the analysis knows); ``file`` names one of
the study's recordings; no decision is listed twice (an empty ``file`` counts as a value).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pandas as pd

from fmslab.errors import InputError
from fmslab.study.overrides import ACTIONS, COLUMNS, LEVEL_COLUMNS, overrides_path
from fmslab.study.schema import QC_OVERRIDES
from fmslab.study.sheets import read_sheet, sheet_row
from fmslab.study.validate import Problem, check_sheet


def _known(frame: pd.DataFrame | None, column: str) -> set[str]:
    if frame is None or column not in frame.columns:
        return set()
    return set(frame[column].dropna().astype(str).str.replace(r"\.0$", "", regex=True))


def check_overrides(
    root: Path,
    mice: pd.DataFrame | None,
    recordings: pd.DataFrame | None,
    *,
    today: date | None = None,
) -> list[Problem]:
    """Problems of the study's ``qc_overrides`` sheet (none when the study has no such sheet).

    Parameters
    ----------
    root
        Study folder.
    mice, recordings
        The study's sheets as read by the validator (``None`` when unreadable: their ids are
        then not checked).
    today
        The date a decision may not be after (default: today).
    """
    try:
        path = overrides_path(root)
    except InputError as exc:
        return [Problem(str(exc.file or root), exc.reason)]
    if path is None:
        return []
    try:
        shown = str(path.relative_to(root))
    except ValueError:
        shown = str(path)
    try:
        df = read_sheet(path)
    except InputError as exc:
        return [Problem(shown, exc.reason)]
    spec = dataclasses.replace(QC_OVERRIDES, unique=())  # duplicates below: an empty file counts
    problems = check_sheet(df, spec, shown)
    for c in sorted(set(df.columns) - set(COLUMNS)):
        problems.append(Problem(shown, f"unknown column (known: {', '.join(COLUMNS)})", column=c))
    today = today or date.today()
    rec_files = (
        {Path(str(p)).name for p in recordings["path"].dropna()}
        if recordings is not None and "path" in recordings.columns
        else set()
    )
    known = {
        "cell": _known(recordings, "cell_id"),
        "mouse": _known(mice, "mouse_id") | _known(recordings, "mouse_id"),
        "sample": _known(recordings, "sample_id"),
        "unit": _known(recordings, "unit_id"),
    }
    for idx, r in df.iterrows():
        row = sheet_row(idx)
        level = str(r.get("level", "")).lower() if pd.notna(r.get("level", pd.NA)) else ""
        ident = r.get("id", pd.NA)
        file = r.get("file", pd.NA)
        if level and level not in LEVEL_COLUMNS:
            problems.append(Problem(shown, f"level '{r['level']}' is not one of "
                                    f"{', '.join(LEVEL_COLUMNS)}", row, "level"))  # fmt: skip
        action = r.get("action", pd.NA)
        if pd.notna(action) and str(action).lower() not in ACTIONS:
            problems.append(Problem(shown, f"action '{action}' is not one of {', '.join(ACTIONS)}",
                                    row, "action"))  # fmt: skip
        when = r.get("date", pd.NA)
        if pd.notna(when):
            try:
                if date.fromisoformat(str(when)[:10]) > today:
                    problems.append(Problem(shown, f"date {when} is after today ({today})", row,
                                            "date"))  # fmt: skip
            except ValueError:
                pass  # not a date: reported by check_sheet
        if pd.notna(file) and recordings is not None and Path(str(file)).name not in rec_files:
            problems.append(Problem(shown, f"file '{file}' is not a recording of the study "
                                    "(recordings sheet)", row, "file"))  # fmt: skip
        if level not in LEVEL_COLUMNS or pd.isna(ident):
            continue
        ident = str(ident).removesuffix(".0")
        if level == "unit" and pd.notna(file):
            continue  # a unit number within a recording: known only to the analysis
        source = "mice or recordings sheet" if level == "mouse" else "recordings sheet"
        if (level == "mouse" and mice is None) or (level != "mouse" and recordings is None):
            continue
        if ident not in known[level]:
            hint = "; a unit number of one recording needs its file" if level == "unit" else ""
            problems.append(Problem(shown, f"unknown {LEVEL_COLUMNS[level]} '{ident}' (not in "
                                    f"the {source}){hint}", row, "id"))  # fmt: skip
    if all(c in df.columns for c in ("level", "id")):
        key = pd.DataFrame(
            {
                "level": df["level"].fillna("").str.lower(),
                "id": df["id"].fillna("").str.replace(r"\.0$", "", regex=True),
                "file": df["file"].fillna("") if "file" in df.columns else "",
            }
        )
        first: dict[tuple[str, str, str], int] = {}
        for idx, k in zip(df.index, key.itertuples(index=False, name=None), strict=True):
            if not k[1]:
                continue
            if k in first:
                problems.append(Problem(shown, f"the same decision ({k[0]} {k[1]}"
                                        f"{' in ' + k[2] if k[2] else ''}) is already at row "
                                        f"{first[k]}", sheet_row(idx), "id"))  # fmt: skip
            else:
                first[k] = sheet_row(idx)
    return problems
