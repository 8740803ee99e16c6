"""`fmslab compare`: Patient vs control IgG comparisons respecting donor > mouse > cell nesting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fmslab.cli.common import defer_catalog_option

app = typer.Typer(
    help="Patient vs control IgG comparisons respecting donor > mouse > cell nesting.",
    no_args_is_help=True,
    context_settings={"allow_interspersed_args": True},
)


@app.callback(invoke_without_command=True)
def compare(
    table: Annotated[
        str,
        typer.Argument(
            help="Outcome table: .csv/.parquet file, or a catalog table name with --study."
        ),
    ],
    outcome: Annotated[
        list[str],
        typer.Option(
            "--outcome", "-o", help="Outcome column (repeat); COL=VALUE for a binary category."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Output folder (stats.csv, data.csv, provenance.json).")
    ],
    group: Annotated[
        str, typer.Option(help="Group column (added from the unblinding key if absent).")
    ] = "group",
    levels: Annotated[
        str,
        typer.Option(help="Clustering levels, top down (the top one is the unit of replication)."),
    ] = "donor,mouse",
    reference: Annotated[
        str | None,
        typer.Option(
            help="Reference group (default: HC/control/vehicle... if present, else first sorted)."
        ),
    ] = None,
    unblinding: Annotated[
        Path | None, typer.Option(help="Unblinding key (treatment_code, group[, donor_id]).")
    ] = None,
    study: Annotated[
        Path | None,
        typer.Option(help="Study folder: mice sheet, key, catalog (stores compare_stats)."),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(help='Rows to compare, a pandas query, e.g. "qc_pass == True".'),
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 2000,
    ci_method: Annotated[
        str, typer.Option(help="Bootstrap interval: BCa, percentile or basic.")
    ] = "BCa",
    confidence: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    contrast: Annotated[
        list[str] | None,
        typer.Option(
            help="Planned contrast TARGET-REFERENCE (repeat), e.g. RA_FMS-RA_noFMS "
            "(default: study.yaml contrasts:, else every group vs the reference)."
        ),
    ] = None,
    covariate: Annotated[
        list[str] | None,
        typer.Option(help="Covariate column (repeat): table, mice sheet or donors sheet."),
    ] = None,
    day: Annotated[
        str | None, typer.Option(help="Day column: repeated measures (group x day, per day).")
    ] = None,
    day_model: Annotated[
        str, typer.Option(help="Day as factor, linear or spline (natural cubic).")
    ] = "factor",
    spline_df: Annotated[int, typer.Option(help="Spline degrees of freedom.")] = 3,
    adjust: Annotated[
        str, typer.Option(help="Correction across planned contrasts (holm, bonferroni, ...).")
    ] = "holm",
    allow_failures: bool = typer.Option(
        False,
        "--allow-failures",
        help="Exit 0 even when some contrasts could not be estimated (a group without data).",
    ),
    defer_catalog: bool = defer_catalog_option(),
) -> None:
    """Compare k >= 2 groups on one or more outcomes by planned contrasts; write stats.csv and
    provenance.json to --out.

    Exits with code 1, listing them, when a contrast could not be estimated for an outcome (a group
    of the contrast has no value of it), unless --allow-failures; stats.csv is written first.

    Example: fmslab compare ephys_cells --study STUDY -o rheobase_pA
    --contrast RA_FMS-RA_noFMS --contrast FMS-HC --covariate sex --out results/compare
    """
    from fmslab.compare import run
    from fmslab.logs import STDERR

    done = run(
        table,
        list(outcome),
        out=out,
        study=study,
        unblinding=unblinding,
        group=group,
        levels=levels.split(","),
        where=where,
        reference=reference,
        n_boot=n_boot,
        ci_method=ci_method,
        confidence=confidence,
        seed=seed,
        contrasts=list(contrast or []),
        covariates=list(covariate or []),
        day=day,
        day_model=day_model,
        spline_df=spline_df,
        adjust=adjust,
        defer_catalog=defer_catalog,
    )
    for row in done.primary.itertuples():
        name = row.contrast if isinstance(row.contrast, str) else ""
        what = f"{row.outcome} [{row.test}{' ' + name if name else ''}"
        what += f" day {row.day:g}]" if row.day == row.day else "]"
        value = (
            f"F={row.statistic:.4g} ({row.df_num:g}, {row.df:.3g} df)"
            if row.estimate_type == "F"
            else f"{row.estimate_type} {row.estimate:.4g} [{row.ci_low:.4g}, {row.ci_high:.4g}]"
        )
        STDERR.print(
            f"{what}: {row.model} {value} p={row.p:.3g} p_adj={row.p_adj:.3g} q={row.q:.3g}"
            + (f"  ({row.warnings})" if row.warnings else ""),
            highlight=False,
        )
    STDERR.print(f"wrote {done.out / 'stats.csv'} ({len(done.stats)} rows)")
    from fmslab.batch import check_analysed

    asked, skipped = _estimated(done.stats)
    check_analysed(
        "compare", asked=asked, skipped=skipped, unit="contrast", allow_failures=allow_failures
    )


def _estimated(stats) -> tuple[int, list[tuple[str, str]]]:
    """How many (outcome, contrast) pairs were asked, and those no model could estimate (``model``
    ``none``: a group of the contrast has no data for the outcome) with the reason."""
    pairs = stats[stats["test"] == "contrast"]
    asked = pairs.drop_duplicates(["outcome", "contrast"])
    none = pairs[pairs["model"] == "none"].drop_duplicates(["outcome", "contrast"])
    skipped = [
        (f"{r.outcome} {r.contrast}", str(r.warnings).rsplit("; ", 1)[-1])
        for r in none.itertuples()
    ]
    return len(asked), skipped
