"""Reviewers' QC decisions: the study's ``qc_overrides`` sheet (who excluded what, when and why).

The sheet (``qc_overrides.csv``/``.xlsx`` in the study folder, or ``sheets: {qc_overrides: FILE}``
in ``study.yaml``) has one row per decision:

=========  ==========================================================================
column     meaning
=========  ==========================================================================
level      ``cell``, ``unit``, ``mouse`` or ``sample`` (what is excluded)
id         the ``cell_id`` / ``unit_id`` / ``mouse_id`` / ``sample_id`` value
file       optional: the recording file name, when ids repeat across files (skin-nerve
           units are numbered per recording)
action     ``exclude`` (the default when empty; the only action)
reason     why, in words ("seal lost after sweep 8")
reviewer   who decided
date       when (YYYY-MM-DD)
=========  ==========================================================================

:func:`apply_overrides` removes the matching rows from any result table (a mouse-level decision
removes every row of that mouse) and returns them with the decision that removed them, so that a
comparison can report what it left out. The analyses (``ephys analyze``, ``skinnerve analyze``,
``behaviour analyze``) keep every row, so the raw result stays visible, and mark the excluded ones
with :func:`mark_overrides` (columns ``excluded`` and ``exclusion_reason``); their own statistics
(behaviour) use the unmarked rows only, and they record the decisions with the run
(:func:`overrides_record`). A comparison with the study re-applies the *current* sheet (a decision
withdrawn since the analysis no longer excludes); without a study it honours the ``excluded``
column of the table (:func:`drop_marked`). Nothing is guessed: a row that cannot be read with certainty
(unknown level, missing reason, reviewer or date) is refused with its row number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fmslab.errors import InputError
from fmslab.study.sheets import SHEET_SUFFIXES, read_sheet

SHEET = "qc_overrides"
#: Level -> the id column it matches in result tables.
LEVEL_COLUMNS = {"cell": "cell_id", "unit": "unit_id", "mouse": "mouse_id", "sample": "sample_id"}
COLUMNS = ("level", "id", "file", "action", "reason", "reviewer", "date")
REQUIRED = ("level", "id", "reason", "reviewer", "date")
ACTIONS = ("exclude",)


@dataclass(frozen=True)
class Applied:
    """Result of :func:`apply_overrides`.

    Attributes
    ----------
    kept
        The table without the excluded rows.
    excluded
        The excluded rows' identifying columns plus ``level``, ``reason``, ``reviewer``, ``date``.
    """

    kept: pd.DataFrame
    excluded: pd.DataFrame


def overrides_path(root: str | Path) -> Path | None:
    """Where the study's ``qc_overrides`` sheet is (``None`` when it has none)."""
    root = Path(root)
    config: Any = {}
    try:
        config = yaml.safe_load((root / "study.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    sheets = config.get("sheets") if isinstance(config, dict) else None
    if isinstance(sheets, dict) and sheets.get(SHEET):
        path = (root / str(sheets[SHEET])).resolve()
        if not path.is_file():
            raise InputError("qc_overrides sheet named in study.yaml not found", file=path)
        return path
    for suffix in SHEET_SUFFIXES:
        if (root / f"{SHEET}{suffix}").is_file():
            return root / f"{SHEET}{suffix}"
    return None


def empty_overrides() -> pd.DataFrame:
    """An overrides table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype="string") for c in COLUMNS})


def read_overrides(path: str | Path) -> pd.DataFrame:
    """Read and check a ``qc_overrides`` sheet.

    Raises
    ------
    InputError
        Naming the file, row (1-based, header = row 1) and column of the first problem.
    """
    path = Path(path)
    df = read_sheet(path)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"qc_overrides sheet lacks column(s) {missing}", file=path)
    unknown = sorted(set(df.columns) - set(COLUMNS))
    if unknown:
        raise InputError(f"unknown column(s) {unknown}; known: {list(COLUMNS)}", file=path)
    df = df.reindex(columns=list(COLUMNS)).astype("string")
    for idx, r in zip(df.index, df.itertuples(index=False), strict=True):
        i = int(idx) + 2  # the sheet's row number (header = row 1; blank rows keep their numbers)
        for col in REQUIRED:
            if pd.isna(getattr(r, col)) or not getattr(r, col):
                raise InputError(f"'{col}' is empty (every decision needs it)", file=path, row=i,
                                 column=col)  # fmt: skip
        if r.level.lower() not in LEVEL_COLUMNS:
            raise InputError(
                f"level '{r.level}' is not one of {sorted(LEVEL_COLUMNS)}", file=path, row=i,
                column="level",
            )  # fmt: skip
        action = "exclude" if pd.isna(r.action) or not r.action else r.action.lower()
        if action not in ACTIONS:
            raise InputError(
                f"action '{r.action}' is not one of {list(ACTIONS)}", file=path, row=i,
                column="action",
            )  # fmt: skip
        try:
            date.fromisoformat(str(r.date)[:10])
        except ValueError:
            raise InputError(
                f"date '{r.date}' is not a date (YYYY-MM-DD)", file=path, row=i, column="date"
            ) from None
    df["level"] = df["level"].str.lower()
    df["action"] = df["action"].fillna("exclude").replace("", "exclude").str.lower()
    dup = df.duplicated(["level", "id", "file"], keep=False)
    if dup.any():
        rows = [int(i) + 2 for i in df.index[dup]]  # before reset_index: the sheet's rows
        raise InputError(f"the same decision is listed twice (rows {rows})", file=path)
    return df.reset_index(drop=True)


def load_study_overrides(root: str | Path) -> tuple[pd.DataFrame, Path | None]:
    """The study's decisions and the sheet they came from (an empty table and ``None`` if none)."""
    path = overrides_path(root)
    return (read_overrides(path), path) if path is not None else (empty_overrides(), None)


def _key(values: pd.Series) -> pd.Series:
    """Ids compared as text (``1`` and ``"1"`` and ``1.0`` match)."""
    text = values.astype("string")
    return text.str.replace(r"\.0$", "", regex=True)


def exclusion_mask(table: pd.DataFrame, decision: Any) -> pd.Series:
    """Rows of ``table`` that one decision (a row of the overrides) excludes."""
    col = LEVEL_COLUMNS[decision.level]
    if col not in table.columns:
        return pd.Series(False, index=table.index)
    mask = _key(table[col]) == str(decision.id).removesuffix(".0")
    if not pd.isna(decision.file) and decision.file and "file" in table.columns:
        mask &= (
            table["file"].astype("string").map(lambda f: Path(str(f)).name)
            == Path(str(decision.file)).name
        )
    return mask.fillna(False).astype(bool)


def _decisions(table: pd.DataFrame, overrides: pd.DataFrame) -> dict[str, pd.Series]:
    """Per row of ``table``: the first decision that excludes it (``level``, ``reason``,
    ``reviewer``, ``date``; NA where none does)."""
    empty = pd.Series(pd.NA, index=table.index, dtype="object")
    decided = {k: empty.copy() for k in ("level", "id", "reason", "reviewer", "date")}
    for d in overrides.itertuples(index=False):
        if d.action != "exclude":
            continue
        hit = exclusion_mask(table, d) & decided["level"].isna()
        for k in decided:
            decided[k][hit] = getattr(d, k)
    return decided


def apply_overrides(table: pd.DataFrame, overrides: pd.DataFrame) -> Applied:
    """Remove the rows that reviewers excluded.

    Parameters
    ----------
    table
        Any result table with id columns (``cell_id``, ``unit_id``, ``mouse_id``, ``sample_id``,
        optionally ``file``).
    overrides
        From :func:`read_overrides` / :func:`load_study_overrides`.

    Returns
    -------
    Applied
        ``kept`` rows and the ``excluded`` ones with the decision (first matching decision).
    """
    decided = _decisions(table, overrides)
    out = decided["level"].notna()
    ids = [c for c in ("file", *LEVEL_COLUMNS.values()) if c in table.columns]
    excluded = table.loc[out, ids].copy()
    for k in ("level", "reason", "reviewer", "date"):
        excluded[k] = decided[k][out]
    return Applied(kept=table.loc[~out].copy(), excluded=excluded.reset_index(drop=True))


#: Columns :func:`mark_overrides` adds to a result table.
EXCLUDED = "excluded"
EXCLUSION_REASON = "exclusion_reason"


def mark_overrides(table: pd.DataFrame, overrides: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with every row kept and the reviewers' decisions marked.

    Adds ``excluded`` (bool) and ``exclusion_reason`` (``"<level> <id>: <reason> (<reviewer>,
    <date>)"``, empty when kept). The columns are replaced when already there, so a re-run with a
    changed sheet marks exactly what the sheet says now.
    """
    out = table.drop(columns=[EXCLUDED, EXCLUSION_REASON], errors="ignore").copy()
    if not len(overrides) or not len(out):
        out[EXCLUDED] = pd.Series(False, index=out.index, dtype=bool)
        out[EXCLUSION_REASON] = pd.Series(pd.NA, index=out.index, dtype="object")
        return out
    d = _decisions(out, overrides)
    hit = d["level"].notna()
    out[EXCLUDED] = hit.astype(bool)
    reason = pd.Series(pd.NA, index=out.index, dtype="object")
    for i in out.index[hit]:
        reason[i] = (
            f"{d['level'][i]} {d['id'][i]}: {d['reason'][i]} ({d['reviewer'][i]}, {d['date'][i]})"
        )
    out[EXCLUSION_REASON] = reason
    return out


def kept_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a marked table (:func:`mark_overrides`) that no decision excludes."""
    if EXCLUDED not in table.columns:
        return table
    return table[~table[EXCLUDED].fillna(False).astype(bool)]


def drop_marked(table: pd.DataFrame) -> Applied:
    """Honour the ``excluded`` column an analysis wrote (a table compared without its study).

    ``excluded`` rows carry ``level`` ``"marked"`` and the analysis' ``exclusion_reason`` as
    ``reason`` (who and when are inside that text).
    """
    if EXCLUDED not in table.columns:
        return Applied(kept=table.copy(), excluded=pd.DataFrame())
    out = table[EXCLUDED].fillna(False).astype(bool)
    ids = [c for c in ("file", *LEVEL_COLUMNS.values()) if c in table.columns]
    excluded = table.loc[out, ids].copy()
    excluded["level"] = "marked"
    excluded["reason"] = (
        table.loc[out, EXCLUSION_REASON] if EXCLUSION_REASON in table.columns else pd.NA
    )
    return Applied(kept=table.loc[~out].copy(), excluded=excluded.reset_index(drop=True))


def overrides_record(overrides: pd.DataFrame, path: Path | None) -> dict[str, Any]:
    """The decisions an analysis honoured, for its run's parameters (kept in the catalog)."""
    from fmslab.provenance import sha256_file

    if path is None:
        return {"sheet": None, "n_decisions": 0, "decisions": []}
    rows = overrides.astype(object).where(overrides.notna(), None).to_dict("records")
    return {"sheet": str(Path(path).resolve()), "sha256": sha256_file(path),
            "n_decisions": len(rows), "decisions": rows}  # fmt: skip
