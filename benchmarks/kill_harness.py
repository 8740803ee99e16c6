"""The 50-kill crash-consistency run of ``tests/kill_harness.py``, with its counts and time.

Run from the repository root (numbers in ``docs/reliability.md``)::

    PYTHONPATH=src nice -n 5 python benchmarks/kill_harness.py --kills-per-command 10 --seed 7
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import kill_harness as kh  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills-per-command", type=int, default=10)
    ap.add_argument("--kills-per-rerun", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fmslab_kill_") as tmp:
        t0 = time.monotonic()
        states, durations = kh.reference(kh.build_study(Path(tmp) / "clean" / "study"))
        t_ref = time.monotonic() - t0
        t0 = time.monotonic()
        report = kh.kill_trials(
            kh.build_study(Path(tmp) / "trial" / "study"),
            states,
            durations,
            kills_per_command=args.kills_per_command,
            seed=args.seed,
            kills_per_rerun=args.kills_per_rerun,
            log=lambda line: print(line, flush=True),
        )
        t_trial = time.monotonic() - t0
    out = {
        **asdict(report),
        "clean_run_s": {k: round(v, 2) for k, v in durations.items()},
        "reference_s": round(t_ref, 1),
        "trials_s": round(t_trial, 1),
    }
    print(json.dumps(out, indent=1))
    sys.exit(1 if report.inconsistencies else 0)


if __name__ == "__main__":
    main()
