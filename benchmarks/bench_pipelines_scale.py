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
import resource
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


def _slurm_jobs_since(start: str) -> int:
    """Number of SLURM jobs (allocations, not steps) submitted since ``start`` (sacct)."""
    res = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-a", "-S", start, "-o", "JobID"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return sum(1 for line in res.stdout.splitlines() if line.strip())


def run_workflow(
    root: Path, config: Path, executor: str, jobs: int, group_size: int = 1
) -> dict[str, object]:
    """Run the workflow from scratch; ``group_size`` > 1 bundles that many recording days into
    one cluster job (snakemake ``--groups`` / ``--group-components``; SLURM only)."""
    args = ["--cores", str(jobs)]
    if executor == "slurm":
        args = [
            "--profile", str(PROFILE), "--jobs", str(jobs),
            "--default-resources", "slurm_account=fmslab", "slurm_partition=ci", "mem_mb=1000",
            "runtime=30", "--set-threads", "ephys_day=1",
        ]  # fmt: skip
        if group_size > 1:
            # a group job's request is the sum over the days it could run at once, but the
            # plugin runs a group's jobs one after another (its job step runs snakemake with
            # --jobs 1): so ask for what one day needs, 1 CPU and 1 GB (a day measured 0.5-0.6 GB
            # max RSS, docs/pipelines.md), and let SLURM run --jobs groups side by side
            args += [
                "--groups", "ephys_day=days", "--group-components", f"days={group_size}",
                "--set-resources", "ephys_day:mem_mb=1000", "--resources", "mem_mb=1000",
                "--cores", "1",
            ]  # fmt: skip
    shutil.rmtree(root / ".snakemake", ignore_errors=True)
    start = time.strftime("%Y-%m-%dT%H:%M:%S")
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-s", str(SNAKEFILE), "--configfile",
         str(config), *args],
        cwd=root, env=_env(), capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # snakemake and the local jobs it waited for (SLURM jobs run under slurmd, not counted)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    text = res.stdout + res.stderr
    m = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
    n_jobs = int(m[-1][1]) if m else 0
    out: dict[str, object] = {
        "wall_s": round(wall, 1), "jobs": n_jobs, "jobs_per_s": round(n_jobs / wall, 3),
        "group_size": group_size if executor == "slurm" else 1,
        "cpu_s": round(cpu, 1),
    }  # fmt: skip
    if executor == "slurm":
        out["slurm_jobs"] = _slurm_jobs_since(start)
    return out


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


