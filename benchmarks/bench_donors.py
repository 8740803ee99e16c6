"""Time `fmslab donors` on the demo's donor variant (20 donors, behaviour only).

Run from the repository root:

    PYTHONPATH=src python benchmarks/bench_donors.py [--n-donors-per-group 10]

Generates the variant (docs/demo.md, "Donor variant"), runs the behaviour analysis on it (timed
apart), then times `fmslab.donors.run` with and without figures (the time course, calibration
and one page per donor). Prints wall and CPU seconds per step.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path


def _timed(label: str, func, *args, **kwargs):
    w, c = time.perf_counter(), time.process_time()
    out = func(*args, **kwargs)
    print(
        f"{label:<28} wall {time.perf_counter() - w:7.2f} s   cpu {time.process_time() - c:7.2f} s"
    )
    return out


def main() -> None:
    from fmslab.demo.design import DemoConfig
    from fmslab.demo.generate import generate_demo, run_demo_analyses
    from fmslab.donors import run
    from fmslab.donors.flow import OutcomeSet
    from fmslab.study.catalog_study import catalog_study

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-donors-per-group", type=int, default=10)
    args = parser.parse_args()
    cfg = dataclasses.replace(
        DemoConfig.make(seed=1), n_donors_per_group=args.n_donors_per_group,
        nontransfer_fraction=0.4, modalities=("behaviour",),
    )  # fmt: skip
    jobs = [OutcomeSet("behaviour_mouse", ("mean_post_pct",), None, "assay == 'vonfrey'")]
    with tempfile.TemporaryDirectory() as tmp:
        demo = _timed("generate (behaviour only)", generate_demo, Path(tmp) / "demo", cfg)
        catalog_study(demo.layout.study)
        _timed("behaviour analysis", run_demo_analyses, demo.layout, steps=["behaviour"])
        for figure in (False, True):
            _timed(
                f"donors run (figures={figure})", run, demo.layout.study,
                out=Path(tmp) / f"donors{figure}", unblinding=demo.layout.key, jobs=jobs,
                n_boot=1000, figure=figure,
            )  # fmt: skip


if __name__ == "__main__":
    main()
