"""`fmslab report`: Static HTML study report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fmslab.logs import STDERR

app = typer.Typer(
    help="Static HTML study report.",
    no_args_is_help=True,
    context_settings={"allow_interspersed_args": True},
)


@app.callback(invoke_without_command=True)
def report(
    study: Annotated[Path, typer.Argument(help="Study folder (with results/fmslab.duckdb).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: STUDY/results/report).")
    ] = None,
    max_rows: Annotated[
        int, typer.Option(min=1, help="Rows shown per table (the full table is linked as CSV).")
    ] = 200,
    max_figures: Annotated[
        int, typer.Option(min=0, help="Figures embedded per results folder.")
    ] = 60,
) -> None:
    """Write a self-contained HTML report of a study: overview, QC, per-modality tables and
    figures, statistics and provenance. Open OUT/index.html in any browser (no network needed).

    Example: fmslab report STUDY  (then open STUDY/results/report/index.html)
    """
    from fmslab.report import build_report

    res = build_report(study, out, max_rows=max_rows, max_figures=max_figures)
    STDERR.print(f"report: {len(res.tables)} tables, {res.n_figures} figures -> {res.index}")
