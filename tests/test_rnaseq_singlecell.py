"""Pseudobulk aggregation, per-cell-type DE and dot-plot statistics (rnaseq.singlecell)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmslab.rnaseq import plots
from fmslab.rnaseq.de import run_de
from fmslab.rnaseq.io import Contrast
from fmslab.rnaseq.singlecell import (
    celltype_expression_stats,
    de_per_celltype,
    pseudobulk,
    sample_sheet_from_obs,
)

DATA = "data/rnaseq/cerebellum_gse96870"


@pytest.fixture(scope="module")
def cells(shared_dir):
    """Cells made by splitting real bulk counts (6 samples x 400 genes) multinomially: cell type
    'NP' gets the real counts of each sample split over 15 cells, 'NF' the same counts split over
    12 cells with genes shuffled; the pseudobulk of 'NP' must give the bulk matrix back."""
    import anndata as ad

    counts = pd.read_csv(shared_dir / DATA / "GSE96870_counts_cerebellum.csv", index_col=0)
    sheet = pd.read_csv(shared_dir / DATA / "reference/cerebellum_small/coldata.csv", index_col=0)
    bulk = counts[sheet.index]
    bulk = bulk[bulk.sum(axis=1) >= 50].iloc[:400]
    rng = np.random.default_rng(0)
    rows, obs = [], []
    for sample in bulk.columns:
        for ct, n_cells, perm in (("NP", 15, None), ("NF", 12, rng.permutation(len(bulk)))):
            total = bulk[sample].to_numpy()
            total = total if perm is None else total[perm]
            split = np.stack([rng.multinomial(t, np.full(n_cells, 1 / n_cells)) for t in total])
            rows.append(split.T)
            obs += [
                {
                    "sample": sample,
                    "cell_type": ct,
                    "time": sheet.at[sample, "time"],
                    "sex": sheet.at[sample, "sex"],
                }
                for _ in range(n_cells)
            ]
    x = np.vstack(rows).astype(np.float32)
    adata = ad.AnnData(X=x, obs=pd.DataFrame(obs, index=[f"c{i}" for i in range(len(obs))]))
    adata.var_names = list(bulk.index)
    return adata, bulk, sheet


def test_pseudobulk_recovers_bulk(cells):
    adata, bulk, _ = cells
    pb, n_cells = pseudobulk(adata, sample_key="sample", celltype_key="cell_type", min_cells=10)
    assert set(pb) == {"NP", "NF"}
    np_counts = pb["NP"][bulk.columns]
    assert (np_counts.to_numpy() == bulk.to_numpy()).all()
    assert (n_cells["NP"] == 15).all() and (n_cells["NF"] == 12).all()
    pb13, _ = pseudobulk(adata, sample_key="sample", celltype_key="cell_type", min_cells=13)
    assert set(pb13) == {"NP"}  # NF groups (12 cells) fall below min_cells


def test_de_per_celltype_equals_bulk_de(cells):
    adata, bulk, sheet = cells
    pb, _ = pseudobulk(adata, sample_key="sample", celltype_key="cell_type")
    samples = sample_sheet_from_obs(adata, "sample", ["time", "sex"])
    contrast = [Contrast("d8", "time", "Day0", "Day8")]
    per = de_per_celltype({"NP": pb["NP"]}, samples, "~ time", contrast, shrink=False)
    direct = run_de(bulk, sheet.astype(str), "~ time", contrast, shrink=False)
    a = per["NP"].results["d8"].loc[bulk.index]
    b = direct.results["d8"]
    # identical input counts and design -> identical numbers (column order of samples aside)
    np.testing.assert_allclose(a["log2FoldChange"], b["log2FoldChange"], rtol=1e-8, atol=1e-10)


def test_dot_plot_statistics(cells):
    adata, _, _ = cells
    genes = list(adata.var_names[:5])
    frac, mean = celltype_expression_stats(adata, "cell_type", genes)
    x = adata.X
    lab = adata.obs["cell_type"].to_numpy()
    g0 = list(adata.var_names).index(genes[0])
    assert frac.at[genes[0], "NP"] == pytest.approx((x[lab == "NP", g0] > 0).mean())
    lib = x.sum(axis=1)
    hand = np.log1p(x[lab == "NF", g0] / lib[lab == "NF"] * 1e4).mean()
    assert mean.at[genes[0], "NF"] == pytest.approx(hand, rel=1e-5)  # float32 input
    fig = plots.dot_plot(frac, mean)
    assert len(fig.axes) == 2
