"""`fmslab rnaseq`: Transcriptomics: differential expression and candidate ion channels."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Transcriptomics: differential expression and candidate ion channels.",
    no_args_is_help=True,
)
