"""Reading one long-format behaviour sheet into validated per-trial rows and von Frey results.

One row is one trial: ``mouse_id, day, assay`` (required), ``side`` and ``trial`` (optional), and
the reading in the assay's column (``pattern`` + ``first_filament_g`` [+ ``last_filament_g``] and
``filament_set`` for von Frey; ``latency_s``; ``force_g``; ``score``; ``distance_cm`` [+
``duration_s``]) or in a generic ``value`` column. ``group``, ``treatment_code``, ``donor_id`` and
a per-row ``cutoff`` are optional.

A sheet that cannot be read or lacks a required column raises :class:`InputError`. A bad row does
not stop the sheet: it becomes a problem (sheet, row, column, reason) and is kept out of the
analysis; a bad von Frey test still gets its row in ``vonfrey`` with ``threshold_g`` empty and a
``flag``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.behaviour.assays import ASSAYS, canonical_assay
from fmslab.behaviour.filaments import FilamentSet
from fmslab.behaviour.updown import BOUNDED_FLAGS, NOTE_FLAGS, chaplan_threshold, sudo_threshold
from fmslab.errors import InputError
from fmslab.study.sheets import read_sheet, sheet_row

REQUIRED = ("mouse_id", "day", "assay")
ID_COLUMNS = ("mouse_id", "day", "assay", "side", "trial")
META_COLUMNS = ("group", "treatment_code", "donor_id")
PROBLEM_COLUMNS = ["sheet", "row", "column", "reason"]
#: Columns fmslab reads; any other column of a sheet (note, cohort, experimenter...) is carried
#: through to the trial and von Frey tables (renamed ``sheet_NAME`` if it clashes with an output).
KNOWN_COLUMNS = frozenset(
    (*REQUIRED, "side", "trial", *META_COLUMNS, "filament_set", "pattern", "first_filament_g",
     "last_filament_g", "latency_s", "force_g", "score", "distance_cm", "duration_s", "value",
     "cutoff")
)  # fmt: skip
OUTPUT_COLUMNS = frozenset(
    ("sheet", "row", "measure", "unit", "raw_value", "value", "flag", "threshold_g", "method",
     "detail", "bound", "k", "outlier", "at_cutoff", "used", "baseline", "pct_baseline")
)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """Why a row (or a mouse) is left out: ``sheet``, 1-based ``row`` (None: not one row),
    ``column`` (None: the whole row) and ``reason``."""

    sheet: str
    row: int | None
    column: str | None
    reason: str


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """Problems as the ``errors.csv`` table (columns :data:`PROBLEM_COLUMNS`)."""
    return pd.DataFrame(
        [(p.sheet, p.row, p.column, p.reason) for p in problems], columns=PROBLEM_COLUMNS
    )


@dataclass(frozen=True)
class RowProblem:
    """What a row-parsing stage returns instead of a value: the column at fault and why."""

    column: str | None
    reason: str


@dataclass(frozen=True)
class TrialKey:
    """Which trial a row is: ``trial`` is None when the sheet has no ``trial`` column (trials are
    then numbered in sheet order by :func:`number_trials`)."""

    mouse_id: str
    day: float
    assay: str
    side: str
    trial: int | None


@dataclass(frozen=True)
class Cutoff:
    """A trial's cut-off (assay units; None: the assay has none) and where it came from."""

    value: float | None
    source: str  # "row" (the sheet's cutoff column) or "default" (the assay's)


@dataclass(frozen=True)
class Reading:
    """A trial's reading: the column it was read from, its value and, for locomotor, the
    session's duration."""

    column: str
    value: float
    duration_s: float | None = None


@dataclass
class SheetData:
    """What one sheet yields. ``trials`` holds usable rows only; problems list the rest."""

    sheet: str
    trials: pd.DataFrame
    vonfrey: pd.DataFrame
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))


def _num(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def read_sheet_table(path: str | Path) -> pd.DataFrame:
    """Stage 1: the sheet as a table, with the required columns (else :class:`InputError`)."""
    df = read_sheet(Path(path))
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"required column(s) missing: {', '.join(missing)}", file=path)
    return df


