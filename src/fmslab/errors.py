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


class StudyInvalidError(InputError):
    """A study failed validation; ``problems`` holds every error the validator found."""

    def __init__(
        self, reason: str, *, file: str | Path | None = None, problems: list | None = None
    ):
        self.problems = list(problems or [])
        super().__init__(reason, file=file)


class IncompleteRunError(FmslabError):
    """A command analysed nothing, or less than it was asked to: says what was skipped and why.

    The outputs of what *was* analysed are written before this is raised; the command exits with
    ``exit_code`` (1) rather than the 2 of bad input.
    """

    exit_code = 1

    def __init__(self, message: str, *, skipped: list[tuple[str, str]] | None = None):
        self.skipped = list(skipped or [])
        super().__init__(message)
