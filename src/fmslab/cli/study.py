"""`fmslab study`: validate a study folder, build its catalog, query it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fmslab.logs import STDERR

app = typer.Typer(
    help="Study folders: sheets, validation, the results catalog.", no_args_is_help=True
)

StudyArg = Annotated[Path, typer.Argument(help="Study folder (contains study.yaml).")]


@app.command()
def validate(
    study: StudyArg,
    unblinding: Annotated[
        Path | None,
        typer.Option(help="Unblinding key (treatment_code -> group), if kept outside the study."),
    ] = None,
) -> None:
    """Check every sheet and reference of a study; list all problems. Exit code 1 when invalid."""
    from fmslab.cli.common import print_frame
    from fmslab.study.validate import is_valid, problems_frame, validate_study

    problems = validate_study(study, unblinding=unblinding)
    if problems:
        print_frame(problems_frame(problems), title=f"{len(problems)} problem(s) in {study}")
    n_err = sum(p.severity == "error" for p in problems)
    if not is_valid(problems):
        STDERR.print(f"[bold red]invalid:[/] {n_err} error(s)")
        raise typer.Exit(1)
    STDERR.print(f"[green]valid[/] ({len(problems)} warning(s))")


@app.command()
def catalog(
    ctx: typer.Context,
    study: StudyArg,
    db: Annotated[
        Path | None, typer.Option(help="Catalog file (default STUDY/results/fmslab.duckdb).")
    ] = None,
    lock_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for another run holding the catalog.")
    ] = 120.0,
) -> None:
    """Validate the study and store its sheets and input hashes in the DuckDB catalog."""
    from fmslab.cli.common import state
    from fmslab.study.catalog_study import catalog_study

    summary = catalog_study(
        study, db_path=db, lock_timeout_s=lock_timeout, progress=state(ctx).progress
    )
    how = "reused (inputs unchanged)" if summary.reused else "updated"
    counts = ", ".join(f"{k}: {v}" for k, v in summary.tables.items())
    STDERR.print(
        f"catalog {summary.db_path} {how}; run {summary.run_id}; {summary.n_inputs} inputs hashed; {counts}"
    )


@app.command()
def query(
    study: StudyArg,
    sql: Annotated[str, typer.Argument(help='SQL, e.g. "SELECT * FROM mice".')],
    db: Annotated[
        Path | None, typer.Option(help="Catalog file (default STUDY/results/fmslab.duckdb).")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
) -> None:
    """Run a read-only SQL query on the study catalog and print the result."""
    from fmslab.catalog import query as run_query
    from fmslab.cli.common import print_frame
    from fmslab.study.model import load_study

    path = db or load_study(study).catalog_path
    df = run_query(path, sql)
    if csv:
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        print_frame(df)


@app.command()
def ingest(
    study: StudyArg,
    db: Annotated[
        Path | None, typer.Option(help="Catalog file (default STUDY/results/fmslab.duckdb).")
    ] = None,
    lock_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for another run holding the catalog.")
    ] = 120.0,
) -> None:
    """Load the catalog parts of deferred runs (--defer-catalog) into the catalog.

    The only writer in a cluster workflow: parts already loaded are skipped, so it can run any
    number of times, also after a crash halfway. Exit code 1 when a loaded run had failed."""
    from fmslab.catalog_parts import ingest as run_ingest
    from fmslab.study.model import load_study

    path = db or load_study(study).catalog_path
    report = run_ingest(path, lock_timeout_s=lock_timeout)
    STDERR.print(
        f"catalog {path}: {len(report.ingested)} part(s) ingested, {report.already} already in it"
        + (
            f", {report.removed_tmp} abandoned temporary part(s) removed"
            if report.removed_tmp
            else ""
        )
    )
    for line in report.failed_runs:
        STDERR.print(f"[yellow]failed run:[/] {line}")
    if report.failed_runs:
        raise typer.Exit(1)
