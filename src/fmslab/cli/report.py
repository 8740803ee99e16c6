"""`fmslab report`: Static HTML study report."""

from __future__ import annotations

import typer

app = typer.Typer(help="Static HTML study report.", no_args_is_help=True)
