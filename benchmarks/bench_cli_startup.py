"""Time `fmslab --help` (the start-up cost of every command: imports of the CLI layer).

Run from the repository root:

    PYTHONPATH=src python benchmarks/bench_cli_startup.py [--runs 10]

Prints the median and the minimum wall time and the median CPU time (user + system) of
`python -m fmslab --help` in fresh interpreters. On a shared machine wall time includes waiting
for the CPU; CPU time is what the start-up itself costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def _one() -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "fmslab", "--help"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "100"},
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    _one()  # warm the file cache and the bytecode
    walls, cpus = zip(*(_one() for _ in range(args.runs)), strict=True)
    print(
        f"fmslab --help, {args.runs} runs: wall median {statistics.median(walls):.3f} s "
        f"(min {min(walls):.3f} s), CPU median {statistics.median(cpus):.3f} s; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
