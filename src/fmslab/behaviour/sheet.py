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


def read_behaviour_sheet(path: str | Path, sets: dict[str, FilamentSet]) -> SheetData:
    """Read, validate and score one sheet.

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
    df = read_sheet(path)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"required column(s) missing: {', '.join(missing)}", file=path)
    _check_reading_columns(df, path)
    problems: list[tuple[str, int, str | None, str]] = []

    def bad(idx: int, column: str | None, reason: str) -> None:
        problems.append((name, sheet_row(idx), column, reason))

    meta = [c for c in META_COLUMNS if c in df.columns]
    extras = {
        c: (f"sheet_{c}" if c in OUTPUT_COLUMNS else c)
        for c in df.columns
        if c not in KNOWN_COLUMNS
    }
    has_trial = "trial" in df.columns
    rows: list[dict] = []
    vf_rows: list[dict] = []
    for idx, rec in df.iterrows():
        row = sheet_row(idx)
        ok = True
        for col in REQUIRED:
            if pd.isna(rec[col]):
                bad(idx, col, "required cell is empty")
                ok = False
        if not ok:
            continue
        day = _num(rec["day"])
        if day is None:
            bad(idx, "day", f"day '{rec['day']}' is not a number")
            continue
        assay = canonical_assay(rec["assay"])
        if assay is None:
            bad(idx, "assay", f"unknown assay '{rec['assay']}' (known: {', '.join(ASSAYS)})")
            continue
        spec = ASSAYS[assay]
        side = rec["side"] if "side" in df.columns and pd.notna(rec.get("side")) else "unspecified"
        trial: float | None = 1.0
        if has_trial:
            trial = _num(rec["trial"]) if pd.notna(rec["trial"]) else None
            if trial is None or not float(trial).is_integer():
                bad(idx, "trial", f"trial '{rec['trial']}' is not a whole number")
                continue
        base = {
            "sheet": name,
            "row": row,
            "mouse_id": str(rec["mouse_id"]),
            "day": day,
            "assay": assay,
            "side": str(side).lower(),
            "trial": int(trial) if trial is not None else 1,
        }
        for c in meta:
            base[c] = None if pd.isna(rec[c]) else str(rec[c])
        for c, out_name in extras.items():
            base[out_name] = None if pd.isna(rec[c]) else str(rec[c])
        cutoff = spec.cutoff
        row_cutoff = "cutoff" in df.columns and pd.notna(rec["cutoff"])
        if row_cutoff:
            cutoff = _num(rec["cutoff"])
            if cutoff is None or cutoff <= 0:
                bad(idx, "cutoff", f"cut-off '{rec['cutoff']}' is not a positive number")
                continue
        if spec.updown:
            vf = _score_vonfrey(rec, df.columns, spec.updown, sets)
            vf_rows.append({**base, **vf})
            if vf["flag"] and not set(vf["flag"].split(";")) <= (BOUNDED_FLAGS | NOTE_FLAGS):
                bad(idx, "pattern", f"von Frey test not scored ({vf['flag']}): {vf['detail']}")
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
        candidates = [c for c in (spec.reading, "value") if c in df.columns]
        if not candidates:
            bad(idx, spec.reading, f"no '{spec.reading}' (or 'value') column for assay {assay}")
            continue
        col = next((c for c in candidates if pd.notna(rec[c])), candidates[0])
        value = _num(rec[col]) if pd.notna(rec[col]) else None
        if value is None or value < 0:
            bad(idx, col, f"{spec.measure} '{rec[col]}' is not a non-negative number")
            continue
        extra = {}
        if assay == "locomotor" and "duration_s" in df.columns and pd.notna(rec["duration_s"]):
            dur = _num(rec["duration_s"])
            if dur is None or dur <= 0:
                bad(idx, "duration_s", f"duration '{rec['duration_s']}' is not a positive number")
                continue
            extra["duration_s"] = dur
        rows.append(
            {
                **base,
                "measure": spec.measure,
                "unit": spec.unit,
                "raw_value": value,
                "cutoff": np.nan if cutoff is None else cutoff,
                "cutoff_source": "row" if row_cutoff else "default",
                "flag": "",
                **extra,
            }
        )
    trials = pd.DataFrame(rows)
    if len(trials) and not has_trial:
        # no trial column: number the trials in sheet order (repeats cannot then be told from
        # duplicated rows, so none are reported)
        trials["trial"] = trials.groupby(["mouse_id", "day", "assay", "side"]).cumcount() + 1
        if vf_rows:
            by_row = dict(zip(trials["row"], trials["trial"], strict=True))
            for r in vf_rows:
                r["trial"] = by_row.get(r["row"], r["trial"])
    if len(trials):
        trials, dup_problems = _drop_duplicates(trials, name)
        problems += dup_problems
        problems += _check_meta(trials, meta, name)
    vonfrey = pd.DataFrame(vf_rows)
    if len(vonfrey) and len(trials):
        dup_rows = set(vonfrey["row"]) - set(trials["row"])
        vonfrey.loc[vonfrey["row"].isin(dup_rows), "flag"] = (
            vonfrey["flag"].where(vonfrey["flag"] == "", vonfrey["flag"] + ";") + "duplicate_row"
        )
        vonfrey.loc[vonfrey["row"].isin(dup_rows), "threshold_g"] = np.nan
    probs = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
    return SheetData(sheet=name, trials=trials, vonfrey=vonfrey, problems=probs)


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


def _score_vonfrey(
    rec: pd.Series, columns: pd.Index, method: str, sets: dict[str, FilamentSet]
) -> dict:
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


def _drop_duplicates(trials: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list]:
    """Rows sharing mouse, day, assay, side and trial: all of them are left out and reported."""
    key = list(ID_COLUMNS)
    dup = trials.duplicated(key, keep=False)
    problems = []
    for _, grp in trials[dup].groupby(key, sort=False):
        rows = grp["row"].tolist()
        for r in rows:
            others = ", ".join(str(o) for o in rows if o != r)
            problems.append(
                (
                    name,
                    r,
                    None,
                    f"duplicate of row(s) {others} (same mouse_id, day, assay, side, "
                    "trial): all copies left out",
                )
            )
    return trials[~dup].reset_index(drop=True), problems


def _check_meta(trials: pd.DataFrame, meta: list[str], name: str) -> list:
    """A mouse must have one group / treatment code / donor across the sheet."""
    problems = []
    for c in meta:
        n = trials.dropna(subset=[c]).groupby("mouse_id")[c].nunique()
        for mouse in n[n > 1].index:
            values = sorted(trials.loc[trials["mouse_id"] == mouse, c].dropna().unique())
            row = int(trials.loc[trials["mouse_id"] == mouse, "row"].iloc[0])
            problems.append(
                (name, row, c, f"mouse {mouse} has several {c} values: {', '.join(values)}")
            )
    return problems
