"""`fmslab compare`: Patient vs control IgG comparisons respecting donor > mouse > cell nesting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fmslab.atomic import write_json, write_table
from fmslab.catalog import open_session
from fmslab.compare import Hierarchy, compare_outcomes, prepare_table
from fmslab.compare.hierarchy import resolve_levels
from fmslab.compare.io import file_hashes, load_inputs
from fmslab.errors import InputError
from fmslab.logs import STDERR
from fmslab.provenance import RunRecord

app = typer.Typer(
    help="Patient vs control IgG comparisons respecting donor > mouse > cell nesting.",
    no_args_is_help=True,
    context_settings={"allow_interspersed_args": True},
)

SUMMARY_MODELS = ("lmm", "gee_logit", "welch_donor_means", "bootstrap_hedges_g")


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
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 2000,
    ci_method: Annotated[
        str, typer.Option(help="Bootstrap interval: BCa, percentile or basic.")
    ] = "BCa",
    confidence: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Compare two groups on one or more outcomes; write stats.csv and provenance.json to --out.

    Example: fmslab compare ephys_cells --study STUDY -o rheobase_pA
    -o firing_pattern=repetitive --out results/compare
    """
    if ci_method.lower() not in ("bca", "percentile", "basic"):
        raise InputError(f"--ci-method must be BCa, percentile or basic, not '{ci_method}'")
    inputs = load_inputs(table, study=study, unblinding=unblinding)
    hierarchy = Hierarchy(
        group=group,
        levels=resolve_levels(
            levels.split(","), inputs.table.columns.tolist() + ["donor_id", "mouse_id"]
        ),
    )
    data = prepare_table(
        inputs.table, hierarchy=hierarchy, mice=inputs.mice, key=inputs.key, source=inputs.source
    )
    stats_table = compare_outcomes(
        data,
        list(outcome),
        hierarchy=hierarchy,
        reference=reference,
        n_resamples=n_boot,
        confidence=confidence,
        bootstrap_method=ci_method,
        seed=seed,
        source=inputs.source,
    )
    stats_table.insert(0, "source", inputs.source)
    parameters = {
        "table": table,
        "outcomes": list(outcome),
        "group": group,
        "levels": list(hierarchy.levels),
        "reference": reference,
        "n_boot": n_boot,
        "ci_method": ci_method,
        "confidence": confidence,
        "seed": seed,
        "study": str(study) if study else None,
        "unblinding": str(unblinding) if unblinding else None,
    }
    run = RunRecord(command="compare", parameters=parameters)
    out.mkdir(parents=True, exist_ok=True)
    ids = ("treatment_code", "cell_id", "unit_id", "sample_id", "day")
    cols = [c for c in (group, *hierarchy.levels, *ids) if c in data.columns]
    cols += [
        c
        for c in data.columns
        if c not in cols and c.split("=")[0] in {o.split("=")[0] for o in outcome}
    ]
    write_table(data[cols], out / "data.csv")
    write_table(stats_table, out / "stats.csv")
    if inputs.catalog_path is not None:
        with open_session(inputs.catalog_path, command="compare", parameters=parameters) as cat:
            if inputs.input_files:
                cat.record_inputs(inputs.input_files)
            cat.write_table("compare_stats", stats_table, replace_on=["source", "outcome"])
            run = cat.run
    run.finish("ok")
    write_json(
        out / "provenance.json",
        {
            **run.to_dict(),
            "inputs_sha256": file_hashes(inputs.input_files),
            "source": inputs.source,
            "catalog": str(inputs.catalog_path) if inputs.catalog_path else None,
            "outputs": ["stats.csv", "data.csv"],
        },
    )
    primary = stats_table[stats_table["primary"]]
    for row in primary.itertuples():
        STDERR.print(
            f"{row.outcome}: {row.model} {row.estimate_type} {row.estimate:.4g} "
            f"[{row.ci_low:.4g}, {row.ci_high:.4g}] p={row.p:.3g} q={row.q:.3g}"
            + (f"  ({row.warnings})" if row.warnings else ""),
            highlight=False,
        )
    STDERR.print(f"wrote {out / 'stats.csv'} ({len(stats_table)} rows)")
