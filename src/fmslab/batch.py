"""Run one function over many inputs (files) in parallel, keeping every failure with its reason.

The batch never stops at a bad file: each failure is recorded as a :class:`Failure` (item, error type,
message) and the caller reports them (``errors.csv``). Work runs in worker processes so both cores are
used; each worker handles one item at a time, so memory is bounded by one file.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd

from fmslab.errors import FmslabError, IncompleteRunError
from fmslab.progress import progress_bar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Failure:
    item: str
    error_type: str
    message: str


@dataclass
class BatchOutcome(Generic[R]):
    results: list[tuple[str, R]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def failures_frame(self, item_column: str = "file") -> pd.DataFrame:
        """Failures as a table with columns ``item_column, error_type, message``."""
        return pd.DataFrame(
            [(f.item, f.error_type, f.message) for f in self.failures],
            columns=[item_column, "error_type", "message"],
        )


def default_jobs() -> int:
    """Number of worker processes: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def describe_unexpected(exc: BaseException) -> str:
    """A one-line reason for an exception fmslab did not raise on purpose.

    Names the exception, its message and the innermost place it came from, so that an error row
    says more than ``list index out of range``; fmslab's own errors keep their message.
    """
    if isinstance(exc, FmslabError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        # a folder or a dangling/looping symlink named like a recording, a permission problem
        return f"cannot be read: {exc.strerror.lower()}" + (
            f" ({exc.filename})" if exc.filename else ""
        )
    where = ""
    tb = traceback.extract_tb(exc.__traceback__)
    if tb:
        last = tb[-1]
        where = f" in {Path(last.filename).name}:{last.lineno} ({last.name})"
    text = str(exc) or "no message"
    return f"could not be processed: unexpected {type(exc).__name__}{where}: {text}"


def _call(func: Callable[[Any], R], item: Any) -> tuple[bool, Any]:
    try:
        return True, func(item)
    except Exception as exc:  # noqa: BLE001 - the batch reports every failure
        return False, Failure(str(item), type(exc).__name__, describe_unexpected(exc))


def run_batch(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    n_jobs: int | None = None,
    description: str = "Processing",
    progress: bool = True,
    label: Callable[[T], str] = str,
) -> BatchOutcome[R]:
    """Apply ``func`` to every item, in ``n_jobs`` processes, collecting results and failures.

    Parameters
    ----------
    func
        A picklable (module-level) function of one item.
    items
        The inputs, typically file paths.
    n_jobs
        Worker processes; ``None`` uses every available core, 1 runs in this process.
    description, progress
        Progress-bar text; ``progress=False`` draws nothing.
    label
        How an item is named in the progress bar and in failures.

    Returns
    -------
    BatchOutcome
        ``results`` as ``(label, value)`` in input order, ``failures`` in input order.
    """
    seq: Sequence[T] = list(items)
    n_jobs = default_jobs() if n_jobs is None else max(1, n_jobs)
    n_jobs = min(n_jobs, max(1, len(seq)))
    slots: list[tuple[bool, Any] | None] = [None] * len(seq)
    with progress_bar(len(seq), description, enabled=progress) as advance:
        if n_jobs == 1:
            for i, item in enumerate(seq):
                slots[i] = _call(func, item)
                advance(label=label(item))
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                futures = {pool.submit(_call, func, item): i for i, item in enumerate(seq)}
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        slots[i] = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker died (e.g. out of memory)
                        reason = f"the worker process died ({type(exc).__name__}: {exc})"
                        slots[i] = (False, Failure(str(seq[i]), type(exc).__name__, reason))
                    advance(label=label(seq[i]))
    outcome: BatchOutcome[R] = BatchOutcome()
    for item, slot in zip(seq, slots, strict=True):
        assert slot is not None
        ok, value = slot
        if ok:
            outcome.results.append((label(item), value))
        else:
            value = Failure(label(item), value.error_type, value.message)
            outcome.failures.append(value)
            log.warning("%s failed: %s: %s", value.item, value.error_type, value.message)
    return outcome


def require_some_analysed(
    what: str,
    *,
    asked: int,
    skipped: list[tuple[str, str]],
    unit: str = "file",
    max_listed: int = 10,
) -> None:
    """Raise :class:`~fmslab.errors.IncompleteRunError` when a run did less than it was asked.

    Parameters
    ----------
    what
        The command, e.g. ``"ephys analyze"``.
    asked
        How many items the run was given (0: it was given nothing to analyse).
    skipped
        ``(item, reason)`` of every item not analysed (failed, unreadable, not a recording...).
    unit
        What an item is (``file``, ``sheet``, ``test``), for the message.

    The message says how many of the asked items were analysed and lists the skipped ones with
    their reasons (the first ``max_listed``; all of them are in the run's errors table).
    """
    if asked and not skipped:
        return
    if not asked:
        raise IncompleteRunError(f"{what}: nothing to analyse (0 {unit}s given)")
    done = asked - len(skipped)
    shown = "; ".join(f"{item}: {reason}" for item, reason in skipped[:max_listed])
    more = f"; and {len(skipped) - max_listed} more" if len(skipped) > max_listed else ""
    head = (
        f"{what}: nothing analysed: all {asked} {unit}(s) skipped"
        if done <= 0
        else f"{what}: {done} of {asked} {unit}(s) analysed, {len(skipped)} skipped"
    )
    raise IncompleteRunError(f"{head}: {shown}{more}", skipped=skipped)


def skipped_items(outcome: BatchOutcome[Any]) -> list[tuple[str, str]]:
    """``(item, reason)`` of every failure of a batch."""
    return [(f.item, f.message) for f in outcome.failures]


def check_analysed(
    what: str,
    *,
    asked: int,
    skipped: list[tuple[str, str]],
    unit: str = "file",
    allow_failures: bool = False,
) -> None:
    """:func:`require_some_analysed`, or only a warning with ``allow_failures`` (workflows, whose
    failed items are kept in the catalog's errors tables)."""
    try:
        require_some_analysed(what, asked=asked, skipped=skipped, unit=unit)
    except IncompleteRunError as exc:
        if not allow_failures:
            raise
        log.warning("%s", exc)
