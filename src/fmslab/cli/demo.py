"""`fmslab demo`: Simulated demo study with known ground truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from fmslab.cli.common import state
from fmslab.logs import STDERR

app = typer.Typer(help="Simulated demo study with known ground truth.", no_args_is_help=True)


@app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help="Folder to create (study/, keys/, ground_truth/).")
    ],
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives byte-identical files.")
    ] = 1,
    n_donors_per_group: Annotated[
        int | None,
        typer.Option(min=1, max=40, help="IgG donors per group (default 3; 2 with --small)."),
    ] = None,
    small: Annotated[
        bool, typer.Option("--small", help="A quick, smaller study (fewer mice, cells, genes).")
    ] = False,
    catalog: Annotated[bool, typer.Option(help="Build the study catalog after generating.")] = True,
    analyse: Annotated[
        bool,
        typer.Option(
            "--analyse/--no-analyse",
            help="Run the full analysis (every modality, compare, figures, report) after "
            "generating (needs the catalog).",
        ),
    ] = True,
    jobs: Annotated[
        int | None, typer.Option("--jobs", help="Worker processes (default: all cores).")
    ] = None,
    design: Annotated[
        str,
        typer.Option(
            help="two_group (FMS, HC) or comorbid (FMS, HC, RA_FMS, RA_noFMS; planted: FMS and "
            "RA_FMS IgG transfer the effect, RA_noFMS does not; planned contrasts in study.yaml)."
        ),
    ] = "two_group",
) -> None:
    """Write a simulated passive-transfer study with known ground truth, catalog and analyse it.

    OUT/study is the study folder (validate it with `fmslab study validate OUT/study`);
    OUT/keys/unblinding.csv is the unblinding key; OUT/ground_truth holds the planted truths.
    Then every analysis runs on the study (results in OUT/study/results/, report in
    OUT/study/results/report/index.html); a failed step is reported and the others still run,
    and the command then exits with code 1.
    """
    from fmslab.demo.design import DESIGNS, DemoConfig
    from fmslab.demo.generate import generate_demo, run_demo_analyses
    from fmslab.errors import InputError
    from fmslab.study.catalog_study import catalog_study

    if design not in DESIGNS:
        raise InputError(f"--design must be one of {', '.join(DESIGNS)}, not '{design}'")
    cfg = DemoConfig.make(
        seed=seed, n_donors_per_group=n_donors_per_group, small=small, design=design
    )
    show = state(ctx).progress
    t0 = time.perf_counter()
    result = generate_demo(
        out, cfg, progress=(lambda m: STDERR.print(f"[dim]{m}[/]")) if show else None
    )
    counts = ", ".join(f"{k}: {v}" for k, v in result.counts.items())
    STDERR.print(
        f"demo study written to {result.layout.study} ({counts}) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    if catalog:
        summary = catalog_study(result.layout.study)
        STDERR.print(f"catalog {summary.db_path}: {summary.n_inputs} inputs hashed")
    failed: list[str] = []
    if analyse and not catalog:
        STDERR.print("analyses skipped: they need the catalog (drop --no-catalog)")
    elif analyse:
        t1 = time.perf_counter()
        outcomes = run_demo_analyses(
            result.layout,
            progress=show,
            n_jobs=jobs,
            announce=lambda m: STDERR.print(m, highlight=False),
        )
        failed = [f"{o.name} ({o.error})" for o in outcomes if not o.ok]
        STDERR.print(
            f"analyses: {len(outcomes) - len(failed)} of {len(outcomes)} steps ok in "
            f"{time.perf_counter() - t1:.1f} s; steps in "
            f"{result.layout.study / 'results' / 'demo_steps.csv'}",
            highlight=False,
        )
        report = result.layout.study / "results" / "report" / "index.html"
        if report.is_file():
            STDERR.print(f"report: {report}", highlight=False)
    STDERR.print(f"unblinding key: {result.layout.key}; ground truth: {result.layout.truth}")
    STDERR.print(f"total {time.perf_counter() - t0:.1f} s", highlight=False)
    if failed:
        STDERR.print(f"[red]FAILED steps:[/] {'; '.join(failed)}", highlight=False)
        raise typer.Exit(1)