def parse_trial_key(rec: pd.Series, columns: pd.Index) -> TrialKey | RowProblem:
    """Stage 2: mouse, day, assay (canonical name), side and trial of one row."""
    for col in REQUIRED:
        if pd.isna(rec[col]):
            return RowProblem(col, "required cell is empty")
    day = _num(rec["day"])
    if day is None:
        return RowProblem("day", f"day '{rec['day']}' is not a number")
    assay = canonical_assay(rec["assay"])
    if assay is None:
        return RowProblem("assay", f"unknown assay '{rec['assay']}' (known: {', '.join(ASSAYS)})")
    side = rec["side"] if "side" in columns and pd.notna(rec.get("side")) else "unspecified"
    trial: int | None = None
    if "trial" in columns:
        value = _num(rec["trial"]) if pd.notna(rec["trial"]) else None
        if value is None or not float(value).is_integer():
            return RowProblem("trial", f"trial '{rec['trial']}' is not a whole number")
        trial = int(value)
    return TrialKey(str(rec["mouse_id"]), day, assay, str(side).lower(), trial)


def parse_cutoff(rec: pd.Series, columns: pd.Index, default: float | None) -> Cutoff | RowProblem:
    """Stage 3: the row's own cut-off (``cutoff`` column) or the assay's ``default``."""
    if "cutoff" not in columns or pd.isna(rec["cutoff"]):
        return Cutoff(default, "default")
    value = _num(rec["cutoff"])
    if value is None or value <= 0:
        return RowProblem("cutoff", f"cut-off '{rec['cutoff']}' is not a positive number")
    return Cutoff(value, "row")


def parse_reading(rec: pd.Series, columns: pd.Index, assay: str) -> Reading | RowProblem:
    """Stage 4 (assays other than von Frey): the reading in the assay's column, else ``value``."""
    spec = ASSAYS[assay]
    candidates = [c for c in (spec.reading, "value") if c in columns]
    if not candidates:
        return RowProblem(
            spec.reading, f"no '{spec.reading}' (or 'value') column for assay {assay}"
        )
    col = next((c for c in candidates if pd.notna(rec[c])), candidates[0])
    value = _num(rec[col]) if pd.notna(rec[col]) else None
    if value is None or value < 0:
        return RowProblem(col, f"{spec.measure} '{rec[col]}' is not a non-negative number")
    duration = None
    if assay == "locomotor" and "duration_s" in columns and pd.notna(rec["duration_s"]):
        duration = _num(rec["duration_s"])
        if duration is None or duration <= 0:
            return RowProblem(
                "duration_s", f"duration '{rec['duration_s']}' is not a positive number"
            )
    return Reading(col, value, duration)


def number_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Stage 5 (sheets without a ``trial`` column): number the trials of each mouse, day, assay
    and side in sheet order. Repeats cannot then be told from duplicated rows."""
    key = ["mouse_id", "day", "assay", "side"]
    return trials.assign(trial=trials.groupby(key).cumcount() + 1)


def drop_duplicate_trials(trials: pd.DataFrame, sheet: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Stage 6: rows sharing mouse, day, assay, side and trial are all left out and reported.

    Returns the kept trials and one problem per dropped row.
    """
    key = list(ID_COLUMNS)
    dup = trials.duplicated(key, keep=False)
    problems = []
    for _, grp in trials[dup].groupby(key, sort=False):
        rows = grp["row"].tolist()
        for r in rows:
            others = ", ".join(str(o) for o in rows if o != r)
            problems.append(
                Problem(
                    sheet,
                    int(r),
                    None,
                    f"duplicate of row(s) {others} (same mouse_id, day, assay, side, "
                    "trial): all copies left out",
                )
            )
    return trials[~dup].reset_index(drop=True), problems


