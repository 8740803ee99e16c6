"""`fmslab ephys`: Current-clamp excitability of DRG neurons (ABF and other formats)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Current-clamp excitability of DRG neurons (ABF and other formats).", no_args_is_help=True)
