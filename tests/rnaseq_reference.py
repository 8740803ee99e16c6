"""Helpers for the R DESeq2 reference designs in tests/data/rnaseq (see make_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.rnaseq.io import Contrast

REF = Path(__file__).parent / "data" / "rnaseq"
COUNTS = "rnaseq/cerebellum_gse96870/GSE96870_counts_cerebellum.csv"

#: per-gene relative tolerance of each column (see test_rnaseq_reference.py)
TOL = {
    "dispGeneEst": 1e-3,
    "dispFit": 1e-6,
    "dispMAP": 1e-4,
    "dispersion": 1e-4,
    "baseMean": 1e-8,
    "log2FoldChange": 1e-4,
    "lfcSE": 1e-4,
    "stat": 1e-4,
    "pvalue": 1e-3,
    "padj": 1e-3,
    "log2FoldChange_shrunk": 1e-2,
}


def load_design(counts_csv: Path, name: str):
    """(config, sample sheet, counts) of a reference design, counts rebuilt from the GSE96870
    counts file (registry name :data:`COUNTS`) by the recipe of make_reference.R
    (floor(counts / divisor), floor-means of the source samples)."""
    cfg = json.loads((REF / name / "config.json").read_text())
    sheet = pd.read_csv(REF / name / "coldata.csv", index_col=0)
    base = pd.read_csv(counts_csv, index_col=0) // cfg["divisor"]
    cols = {}
    for sample, src in sheet["sources"].items():
        parts = src.split(";")
        cols[sample] = sum(base[p] for p in parts) // len(parts)
    counts = pd.DataFrame(cols)
    return cfg, sheet[["sex", "time"]], counts[counts.sum(axis=1) >= 10]


def contrasts(cfg) -> list[Contrast]:
    out = []
    for cid, con in cfg["contrasts"].items():
        if isinstance(con, list) and len(con) == 3:
            out.append(Contrast(cid, con[0], con[2], con[1]))
        elif isinstance(con, str):
            out.append(Contrast(cid, weights=((con, 1.0),)))
        else:  # R's list(numerator, denominator)
            out.append(Contrast(cid, weights=((con[0], 1.0), (con[1], -1.0))))
    return out


def compare(ours: pd.Series, r: pd.Series, tol: float) -> dict[str, float]:
    """NA mismatches, fraction of genes beyond ``tol`` (relative), max relative error."""
    a = ours.to_numpy(dtype=float)
    b = r.reindex(ours.index).to_numpy(dtype=float)
    na = np.isnan(a) != np.isnan(b)
    ok = ~np.isnan(a) & ~np.isnan(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(a[ok] - b[ok]) / np.abs(b[ok])
    rel = np.where(a[ok] == b[ok], 0.0, rel)
    return {
        "na_mismatch": int(na.sum()),
        "frac_beyond": float(np.mean(rel > tol)) if rel.size else 0.0,
        "max_rel": float(np.max(rel)) if rel.size else 0.0,
    }


def jaccard(ours: pd.Series, r: pd.Series, alpha: float = 0.05) -> float:
    a = set(ours.index[ours < alpha])
    b = set(r.index[r < alpha])
    return len(a & b) / len(a | b) if a | b else 1.0


def measure(counts_csv: Path, name: str) -> dict:
    """Run fmslab on a reference design; every column's agreement statistics."""
    from fmslab.rnaseq.de import run_de

    cfg, sheet, counts = load_design(counts_csv, name)
    res = run_de(counts, sheet, cfg["design"], contrasts(cfg), reduced=cfg.get("reduced") or None)
    genes = pd.read_csv(REF / name / "genes.csv.gz", index_col=0)
    sf = pd.read_csv(REF / name / "sizefactors.csv", index_col=0)["size_factor"]
    out = {"prior": res.prior_disp_var, "columns": {}, "jaccard": {}}
    out["columns"]["sizeFactor"] = compare(res.size_factors, sf, 1e-8)
    for col in ("dispGeneEst", "dispFit", "dispMAP", "dispersion"):
        out["columns"][col] = compare(res.dispersions[col], genes[col], TOL[col])
    for cid, table in res.results.items():
        r = pd.read_csv(REF / name / f"results_{cid}.csv.gz", index_col=0)
        r = r.rename(columns={"log2FC_shrunk_normal": "log2FoldChange_shrunk"})
        for col in TOL:
            if col in table and col in r and not table[col].isna().all():
                out["columns"][f"{cid}:{col}"] = compare(table[col], r[col], TOL[col])
        out["jaccard"][cid] = jaccard(table["padj"], r["padj"])
    return out
