"""`fmslab behaviour`: Passive-transfer behaviour: von Frey up-down and other pain assays."""

from __future__ import annotations

import typer

app = typer.Typer(help="Passive-transfer behaviour: von Frey up-down and other pain assays.", no_args_is_help=True)
