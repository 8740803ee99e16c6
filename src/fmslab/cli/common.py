"""Shared state and helpers for the CLI modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class State:
    """Options of the root command, passed to every sub-command through ``ctx.obj``."""

    verbosity: int = 0

    @property
    def progress(self) -> bool:
        return self.verbosity >= 0


DEFER_CATALOG_HELP = (
    "Do not open the study catalog: write this run's rows as a part in "
    "STUDY/results/catalog_parts/ for 'fmslab study ingest' (cluster jobs)."
)


def defer_catalog_option() -> bool:
    """The ``--defer-catalog`` option of every command that writes the catalog."""
    return typer.Option(False, "--defer-catalog", help=DEFER_CATALOG_HELP)


def allow_failures_option() -> bool:
    """The ``--allow-failures`` option of every command that analyses a batch of files."""
    return typer.Option(
        False, "--allow-failures", help="Exit 0 even when some files could not be analysed."
    )


def jobs_option() -> int | None:
    """The ``--jobs`` option of every command that runs files in worker processes."""
    return typer.Option(None, "--jobs", help="Worker processes (default: all cores).")


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def print_frame(df: pd.DataFrame, *, title: str | None = None, max_rows: int = 200) -> None:
    """Print a DataFrame as a rich table on stdout."""
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from fmslab.display import display_cell
    from fmslab.logs import STDERR

    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(str(col), overflow="fold")
    for row in df.head(max_rows).itertuples(index=False):
        # exact values stay in the written tables; the terminal shows meaningful digits
        table.add_row(*["" if pd.isna(v) else display_cell(v) for v in row])
    Console().print(table)
    if len(df) > max_rows:
        STDERR.print(f"({len(df) - max_rows} more rows not shown)")
