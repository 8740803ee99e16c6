"""`fmslab compare`: Patient vs control IgG comparisons respecting donor > mouse > cell nesting."""

from __future__ import annotations

import typer

app = typer.Typer(help="Patient vs control IgG comparisons respecting donor > mouse > cell nesting.", no_args_is_help=True)
