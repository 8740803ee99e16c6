"""`fmslab skinnerve`: Skin-nerve single-afferent recordings: spikes, conduction velocity, responses."""

from __future__ import annotations

import typer

app = typer.Typer(help="Skin-nerve single-afferent recordings: spikes, conduction velocity, responses.", no_args_is_help=True)
