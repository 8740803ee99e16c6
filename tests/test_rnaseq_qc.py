"""QC functions (rnaseq.qc) checked against hand calculations and scipy/numpy references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import f as f_dist

from fmslab.rnaseq import plots, qc

DATA = "rnaseq/cerebellum_gse96870"


@pytest.fixture(scope="module")
def counts(test_data) -> pd.DataFrame:
    c = pd.read_csv(test_data(f"{DATA}/GSE96870_counts_cerebellum.csv"), index_col=0)
    return c.iloc[:3000, :8]


def test_library_sizes_and_detected(counts):
    s = qc.sample_summary(counts)
    assert (s["library_size"] == counts.sum(axis=0)).all()
    assert (s["detected_genes"] == (counts > 0).sum(axis=0)).all()


def test_vst_closed_form():
    a0, a1 = 0.01, 2.0
    q = pd.DataFrame({"s": [0.0, 10.0, 1e6]})
    v = qc.vst(q, a0, a1)["s"].to_numpy()
    # q = 0: log2((1 + a1) / (4 a0)) by hand
    assert v[0] == pytest.approx(np.log2((1 + a1) / (4 * a0)))
    # large q: sqrt(a0 q (c + a0 q)) ~ a0 q + c / 2 with c = 1 + a1, so
    # vst ~ log2(q + c / (2 a0)); the neglected term is O(c^2 / (a0 q)) ~ 1e-6 here
    assert v[2] == pytest.approx(np.log2(1e6 + (1 + a1) / (2 * a0)), abs=1e-6)
    assert v[1] < v[2]


def test_pca_and_distances(counts):
    t = np.log2(counts + 1.0)
    scores, frac = qc.pca(t, ntop=500)
    top = t.loc[t.var(axis=1).sort_values(ascending=False).index[:500]].T.to_numpy()
    top = top - top.mean(axis=0)
    eig = np.sort(np.linalg.eigvalsh(top @ top.T))[::-1]
    # squared singular values = eigenvalues of the Gram matrix
    assert frac.to_numpy() == pytest.approx(eig[: len(frac)] / eig.sum(), abs=1e-10)
    np.testing.assert_allclose(
        np.abs(scores["PC1"].to_numpy()), np.abs(np.linalg.svd(top)[0][:, 0] * np.sqrt(eig[0]))
    )
    d = qc.sample_distances(t)
    np.testing.assert_allclose(d.to_numpy(), squareform(pdist(t.T.to_numpy())), atol=1e-8)
    fig = plots.pca_figure(scores, frac)
    assert fig.axes[0].get_xlabel().startswith("PC1")
    assert len(plots.distance_heatmap(d).axes) == 2


def test_cooks_summary_flags_the_outlier_sample():
    rng = np.random.default_rng(1)
    cooks = pd.DataFrame(rng.uniform(0, 0.5, size=(1000, 8)), columns=[f"s{i}" for i in range(8)])
    cutoff = f_dist.ppf(0.99, 3, 5)
    cooks.iloc[:100, 4] = cutoff + 1  # 10% of genes extreme in s4
    cooks.iloc[:3, 0] = cutoff + 1  # a few in s0: normal
    out = qc.cooks_summary(cooks, 3)
    assert out.at["s4", "cooks_cutoff"] == pytest.approx(cutoff)
    assert out["outlier"].tolist() == [False] * 4 + [True] + [False] * 3
