"""How the workflow grows with the number of recording days, locally and on SLURM (issue 19).

For each size N (recording days, one ABF file per day by default), builds a study whose files are
copies of real ABF files (``../shared/data/ephys/abf``: 171116sh_0018, 18711001, File_axon_5,
17o05028_ic_steps) and of the demo's cells (``fmslab demo --small``), runs the workflow (ephys
only) from scratch with each executor, then measures the ingest step on its own: the catalog
deleted and every part of the run loaded again by ``fmslab study ingest`` into an empty catalog
(the catalog is written only there; no job opens it).

    PYTHONPATH=src python benchmarks/bench_pipelines_scale.py --days 50 500 --executor local slurm \\
        --out /tmp/bench-scale

``--executor slurm`` needs a running cluster (``SLURM_CONF``; ``tests/slurm/cluster.sh start DIR``
starts the single-node test cluster). Prints a table and writes OUT/bench_pipelines_scale.json
with, per size and executor: jobs, wall time, jobs/s, the ingest time of all parts and per part,
the catalog's size, and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "pipelines" / "Snakefile"
PROFILE = REPO / "pipelines" / "profiles" / "slurm"
REAL = ["171116sh_0018.abf", "18711001.abf", "File_axon_5.abf", "17o05028_ic_steps.abf"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _sources(out: Path, shared: Path) -> tuple[Path, pd.DataFrame]:
    """The demo study (generated once) and the list of source files: real ABFs, then demo cells."""
    demo = out / "demo"
    if not (demo / "study" / "study.yaml").is_file():
        subprocess.run(
            [sys.executable, "-m", "fmslab", "-q", "demo", "--out", str(demo), "--small",
             "--no-analyse"],
            check=True, env=_env(),
        )  # fmt: skip
    rec = pd.read_csv(demo / "study" / "recordings.csv", dtype=str)
    cells = rec[rec["modality"] == "ephys_cc"].reset_index(drop=True)
    rows = [
        {"src": str(shared / "ephys" / "abf" / n), "mouse_id": cells["mouse_id"].iloc[k % len(cells)],
         "protocol": "steps"}
        for k, n in enumerate(REAL)
    ]  # fmt: skip
    rows += [
        {"src": str(demo / "study" / p), "mouse_id": m, "protocol": pr}
        for p, m, pr in zip(cells["path"], cells["mouse_id"], cells["protocol"], strict=True)
    ]
    return demo, pd.DataFrame(rows)


def make_study(out: Path, demo: Path, sources: pd.DataFrame, n_days: int, per_day: int) -> Path:
    study = out / f"days{n_days}" / "study"
    if study.parent.exists():
        shutil.rmtree(study.parent)
    study.mkdir(parents=True)
    src_study = demo / "study"
    for name in ("donors.csv", "mice.csv"):
        shutil.copy(src_study / name, study / name)
    cfg = yaml.safe_load((src_study / "study.yaml").read_text())
    cfg["name"] = f"scale benchmark: {n_days} recording days x {per_day} file(s)"
    cfg["unblinding"] = str((demo / "keys" / "unblinding.csv").resolve())
    (study / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    rows = []
    day0 = pd.Timestamp("2026-01-01")
    for i in range(n_days * per_day):
        day = (day0 + pd.Timedelta(days=i // per_day)).strftime("%Y-%m-%d")
        src = sources.iloc[i % len(sources)]
        rel = Path("ephys") / day / f"{day.replace('-', '_')}_{i % per_day:04d}.abf"
        (study / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(src["src"], study / rel)  # same bytes, new path: no cache hit across days
        rows.append(
            {"path": rel.as_posix(), "modality": "ephys_cc", "mouse_id": src["mouse_id"],
             "cell_id": f"c{i:05d}", "unit_id": "", "sample_id": "", "date": day,
             "protocol": src["protocol"]}
        )  # fmt: skip
    pd.DataFrame(rows).to_csv(study / "recordings.csv", index=False)
    return study


def _config(root: Path, study: Path) -> Path:
    config = root / "config.yaml"
    off = ["skinnerve", "behaviour", "compare", "figures", "rnaseq", "report"]
    config.write_text(yaml.safe_dump({"study": str(study), "steps": dict.fromkeys(off, False)}))
    return config


def run_workflow(root: Path, config: Path, executor: str, jobs: int) -> dict[str, object]:
    args = ["--cores", str(jobs)]
    if executor == "slurm":
        args = [
            "--profile", str(PROFILE), "--jobs", str(jobs),
            "--default-resources", "slurm_account=fmslab", "slurm_partition=ci", "mem_mb=1000",
            "runtime=30", "--set-threads", "ephys_day=1",
        ]  # fmt: skip
    shutil.rmtree(root / ".snakemake", ignore_errors=True)
    t0 = time.perf_counter()
    res = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-s", str(SNAKEFILE), "--configfile",
         str(config), *args],
        cwd=root, env=_env(), capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    text = res.stdout + res.stderr
    m = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
    n_jobs = int(m[-1][1]) if m else 0
    return {"wall_s": round(wall, 1), "jobs": n_jobs, "jobs_per_s": round(n_jobs / wall, 3)}


def time_ingest(study: Path) -> dict[str, object]:
    db = study / "results" / "fmslab.duckdb"
    n_parts = sum(1 for p in (study / "results" / "catalog_parts").iterdir() if p.is_dir())
    for f in db.parent.glob("fmslab.duckdb*"):
        f.unlink()
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "fmslab", "-q", "study", "ingest", str(study)],
        check=True, env=_env(),
    )  # fmt: skip
    dt = time.perf_counter() - t0
    return {
        "parts": n_parts,
        "ingest_s": round(dt, 2),
        "ingest_ms_per_part": round(1000 * dt / max(n_parts, 1), 1),
        "catalog_mb": round(db.stat().st_size / 2**20, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--per-day", type=int, default=1)
    ap.add_argument("--executor", nargs="+", choices=["local", "slurm"], default=["local"])
    ap.add_argument("--jobs", type=int, default=2, help="cores (local) or jobs at once (slurm)")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-scale"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    demo, sources = _sources(args.out, args.shared)
    results = []
    for n in args.days:
        for ex in args.executor:
            study = make_study(args.out, demo, sources, n, args.per_day)
            root = study.parent
            row = {"days": n, "files": n * args.per_day, "executor": ex,
                   "load_avg_start": os.getloadavg()[0]}  # fmt: skip
            row |= run_workflow(root, _config(root, study), ex, args.jobs)
            row |= time_ingest(study)
            row["load_avg_end"] = os.getloadavg()[0]
            results.append(row)
            print(json.dumps(row))
    table = pd.DataFrame(results)
    print(table.to_string(index=False))
    (args.out / "bench_pipelines_scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