def check_meta(trials: pd.DataFrame, meta: list[str], sheet: str) -> list[Problem]:
    """Stage 7: a mouse must have one group / treatment code / donor across the sheet."""
    problems = []
    for c in meta:
        n = trials.dropna(subset=[c]).groupby("mouse_id")[c].nunique()
        for mouse in n[n > 1].index:
            values = sorted(trials.loc[trials["mouse_id"] == mouse, c].dropna().unique())
            row = int(trials.loc[trials["mouse_id"] == mouse, "row"].iloc[0])
            problems.append(
                Problem(sheet, row, c, f"mouse {mouse} has several {c} values: {', '.join(values)}")
            )
    return problems


def unscore_dropped_tests(vonfrey: pd.DataFrame, kept_rows: set[int]) -> pd.DataFrame:
    """Stage 8: a von Frey test whose row was left out as a duplicate keeps its row in
    ``vonfrey`` with the flag ``duplicate_row`` and no threshold."""
    if vonfrey.empty:
        return vonfrey
    out = vonfrey.copy()
    hit = ~out["row"].isin(kept_rows)
    out.loc[hit, "flag"] = out["flag"].where(out["flag"] == "", out["flag"] + ";") + "duplicate_row"
    out.loc[hit, "threshold_g"] = np.nan
    return out


def read_behaviour_sheet(path: str | Path, sets: dict[str, FilamentSet]) -> SheetData:
    """Read, validate and score one sheet (stages :func:`read_sheet_table` to
    :func:`unscore_dropped_tests`).

    Parameters
    ----------
    path
        CSV/TSV/XLSX sheet in long format.
    sets
        Filament sets by name (standard plus custom).

    Returns
    -------
    SheetData
        ``trials``: one row per usable trial with ``sheet, row, mouse_id, day, assay, side, trial``,
        the meta columns present, ``measure, unit, raw_value, cutoff, flag`` (cut-offs are applied
        later, in :mod:`fmslab.behaviour.trials`); ``vonfrey``: one row per up-down test;
        ``problems``.
    """
    path = Path(path)
    name = path.name
    df = read_sheet_table(path)
    _check_reading_columns(df, path)
    problems: list[Problem] = []
    meta = [c for c in META_COLUMNS if c in df.columns]
    extras = {
        c: (f"sheet_{c}" if c in OUTPUT_COLUMNS else c)
        for c in df.columns
        if c not in KNOWN_COLUMNS
    }
    rows: list[dict] = []
    vf_rows: list[dict] = []
    for idx, rec in df.iterrows():
        row = sheet_row(idx)
        key = parse_trial_key(rec, df.columns)
        if isinstance(key, RowProblem):
            problems.append(Problem(name, row, key.column, key.reason))
            continue
        spec = ASSAYS[key.assay]
        base = {
            "sheet": name,
            "row": row,
            "mouse_id": key.mouse_id,
            "day": key.day,
            "assay": key.assay,
            "side": key.side,
            "trial": key.trial if key.trial is not None else 1,
        }
        for c in meta:
            base[c] = None if pd.isna(rec[c]) else str(rec[c])
        for c, out_name in extras.items():
            base[out_name] = None if pd.isna(rec[c]) else str(rec[c])
        cutoff = parse_cutoff(rec, df.columns, spec.cutoff)
        if isinstance(cutoff, RowProblem):
            problems.append(Problem(name, row, cutoff.column, cutoff.reason))
            continue
        if spec.updown:
            vf = score_vonfrey(rec, df.columns, spec.updown, sets)
            vf_rows.append({**base, **vf})
            if vf["flag"] and not set(vf["flag"].split(";")) <= (BOUNDED_FLAGS | NOTE_FLAGS):
                problems.append(
                    Problem(
                        name,
                        row,
                        "pattern",
                        f"von Frey test not scored ({vf['flag']}): {vf['detail']}",
                    )
                )
            rows.append(
                {
                    **base,
                    "measure": spec.measure,
                    "unit": spec.unit,
                    "raw_value": vf["threshold_g"],
                    "cutoff": np.nan,
                    "flag": vf["flag"],
                }
            )
            continue
        reading = parse_reading(rec, df.columns, key.assay)
        if isinstance(reading, RowProblem):
            problems.append(Problem(name, row, reading.column, reading.reason))
            continue
        rows.append(
            {
                **base,
                "measure": spec.measure,
                "unit": spec.unit,
                "raw_value": reading.value,
                "cutoff": np.nan if cutoff.value is None else cutoff.value,
                "cutoff_source": cutoff.source,
                "flag": "",
                **({"duration_s": reading.duration_s} if reading.duration_s is not None else {}),
            }
        )
    trials = pd.DataFrame(rows)
    vonfrey = pd.DataFrame(vf_rows)
    if len(trials) and "trial" not in df.columns:
        trials = number_trials(trials)
        if len(vonfrey):
            by_row = dict(zip(trials["row"], trials["trial"], strict=True))
            vonfrey = vonfrey.assign(
                trial=[
                    by_row.get(r, t) for r, t in zip(vonfrey["row"], vonfrey["trial"], strict=True)
                ]
            )
    if len(trials):
        trials, dup_problems = drop_duplicate_trials(trials, name)
        problems += dup_problems
        problems += check_meta(trials, meta, name)
        vonfrey = unscore_dropped_tests(vonfrey, set(trials["row"]))
    return SheetData(sheet=name, trials=trials, vonfrey=vonfrey, problems=problems_frame(problems))


