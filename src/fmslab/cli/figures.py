"""`fmslab figures`: Journal figures with source data."""

from __future__ import annotations

import typer

app = typer.Typer(help="Journal figures with source data.", no_args_is_help=True)
