"""Benchmark: `fmslab rnaseq de` vs bare pydeseq2 vs R DESeq2, same inputs, one run.

Usage (from the repository root; R with DESeq2 1.38 for the R column)::

    PYTHONPATH=src python benchmarks/bench_rnaseq.py [--design full n50] [--out DIR]

Designs are the reference designs of ``tests/data/rnaseq`` (inputs rebuilt from ``../shared``
by the recipe of ``make_reference.R``): ``full`` is GSE96870 (22 samples, ``~ sex + time``,
26,010 genes), ``n50`` the 50-sample design built from it (27,069 genes; pseudo-samples =
floor-means of samples of the same sex x time cell), ``small`` its 6-sample subset.

Each variant runs in its own fresh process; wall time is the whole process (start-up,
reading the CSV, the analysis, writing results), peak memory is the process's maximum resident
set size (``getrusage`` of the child). Variants:

- ``fmslab``: ``python -m fmslab rnaseq de`` (Wald test of Day8 vs Day0 with normal-prior
  shrinkage; writes its tables, h5ad, QC figures);
- ``pydeseq2``: ``DeseqDataSet(...).deseq2()`` + ``DeseqStats(...).summary()`` (pydeseq2
  0.5.4, 2 processes; no shrinkage, since its apeGLM-type shrinkage takes > 10 min);
- ``R``: ``Rscript`` running ``DESeq()`` + ``results()`` + ``lfcShrink(type = "normal")``.

Prints one JSON line per variant and the ratios R / fmslab and pydeseq2 / fmslab.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "tests"))

R_SCRIPT = """
suppressPackageStartupMessages(library(DESeq2))
a <- commandArgs(trailingOnly = TRUE)
cts <- as.matrix(read.csv(a[1], row.names = 1, check.names = FALSE))
cd <- read.csv(a[2], row.names = 1)
cd$sex <- factor(cd$sex); cd$time <- factor(cd$time)
dds <- DESeqDataSetFromMatrix(cts, cd, ~ sex + time)
dds <- DESeq(dds, quiet = TRUE)
res <- results(dds, contrast = c("time", "Day8", "Day0"), alpha = 0.05)
shr <- lfcShrink(dds, contrast = c("time", "Day8", "Day0"), type = "normal", quiet = TRUE)
res$log2FC_shrunk <- shr$log2FoldChange
write.csv(as.data.frame(res), a[3])
"""

PYDESEQ2 = """
import sys, warnings
import pandas as pd
warnings.filterwarnings("ignore")
from pydeseq2.dds import DeseqDataSet
from pydeseq2.ds import DeseqStats
counts = pd.read_csv(sys.argv[1], index_col=0)
meta = pd.read_csv(sys.argv[2], index_col=0)
dds = DeseqDataSet(counts=counts.T, metadata=meta, design="~ sex + time", quiet=True, n_cpus=2)
dds.deseq2()
st = DeseqStats(dds, contrast=["time", "Day8", "Day0"], quiet=True, n_cpus=2)
st.summary()
st.results_df.to_csv(sys.argv[3])
"""


def _timed(cmd: list[str], env=None) -> dict:
    """Run ``cmd`` once; wall time and the child's peak resident set size (this process runs
    only that child, so ``RUSAGE_CHILDREN`` is the child's own maximum)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr[-2000:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak_kb / 1024, 1)}


def main() -> None:
    import os

    import pandas as pd

    from rnaseq_reference import COUNTS, load_design

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", nargs="+", default=["full", "n50"])
    ap.add_argument("--variants", nargs="+", default=["fmslab", "pydeseq2", "R"])
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    for design in args.design:
        _, sheet, counts = load_design(SHARED / "data" / COUNTS, design)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            counts.to_csv(tmp / "counts.csv")
            sheet.to_csv(tmp / "samples.csv")
            (tmp / "de.R").write_text(R_SCRIPT)
            (tmp / "pyd.py").write_text(PYDESEQ2)
            cmds = {
                "fmslab": [
                    sys.executable,
                    "-m",
                    "fmslab",
                    "rnaseq",
                    "de",
                    "--counts",
                    str(tmp / "counts.csv"),
                    "--samples",
                    str(tmp / "samples.csv"),
                    "--design",
                    "~ sex + time",
                    "--contrast",
                    "time,Day8,Day0",
                    "--out",
                    str(tmp / "fmslab"),
                ],
                "pydeseq2": [
                    sys.executable,
                    str(tmp / "pyd.py"),
                    str(tmp / "counts.csv"),
                    str(tmp / "samples.csv"),
                    str(tmp / "pyd.csv"),
                ],
                "R": [
                    "Rscript",
                    str(tmp / "de.R"),
                    str(tmp / "counts.csv"),
                    str(tmp / "samples.csv"),
                    str(tmp / "r.csv"),
                ],
            }
            rows = {}
            for name in args.variants:
                # a fresh Python parent per variant so that ru_maxrss is that variant's own
                out = subprocess.run(
                    [sys.executable, __file__, "--one", json.dumps(cmds[name])],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=True,
                )
                row = {
                    "design": design,
                    "variant": name,
                    "n_genes": len(counts),
                    "n_samples": counts.shape[1],
                    **json.loads(out.stdout),
                }
                rows[name] = row
                print(json.dumps(row), flush=True)
            if "R" in rows and "fmslab" in rows:
                ours = pd.read_csv(tmp / "fmslab" / "de_results.csv", index_col=0)
                r = pd.read_csv(tmp / "r.csv", index_col=0)
                a, b = set(ours.index[ours["padj"] < 0.05]), set(r.index[r["padj"] < 0.05])
                f = rows["fmslab"]
                print(
                    json.dumps(
                        {
                            "design": design,
                            "R_over_fmslab_time": round(rows["R"]["wall_s"] / f["wall_s"], 2),
                            "pydeseq2_over_fmslab_time": round(
                                rows["pydeseq2"]["wall_s"] / f["wall_s"], 2
                            )
                            if "pydeseq2" in rows
                            else None,
                            "jaccard_padj005_vs_R": round(len(a & b) / len(a | b), 4),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(_timed(json.loads(sys.argv[2]))))
    else:
        main()
