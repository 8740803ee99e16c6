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

DATA = "rnaseq/cerebellum_gse96870"


@pytest.fixture(scope="module")
def cells(test_data):
    """Cells made by splitting real bulk counts (6 samples x 400 genes) multinomially: cell type
    'NP' gets the real counts of each sample split over 15 cells, 'NF' the same counts split over
    12 cells with genes shuffled; the pseudobulk of 'NP' must give the bulk matrix back."""
    import anndata as ad

    counts = pd.read_csv(test_data(f"{DATA}/GSE96870_counts_cerebellum.csv"), index_col=0)
    sheet = pd.read_csv(test_data(f"{DATA}/reference/cerebellum_small/coldata.csv"), index_col=0)
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


def test_singlecell_cli(cells, tmp_path):
    import os
    import subprocess
    import sys

    from conftest import REPO

    adata, bulk, _ = cells
    a = adata.copy()
    a.var_names = ["Scn9a", "Piezo2"] + list(a.var_names[2:])  # two channel symbols
    a.write_h5ad(tmp_path / "cells.h5ad")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "fmslab",
            "rnaseq",
            "singlecell",
            "--h5ad",
            tmp_path / "cells.h5ad",
            "--sample-key",
            "sample",
            "--design",
            "~ time",
            "--contrast",
            "time,Day8,Day0",
            "--out",
            tmp_path / "sc",
            "--n-cpus",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    de_np = pd.read_csv(tmp_path / "sc" / "de_NP_time_Day8_vs_Day0.csv")
    assert len(de_np) == (bulk.sum(axis=1) > 0).sum()
    expr = pd.read_csv(tmp_path / "sc" / "channel_expression_by_celltype.csv")
    from fmslab.rnaseq.channels import load_channel_set

    channels = set(load_channel_set()["symbol"])
    assert {"Scn9a", "Piezo2"} <= set(expr["gene"])
    assert set(expr["gene"]) == channels & set(a.var_names)
    assert (tmp_path / "sc" / "channel_dotplot.pdf").is_file()
