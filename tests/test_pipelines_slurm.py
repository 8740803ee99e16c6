"""The Snakemake workflow on a real SLURM cluster (issue 19).

A single-node cluster (munge, MariaDB + slurmdbd for accounting, slurmctld, slurmd; from Debian's
packages) is started by ``.ci/run`` through ``tests/slurm/cluster.sh``; when it is not running, the
fixture starts it itself (as root). The demo study is run twice from identical copies: once locally
(``--cores 2``) and once with ``snakemake-executor-plugin-slurm`` and the project's profile
(``pipelines/profiles/slurm``; account, partition and threads set for this 2-CPU test node on the
command line, as a user would for their cluster). While the SLURM run is under way, one running
``ephys_day`` job is killed with ``scancel``; the profile's ``retries`` must resubmit it and the
study must end complete.

Checks: every non-local job of the workflow ran as a SLURM job (its id in the run's log and in
``sacct``, state COMPLETED, apart from the cancelled one), the cancelled job was retried under a new
SLURM id, and every result table (per-day files and catalog tables) equals the local run's.

Skipped, with the reason, only when the cluster cannot be started (no root, packages missing, a
daemon that does not come up); a workflow failure on a running cluster is a test failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SNAKEFILE = REPO / "pipelines" / "Snakefile"
PROFILE = REPO / "pipelines" / "profiles" / "slurm"
CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which(
    "snakemake"
)
CONFIG = {
    "n_boot": 100,  # the statistics are tested in compare; here only equality of the two runs
    "compare": [
        {
            "name": "ephys_rheobase",
            "table": "ephys_cells",
            "where": "qc_pass == True",
            "outcomes": ["rheobase_pA", "rmp_mV"],
        }
    ],
}
# The test node has 2 CPUs: jobs asking more would pend forever (PartitionConfig), so the profile's
# per-rule threads are lowered here, as a user sets account and partition for their own cluster.
SLURM_ARGS = [
    "--default-resources",
    "slurm_account=fmslab",
    "slurm_partition=ci",
    "mem_mb=1000",
    "runtime=30",
    "--set-threads",
    "ephys_day=1",
    "skinnerve_day=1",
    "rnaseq_de=1",
    "--jobs",
    "2",
]
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
# columns that legitimately differ between two runs of the same inputs: run ids, clock times,
# durations and the two study roots
RUN_SPECIFIC = re.compile(
    r"(^run_id$|_at$|^started|^finished|^created|^time_|_s$|^seconds|^duration)"
)


def _env(slurm_conf: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if slurm_conf:
        env["SLURM_CONF"] = slurm_conf
    return env


def _cluster_up(env: dict[str, str]) -> bool:
    try:
        ping = subprocess.run(
            ["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=20
        )
        info = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return (
        ping.returncode == 0
        and "UP" in ping.stdout
        and any(state in info.stdout for state in ("idle", "mix", "alloc"))
    )


@pytest.fixture(scope="module")
def slurm_conf(tmp_path_factory) -> str:
    """SLURM_CONF of a running test cluster: the one .ci/run started, or one started here."""
    conf = os.environ.get("SLURM_CONF")
    if conf and _cluster_up(_env(conf)):
        yield conf
        return
    if SNAKEMAKE is None:
        pytest.skip("snakemake is not installed (test extra)")
    where = tmp_path_factory.mktemp("slurm-cluster")
    try:
        start = subprocess.run(
            ["bash", str(CLUSTER_SH), "start", str(where)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"SLURM test cluster could not start: {exc}")
    if start.returncode != 0:
        reason = (start.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"SLURM test cluster could not start (tests/slurm/cluster.sh): {reason}")
    yield str(where / "slurm.conf")
    subprocess.run(["bash", str(CLUSTER_SH), "stop", str(where)], capture_output=True, timeout=120)


def _snakemake(root: Path, *args: str) -> list[str]:
    return [SNAKEMAKE, "-s", str(SNAKEFILE), "--configfile", str(root / "config.yaml"), *args]


def _job_stats(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    if "Job stats:" in text:
        for line in text.split("Job stats:", 1)[1].splitlines()[3:]:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if not m:
                break
            counts[m.group(1)] = int(m.group(2))
    counts.pop("total", None)
    return counts


def _local_rules() -> set[str]:
    text = SNAKEFILE.read_text()
    names: set[str] = set()
    for m in re.finditer(r"^\s*localrules:\s*(.+)$", text, flags=re.M):
        names |= {n.strip() for n in m.group(1).split(",") if n.strip()}
    return names


def _sacct(env: dict[str, str], ids: list[str]) -> dict[str, str]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(ids), "--format=JobIDRaw,State"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("|")[0]: line.split("|")[1].split()[0] for line in out.splitlines() if line}


def _prepare(root: Path, demo: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(demo, root / "demo", symlinks=True)
    study = root / "demo" / "study"
    (root / "config.yaml").write_text(yaml.safe_dump({"study": str(study), **CONFIG}))
    return study


def _cancel_one_running(
    env: dict[str, str], log: Path, proc: subprocess.Popen, rule: str
) -> str | None:
    """scancel the first job of ``rule`` seen RUNNING for a second; its SLURM id (None if none ran)."""
    deadline = time.monotonic() + 900
    while proc.poll() is None and time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        ids = [m.group(2) for m in SUBMITTED.finditer(text) if f"/rule_{rule}/" in m.group(3)]
        if ids:
            q = subprocess.run(
                ["squeue", "-h", "-j", ",".join(ids), "-o", "%i %T %M"],
                env=env,
                capture_output=True,
                text=True,
            ).stdout.split("\n")
            for line in q:
                parts = line.split()
                if len(parts) == 3 and parts[1] == "RUNNING" and parts[2] not in ("0:00",):
                    subprocess.run(["scancel", parts[0]], env=env, check=True)
                    return parts[0]
        time.sleep(0.5)
    return None


@pytest.fixture(scope="module")
def runs(slurm_conf, tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm-workflow")
    env = _env(slurm_conf)
    gen = subprocess.run(
        [sys.executable, "-m", "fmslab", "-q", "demo", "--out", str(base / "demo"), "--small",
         "--seed", "1", "--no-analyse"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    local_study = _prepare(base / "local", base / "demo")
    slurm_study = _prepare(base / "slurm", base / "demo")

    local = subprocess.run(
        _snakemake(base / "local", "--cores", "2"),
        cwd=base / "local", env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr[-4000:]

    dry = subprocess.run(
        _snakemake(base / "slurm", "-n", "--profile", str(PROFILE), *SLURM_ARGS),
        cwd=base / "slurm", env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-4000:]
    planned = _job_stats(dry.stdout + dry.stderr)

    log = base / "slurm" / "snakemake.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            _snakemake(base / "slurm", "--profile", str(PROFILE), *SLURM_ARGS),
            cwd=base / "slurm", env=env, stdout=fh, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            cancelled = _cancel_one_running(env, log, proc, "ephys_day")
            rc = proc.wait(timeout=1800)
        finally:
            if proc.poll() is None:  # a hung workflow: stop it and its jobs before failing
                proc.kill()
                ids = [m.group(2) for m in SUBMITTED.finditer(log.read_text(errors="replace"))]
                if ids:
                    subprocess.run(["scancel", *ids], env=env)
    text = log.read_text(errors="replace")
    assert rc == 0, text[-6000:]
    submitted = [(m.group(2), m.group(3)) for m in SUBMITTED.finditer(text)]
    return {
        "env": env,
        "local": local_study,
        "slurm": slurm_study,
        "planned": planned,
        "submitted": submitted,
        "cancelled": cancelled,
        "log": text,
    }


def _rule_of(log_path: str) -> str:
    m = re.search(r"/rule_([A-Za-z0-9_]+)/", log_path)
    assert m, log_path
    return m.group(1)


def test_every_job_ran_as_a_slurm_job(runs):
    local = _local_rules()
    remote_planned = {r: n for r, n in runs["planned"].items() if r not in local}
    assert remote_planned.get("ephys_day", 0) >= 2, runs["planned"]
    per_rule: dict[str, set[str]] = {}
    for _, path in runs["submitted"]:
        per_rule.setdefault(_rule_of(path), set()).add(str(Path(path).parent))
    # each planned job was submitted (a retried job is one job with two SLURM ids: same log folder)
    assert {r: len(v) for r, v in per_rule.items()} == remote_planned
    states = _sacct(runs["env"], [jid for jid, _ in runs["submitted"]])
    assert set(states) == {jid for jid, _ in runs["submitted"]}
    bad = {j: s for j, s in states.items() if s != "COMPLETED" and j != runs["cancelled"]}
    assert not bad, bad


def test_cancelled_job_was_retried_and_the_study_completed(runs):
    cancelled = runs["cancelled"]
    assert cancelled is not None, "no ephys_day job was seen running to cancel"
    states = _sacct(runs["env"], [cancelled])
    assert states[cancelled] == "CANCELLED"
    folder = {jid: str(Path(p).parent) for jid, p in runs["submitted"]}[cancelled]
    retries = [j for j, p in runs["submitted"] if str(Path(p).parent) == folder and j != cancelled]
    assert retries, f"job {cancelled} was not resubmitted"
    assert _sacct(runs["env"], retries)[retries[-1]] == "COMPLETED"
    assert (runs["slurm"] / "results" / "pipeline" / "catalog.done").is_file()


def _normalised(df: pd.DataFrame, study: Path) -> pd.DataFrame:
    df = df.drop(columns=[c for c in df.columns if RUN_SPECIFIC.search(str(c))])
    roots = [str(study.parent.parent), str(study)]
    for c in df.columns:
        if df[c].dtype == object:
            s = df[c].astype(str)
            for r in roots:
                s = s.str.replace(r, "ROOT", regex=False)
            df[c] = s
    df = df.reindex(sorted(df.columns), axis=1)
    return df.sort_values(list(df.columns)).reset_index(drop=True) if len(df.columns) else df


def _read(path: Path) -> pd.DataFrame | None:
    if path.stat().st_size == 0:
        return None
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None


def _tables(study: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(study / "results" / "fmslab.duckdb"), read_only=True) as con:
        names = [
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        ]
        return {n: con.execute(f'SELECT * FROM "{n}"').df() for n in names}


def test_results_equal_a_local_run(runs):
    local, slurm = runs["local"], runs["slurm"]
    # every per-job result file
    files = sorted(
        p.relative_to(local)
        for p in (local / "results").rglob("*")
        if p.suffix in (".csv", ".parquet")
        # parts are named by run id, caches by content hash: compared through the catalog instead
        and not {"logs", "tables", "catalog_parts"} & set(p.relative_to(local).parts)
        and not any(part.startswith(".") for part in p.relative_to(local).parts)
    )
    assert any("ephys" in f.parts for f in files)
    for rel in files:
        a, b = _read(local / rel), _read(slurm / rel)
        if a is None or b is None:  # an empty file (e.g. no errors): both runs must leave it empty
            assert a is None and b is None, rel
            continue
        pd.testing.assert_frame_equal(_normalised(a, local), _normalised(b, slurm), obj=str(rel))
    # every catalog table but the run log itself (ids and clock times differ by design)
    ta, tb = _tables(local), _tables(slurm)
    assert set(ta) == set(tb)
    for name in sorted(set(ta) - {"runs", "inputs", "schema_version", "ingested_parts"}):
        pd.testing.assert_frame_equal(
            _normalised(ta[name], local), _normalised(tb[name], slurm), obj=f"catalog {name}"
        )


WRITERS = ("ephys_day", "skinnerve_day", "behaviour_study", "rnaseq_de", "compare")


def test_jobs_wrote_parts_and_only_ingest_wrote_the_catalog(runs):
    """Each catalog-writing job left one part (its rows + run record); the ingest rules loaded
    every part; the catalog's runs of those commands are exactly the parts' runs."""
    study = runs["slurm"]
    parts = sorted(p for p in (study / "results" / "catalog_parts").iterdir() if p.is_dir())
    names = [p.name for p in parts if not p.name.startswith(".")]
    expected = sum(n for r, n in runs["planned"].items() if r in WRITERS)
    assert len(names) == expected > 0
    part_runs = {json.loads((p / "part.json").read_text())["run"]["run_id"] for p in parts}
    with duckdb.connect(str(study / "results" / "fmslab.duckdb"), read_only=True) as con:
        ingested = {r[0] for r in con.execute("SELECT part FROM ingested_parts").fetchall()}
        catalog_runs = {
            r[0]
            for r in con.execute(
                "SELECT run_id FROM runs WHERE command <> 'study catalog'"
            ).fetchall()
        }
    assert ingested == set(names)
    assert catalog_runs == part_runs
