"""Run one function over many inputs (files) in parallel, keeping every failure with its reason.

The batch never stops at a bad file: each failure is recorded as a :class:`Failure` (item, error type,
message) and the caller reports them (``errors.csv``). Work runs in worker processes so both cores are
used; each worker handles one item at a time, so memory is bounded by one file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pandas as pd

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


def _call(func: Callable[[Any], R], item: Any) -> tuple[bool, Any]:
    try:
        return True, func(item)
    except Exception as exc:  # noqa: BLE001 - the batch reports every failure
        return False, Failure(str(item), type(exc).__name__, str(exc))


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
                        slots[i] = (False, Failure(str(seq[i]), type(exc).__name__, str(exc)))
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
