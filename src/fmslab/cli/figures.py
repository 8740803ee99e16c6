"""`fmslab figures`: Journal figures with source data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fmslab.logs import STDERR

app = typer.Typer(help="Journal figures with source data.", no_args_is_help=True)


@app.command()
def build(
    spec: Annotated[Path, typer.Argument(help="figures.yaml (see docs/figures.md).")],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: 'figures' beside the spec).")
    ] = None,
    study: Annotated[
        Path | None, typer.Option(help="Study folder whose catalog tables panels may name.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Build only these figure names (repeat).")
    ] = None,
) -> None:
    """Compose multi-panel figures: PDF, SVG, 300-dpi PNG and one source-data CSV per panel."""
    import matplotlib

    matplotlib.use("Agg")
    from fmslab.figures.build import build_figures

    written = build_figures(spec, out=out, study=study, only=only)
    STDERR.print(f"{len(written) - 1} file(s) written to {written[-1].parent}")
