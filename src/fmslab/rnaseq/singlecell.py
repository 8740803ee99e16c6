"""Single-cell input: pseudobulk per sample x cell type, DE per cell type, channel dot plot data.

Pseudobulk sums raw counts of all cells of one sample and cell type
(``scanpy.get.aggregate(..., func="sum")``), the standard way to run DESeq2-type models on
single-cell data (cells of one animal are not independent replicates). Groups with fewer than
``min_cells`` cells are dropped; a cell type is tested only if every contrast level keeps at
least two samples.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.errors import InputError
from fmslab.rnaseq.de import DEResult, run_de
from fmslab.rnaseq.io import Contrast, validate_counts

log = logging.getLogger(__name__)


def read_singlecell(path: str | Path, *, celltype_key: str, sample_key: str | None = None):
    """Read an h5ad with raw counts (``layers['counts']`` if present, else ``X``)."""
    import anndata as ad

    path = Path(path)
    if not path.is_file():
        raise InputError("single-cell file not found", file=path)
    adata = ad.read_h5ad(path)
    for key in [celltype_key] + ([sample_key] if sample_key else []):
        if key not in adata.obs.columns:
            raise InputError(
                f"obs has no column '{key}' (have {list(adata.obs.columns)})", file=path
            )
    if "counts" in adata.layers:
        adata.X = adata.layers["counts"]
    x = adata.X
    sample = x[: min(200, adata.n_obs)]
    vals = np.asarray(sample.data if hasattr(sample, "toarray") else sample).ravel()
    if vals.size and (np.any(vals < 0) or not np.allclose(vals, np.round(vals))):
        raise InputError(
            "X must hold raw integer counts (found negative or fractional values)", file=path
        )
    return adata


def pseudobulk(
    adata, *, sample_key: str, celltype_key: str, min_cells: int = 10
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Sum counts per (sample, cell type).

    Returns a genes x samples count matrix per cell type, and a table of cell numbers
    (samples x cell types).
    """
    import scanpy as sc

    agg = sc.get.aggregate(adata, by=[sample_key, celltype_key], func="sum")
    sums = agg.layers["sum"]
    sums = sums.toarray() if hasattr(sums, "toarray") else np.asarray(sums)
    labels = adata.obs[[sample_key, celltype_key]].astype(str)
    n_cells = labels.groupby([sample_key, celltype_key]).size()
    out: dict[str, pd.DataFrame] = {}
    obs = agg.obs.reset_index(drop=True)
    for ct in obs[celltype_key].astype(str).unique():
        rows = np.flatnonzero(obs[celltype_key].astype(str).to_numpy() == ct)
        samples = obs.loc[rows, sample_key].astype(str).to_numpy()
        keep = [
            i for i, s in zip(rows, samples, strict=True) if n_cells.get((s, ct), 0) >= min_cells
        ]
        if not keep:
            continue
        mat = pd.DataFrame(
            np.round(sums[keep]).T.astype(np.int64),
            index=adata.var_names.astype(str),
            columns=obs.loc[keep, sample_key].astype(str).to_numpy(),
        )
        out[ct] = mat
    cells = n_cells.unstack(fill_value=0)
    cells.index = cells.index.astype(str)
    return out, cells


def sample_sheet_from_obs(adata, sample_key: str, columns: list[str]) -> pd.DataFrame:
    """One row per sample from cell-level obs; each column must be constant within a sample."""
    obs = adata.obs[[sample_key] + columns].astype(str)
    nunique = obs.groupby(sample_key, observed=True).nunique()
    bad = nunique[(nunique > 1).any(axis=1)]
    if len(bad):
        raise InputError(f"sample '{bad.index[0]}' has several values of {columns} across cells")
    sheet = obs.drop_duplicates(sample_key).set_index(sample_key)
    sheet.index = sheet.index.astype(str)
    return sheet


def de_per_celltype(
    pseudo: dict[str, pd.DataFrame],
    samples: pd.DataFrame,
    design: str,
    contrasts: list[Contrast],
    **kwargs,
) -> dict[str, DEResult]:
    """Run :func:`fmslab.rnaseq.de.run_de` on each cell type's pseudobulk counts."""
    out = {}
    for ct, counts in pseudo.items():
        sheet = samples.loc[counts.columns]
        ok = True
        for c in contrasts:
            n = sheet[c.variable].astype(str).value_counts()
            if n.get(c.reference, 0) < 2 or n.get(c.target, 0) < 2:
                log.warning(
                    "cell type %s: fewer than 2 samples per level of %s; skipped", ct, c.variable
                )
                ok = False
        if not ok:
            continue
        counts = validate_counts(counts)
        counts = counts[counts.sum(axis=1) > 0]
        out[ct] = run_de(counts, sheet, design, contrasts, **kwargs)
    return out


def celltype_expression_stats(
    adata, celltype_key: str, genes: list[str] | None = None, *, target_sum: float = 1e4
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per cell type: fraction of cells with a count > 0, and mean ``log1p`` of counts scaled
    to ``target_sum`` per cell (genes x cell types each)."""
    x = adata.X
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x, dtype=float)
    names = adata.var_names.astype(str)
    wanted = set(names) if genes is None else set(genes)
    idx = [i for i, g in enumerate(names) if g in wanted]
    names_sel = names[idx]
    lib = x.sum(axis=1, keepdims=True)
    lib[lib == 0] = 1
    x_sel = x[:, idx]
    norm = np.log1p(x_sel / lib * target_sum)
    labels = adata.obs[celltype_key].astype(str).to_numpy()
    types = sorted(set(labels))
    frac = pd.DataFrame({t: (x_sel[labels == t] > 0).mean(axis=0) for t in types}, index=names_sel)
    mean = pd.DataFrame({t: norm[labels == t].mean(axis=0) for t in types}, index=names_sel)
    return frac, mean


def celltype_mean_expression(adata, celltype_key: str) -> pd.DataFrame:
    """Mean ``log1p`` normalised expression per cell type (genes x cell types)."""
    return celltype_expression_stats(adata, celltype_key)[1]
