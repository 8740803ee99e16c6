"""Concurrency: runs of the same study at once are serialised, never mixed; stale locks clear."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO
from fmslab.catalog import catalog_lock_holder, connect, open_session, query
from fmslab.errors import CatalogBusyError
from fmslab.locks import FOLDER_LOCK, FolderBusyError, folder_lock, pid_alive

ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}

_HOLD = """
import sys, time
from fmslab.catalog import connect
with connect(sys.argv[1], command="holder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""

_DIE_HOLDING = """
import os, signal, sys
from fmslab.catalog import connect
with connect(sys.argv[1], command="doomed"):
    print(os.getpid(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_busy_catalog_names_the_holder(tmp_path):
    db = tmp_path / "c.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(db), "30"], env=ENV, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CatalogBusyError) as err:
            with open_session(db, command="t", parameters={}, lock_timeout_s=0.3):
                pass
        text = str(err.value)
        assert f"pid {holder.pid} on host {socket.gethostname()} (holder" in text
        assert "no longer running" not in text and "--lock-timeout" in text
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_a_killed_process_is_detected_and_cleared(tmp_path, caplog):
    db = tmp_path / "c.duckdb"
    with connect(db):
        pass
    proc = subprocess.run(
        [sys.executable, "-c", _DIE_HOLDING, str(db)], env=ENV, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL
    dead = int(proc.stdout.strip())
    stale = catalog_lock_holder(db)
    assert stale["pid"] == dead and stale["command"] == "doomed" and not pid_alive(dead)
    caplog.set_level(logging.INFO, logger="fmslab.locks")
    t0 = time.monotonic()
    with open_session(db, command="after", parameters={}, lock_timeout_s=5) as cat:
        cat.write_table("ephys_cells", pd.DataFrame({"file": ["a"]}))
        assert catalog_lock_holder(db)["pid"] == os.getpid()
    assert time.monotonic() - t0 < 5  # taken at once, not after the timeout
    assert f"cleared the stale lock of pid {dead}" in caplog.text
    assert "no longer running" in caplog.text
    assert catalog_lock_holder(db) == {}  # released cleanly
    assert query(db, "SELECT file FROM ephys_cells")["file"].tolist() == ["a"]


def test_folder_lock_serialises_and_refuses_with_the_holder(tmp_path):
    out = tmp_path / "out"
    with folder_lock(out, command="first"):
        held = json.loads((out / FOLDER_LOCK).read_text())
        assert held["pid"] == os.getpid() and held["command"] == "first"
        with pytest.raises(
            FolderBusyError, match=rf"output folder {out} is in use .* pid {os.getpid()}"
        ):
            with folder_lock(out, command="second", timeout_s=0.2):
                pass
    with folder_lock(out, command="third", timeout_s=0.2):
        pass


def _ephys(study, out, *paths):
    args = [sys.executable, "-m", "fmslab", "-q", "ephys", "analyze", *map(str, paths)]
    args += ["--study", str(study), "--no-figures", "--jobs", "1", "--out", str(out)]
    return subprocess.Popen(args, env=ENV, stderr=subprocess.PIPE, text=True)


def test_two_analyses_of_one_study_at_once(sample_study, tmp_path):
    """Same output folder (two different days of the study) and different output folders: both
    runs succeed, every folder holds the tables of one run only, the catalog has each file once."""
    subprocess.run(
        [sys.executable, "-m", "fmslab", "-q", "study", "catalog", str(sample_study)],
        env=ENV,
        check=True,
    )
    files = sorted((sample_study / "ephys").glob("*.abf"))
    day_a, day_b = files[:2], files[2:]
    shared = tmp_path / "shared_out"
    procs = [_ephys(sample_study, shared, *day_a), _ephys(sample_study, shared, *day_b)]
    procs += [_ephys(sample_study, tmp_path / "own_a"), _ephys(sample_study, tmp_path / "own_b")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    # the shared folder holds one run's tables, all of them from the same run
    prov = json.loads((shared / "provenance.json").read_text())
    names = set(prov["inputs_sha256"])
    assert names in ({f.name for f in day_a}, {f.name for f in day_b})
    for table in ("cells", "sweeps", "spikes"):
        assert set(pd.read_csv(shared / f"{table}.csv")["file"]) == names, table
    for own in ("own_a", "own_b"):
        assert set(pd.read_csv(tmp_path / own / "cells.csv")["file"]) == {f.name for f in files}
    db = sample_study / "results" / "fmslab.duckdb"
    cells = query(db, "SELECT file, count(*) AS n FROM ephys_cells GROUP BY file ORDER BY file")
    assert cells["file"].tolist() == [f.name for f in files] and set(cells["n"]) == {1}
    sweeps = query(db, "SELECT file, sweep, count(*) AS n FROM ephys_sweeps GROUP BY ALL")
    assert set(sweeps["n"]) == {1}
    runs = query(db, "SELECT command, status FROM runs ORDER BY started_at")
    assert runs.values.tolist() == [["study catalog", "ok"]] + [["ephys analyze", "ok"]] * 4
