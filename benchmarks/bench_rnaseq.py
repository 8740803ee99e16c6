"""Benchmark: fmslab DE vs bare pydeseq2 on the same real counts, in one run.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_rnaseq.py [--design small|full] [--n-cpus 2]

Each variant runs in its own fresh Python process (so imports, caches and memory do not leak
between them); wall time covers model fitting and the Wald test of one contrast (no shrinkage,
no file output), peak memory is the maximum resident set size of the process plus its joblib
workers (``getrusage``). Variants:

- ``pydeseq2``: ``DeseqDataSet(...).deseq2()`` + ``DeseqStats(...).summary()``;
- ``fmslab-pydeseq2``: ``run_de(..., r_compatible=False)`` (fmslab's wrapper around the same
  pydeseq2 steps: wrapper overhead);
- ``fmslab``: ``run_de(...)`` default (R DESeq2-compatible dispersions).

Overhead = fmslab time / pydeseq2 time - 1 (target <= 20%).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "rnaseq" / "cerebellum_gse96870"
REFS = {"small": "cerebellum_small", "full": "mouse_cerebellum"}


def _load(design: str):
    import pandas as pd

    counts = pd.read_csv(DATA / "GSE96870_counts_cerebellum.csv", index_col=0)
    sheet = pd.read_csv(DATA / "reference" / REFS[design] / "coldata.csv", index_col=0)
    counts = counts[sheet.index]
    return counts[counts.sum(axis=1) >= 10], sheet


def _variant(name: str, design: str, n_cpus: int) -> dict:
    warnings.filterwarnings("ignore")
    counts, sheet = _load(design)
    t0 = time.perf_counter()
    if name == "pydeseq2":
        from pydeseq2.dds import DeseqDataSet
        from pydeseq2.ds import DeseqStats

        dds = DeseqDataSet(
            counts=counts.T, metadata=sheet, design="~ sex + time", quiet=True, n_cpus=n_cpus
        )
        dds.deseq2()
        st = DeseqStats(dds, contrast=["time", "Day8", "Day0"], quiet=True, n_cpus=n_cpus)
        st.summary()
        n_sig = int((st.results_df["padj"] < 0.05).sum())
    else:
        from fmslab.rnaseq.de import run_de
        from fmslab.rnaseq.io import Contrast

        res = run_de(
            counts,
            sheet,
            "~ sex + time",
            [Contrast("d8", "time", "Day0", "Day8")],
            r_compatible=name == "fmslab",
            shrink=False,
            n_cpus=n_cpus,
        )
        n_sig = int((res.results["d8"]["padj"] < 0.05).sum())
    wall = time.perf_counter() - t0
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "variant": name,
        "design": design,
        "n_genes": len(counts),
        "n_samples": counts.shape[1],
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(max(self_kb, child_kb) / 1024, 1),
        "n_padj_005": n_sig,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", choices=sorted(REFS), default="small")
    ap.add_argument("--n-cpus", type=int, default=2)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(_variant(args.variant, args.design, args.n_cpus)))
        return
    rows = []
    for name in ("pydeseq2", "fmslab-pydeseq2", "fmslab"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--variant",
                name,
                "--design",
                args.design,
                "--n-cpus",
                str(args.n_cpus),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["wall_s"]
    for r in rows[1:]:
        print(
            f"{r['variant']}: time overhead vs bare pydeseq2 {100 * (r['wall_s'] / base - 1):+.1f}%"
            f", peak RSS {r['peak_rss_mb']} MB vs {rows[0]['peak_rss_mb']} MB"
        )


if __name__ == "__main__":
    main()
