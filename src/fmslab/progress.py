"""Progress bars for loops over files (rich, on stderr)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fmslab.logs import STDERR


class Advance(Protocol):
    def __call__(self, n: int = 1, *, label: str | None = None) -> None: ...


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool = True) -> Iterator[Advance]:
    """Show a progress bar while the body runs; yields ``advance(n=1, label=None)``.

    With ``enabled=False`` (``--quiet``) nothing is drawn and ``advance`` does nothing.
    """
    if not enabled:
        yield lambda n=1, *, label=None: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}"),
    )
    with Progress(*columns, console=STDERR, transient=False) as bar:
        task = bar.add_task(description, total=total, label="")

        def advance(n: int = 1, *, label: str | None = None) -> None:
            bar.update(task, advance=n, label=label or "")

        yield advance