def _replicate_parts(src_parts: Path, dst_parts: Path, n_parts: int) -> None:
    """``n_parts`` catalog parts made from the real parts of a finished run, in their order.

    Copy ``k`` of a part gets new run and part ids and its files renamed ``<stem>_r<k><suffix>``
    in every table, its scope and its inputs, so that each copy is a new scope (a new recording
    day) with the same rows as the real one.
    """
    real = sorted(d for d in src_parts.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not real:
        raise SystemExit(f"{src_parts}: no catalog parts (run the workflow first)")
    dst_parts.mkdir(parents=True)
    for i in range(n_parts):
        k, j = divmod(i, len(real))
        part = real[j]
        meta = json.loads((part / "part.json").read_text())
        run_id = f"{meta['run']['run_id'][:6]}{i:06d}"
        out = dst_parts / f"{part.name.split('_')[0]}_{i:06d}_{run_id}"
        out.mkdir()

        def rename(name: str, k: int = k) -> str:
            q = Path(str(name))
            return str(q.with_name(f"{q.stem}_r{k}{q.suffix}"))

        for f in part.glob("*.parquet"):
            df = pd.read_parquet(f)
            for col in ("file", "path"):
                if col in df.columns:
                    df[col] = df[col].map(lambda v: v if pd.isna(v) else rename(v))
            if "run_id" in df.columns:
                df["run_id"] = run_id
            df.to_parquet(out / f.name, index=False)
        meta["run"]["run_id"] = run_id
        (out / "part.json").write_text(json.dumps(meta, indent=1))


def ingest_scale(study: Path, sizes: list[int], out: Path) -> list[dict[str, object]]:
    """The ingest step alone over 50..500 parts: wall and CPU time, and the cost of the last parts.

    Each size is ingested into an empty catalog in a child process (``fmslab study ingest``), then
    50 more replicated parts are ingested into that full catalog, to show whether a part's cost
    grows with the catalog it lands in (it should not: a part deletes its own scope and inserts).
    """
    rows = []
    for n in sizes:
        root = out / f"ingest{n}"
        shutil.rmtree(root, ignore_errors=True)
        res = root / "study" / "results"
        res.mkdir(parents=True)
        for sheet in study.iterdir():  # the study's sheets (ingest opens the study's catalog)
            if sheet.is_file():
                shutil.copy(sheet, root / "study" / sheet.name)
        _replicate_parts(study / "results" / "catalog_parts", res / "catalog_parts", n + 50)
        extra = sorted(p for p in (res / "catalog_parts").iterdir())[n:]
        hold = root / "held"
        hold.mkdir()
        for p in extra:
            p.rename(hold / p.name)
        row: dict[str, object] = {"parts": n, "load_avg_start": round(os.getloadavg()[0], 1)}
        for label in ("first", "then_50"):
            t0, c0 = time.perf_counter(), os.times()
            subprocess.run(
                [sys.executable, "-m", "fmslab", "-q", "study", "ingest", str(root / "study")],
                check=True, env=_env(),
            )  # fmt: skip
            c1 = os.times()
            row[f"{label}_wall_s"] = round(time.perf_counter() - t0, 2)
            row[f"{label}_cpu_s"] = round(
                (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system), 2
            )
            for p in sorted(hold.iterdir()):
                p.rename(res / "catalog_parts" / p.name)
        n_all = n + 50
        row["cpu_ms_per_part_first"] = round(1000 * float(row["first_cpu_s"]) / n, 1)
        row["cpu_ms_per_part_then_50"] = round(1000 * float(row["then_50_cpu_s"]) / 50, 1)
        row["catalog_mb"] = round((res / "fmslab.duckdb").stat().st_size / 2**20, 2)
        row["rows_ephys_spikes"] = int(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True);"
                    "print(c.execute('select count(*) from ephys_spikes').fetchone()[0])",
                    str(res / "fmslab.duckdb"),
                ],
                check=True,
                env=_env(),
                capture_output=True,
                text=True,
            ).stdout  # fmt: skip
        )
        row["parts_in_catalog"] = n_all
        row["load_avg_end"] = round(os.getloadavg()[0], 1)
        rows.append(row)
        print(json.dumps(row))
        shutil.rmtree(root, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--per-day", type=int, default=1)
    ap.add_argument("--executor", nargs="+", choices=["local", "slurm"], default=["local"])
    ap.add_argument("--jobs", type=int, default=2, help="cores (local) or jobs at once (slurm)")
    ap.add_argument(
        "--group-size", type=int, default=1,
        help="SLURM: recording days per cluster job (snakemake job groups); 1 = one job per day",
    )  # fmt: skip
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-scale"))
    ap.add_argument(
        "--ingest-from", type=Path, default=None,
        help="a finished study of this benchmark (e.g. OUT/days50/study): time only the ingest of "
        "--ingest-parts parts replicated from its real catalog parts",
    )  # fmt: skip
    ap.add_argument("--ingest-parts", type=int, nargs="+", default=[50, 100, 200, 500])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.ingest_from is not None:
        rows = ingest_scale(args.ingest_from, args.ingest_parts, args.out)
        print(pd.DataFrame(rows).to_string(index=False))
        (args.out / "bench_ingest_scale.json").write_text(json.dumps(rows, indent=2))
        return
    demo, sources = _sources(args.out, args.shared)
    results = []
    for n in args.days:
        for ex in args.executor:
            study = make_study(args.out, demo, sources, n, args.per_day)
            root = study.parent
            row = {"days": n, "files": n * args.per_day, "executor": ex,
                   "load_avg_start": os.getloadavg()[0]}  # fmt: skip
            row |= run_workflow(root, _config(root, study), ex, args.jobs, args.group_size)
            row |= time_ingest(study)
            row["load_avg_end"] = os.getloadavg()[0]
            results.append(row)
            print(json.dumps(row))
    table = pd.DataFrame(results)
    print(table.to_string(index=False))
    (args.out / "bench_pipelines_scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
