"""The demo's RNA-seq counts: integers, negative-binomial spread, recoverable planted change."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from fmslab.demo.design import DemoConfig, build_design
from fmslab.demo.rnaseq import PLANTED_CHANNEL, PLANTED_LOG2FC, generate_rnaseq


@pytest.fixture(scope="module")
def big():
    # 10 donors per group x 2 tissue mice = 20 samples per group: enough to check means tightly
    cfg = DemoConfig(seed=11, n_donors_per_group=10, behaviour_mice_per_donor=0,
                     tissue_mice_per_donor=2, cells_per_mouse=1, n_genes=1500)  # fmt: skip
    design = build_design(cfg)
    return design, generate_rnaseq(design, cfg)


def _matrix(out) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(out.files["rnaseq/counts.csv"]), index_col="gene")


def _median_of_ratios(counts: pd.DataFrame) -> pd.Series:
    """DESeq2 size factors computed here by hand (Anders & Huber 2010)."""
    expressed = counts[(counts > 0).all(axis=1)]
    log_geo = np.log(expressed).mean(axis=1)
    return np.exp(np.log(expressed).sub(log_geo, axis=0).median(axis=0))


def test_counts_are_nonnegative_integers_and_files_agree(big):
    _, out = big
    m = _matrix(out)
    assert all(dt.kind == "i" for dt in m.dtypes) and (m.values >= 0).all()
    assert m.index.is_unique and {"Scn10a", "Scn11a", "Kcnq2", "Trpa1", "Piezo2", "Hcn2"} <= set(
        m.index
    )
    one = pd.read_csv(io.BytesIO(out.files["rnaseq/counts/S03.tsv"]), sep="\t", index_col="gene")
    np.testing.assert_array_equal(one["count"].to_numpy(), m["S03"].to_numpy())
    sheet = pd.read_csv(io.BytesIO(out.files["rnaseq/samples.csv"]))
    assert list(sheet["sample_id"]) == list(m.columns)
    assert "group" not in sheet.columns  # blinded: only treatment codes


def test_planted_fold_change_is_recoverable_from_means(big):
    design, out = big
    m = _matrix(out)
    sf = _median_of_ratios(m)
    # size factors estimated here track the simulated ones (sd 0.2 log): correlation > 0.9
    true_sf = out.samples.set_index("sample_id")["size_factor_true"]
    assert np.corrcoef(np.log(sf), np.log(true_sf.loc[sf.index]))[0, 1] > 0.9
    norm = m / sf
    group = out.samples.set_index("sample_id")["mouse_id"].map(
        design.mice.set_index("mouse_id")["group"]
    )
    fms, hc = norm.loc[:, group == "FMS"], norm.loc[:, group == "HC"]
    lfc = np.log2(fms.loc[PLANTED_CHANNEL].mean() / hc.loc[PLANTED_CHANNEL].mean())
    # Scn11a: mean ~1500, dispersion ~0.02 -> per-sample CV ~0.15; with 20 vs 20 samples the
    # standard error of the log2 ratio of means is ~0.07, so 0.25 is > 3 standard errors
    assert abs(lfc - PLANTED_LOG2FC) < 0.25
    truth = out.genes.set_index("gene")
    null = truth.index[
        (truth["log2fc_patient_vs_control_true"] == 0) & (truth["base_mean_true"] > 200)
    ]
    null = null.drop(["Xist", "Ddx3y", "Kdm5d", "Eif2s3y", "Uty"], errors="ignore")
    null_lfc = np.log2(fms.loc[null].mean(axis=1) / hc.loc[null].mean(axis=1))
    assert abs(float(np.median(null_lfc))) < 0.05  # unchanged genes are centred on 0
    assert float(np.mean(np.abs(null_lfc) > 0.6)) < 0.02  # and rarely look changed by chance


def test_spread_is_negative_binomial(big):
    # For NB, var = mu + a mu^2. Method-of-moments a from control samples of highly expressed
    # unchanged genes should match the simulated dispersions (median ratio within 30 %; each a is
    # estimated from the ~10 control samples of batch A, so single estimates scatter by ~45 %,
    # the median over hundreds of genes much less).
    design, out = big
    m = _matrix(out)
    sf = _median_of_ratios(m)
    group = out.samples.set_index("sample_id")["mouse_id"].map(
        design.mice.set_index("mouse_id")["group"]
    )
    batch = out.samples.set_index("sample_id")["batch"]
    truth = out.genes.set_index("gene")
    genes = truth.index[
        (truth["base_mean_true"] > 500) & ~truth["planted"] & (truth["log2fc_batch_B_true"] == 0)
    ]
    genes = genes.drop(["Xist", "Ddx3y", "Kdm5d", "Eif2s3y", "Uty"], errors="ignore")
    cols = (group == "HC") & (batch == "A")
    x = (m.loc[genes, cols] / sf[cols]).astype(float)
    mu, var = x.mean(axis=1), x.var(axis=1, ddof=1)
    a_hat = (var - mu * (1 / sf[cols]).mean()) / mu**2
    ratio = a_hat / truth.loc[genes, "dispersion_true"]
    assert 0.7 < float(np.median(ratio)) < 1.3


def test_channel_genes_are_real_mouse_channel_symbols(big, test_data):
    # the genes flagged as ion channels must be in the GtoPdb channel set or its auxiliary addendum
    # (../shared/data/genesets), so a channel ranking built from those sets can find them
    sets = test_data("genesets")
    known = set(pd.read_csv(sets / "gtopdb_ion_channels_human_mouse.csv")["MGI symbol"].dropna())
    known |= set(pd.read_csv(sets / "ion_channel_auxiliary_addendum_mouse.csv")["MGI symbol"])
    _, out = big
    channels = out.genes.loc[out.genes["is_ion_channel"], "gene"]
    assert len(channels) >= 50 and set(channels) <= known, sorted(set(channels) - known)
    assert PLANTED_CHANNEL in set(channels)
