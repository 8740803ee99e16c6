"""Lock files that say who holds them: the study catalog's and each output folder's.

A lock is a file locked with ``flock``; while held it contains the holder's pid, host, command and
start time (JSON). The kernel releases the lock when its holder dies, however it dies, so a lock
file left behind by a killed process does not block anyone: the next process takes the lock and
logs that it cleared the stale lock of that pid. A process that cannot get the lock within its
timeout fails with a message naming the holder (and whether that pid still runs on this host).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fmslab.errors import FmslabError
from fmslab.provenance import now_utc

log = logging.getLogger(__name__)

#: Name of the lock file of an output folder.
FOLDER_LOCK = ".fmslab.lock"


class FolderBusyError(FmslabError):
    """An output folder is being written by another fmslab process for longer than the timeout."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_holder(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        holder = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        holder = {}
    return holder if isinstance(holder, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host h (ephys analyze, since ...)``, saying when that pid is gone."""
    if not holder:
        return "another fmslab process"
    gone = ""
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        gone = "" if pid_alive(holder["pid"]) else ", no longer running"
    return (
        f"pid {holder.get('pid')} on host {holder.get('host')} ({holder.get('command') or 'fmslab'}"
        f", since {holder.get('since')}{gone})"
    )


@contextmanager
def hold_lock(
    path: str | Path,
    *,
    timeout_s: float,
    command: str = "",
    what: str | None = None,
    error: type[FmslabError] = FmslabError,
) -> Iterator[None]:
    """Hold the lock file ``path`` for the duration of the block.

    Parameters
    ----------
    path
        The lock file (created if needed, with the umask's permissions).
    timeout_s
        How long to wait for another holder; then ``error`` is raised naming the holder.
    command
        Recorded in the lock for whoever waits.
    what
        What is locked, for the message (default: the lock file).
    error
        Exception type raised on timeout.
    """
    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + max(0.0, timeout_s)
        delay = 0.02
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise error(
                    f"{what or path} is in use by another fmslab process: "
                    f"{describe_holder(_read_holder(fd))}; waited {timeout_s:g} s for {path}. Let "
                    f"it finish or raise --lock-timeout"
                ) from None
            time.sleep(delay)
            delay = min(0.25, delay * 1.5)
        previous = _read_holder(fd)
        if previous.get("pid") not in (None, os.getpid()):
            # the kernel released the lock of a holder that died without cleaning up
            log.info("%s: cleared the stale lock of %s", path, describe_holder(previous))
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "since": now_utc().isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(holder).encode("utf-8"))
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_holder(path: str | Path) -> dict[str, Any]:
    """Who holds the lock file ``path`` (or last held it, if it died); ``{}`` when free."""
    path = Path(path)
    if not path.is_file():
        return {}
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


@contextmanager
def folder_lock(folder: str | Path, *, command: str, timeout_s: float = 600.0) -> Iterator[None]:
    """One fmslab run at a time writes into ``folder``: a second one waits, then is refused.

    Without it two runs writing the same output folder at once could leave ``cells.csv`` of one
    and ``sweeps.csv`` of the other.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with hold_lock(
        folder / FOLDER_LOCK,
        timeout_s=timeout_s,
        command=command,
        what=f"output folder {folder}",
        error=FolderBusyError,
    ):
        yield
