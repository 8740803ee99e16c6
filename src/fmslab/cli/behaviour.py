"""`fmslab behaviour`: Passive-transfer behaviour: von Frey up-down and other pain assays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Passive-transfer behaviour: von Frey up-down and other pain assays.", no_args_is_help=True
)


@app.command()
def analyze(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder (default with --study: STUDY/results/behaviour)."
        ),
    ] = None,
    sheets: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Behaviour sheets (CSV/TSV/XLSX, long format); default with --study: the study's "
            "recordings of modality 'behaviour'."
        ),
    ] = None,
    filaments: Annotated[
        Path | None,
        typer.Option(
            help="Custom filament sets: CSV with filament_set, force_g (one row per filament); "
            "default with --study: study.yaml's behaviour.filaments."
        ),
    ] = None,
    study: Annotated[
        Path | None,
        typer.Option(help="Study folder: mice/donors/codes from it; results into its catalog."),
    ] = None,
    unblinding: Annotated[
        Path | None,
        typer.Option(
            help="Unblinding key (treatment_code -> group[, donor_id]); default: the study's."
        ),
    ] = None,
    cutoff: Annotated[
        list[str] | None,
        typer.Option(help="Cut-off override ASSAY=VALUE (e.g. hargreaves=15); repeatable."),
    ] = None,
    baseline_max_day: Annotated[
        float | None,
        typer.Option(
            help="Days <= this are baseline (default: study.yaml's behaviour.baseline_day, else 0)."
        ),
    ] = None,
    responder_change: Annotated[
        float,
        typer.Option(
            help="Responder: mean post-baseline change of at least this % "
            "in the hypersensitive direction."
        ),
    ] = 20.0,
    exclude_outliers: Annotated[
        bool, typer.Option(help="Leave flagged outlier trials out of the means.")
    ] = False,
    stats_on: Annotated[
        str, typer.Option(help="Response of the mixed model: value (assay units) or pct_baseline.")
    ] = "value",
    lock_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the catalog lock.")
    ] = 120.0,
    allow_failures: Annotated[
        bool, typer.Option(help="Exit 0 even when some sheets or rows could not be scored.")
    ] = False,
    blind: Annotated[
        bool,
        typer.Option(
            help="Ignore the unblinding key: groups stay treatment codes until the comparison step."
        ),
    ] = False,
) -> None:
    """Score sheets: per-trial, per-mouse-day, per-mouse tables, vonfrey.csv, statistics, figure.

    Exits with code 1, listing what was skipped and why, when a sheet or a row could not be scored
    (unless --allow-failures)."""
    from fmslab.behaviour import run
    from fmslab.behaviour.assays import parse_cutoffs
    from fmslab.cli.common import state
    from fmslab.logs import STDERR

    done = run(
        list(sheets) if sheets else None,
        out=out,
        study=study,
        unblinding=unblinding,
        blind=blind,
        filaments=filaments,
        cutoffs=parse_cutoffs(cutoff),
        baseline_max_day=baseline_max_day,
        responder_change_pct=responder_change,
        exclude_outliers=exclude_outliers,
        stats_on=stats_on,
        progress=state(ctx).progress,
        lock_timeout_s=lock_timeout,
    )
    result = done.result
    msg = (
        f"{len(result.trials)} trials, {len(result.vonfrey)} von Frey tests, "
        f"{result.mice['mouse_id'].nunique()} mice; groups from {result.group_source}; "
        f"{len(result.errors)} problem(s) in {done.out / 'errors.csv'}"
    )
    if done.run_id is not None:
        msg += f"; catalog run {done.run_id}"
    STDERR.print(msg, highlight=False)
    for r in result.donor_groups.itertuples() if len(result.donor_groups) else []:
        STDERR.print(f"{r.assay}: {r.summary}", highlight=False)
    from fmslab.batch import check_analysed

    errors = result.errors
    names = [Path(s).name for s in done.sheets]
    used = set(result.trials["sheet"]) if len(result.trials) else set()
    failed = [
        (n, next(iter(errors.loc[errors["sheet"] == n, "reason"].astype(str)), "no usable rows"))
        for n in names
        if n not in used
    ]
    check_analysed("behaviour analyze", asked=len(names), skipped=failed, unit="sheet",
                   allow_failures=allow_failures)  # fmt: skip
    rows = errors[errors["row"].notna() & errors["sheet"].isin(used)]
    skipped = [(f"{r.sheet} row {r.row}", str(r.reason)) for r in rows.itertuples()]
    asked = len(set(zip(result.trials["sheet"], result.trials["row"], strict=True)) | {
        (r.sheet, r.row) for r in rows.itertuples()
    })  # fmt: skip
    check_analysed("behaviour analyze", asked=asked, skipped=skipped, unit="row",
                   allow_failures=allow_failures)  # fmt: skip


@app.command()
def filaments(
    custom: Annotated[
        Path | None, typer.Option("--filaments", help="Custom sets CSV (filament_set, force_g).")
    ] = None,
) -> None:
    """List the filament sets (standard and custom) with force in g and mN and log10(10000 g)."""
    import pandas as pd

    from fmslab.behaviour.filaments import load_sets
    from fmslab.cli.common import print_frame

    sets = load_sets(custom)
    print_frame(pd.concat([s.table() for s in sets.values()], ignore_index=True), max_rows=500)


@app.command()
def threshold(
    pattern: Annotated[
        str, typer.Argument(help="Responses in order, O = no withdrawal, X = withdrawal.")
    ],
    filament_set: Annotated[str, typer.Option("--set", help="Filament set name.")] = "mouse_8",
    first: Annotated[float | None, typer.Option(help="First filament (g).")] = None,
    last: Annotated[
        float | None, typer.Option(help="Last filament (g), instead of or with --first.")
    ] = None,
    sudo: Annotated[bool, typer.Option("--sudo", help="Simplified up-down (Bonin 2014).")] = False,
    custom: Annotated[Path | None, typer.Option("--filaments", help="Custom sets CSV.")] = None,
) -> None:
    """Score one up-down sequence (Chaplan/Dixon, or SUDO) and print the threshold and flags."""
    from fmslab.behaviour.filaments import load_sets
    from fmslab.behaviour.updown import chaplan_threshold, sudo_threshold
    from fmslab.errors import FmslabError

    sets = load_sets(custom)
    if filament_set not in sets:
        raise FmslabError(
            f"unknown filament set '{filament_set}' (known: {', '.join(sorted(sets))})"
        )
    func = sudo_threshold if sudo else chaplan_threshold
    r = func(pattern, first, sets[filament_set], last_filament_g=last)
    value = "" if r.threshold_g != r.threshold_g else f"{r.threshold_g:.4g}"
    typer.echo(f"threshold_g={value}\tflag={r.flag}\tbound={r.bound}\t{r.detail}")
    if not value:  # no silent success: an unscored sequence is an error
        raise FmslabError(f"not scored ({r.flag}): {r.detail}")
