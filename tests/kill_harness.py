"""Crash consistency by killing: run fmslab commands as subprocesses, ``kill -9`` them, re-run.

Used by ``tests/test_catalog_kill.py`` (a short run by default, a long one marked slow) and by
``benchmarks/kill_harness.py``. A trial study is built from the sample study (4 real ABF files)
plus a behaviour sheet (``tests/data/behaviour``) and a simulated skin-nerve recording. Every
command of the sequence (``study catalog``, ``ephys analyze --study``, ``skinnerve analyze
--study``, ``behaviour analyze --study``, ``compare --study``) is first run cleanly on its own copy:
that gives the reference state after each command. On a second copy each command is then killed
(``SIGKILL`` to its whole process group, workers included) at seeded random times and finally run to
completion, and after every kill and every completion the harness checks that

- the catalog opens and holds exactly the state before the command or the reference state after it
  (never a mix: no duplicate, missing or half-replaced rows; no inputs of an uncommitted run);
- every output file under ``results/`` is complete (CSV/Parquet/JSON parse, PNG/PDF end
  markers), and after the completing run no temporary file is left;
- the raw inputs (everything outside ``results/``) are byte-identical (SHA-256) to before.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from fmslab.provenance import sha256_file

REPO = Path(__file__).resolve().parents[1]
SAMPLE_STUDY = REPO / "sample_recordings" / "sample_study"
BEHAVIOUR_SHEET = REPO / "tests" / "data" / "behaviour" / "vonfrey_passive_transfer.csv"


def build_study(dest: Path) -> Path:
    """The trial study: the sample study plus one behaviour sheet and one skin-nerve recording."""
    from dataclasses import replace

    from fmslab.skinnerve.simulate import Protocol, SimConfig, simulate, write_csv

    shutil.copytree(SAMPLE_STUDY, dest, ignore=shutil.ignore_patterns("results"))
    (dest / "behaviour").mkdir()
    shutil.copy(BEHAVIOUR_SHEET, dest / "behaviour" / "vonfrey.csv")
    proto = Protocol(
        baseline_s=1.0,
        n_electrical=6,
        electrical_interval_s=0.5,
        forces_mn=(5.0, 50.0),
        hold_s=1.0,
        step_interval_s=1.5,
        cold=False,
        heat=False,
        tail_s=0.5,
    )
    (dest / "skinnerve").mkdir()
    write_csv(simulate(replace(SimConfig(), protocol=proto), seed=4), dest / "skinnerve" / "u1.csv")
    rec = pd.read_csv(dest / "recordings.csv", dtype=str)
    extra = pd.DataFrame(
        {
            "path": ["behaviour/vonfrey.csv", "skinnerve/u1.csv"],
            "modality": ["behaviour", "skinnerve"],
            "mouse_id": ["M01", "M02"],
            "unit_id": [pd.NA, "M02_u1"],
        }
    )
    pd.concat([rec, extra], ignore_index=True).to_csv(dest / "recordings.csv", index=False)
    return dest


def commands(study: Path) -> list[tuple[str, list[str]]]:
    res = study / "results"
    return [
        ("study catalog", ["study", "catalog", str(study)]),
        ("ephys", ["ephys", "analyze", "--study", str(study), "--no-figures", "--jobs", "1"]),
        (
            "skinnerve",
            [
                "skinnerve",
                "analyze",
                "--study",
                str(study),
                "--out",
                str(res / "skinnerve"),
                "--jobs",
                "1",
            ],
        ),  # fmt: skip
        (
            "behaviour",
            # the sheet has 8 deliberately bad rows: exit 0 all the same
            [
                "behaviour",
                "analyze",
                "--study",
                str(study),
                "--out",
                str(res / "behaviour"),
                "--allow-failures",
            ],  # fmt: skip
        ),
        (
            "compare",
            [
                "compare",
                "ephys_cells",
                "--study",
                str(study),
                "-o",
                "rmp_mV",
                "--out",
                str(res / "compare" / "rmp"),
                "--n-boot",
                "200",
                "--reference",
                "HC",
            ],
        ),  # fmt: skip
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONHASHSEED": "0"}


def run(
    args: list[str], *, kill_after_s: float | None = None, timeout_s: float = 300
) -> tuple[int, float, str]:
    """Run ``fmslab -q ARGS``; with ``kill_after_s`` SIGKILL its process group at that time.

    Returns ``(returncode, seconds, stderr)``; a killed run has returncode ``-9``.
    """
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fmslab", "-q", *args],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if kill_after_s is not None:
        try:
            proc.wait(timeout=kill_after_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        _, err = proc.communicate(timeout=timeout_s)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # no orphan worker outlives its run
        except ProcessLookupError:
            pass
    return proc.returncode, time.monotonic() - t0, err.decode("utf-8", "replace")


def snapshot(study: Path) -> dict[str, list[tuple]]:
    """User tables of the catalog, rows sorted, without ``run_id``; paths made study-relative.

    Also asserts the run bookkeeping: no inputs of an uncommitted run, no run left 'running'.
    """
    db = study / "results" / "fmslab.duckdb"
    if not db.exists():
        return {}
    root = str(study.resolve())
    out: dict[str, list[tuple]] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        names = [
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        ]
        for name in names:
            if name in ("runs", "inputs", "schema_version"):
                continue
            df = con.execute(f'SELECT * EXCLUDE (run_id) FROM "{name}"').df()
            rows = [
                tuple(
                    None
                    if pd.isna(v)
                    else (v.replace(root, "<study>") if isinstance(v, str) else v)
                    for v in row
                )
                for row in df.itertuples(index=False)
            ]
            out[name] = sorted(rows, key=repr)
        orphans = running = 0
        if {"runs", "inputs"} <= set(names):  # a catalog killed while being created has neither
            orphans = con.execute(
                "SELECT count(*) FROM inputs WHERE run_id NOT IN (SELECT run_id FROM runs)"
            ).fetchone()[0]
            running = con.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[
                0
            ]
    assert orphans == 0, f"{orphans} input rows of a run that never committed"
    assert running == 0
    return out


def incomplete_outputs(results: Path) -> list[str]:
    """Output files that do not parse as complete files of their type."""
    bad = []
    for p in sorted(results.rglob("*")):
        if not p.is_file() or p.name.startswith(".") or "fmslab.duckdb" in p.name:
            continue
        try:
            suffix = p.suffix.lower()
            if suffix == ".csv":
                if p.stat().st_size:
                    pd.read_csv(p)
            elif suffix == ".parquet":
                pd.read_parquet(p)
            elif suffix == ".json":
                json.loads(p.read_text(encoding="utf-8"))
            elif suffix == ".png":
                assert p.read_bytes()[-8:-4] == b"IEND"
            elif suffix == ".pdf":
                assert b"%%EOF" in p.read_bytes()[-64:]
        except Exception as exc:  # noqa: BLE001 - any failure to parse is a half-written file
            bad.append(f"{p.relative_to(results)}: {type(exc).__name__}: {exc}")
    return bad


def temporary_files(results: Path) -> list[str]:
    return sorted(str(p.relative_to(results)) for p in results.rglob(".*.tmp"))


def raw_hashes(study: Path) -> dict[str, str]:
    return {
        str(p.relative_to(study)): sha256_file(p)
        for p in sorted(study.rglob("*"))
        if p.is_file() and "results" not in p.relative_to(study).parts
    }


@dataclass
class Report:
    kills: int = 0
    finished_before_kill: int = 0
    state_before: int = 0
    state_after: int = 0
    reruns: int = 0
    inconsistencies: list[str] = field(default_factory=list)
    kills_by_command: dict[str, int] = field(default_factory=dict)


def reference(study: Path) -> tuple[dict[str, dict], dict[str, float]]:
    """Run the sequence cleanly; the catalog state after each command and its duration."""
    states, durations = {}, {}
    for name, args in commands(study):
        rc, seconds, err = run(args)
        assert rc == 0, f"clean run of {name} failed: {err}"
        states[name] = snapshot(study)
        durations[name] = seconds
    return states, durations


def kill_trials(
    study: Path,
    states: dict[str, dict],
    durations: dict[str, float],
    *,
    kills_per_command: int,
    seed: int,
    kills_per_rerun: int = 2,
    max_misses: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Kill every command ``kills_per_command`` times at seeded random times, then complete it.

    A kill time is a random fraction of the duration of this command's most recent run *on this
    copy* that ran to its end (at first the clean run's, ``durations``): a re-run that finds its
    results in the cache is shorter than a clean run, so timing kills from the clean run would land
    them after the process has exited. Only a run that was still running when the signal was sent
    (return code -9) counts as a kill; a run that ended first updates the duration the next kill
    time is drawn from. More than ``max_misses`` such misses for one command (default
    ``2 * kills_per_command + 4``) stop that command's trials with an inconsistency, so the harness
    never retries without end.
    """
    rng = random.Random(seed)
    report = Report()
    raw = raw_hashes(study)
    results = study / "results"
    misses_allowed = 2 * kills_per_command + 4 if max_misses is None else max_misses
    for name, args in commands(study):
        after = states[name]
        last_s = durations[name]  # duration of the last run of this command that ran to its end
        done = misses = 0
        while done < kills_per_command and misses <= misses_allowed:
            for _ in range(min(kills_per_rerun, kills_per_command - done)):
                before = snapshot(study)
                # most of a run is Python start-up: aim most kills at its second half
                frac = rng.uniform(0.0, 0.95) if rng.random() < 0.25 else rng.uniform(0.45, 0.95)
                t = frac * last_s
                rc, seconds, err = run(args, kill_after_s=t)
                if rc != -signal.SIGKILL:
                    report.finished_before_kill += 1
                    misses += 1
                    last_s = seconds
                    if rc != 0:
                        report.inconsistencies.append(
                            f"{name}: exit {rc} without a kill: {err[-500:]}"
                        )
                    if misses > misses_allowed:
                        report.inconsistencies.append(
                            f"{name}: {misses} runs ended before their kill time; "
                            f"{done} of {kills_per_command} kills landed"
                        )
                        break
                    continue
                done += 1
                report.kills += 1
                report.kills_by_command[name] = report.kills_by_command.get(name, 0) + 1
                try:
                    state = snapshot(study)
                except Exception as exc:  # noqa: BLE001
                    report.inconsistencies.append(f"{name} killed at {t:.2f} s: catalog: {exc}")
                    continue
                if state == after:
                    report.state_after += 1
                elif state == before:
                    report.state_before += 1
                else:
                    diff = [k for k in set(state) | set(after) if state.get(k) != after.get(k)]
                    report.inconsistencies.append(
                        f"{name} killed at {t:.2f} s: catalog is neither before nor after ({diff})"
                    )
                bad = incomplete_outputs(results)
                if bad:
                    report.inconsistencies.append(f"{name} killed at {t:.2f} s: {bad}")
                if log:
                    where = "after" if state == after else "before"
                    log(f"{name}: killed at {t:.2f} s of {last_s:.2f} s ({where})")
            rc, seconds, err = run(args)
            report.reruns += 1
            if rc != 0:
                report.inconsistencies.append(f"{name}: re-run failed: {err[-800:]}")
                continue
            last_s = seconds
            state = snapshot(study)
            if state != after:
                diff = [k for k in set(state) | set(after) if state.get(k) != after.get(k)]
                report.inconsistencies.append(
                    f"{name}: re-run differs from the clean run in {diff}"
                )
            left = temporary_files(results)
            if left:
                report.inconsistencies.append(f"{name}: temporary files left: {left}")
            bad = incomplete_outputs(results)
            if bad:
                report.inconsistencies.append(f"{name}: re-run left incomplete files {bad}")
    if raw_hashes(study) != raw:
        report.inconsistencies.append("raw inputs changed")
    return report
