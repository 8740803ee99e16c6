"""Simulations behind the numbers in docs/compare.md (not a test; takes a few minutes).

Run: ``PYTHONPATH=src python benchmarks/sim_compare.py [n_sim] [--fp-only]``

1. Coverage of 95 % intervals of the group difference (true difference 0.5; donor SD 1, mouse SD
   0.5, cell SD 1; 3 mice x 6 cells per donor) for 4, 8 and 30 donors per group: hierarchical
   bootstrap (BCa, percentile) and the mixed-model t interval.
2. False-positive rate at alpha 0.05 with no effect, 3 donors x 3 mice x 20 cells per group:
   mixed model, Welch on donor means, Welch on mouse means, naive cell-level t test.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from fmslab.compare.bootstrap import build_tree, hierarchical_bootstrap
from fmslab.compare.mixed import fit_lmm


def design(rng, n_donors, mice, cells, delta, sd=(1.0, 0.5, 1.0)) -> pd.DataFrame:
    rows = []
    for g in ("HC", "FMS"):
        for d in range(n_donors):
            u = rng.normal() * sd[0] + (delta if g == "FMS" else 0.0)
            for m in range(mice):
                v = u + rng.normal() * sd[1]
                for _ in range(cells):
                    rows.append((g, f"{g}{d}", f"{g}{d}m{m}", v + rng.normal() * sd[2]))
    return pd.DataFrame(rows, columns=["group", "donor_id", "mouse_id", "y"])


def coverage(n_sim: int) -> None:
    levels = ("donor_id", "mouse_id")
    for n_donors in (4, 8, 30):
        rng = np.random.default_rng(2024)
        hits = {"boot_BCa": 0, "boot_percentile": 0, "lmm_t": 0}
        t0 = time.time()
        for s in range(n_sim):
            df = design(rng, n_donors, 3, 6, 0.5)
            a, b = df[df.group == "HC"], df[df.group == "FMS"]
            ta, tb = build_tree(a.y, a, levels), build_tree(b.y, b, levels)
            for m in ("BCa", "percentile"):
                r = hierarchical_bootstrap(ta, tb, n_resamples=999, method=m, rng=s)
                hits[f"boot_{m}"] += r.ci_low <= 0.5 <= r.ci_high
            if n_donors <= 8:
                r = fit_lmm(df, "y", group="group", levels=levels, reference="HC")
                hits["lmm_t"] += r.ci_low <= 0.5 <= r.ci_high
        se = np.sqrt(0.95 * 0.05 / n_sim)
        skip = "lmm_t" if n_donors > 8 else None
        out = {k: round(float(v) / n_sim, 3) for k, v in hits.items() if k != skip}
        head = f"coverage n_donors={n_donors}/group, {n_sim} sims (binomial SE {se:.3f})"
        print(f"{head}: {out} [{time.time() - t0:.0f} s]")


def false_positives(n_sim: int) -> None:
    rng = np.random.default_rng(99)
    hits = {
        "lmm": 0,
        "lmm_satterthwaite": 0,
        "welch_donor_means": 0,
        "welch_mouse_means": 0,
        "naive_cell_t": 0,
    }
    for _ in range(n_sim):
        df = design(rng, 3, 3, 20, 0.0)
        r = fit_lmm(df, "y", group="group", levels=("donor_id", "mouse_id"), reference="HC")
        hits["lmm"] += r.p < 0.05
        hits["lmm_satterthwaite"] += r.p_satterthwaite < 0.05
        for key, col in (("welch_donor_means", "donor_id"), ("welch_mouse_means", "mouse_id")):
            mm = df.groupby(["group", "donor_id", "mouse_id"]).y.mean().reset_index()
            mm = mm.groupby(["group", col]).y.mean().reset_index()
            hits[key] += (
                stats.ttest_ind(
                    mm.y[mm.group == "FMS"], mm.y[mm.group == "HC"], equal_var=False
                ).pvalue
                < 0.05
            )
        hits["naive_cell_t"] += (
            stats.ttest_ind(df.y[df.group == "FMS"], df.y[df.group == "HC"]).pvalue < 0.05
        )
    se = np.sqrt(0.05 * 0.95 / n_sim)
    head = "false positives at alpha 0.05, 3 donors x 3 mice x 20 cells/group"
    rates = {k: round(float(v) / n_sim, 3) for k, v in hits.items()}
    print(f"{head}, {n_sim} sims (binomial SE {se:.3f}): {rates}")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 400
    false_positives(n)
    if "--fp-only" not in sys.argv:
        coverage(n)
