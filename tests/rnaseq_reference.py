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


#: DESeq2's dispTol: the gene-wise line search stops when a step raises the objective by less
DISP_TOL = 1e-6


def objective_noise(y: np.ndarray, mu: np.ndarray, log_alpha: np.ndarray) -> np.ndarray:
    """Rounding scale of the Cox-Reid objective at ``alpha = exp(log_alpha)``, per gene.

    The NB log-likelihood is summed from terms of size ``lgamma(y + 1/alpha)``, ``lgamma(1/alpha)``,
    ``(1/alpha) log(1/alpha)``, ``(y + 1/alpha) log(1/alpha + mu)``, which nearly cancel when
    ``alpha`` is tiny (Poisson-like genes: 1/alpha ~ 1e7 makes each ~1e8 while their sum changes
    by 1e-7 over a line-search step). Double precision leaves an error of about ``eps`` times the
    sum of their magnitudes; where that exceeds ``dispTol`` the search's accept/stop decisions are
    decided by rounding (and so by the machine, the BLAS, the memory layout), in R as in fmslab.
    """
    from scipy.special import gammaln

    r = np.exp(-np.asarray(log_alpha, dtype=float))[:, None]
    size = np.abs(gammaln(y + r)) + np.abs(gammaln(r)) + np.abs(r * np.log(r))
    size = size + np.abs((y + r) * np.log(r + mu))
    return np.finfo(float).eps * size.sum(axis=1)


def _rounding_decided_genewise(monkeypatch, counts: pd.DataFrame, r_genewise: pd.Series) -> dict:
    """Make the gene-wise stage use R's estimate for the genes whose estimate differs from R's
    (beyond ``TOL``) and whose line search starts where the objective's rounding exceeds
    ``dispTol`` (:func:`objective_noise` at the rough start), so that every later stage (trend,
    prior, MAP, GLM, tests) is compared with R on the same input.

    Returns a record (filled when the stage runs) of those genes, fmslab's and R's estimates, and
    the objective at each (fmslab's must be no worse than R's by more than the rounding scale).
    """
    import fmslab.rnaseq.de as de_mod
    from fmslab.rnaseq import engine as eng

    original = eng.genewise_dispersions
    rvals = r_genewise.reindex(counts.index).to_numpy(dtype=float)
    record: dict = {}

    def genewise(y, sf, x):
        out = original(y, sf, x)
        if record:  # the first call estimates every gene; refits of replaced genes stay fmslab's
            return out
        assert y.shape[0] == len(rvals), (y.shape, len(rvals))
        start = np.log(out.initial)
        differ = np.abs(out.dispersion / rvals - 1.0) > TOL["dispGeneEst"]
        flagged = differ & (objective_noise(y, out.mu, start) >= DISP_TOL)
        ours, theirs = out.dispersion[flagged], rvals[flagged]
        ys, ms = y[flagged], out.mu[flagged]
        record.update(
            genes=list(counts.index[flagged]),
            ours=ours,
            r=theirs,
            f_ours=eng._cr_objective(np.log(ours), ys, ms, x, None, None),
            f_r=eng._cr_objective(np.log(theirs), ys, ms, x, None, None),
            noise=objective_noise(ys, ms, np.log(theirs)) + objective_noise(ys, ms, np.log(ours)),
        )
        disp = out.dispersion.copy()
        disp[flagged] = theirs
        return type(out)(disp, out.mu, out.initial)

    monkeypatch.setattr(eng, "genewise_dispersions", genewise)
    assert de_mod.eng is eng
    return record


def measure(counts_csv: Path, name: str, monkeypatch=None) -> dict:
    """Run fmslab on a reference design; every column's agreement statistics.

    With ``monkeypatch`` (pytest's), the gene-wise estimates of the genes whose search is
    decided by rounding (:func:`_rounding_decided_genewise`) are R's for the later stages; they
    are left out of the ``dispGeneEst`` comparison and reported under ``"rounding_decided"``.
    """
    from fmslab.rnaseq.de import run_de

    cfg, sheet, counts = load_design(counts_csv, name)
    genes = pd.read_csv(REF / name / "genes.csv.gz", index_col=0)
    record = (
        _rounding_decided_genewise(monkeypatch, counts, genes["dispGeneEst"])
        if monkeypatch is not None
        else None
    )
    res = run_de(counts, sheet, cfg["design"], contrasts(cfg), reduced=cfg.get("reduced") or None)
    sf = pd.read_csv(REF / name / "sizefactors.csv", index_col=0)["size_factor"]
    out = {"prior": res.prior_disp_var, "columns": {}, "jaccard": {}, "rounding_decided": record}
    out["columns"]["sizeFactor"] = compare(res.size_factors, sf, 1e-8)
    skip = record.get("genes", []) if record else []
    for col in ("dispGeneEst", "dispFit", "dispMAP", "dispersion"):
        ours = res.dispersions[col]
        if col == "dispGeneEst" and skip:
            ours = ours.drop(index=skip, errors="ignore")
        out["columns"][col] = compare(ours, genes[col], TOL[col])
    for cid, table in res.results.items():
        r = pd.read_csv(REF / name / f"results_{cid}.csv.gz", index_col=0)
        r = r.rename(columns={"log2FC_shrunk_normal": "log2FoldChange_shrunk"})
        for col in TOL:
            if col in table and col in r and not table[col].isna().all():
                out["columns"][f"{cid}:{col}"] = compare(table[col], r[col], TOL[col])
        out["jaccard"][cid] = jaccard(table["padj"], r["padj"])
    return out
