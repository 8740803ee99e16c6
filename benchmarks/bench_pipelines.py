"""Throughput of the Snakemake workflow on a large generated study (ephys: files per second).

Builds a study of N current-clamp ABF files spread over recording days by replicating the demo's
ABF files (``fmslab demo --small``: 10 good cells, 1 voltage-clamp and 1 truncated file) under
new names and dates (hard links: same bytes, new paths, so the per-day result caches never hit),
then runs ``pipelines/Snakefile`` (ephys only) with 1 and with 2 cores from scratch, a dry run of
the finished study, and a rerun after one day's file changed.

    PYTHONPATH=src python benchmarks/bench_pipelines.py --files 500 --per-day 20 --out /tmp/bench-pl

Prints a table and writes OUT/bench_pipelines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "pipelines" / "Snakefile"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    return env


def make_study(out: Path, n_files: int, per_day: int) -> Path:
    """Write OUT/large/study with ``n_files`` ABFs over ceil(n/per_day) days; return the study."""
    demo = out / "demo"
    if not (demo / "study" / "study.yaml").is_file():
        subprocess.run(
            [sys.executable, "-m", "fmslab", "-q", "demo", "--out", str(demo), "--small"],
            check=True,
            env=_env(),
        )
    src_study = demo / "study"
    rec = pd.read_csv(src_study / "recordings.csv", dtype=str)
    abf = rec[rec["modality"] == "ephys_cc"].reset_index(drop=True)
    study = out / "large" / "study"
    if study.parent.exists():
        shutil.rmtree(study.parent)
    study.mkdir(parents=True)
    for name in ("donors.csv", "mice.csv"):
        shutil.copy(src_study / name, study / name)
    cfg = yaml.safe_load((src_study / "study.yaml").read_text())
    cfg["name"] = f"benchmark study: {n_files} ABF files (replicated demo cells)"
    cfg["unblinding"] = str((demo / "keys" / "unblinding.csv").resolve())
    (study / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    rows = []
    start = pd.Timestamp("2026-04-01")
    for i in range(n_files):
        day = (start + pd.Timedelta(days=i // per_day)).strftime("%Y-%m-%d")
        src = abf.iloc[i % len(abf)]
        rel = Path("ephys") / day / f"{day.replace('-', '_')}_{i % per_day:04d}.abf"
        (study / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(src_study / src["path"], study / rel)
        rows.append(
            {
                "path": rel.as_posix(),
                "modality": "ephys_cc",
                "mouse_id": src["mouse_id"],
                "cell_id": f"{src['cell_id']}_{i:04d}",
                "unit_id": "",
                "sample_id": "",
                "date": day,
                "protocol": src["protocol"],
            }
        )
    pd.DataFrame(rows).to_csv(study / "recordings.csv", index=False)
    return study


def snakemake(workdir: Path, config: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "-s",
            str(SNAKEFILE),
            "--configfile",
            str(config),
            *args,
        ],
        cwd=workdir,
        env=_env(),
        capture_output=True,
        text=True,
    )
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    return dt, res.stdout + res.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--per-day", type=int, default=20)
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-pipelines"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    study = make_study(args.out, args.files, args.per_day)
    t_make = time.perf_counter() - t0
    n_days = len({p.parent.name for p in (study / "ephys").glob("*/*.abf")})
    config = args.out / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "study": str(study),
                "steps": {
                    "skinnerve": False,
                    "behaviour": False,
                    "compare": False,
                    "figures": False,
                    "rnaseq": False,
                    "report": False,
                },
            }
        )
    )
    result: dict[str, object] = {
        "files": args.files,
        "days": n_days,
        "make_study_s": round(t_make, 1),
        "load_avg_start": os.getloadavg(),
        "runs": [],
    }
    for cores in args.cores:
        shutil.rmtree(study / "results", ignore_errors=True)
        shutil.rmtree(args.out / ".snakemake", ignore_errors=True)
        cpu0 = os.times()
        wall, _ = snakemake(args.out, config, "--cores", str(cores), "-q")
        cpu1 = os.times()
        cpu = (cpu1.children_user - cpu0.children_user) + (
            cpu1.children_system - cpu0.children_system
        )
        result["runs"].append(
            {
                "cores": cores,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "files_per_s": round(args.files / wall, 2),
                "load_avg_end": os.getloadavg(),
            }
        )
        print(f"cores={cores}: {wall:.1f} s wall, {cpu:.1f} s CPU, {args.files / wall:.2f} files/s")
    cells = pd.concat(pd.read_csv(p) for p in (study / "results" / "ephys").glob("*/cells.csv"))
    errors = pd.concat(pd.read_csv(p) for p in (study / "results" / "ephys").glob("*/errors.csv"))
    result["cells"], result["errors"] = len(cells), len(errors)
    wall, out = snakemake(args.out, config, "-n", "--cores", "2")
    result["dry_run_done_s"] = round(wall, 1)
    result["dry_run_nothing_to_do"] = "Nothing to be done" in out
    # a re-copied file of one day (the files are hard links: break the link, or touching one
    # would touch its siblings on every other day)
    first_day = sorted((study / "ephys").iterdir())[0]
    changed = next(first_day.glob("*.abf"))
    data = changed.read_bytes()
    changed.unlink()
    changed.write_bytes(data)
    wall, out = snakemake(args.out, config, "--cores", "2", "-q")
    result["rerun_one_day_s"] = round(wall, 1)
    (args.out / "bench_pipelines.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
