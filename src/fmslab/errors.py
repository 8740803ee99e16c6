"""Exception types shared by every fmslab module.

Every error that concerns user input names the file (and, where it applies, the row, column or
sweep) and the reason, so that a batch can report it verbatim.
"""

from __future__ import annotations

from pathlib import Path


class FmslabError(Exception):
    """Base class of all errors fmslab raises on purpose."""


class InputError(FmslabError):
    """Bad input: names the file and, when known, the row/column/sweep and the reason."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        sweep: int | None = None,
    ) -> None:
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.sweep = sweep
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.sweep is not None:
            where.append(f"sweep {self.sweep}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


class CatalogBusyError(FmslabError):
    """The study catalog is locked by another fmslab process for longer than the timeout."""
