"""`fmslab demo`: Simulated demo study with known ground truth."""

from __future__ import annotations

import typer

app = typer.Typer(help="Simulated demo study with known ground truth.", no_args_is_help=True)
