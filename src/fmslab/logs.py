"""Logging set-up for the command line. The library itself only calls ``logging.getLogger``."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

#: Console used for logs and progress bars: stderr, so that stdout stays machine-readable.
STDERR = Console(stderr=True)


def configure_logging(verbosity: int = 0) -> None:
    """Route the ``fmslab`` logger to stderr through rich.

    Parameters
    ----------
    verbosity
        -1 quiet (warnings and errors), 0 normal (info), 1 or more verbose (debug).
    """
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logger = logging.getLogger("fmslab")
    logger.handlers.clear()
    handler = RichHandler(console=STDERR, show_path=verbosity > 0, rich_tracebacks=verbosity > 0)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
