"""Validation of a whole study: every problem at once, each with file, row, column and reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fmslab.errors import InputError
from fmslab.study.model import read_config, sheet_paths, unblinding_path
from fmslab.study.schema import MODALITIES, MODALITY_ID_COLUMN, SEX_VALUES, SPECS, Column, SheetSpec
from fmslab.study.sheets import read_sheet, sheet_row

_INT_LIST = re.compile(r"^\s*-?\d+(\s*[,;]\s*-?\d+)*\s*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a study. ``row`` is the spreadsheet row (header = 1)."""

    file: str
    reason: str
    row: int | None = None
    column: str | None = None
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{self.severity}: {', '.join(where)}: {self.reason}"


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    return pd.DataFrame(
        [(p.severity, p.file, p.row, p.column, p.reason) for p in problems],
        columns=["severity", "file", "row", "column", "reason"],
    )


def _cell_problem(value: str, col: Column) -> str | None:
    """Why ``value`` is not valid for ``col``, or None."""
    if col.kind in ("number", "integer"):
        try:
            x = float(value)
        except ValueError:
            return f"'{value}' is not a number"
        if col.kind == "integer" and not x.is_integer():
            return f"'{value}' is not a whole number"
        if col.minimum is not None and x < col.minimum:
            return f"{value} is below the minimum {col.minimum:g}"
        if col.maximum is not None and x > col.maximum:
            return f"{value} is above the maximum {col.maximum:g}"
    elif col.kind == "sex" and value.lower() not in SEX_VALUES:
        return f"'{value}' is not a sex (use F or M)"
    elif col.kind == "modality" and value not in MODALITIES:
        return f"'{value}' is not a modality (use one of {', '.join(MODALITIES)})"
    elif col.kind == "date" and pd.isna(pd.to_datetime(value, errors="coerce", format="ISO8601")):
        return f"'{value}' is not a date (use YYYY-MM-DD)"
    elif col.kind == "int_list" and not _INT_LIST.match(value):
        return f"'{value}' is not a list of whole numbers (e.g. 0,1,2,3)"
    return None


def check_sheet(df: pd.DataFrame, spec: SheetSpec, file: str) -> list[Problem]:
    """Columns, required cells, types and uniqueness of one sheet."""
    problems: list[Problem] = []
    for col in spec.columns:
        if col.name not in df.columns:
            if col.required:
                problems.append(Problem(file, "required column is missing", column=col.name))
            continue
        for idx, value in df[col.name].items():
            if pd.isna(value):
                if col.required:
                    problems.append(
                        Problem(file, "required cell is empty", sheet_row(idx), col.name)
                    )
                continue
            reason = _cell_problem(str(value), col)
            if reason:
                problems.append(Problem(file, reason, sheet_row(idx), col.name))
    for cols in spec.unique:
        if not all(c in df.columns for c in cols):
            continue
        keyed = df.dropna(subset=list(cols))
        dup = keyed[keyed.duplicated(subset=list(cols), keep=False)]
        for idx, row in dup.iterrows():
            first = sheet_row(dup.index[(dup[list(cols)] == row[list(cols)]).all(axis=1)][0])
            if sheet_row(idx) != first:
                value = ", ".join(str(row[c]) for c in cols)
                problems.append(
                    Problem(
                        file,
                        f"duplicate {'/'.join(cols)} '{value}' (first at row {first})",
                        sheet_row(idx),
                        cols[0],
                    )
                )
    return problems


def _ids(df: pd.DataFrame | None, column: str) -> set[str]:
    if df is None or column not in df.columns:
        return set()
    return set(df[column].dropna().astype(str))


