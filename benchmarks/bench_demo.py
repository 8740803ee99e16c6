"""Time the demo generator: each simulator, then the whole `generate_demo`, default and --small.

Run from the repository root:

    PYTHONPATH=src python benchmarks/bench_demo.py [--small]

Prints wall and CPU seconds per step. Wall time includes waiting for the CPU on a shared machine;
CPU time is what the generator itself costs (it runs in one process).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from fmslab.demo.behaviour import generate_behaviour
from fmslab.demo.design import DemoConfig, build_design
from fmslab.demo.ephys import generate_ephys
from fmslab.demo.generate import generate_demo
from fmslab.demo.rnaseq import generate_rnaseq
from fmslab.demo.skinnerve import generate_skinnerve


def _timed(label: str, func, *args) -> None:
    w, c = time.perf_counter(), time.process_time()
    func(*args)
    print(
        f"{label:<22} wall {time.perf_counter() - w:6.2f} s   cpu {time.process_time() - c:6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    cfg = DemoConfig.make(small=args.small)
    design = build_design(cfg)
    print(f"config: {cfg}")
    steps = [("ephys", generate_ephys), ("behaviour", generate_behaviour)]
    steps += [("skin-nerve", generate_skinnerve), ("rnaseq", generate_rnaseq)]
    for name, func in steps:
        _timed(name, func, design, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        _timed("generate_demo (all)", generate_demo, f"{tmp}/demo", cfg)


if __name__ == "__main__":
    main()
