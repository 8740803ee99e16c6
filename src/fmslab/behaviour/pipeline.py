"""`behaviour analyze`: sheets -> trials, mouse-day, mouse, von Frey, statistics, figure.

IO lives here and in :mod:`fmslab.behaviour.sheet`; the computations are the plain functions of
:mod:`~fmslab.behaviour.updown`, :mod:`~fmslab.behaviour.trials`,
:mod:`~fmslab.behaviour.timecourse`
and :mod:`~fmslab.behaviour.stats`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.atomic import write_json, write_table
from fmslab.batch import run_batch
from fmslab.behaviour.filaments import FilamentSet, load_sets
from fmslab.behaviour.plotting import plot_time_course
from fmslab.behaviour.sheet import (
    ID_COLUMNS,
    PROBLEM_COLUMNS,
    Problem,
    SheetData,
    problems_frame,
    read_behaviour_sheet,
)
from fmslab.behaviour.stats import group_day_contrasts
from fmslab.behaviour.timecourse import (
    DEFAULT_RESPONDER_CHANGE_PCT,
    donor_summary,
    mouse_summary,
    percent_of_baseline,
)
from fmslab.behaviour.trials import apply_cutoffs, flag_outliers, mouse_day_table
from fmslab.errors import InputError
from fmslab.provenance import package_versions, sha256_file
from fmslab.study.overrides import kept_rows, mark_overrides

log = logging.getLogger(__name__)

COMMAND = "behaviour analyze"
META = ("group", "treatment_code", "donor_id")
CATALOG_TABLES = {
    "behaviour_trials": "trials",
    "behaviour_mouse_day": "mouse_day",
    "behaviour_mouse": "mice",
    "vonfrey": "vonfrey",
    "behaviour_stats": "stats",
    "behaviour_errors": "errors",
}


@dataclass
class BehaviourResult:
    trials: pd.DataFrame
    mouse_day: pd.DataFrame
    mice: pd.DataFrame
    vonfrey: pd.DataFrame
    stats: pd.DataFrame
    donors: pd.DataFrame
    donor_groups: pd.DataFrame
    errors: pd.DataFrame
    group_source: str
    filament_sets: dict[str, FilamentSet] = field(default_factory=dict)


def _read_one(path: str, sets: dict[str, FilamentSet]) -> SheetData:
    return read_behaviour_sheet(path, sets)


def _first(values: pd.Series) -> Any:
    vals = values.dropna().unique()
    return vals[0] if len(vals) else None


@dataclass(frozen=True)
class MiceStage:
    """What a stage of :func:`resolve_mice` returns: the mice table, the problems it found and
    (:func:`join_key`) how many mice were found in the unblinding key."""

    mice: pd.DataFrame
    problems: list[Problem]
    n_keyed: int = 0


@dataclass(frozen=True)
class ResolvedMice:
    """Per-mouse ``treatment_code``, ``donor_id`` and ``group``; the problems; where the groups
    came from (``group_source``, e.g. ``"unblinding key unblinding.csv"``)."""

    mice: pd.DataFrame
    problems: list[Problem]
    group_source: str


def mice_from_trials(trials: pd.DataFrame) -> MiceStage:
    """Stage 1: one row per mouse with the sheets' own ``group``, ``treatment_code`` and
    ``donor_id``; a mouse given two values across sheets gets none (and a problem)."""
    problems: list[Problem] = []
    mice = pd.DataFrame({"mouse_id": sorted(trials["mouse_id"].unique())})
    for c in META:
        col = trials.groupby("mouse_id")[c].agg(_first) if c in trials.columns else None
        mice[c] = mice["mouse_id"].map(col) if col is not None else None
        if c in trials.columns:
            n = trials.dropna(subset=[c]).groupby("mouse_id")[c].nunique()
            for m in n[n > 1].index:
                problems.append(
                    Problem(
                        "(all sheets)", None, c, f"mouse {m} has several {c} values across sheets"
                    )
                )
                mice.loc[mice["mouse_id"] == m, c] = None
    return MiceStage(mice, problems)


def fill_from_study(mice: pd.DataFrame, study_mice: pd.DataFrame, sheet_name: str) -> MiceStage:
    """Stage 2: treatment code and donor from the study's mice sheet where the behaviour sheets
    have none; contradictions and mice missing from the study are problems."""
    out = mice.copy()
    problems: list[Problem] = []
    sm = study_mice.set_index("mouse_id")
    for i, m in out["mouse_id"].items():
        if m not in sm.index:
            problems.append(
                Problem(
                    sheet_name,
                    None,
                    "mouse_id",
                    f"mouse {m} of the behaviour sheets is not in the study's mice sheet",
                )
            )
            continue
        for c in ("treatment_code", "donor_id"):
            if c not in sm.columns or pd.isna(sm.at[m, c]):
                continue
            have = out.at[i, c]
            if have is None or pd.isna(have):
                out.at[i, c] = str(sm.at[m, c])
            elif str(have) != str(sm.at[m, c]):
                problems.append(
                    Problem(
                        "(all sheets)",
                        None,
                        c,
                        f"mouse {m}: sheets say {c} {have}, the study says {sm.at[m, c]}",
                    )
                )
    return MiceStage(out, problems)


def join_key(mice: pd.DataFrame, key: pd.DataFrame, key_name: str) -> MiceStage:
    """Stage 3: groups (and donors) from the unblinding key, joined on the treatment code.

    A code missing from the key, or a sheet group contradicting the key, is a problem; the
    contradicted mouse's group is left empty (kept out of the statistics).
    """
    from fmslab.study import unblind

    out = mice.copy()
    problems: list[Problem] = []
    coded = out[out["treatment_code"].notna()]
    known = set(key["treatment_code"].astype(str))
    for code in sorted(set(coded["treatment_code"].astype(str)) - known):
        problems.append(
            Problem(key_name, None, "treatment_code", f"code {code} is not in the unblinding key")
        )
    joinable = coded[coded["treatment_code"].astype(str).isin(known)]
    if not len(joinable):
        return MiceStage(out, problems)
    keyed = unblind(joinable[["mouse_id", "treatment_code"]], key, group_column="_group")
    if "donor_id" in key.columns:
        donor_of = key.set_index("treatment_code")["donor_id"]
        keyed["_donor"] = keyed["treatment_code"].astype(str).map(donor_of)
    for _, r in keyed.iterrows():
        i = out.index[out["mouse_id"] == r["mouse_id"]][0]
        have = out.at[i, "group"]
        if have is None or pd.isna(have):
            out.at[i, "group"] = str(r["_group"])
        elif str(have) != str(r["_group"]):
            problems.append(
                Problem(
                    "(all sheets)",
                    None,
                    "group",
                    f"mouse {r['mouse_id']}: sheet group {have} contradicts the unblinding key "
                    f"({r['_group']}); left out of the statistics",
                )
            )
            out.at[i, "group"] = None
        donor = r.get("_donor")
        current = out.at[i, "donor_id"]
        if donor is not None and pd.notna(donor) and (current is None or pd.isna(current)):
            out.at[i, "donor_id"] = str(donor)
    return MiceStage(out, problems, n_keyed=len(keyed))


def missing_groups(mice: pd.DataFrame) -> list[Problem]:
    """Stage 4: once any mouse has a group, every mouse without one is a problem."""
    if not mice["group"].notna().any():
        return []
    return [
        Problem(
            "(all sheets)", None, "group", f"mouse {m} has no group: left out of the statistics"
        )
        for m in mice.loc[mice["group"].isna(), "mouse_id"]
    ]


def resolve_mice(
    trials: pd.DataFrame, *, study: Any = None, unblinding: str | Path | None = None
) -> ResolvedMice:
    """Per-mouse ``treatment_code``, ``donor_id`` and ``group``, and where the group came from.

    Sources, in order: the sheets' own columns (:func:`mice_from_trials`); the study's ``mice``
    sheet (:func:`fill_from_study`); the unblinding key joined on the treatment code
    (:func:`join_key`). Without any group the treatment code stands in for it (a blinded
    comparison of codes). Contradictions are returned as problems and the mouse's group is left
    empty (it is then kept out of the statistics, :func:`missing_groups`).
    """
    from fmslab.study.blinding import read_unblinding

    stage = mice_from_trials(trials)
    mice, problems = stage.mice, list(stage.problems)
    if study is not None:
        stage = fill_from_study(mice, study.mice, str(study.sheet_paths["mice"].name))
        mice, problems = stage.mice, problems + stage.problems
        if unblinding is None and study.unblinding_path is not None:
            unblinding = study.unblinding_path
    source = "sheet column 'group'" if mice["group"].notna().any() else ""
    if unblinding is not None:
        stage = join_key(mice, read_unblinding(unblinding), Path(unblinding).name)
        mice, problems = stage.mice, problems + stage.problems
        if stage.n_keyed:
            source = (source + " + " if source else "") + f"unblinding key {Path(unblinding).name}"
    if not mice["group"].notna().any() and mice["treatment_code"].notna().any():
        mice = mice.assign(group=mice["treatment_code"])
        source = "treatment_code (blinded: groups are codes)"
    problems += missing_groups(mice)
    return ResolvedMice(mice, problems, source or "none (no group, treatment code or key)")


def analyze_sheets(
    sheets: list[str | Path],
    *,
    filaments: str | Path | None = None,
    study: Any = None,
    unblinding: str | Path | None = None,
    cutoffs: dict[str, float] | None = None,
    baseline_max_day: float = 0.0,
    responder_change_pct: float = DEFAULT_RESPONDER_CHANGE_PCT,
    exclude_outliers: bool = False,
    stats_on: str = "value",
    progress: bool = False,
    overrides: pd.DataFrame | None = None,
) -> BehaviourResult:
    """Run the whole behaviour analysis on sheets; bad sheets and rows are reported, not fatal.

    ``overrides`` (the study's ``qc_overrides``, :mod:`fmslab.study.overrides`): the mice a reviewer
    excluded keep their rows in every table, marked ``excluded`` with the ``exclusion_reason``,
    and are left out of the statistics (``stats``), the donor summary and the time-course figure.
    """
    if stats_on not in ("value", "pct_baseline"):
        raise InputError(f"stats_on must be 'value' or 'pct_baseline', not '{stats_on}'")
    sets = load_sets(filaments)
    outcome = run_batch(
        functools.partial(_read_one, sets=sets),
        [str(s) for s in sheets],
        n_jobs=1,
        description="behaviour sheets",
        progress=progress,
        label=lambda s: Path(s).name,
    )
    datas = [v for _, v in outcome.results]
    errors = [
        pd.DataFrame(
            {
                "sheet": [f.item],
                "row": [None],
                "column": [None],
                "reason": [f"{f.error_type}: {f.message}"],
            }
        )
        for f in outcome.failures
    ]
    errors += [d.problems for d in datas if len(d.problems)]
    trial_parts = [d.trials for d in datas if len(d.trials)]
    vf_parts = [d.vonfrey for d in datas if len(d.vonfrey)]
    trials = pd.concat(trial_parts, ignore_index=True) if trial_parts else pd.DataFrame()
    vonfrey = pd.concat(vf_parts, ignore_index=True) if vf_parts else pd.DataFrame()
    if trials.empty:
        raise_empty = (
            pd.concat(errors, ignore_index=True)
            if errors
            else pd.DataFrame(columns=PROBLEM_COLUMNS)
        )
        raise InputError(
            f"no usable behaviour rows in {len(sheets)} sheet(s); problems: "
            + "; ".join(
                f"{r.sheet} row {r.row}: {r.reason}" for r in raise_empty.head(5).itertuples()
            )
        )
    # the same trial in two sheets: every copy is left out
    dup = trials.duplicated(list(ID_COLUMNS), keep=False) & (
        trials.groupby(list(ID_COLUMNS))["sheet"].transform("nunique") > 1
    )
    if dup.any():
        d = trials[dup]
        errors.append(
            pd.DataFrame(
                {
                    "sheet": d["sheet"],
                    "row": d["row"],
                    "column": None,
                    "reason": "the same mouse, day, assay, side and trial is in another sheet: "
                    "all copies left out",
                }
            )
        )
        if len(vonfrey):
            hit = vonfrey.set_index(["sheet", "row"]).index.isin(
                list(zip(d["sheet"], d["row"], strict=True))
            )
            vonfrey.loc[hit, "threshold_g"] = float("nan")
            vonfrey.loc[hit, "flag"] = (vonfrey.loc[hit, "flag"] + ";duplicate_row").str.lstrip(";")
        trials = trials[~dup].reset_index(drop=True)
    resolved = resolve_mice(trials, study=study, unblinding=unblinding)
    mice_info, group_source = resolved.mice, resolved.group_source
    if resolved.problems:
        errors.append(problems_frame(resolved.problems))
    trials = trials.drop(columns=[c for c in META if c in trials.columns]).merge(
        mice_info, on="mouse_id", how="left"
    )
    if len(vonfrey):
        vonfrey = vonfrey.drop(columns=[c for c in META if c in vonfrey.columns]).merge(
            mice_info, on="mouse_id", how="left"
        )
    trials = flag_outliers(apply_cutoffs(trials, cutoffs))
    if "duration_s" in trials.columns:
        loco = trials["assay"] == "locomotor"
        trials["distance_cm_per_min"] = (trials["value"] / trials["duration_s"] * 60.0).where(loco)
        durations = sorted(trials.loc[loco, "duration_s"].dropna().unique())
        if len(durations) > 1:
            errors.append(
                pd.DataFrame(
                    {
                        "sheet": ["(all sheets)"],
                        "row": [None],
                        "column": ["duration_s"],
                        "reason": [
                            "locomotor sessions last different times "
                            f"({', '.join(f'{d:g}' for d in durations)} s): distance_cm is not "
                            "comparable across them; see distance_cm_per_min in trials.csv"
                        ],
                    }
                )
            )
    md = mouse_day_table(trials, exclude_outliers=exclude_outliers)
    md = percent_of_baseline(md, baseline_max_day=baseline_max_day)
    mice = mouse_summary(
        md, baseline_max_day=baseline_max_day, responder_change_pct=responder_change_pct
    )
    for m in mice[mice["flag"].str.contains("no_baseline")].itertuples():
        errors.append(
            pd.DataFrame(
                {
                    "sheet": ["(all sheets)"],
                    "row": [None],
                    "column": ["day"],
                    "reason": [
                        f"mouse {m.mouse_id}, {m.assay}: no baseline day (day <= "
                        f"{baseline_max_day:g}); no % of baseline or AUC"
                    ],
                }
            )
        )
    if overrides is not None:  # the rows stay (visible), marked; the statistics use the others
        trials, md, mice = (mark_overrides(t, overrides) for t in (trials, md, mice))
        if len(vonfrey):
            vonfrey = mark_overrides(vonfrey, overrides)
    stats = group_day_contrasts(kept_rows(md), column=stats_on)
    donors, donor_groups = donor_summary(kept_rows(mice), responder_change_pct=responder_change_pct)
    if len(donor_groups):
        resp = donor_groups.rename(columns={"group": "group_a", "summary": "note"})
        resp = resp.assign(test="donor_responders", responder_change_pct=responder_change_pct)
        stats = pd.concat([stats, resp], ignore_index=True)
    err = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=PROBLEM_COLUMNS)
    return BehaviourResult(
        trials=_tidy(trials),
        mouse_day=_tidy(md),
        mice=mice,
        vonfrey=_tidy(vonfrey),
        stats=stats,
        donors=donors,
        donor_groups=donor_groups,
        errors=err,
        group_source=group_source,
        filament_sets=sets,
    )


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Whole-number days as integers; row numbers as integers."""
    if "day" in df.columns and len(df) and (df["day"] % 1 == 0).all():
        df = df.assign(day=df["day"].astype("int64"))
    return df


def write_outputs(
    result: BehaviourResult,
    out_dir: str | Path,
    *,
    inputs: list[str | Path],
    parameters: dict[str, Any],
) -> list[Path]:
    """Write every table (CSV), the figures (PDF, PNG) and ``provenance.json`` into ``out_dir``."""
    out = Path(out_dir)
    written = [
        write_table(result.trials, out / "trials.csv"),
        write_table(result.mouse_day, out / "mouse_day.csv"),
        write_table(result.mice, out / "mouse.csv"),
        write_table(result.vonfrey, out / "vonfrey.csv"),
        write_table(result.stats, out / "stats.csv"),
        write_table(result.donors, out / "donors.csv"),
        write_table(result.donor_groups, out / "responders.csv"),
        write_table(result.errors, out / "errors.csv"),
    ]
    from fmslab.figures.export import save_module_figure

    shown = kept_rows(result.mouse_day)  # reviewers' exclusions are not drawn
    fig = plot_time_course(shown)
    written += save_module_figure(fig, out / "time_course.pdf")
    if shown["pct_baseline"].notna().any():
        fig2 = plot_time_course(shown, column="pct_baseline")
        written += save_module_figure(fig2, out / "time_course_pct_baseline.pdf")
    dixon = files("fmslab") / "data" / "behaviour" / "dixon_k_table.csv"
    prov = {
        "command": COMMAND,
        "parameters": parameters,
        "inputs": [
            {"path": str(Path(p).resolve()), "sha256": sha256_file(p)}
            for p in inputs
            if Path(p).is_file()
        ],
        "dixon_k_table_sha256": sha256_file(str(dixon)),
        "filament_sets": {
            n: {"force_g": list(s.force_g), "delta_log": s.delta, "source": s.source}
            for n, s in result.filament_sets.items()
        },
        "group_source": result.group_source,
        "versions": package_versions(),
        "outputs": [p.name for p in written],
        "n_errors": int(len(result.errors)),
    }
    written.append(write_json(out / "provenance.json", prov))
    return written


def store_in_catalog(
    result: BehaviourResult,
    study: Any,
    *,
    inputs: list[str | Path],
    parameters: dict[str, Any],
    lock_timeout_s: float = 120.0,
    defer: bool = False,
) -> str:
    """Store the result and error tables in the study catalog (whole tables replaced); return run id."""
    from fmslab.catalog import open_session

    with open_session(
        study.catalog_path,
        command=COMMAND,
        parameters=parameters,
        lock_timeout_s=lock_timeout_s,
        defer=defer,
    ) as cat:
        cat.record_inputs([p for p in inputs if Path(p).is_file()])
        # the sheets are scored together: every behaviour table (errors included) is replaced
        frames = {table: getattr(result, attr) for table, attr in CATALOG_TABLES.items()}
        cat.write_scope("behaviour", frames, scope=None)
        return cat.run.run_id