def check_references(
    root: Path,
    donors: pd.DataFrame | None,
    mice: pd.DataFrame | None,
    recordings: pd.DataFrame | None,
    key: pd.DataFrame | None,
    files: dict[str, str],
) -> list[Problem]:
    """Cross-sheet checks: donors, mice, codes and files that rows refer to."""
    problems: list[Problem] = []
    donor_ids, mouse_ids = _ids(donors, "donor_id"), _ids(mice, "mouse_id")
    codes = _ids(key, "treatment_code")
    if mice is not None:
        f = files["mice"]
        for idx, row in mice.iterrows():
            donor, code = row.get("donor_id", pd.NA), row.get("treatment_code", pd.NA)
            if pd.isna(donor) and pd.isna(code):
                problems.append(
                    Problem(
                        f,
                        "mouse has neither donor_id nor treatment_code",
                        sheet_row(idx),
                        "donor_id",
                    )
                )
            if not pd.isna(donor) and donors is not None and str(donor) not in donor_ids:
                problems.append(
                    Problem(
                        f,
                        f"unknown donor '{donor}' (not in the donors sheet)",
                        sheet_row(idx),
                        "donor_id",
                    )
                )
            if not pd.isna(code) and key is not None and str(code) not in codes:
                problems.append(
                    Problem(
                        f,
                        f"treatment_code '{code}' is absent from the unblinding key",
                        sheet_row(idx),
                        "treatment_code",
                    )
                )
    if recordings is not None:
        f = files["recordings"]
        for idx, row in recordings.iterrows():
            mouse = row.get("mouse_id", pd.NA)
            if not pd.isna(mouse) and mice is not None and str(mouse) not in mouse_ids:
                problems.append(
                    Problem(
                        f,
                        f"unknown mouse '{mouse}' (not in the mice sheet)",
                        sheet_row(idx),
                        "mouse_id",
                    )
                )
            modality = row.get("modality", pd.NA)
            id_col = MODALITY_ID_COLUMN.get(str(modality)) if not pd.isna(modality) else None
            if id_col and pd.isna(row.get(id_col, pd.NA)):
                problems.append(
                    Problem(f, f"{modality} recordings need a {id_col}", sheet_row(idx), id_col)
                )
            path = row.get("path", pd.NA)
            if not pd.isna(path):
                try:
                    target = (root / str(path)).resolve()
                except (OSError, RuntimeError):  # a symlink loop
                    problems.append(Problem(f, f"symlink loop: {path}", sheet_row(idx), "path"))
                    continue
                if (root / str(path)).is_symlink() and not target.exists():
                    problems.append(Problem(f, f"dangling symlink: {path}", sheet_row(idx), "path"))
                elif not target.exists():
                    problems.append(Problem(f, f"file not found: {path}", sheet_row(idx), "path"))
                elif not target.is_file():
                    problems.append(Problem(f, f"not a file: {path}", sheet_row(idx), "path"))
    if key is not None and donors is not None and "donor_id" in key.columns:
        f = files["unblinding"]
        for idx, donor in key["donor_id"].items():
            if not pd.isna(donor) and str(donor) not in donor_ids:
                problems.append(
                    Problem(
                        f,
                        f"unknown donor '{donor}' (not in the donors sheet)",
                        sheet_row(idx),
                        "donor_id",
                    )
                )
    if mice is not None and donors is not None and "donor_id" in mice.columns:
        used = _ids(mice, "donor_id") | _ids(key, "donor_id")
        for idx, donor in donors["donor_id"].items():
            if not pd.isna(donor) and str(donor) not in used:
                problems.append(
                    Problem(
                        files["donors"],
                        f"donor '{donor}' has no mice",
                        sheet_row(idx),
                        "donor_id",
                        "warning",
                    )
                )
    return problems


def validate_study(root: str | Path, *, unblinding: str | Path | None = None) -> list[Problem]:
    """Check a study folder and return every problem found (empty list: valid).

    Checks ``study.yaml``; that each sheet exists and reads; required columns and cells; types
    (numbers, sex, dates, modality, day lists); duplicate ids; references from mice to donors, from
    recordings to mice, from treatment codes to the unblinding key; and that every recording file
    exists; the ``qc_overrides`` sheet, when there is one
    (:func:`fmslab.study.validate_overrides.check_overrides`). Warnings (e.g. a donor without mice)
    do not make a study invalid.
    """
    root = Path(root).resolve()
    try:
        config = read_config(root)
    except InputError as exc:
        return [Problem(exc.file or str(root), exc.reason)]
    frames: dict[str, pd.DataFrame | None] = {}
    files: dict[str, str] = {}
    problems: list[Problem] = []
    sources = dict(sheet_paths(root, config))
    key_path = unblinding_path(root, config, unblinding)
    if key_path is not None:
        sources["unblinding"] = key_path
    for name, path in sources.items():
        files[name] = _display(path, root)
        try:
            frames[name] = read_sheet(path)
        except InputError as exc:
            frames[name] = None
            problems.append(Problem(files[name], exc.reason))
            continue
        problems += check_sheet(frames[name], SPECS[name], files[name])
    if (
        key_path is None
        and frames.get("mice") is not None
        and "treatment_code" in frames["mice"].columns
    ):
        if frames["mice"]["treatment_code"].notna().any():
            problems.append(
                Problem(
                    files["mice"],
                    "mice carry treatment codes but no unblinding key was given; "
                    "comparisons between groups will need one",
                    column="treatment_code",
                    severity="warning",
                )
            )
    problems += check_references(
        root,
        frames.get("donors"),
        frames.get("mice"),
        frames.get("recordings"),
        frames.get("unblinding"),
        files,
    )
    from fmslab.study.validate_overrides import check_overrides  # imports this module

    problems += check_overrides(root, frames.get("mice"), frames.get("recordings"))
    return sorted(
        problems, key=lambda p: (p.severity != "error", p.file, p.row or 0, p.column or "")
    )


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def is_valid(problems: list[Problem]) -> bool:
    return not any(p.severity == "error" for p in problems)


def load_validated_study(
    root: str | Path, *, unblinding: str | Path | None = None, max_listed: int = 10
):
    """Validate a study and load it; stop on its errors with the validator's messages.

    What every ``--study`` command does first: a study with a missing ``modality`` or ``path``
    column, a misspelled ``mouse_id``, an unknown mouse or a missing file is refused before any
    analysis, with every error listed (the first ``max_listed`` in the message, all of them in
    ``problems``). Warnings do not stop it.

    Raises
    ------
    StudyInvalidError
        The study has errors.
    """
    from fmslab.errors import StudyInvalidError
    from fmslab.study.model import load_study

    problems = validate_study(root, unblinding=unblinding)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        listed = "; ".join(str(p).removeprefix("error: ") for p in errors[:max_listed])
        more = f"; and {len(errors) - max_listed} more" if len(errors) > max_listed else ""
        raise StudyInvalidError(
            f"the study is invalid ({len(errors)} error(s); 'fmslab study validate' lists them): "
            f"{listed}{more}",
            file=root,
            problems=errors,
        )
    return load_study(root, unblinding=unblinding)
