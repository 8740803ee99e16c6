"""False-positive rate of planned contrasts with k = 4 groups, 6-8 donors per group (docs/compare.md).

Run: ``PYTHONPATH=src nice -n 10 python benchmarks/sim_contrasts.py [n_sim] [seed]`` (default 1000
data sets; see :mod:`fmslab.compare.simulate` for the design).
"""

from __future__ import annotations

import sys
import time

from fmslab.compare.simulate import false_positive_rates

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
    t0 = time.perf_counter()
    table = false_positive_rates(n, seed=seed)
    print(table.to_string(index=False))
    print(f"{n} data sets in {time.perf_counter() - t0:.0f} s")
