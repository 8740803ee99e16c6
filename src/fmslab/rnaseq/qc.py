"""Quality control of a count matrix and a DE fit: plain functions on DataFrames.

- library sizes and detected genes per sample;
- the variance-stabilising transform DESeq2 uses with a parametric dispersion trend
  (``getVarianceStabilizedData``; ``blind = FALSE``, i.e. with the design's trend):
  ``vst(q) = log2((1 + a1 + 2 a0 q + 2 sqrt(a0 q (1 + a1 + a0 q))) / (4 a0))`` for normalised
  count ``q`` and trend ``disp = a0 + a1 / mean``;
- PCA as DESeq2's ``plotPCA`` (500 most variable genes of the VST, centred, not scaled);
- Euclidean sample distances on the VST (as ``dist(t(assay(vsd)))`` in the DESeq2 vignette);
- Cook's distance summary: per sample, the number of genes whose Cook's distance exceeds
  DESeq2's cutoff ``F(0.99; p, m - p)``; a sample is flagged when that number is more than
  ``outlier_factor`` (default 5) times the median over samples and above 1% of tested genes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import f as f_dist


def library_sizes(counts: pd.DataFrame) -> pd.Series:
    """Total counts per sample (genes x samples input)."""
    return counts.sum(axis=0).rename("library_size")


def detected_genes(counts: pd.DataFrame, *, min_count: int = 1) -> pd.Series:
    """Number of genes with at least ``min_count`` reads per sample."""
    return (counts >= min_count).sum(axis=0).rename("detected_genes")


def sample_summary(counts: pd.DataFrame, size_factors: pd.Series | None = None) -> pd.DataFrame:
    """Library size, detected genes and (when given) size factor per sample."""
    out = pd.concat([library_sizes(counts), detected_genes(counts)], axis=1)
    if size_factors is not None:
        out["size_factor"] = size_factors.reindex(out.index)
    out.index.name = "sample"
    return out


def vst(normalized_counts: pd.DataFrame, a0: float, a1: float) -> pd.DataFrame:
    """DESeq2's closed-form VST for a parametric trend (genes x samples in and out)."""
    if a0 <= 0:
        raise ValueError("the asymptotic dispersion a0 must be positive for the VST")
    q = normalized_counts.to_numpy(dtype=float)
    val = np.log2((1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q))) / (4 * a0))
    return pd.DataFrame(val, index=normalized_counts.index, columns=normalized_counts.columns)


def pca(transformed: pd.DataFrame, *, ntop: int = 500) -> tuple[pd.DataFrame, pd.Series]:
    """PCA of samples on the ``ntop`` most variable genes.

    Returns sample scores (columns ``PC1..PCk``) and the fraction of variance per component.
    """
    var = transformed.var(axis=1)
    top = transformed.loc[var.sort_values(ascending=False).index[: min(ntop, len(var))]]
    x = top.T.to_numpy(dtype=float)
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    scores = u * s
    k = scores.shape[1]
    cols = [f"PC{i + 1}" for i in range(k)]
    frac = s**2 / np.sum(s**2)
    return (
        pd.DataFrame(scores, index=transformed.columns, columns=cols),
        pd.Series(frac, index=cols, name="variance_fraction"),
    )


def sample_distances(transformed: pd.DataFrame) -> pd.DataFrame:
    """Euclidean distances between samples (columns) of a transformed matrix."""
    x = transformed.T.to_numpy(dtype=float)
    sq = np.sum(x**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    names = transformed.columns
    return pd.DataFrame(np.sqrt(d2), index=names, columns=names)


def cooks_cutoff(n_samples: int, n_coefficients: int) -> float:
    """DESeq2's default Cook's cutoff ``qf(0.99, p, m - p)``."""
    return float(f_dist.ppf(0.99, n_coefficients, n_samples - n_coefficients))


def cooks_summary(
    cooks: pd.DataFrame, n_coefficients: int, *, outlier_factor: float = 5.0
) -> pd.DataFrame:
    """Per sample: genes above the Cook's cutoff, and whether the sample is flagged.

    Parameters
    ----------
    cooks
        genes x samples Cook's distances.
    n_coefficients
        Columns of the design matrix.
    """
    cutoff = cooks_cutoff(cooks.shape[1], n_coefficients)
    n_tested = int(cooks.notna().any(axis=1).sum())
    above = (cooks > cutoff).sum(axis=0)
    med = float(np.median(above))
    flag = (above > outlier_factor * max(med, 1.0)) & (above > 0.01 * n_tested)
    out = pd.DataFrame({"genes_above_cooks_cutoff": above, "cooks_cutoff": cutoff, "outlier": flag})
    out.index.name = "sample"
    return out