def _check_reading_columns(df: pd.DataFrame, path: Path) -> None:
    """Refuse a sheet whose assays' reading column is absent (e.g. a misspelled ``pattern``).

    Without it every row of the assay would go unscored; the message names the column the sheet
    lacks and, when one is close, the column it probably meant.
    """
    import difflib

    assays = {canonical_assay(a) for a in df["assay"].dropna().unique()} - {None}
    for assay in sorted(assays):
        spec = ASSAYS[assay]
        if spec.reading in df.columns or (not spec.updown and "value" in df.columns):
            continue
        unused = [c for c in df.columns if c not in KNOWN_COLUMNS]
        close = difflib.get_close_matches(spec.reading, unused, n=1, cutoff=0.6)
        hint = f" (is '{close[0]}' meant to be '{spec.reading}'?)" if close else ""
        alt = "" if spec.updown else " or a 'value' column"
        raise InputError(
            f"{assay} rows need a '{spec.reading}' column{alt}; the sheet has none{hint}",
            file=path,
            column=spec.reading,
        )


def score_vonfrey(
    rec: pd.Series, columns: pd.Index, method: str, sets: dict[str, FilamentSet]
) -> dict:
    """Stage 4 (von Frey): the up-down test of one row, scored by ``method`` (``chaplan`` or
    ``sudo``); a test that cannot be scored gets an empty ``threshold_g`` and a ``flag``."""
    set_name = rec["filament_set"] if "filament_set" in columns else pd.NA
    cells = {c: rec[c] if c in columns else pd.NA for c in ("first_filament_g", "last_filament_g")}
    pattern = rec["pattern"] if "pattern" in columns else pd.NA
    first, last = (_num(v) if pd.notna(v) else None for v in cells.values())
    out = {
        "filament_set": None if pd.isna(set_name) else str(set_name),
        "pattern": None if pd.isna(pattern) else str(pattern),
        "first_filament_g": first,
        "last_filament_g_sheet": last,
    }
    for col, value in cells.items():
        if pd.notna(value) and _num(value) is None:
            return {
                **out,
                "method": method,
                "threshold_g": np.nan,
                "flag": "unknown_filament",
                "detail": f"{col} '{value}' is not a number",
                "bound": "",
            }
    if pd.isna(set_name) or str(set_name) not in sets:
        known = ", ".join(sorted(sets))
        reason = (
            "no filament_set given" if pd.isna(set_name) else f"unknown filament set '{set_name}'"
        )
        return {
            **out,
            "method": method,
            "threshold_g": np.nan,
            "flag": "unknown_filament_set",
            "detail": f"{reason} (known: {known}; add custom sets with --filaments)",
            "bound": "",
        }
    func = chaplan_threshold if method == "chaplan" else sudo_threshold
    res = func(pattern, first, sets[str(set_name)], last_filament_g=last).as_dict()
    return {**out, **res}
