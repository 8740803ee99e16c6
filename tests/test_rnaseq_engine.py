"""Stages of the DE engine (fmslab.rnaseq.engine, .design) against independent references:
hand calculations, statsmodels' GLM and multiple-testing code, and R's model.matrix names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmslab.rnaseq import engine as eng
from fmslab.rnaseq.design import model_matrix
from fmslab.rnaseq.io import Contrast


def test_size_factors_by_hand():
    # Genes with a zero are ignored; geometric means of (1,4) and (2,8) are 2 and 4: ratios
    # per sample (0.5, 0.5) and (2, 2) -> medians 0.5 and 2.
    counts = np.array([[1, 4], [2, 8], [0, 5]])
    assert eng.size_factors(counts) == pytest.approx([0.5, 2.0])


def test_bh_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(1)
    p = rng.uniform(size=200) ** 2
    p[::17] = np.nan
    ok = ~np.isnan(p)
    expected = multipletests(p[ok], method="fdr_bh")[1]
    assert eng.bh_adjust(p)[ok] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(eng.bh_adjust(p)[~ok]).all()


def test_glm_matches_statsmodels_negative_binomial():
    # The IRLS optimum with a 1e-6 ridge equals statsmodels' NB GLM MLE (fixed alpha, offset
    # log size factor) to ~1e-6; both maximise the same likelihood.
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(12), np.repeat([0.0, 1.0], 6), np.tile([0.0, 1.0], 6)])
    sf = rng.uniform(0.6, 1.5, 12)
    alpha = 0.1
    mu = sf * np.exp(x @ np.array([4.0, 1.0, -0.5]))
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu))
    fit = eng.fit_glm(y[None, :], sf, x, np.array([alpha]))
    ref = sm.GLM(y, x, family=sm.families.NegativeBinomial(alpha=alpha), offset=np.log(sf)).fit()
    assert fit.beta[0] == pytest.approx(ref.params, abs=1e-5)
    # the Wald SE is the inverse Fisher information (ridge negligible)
    assert np.sqrt(np.diag(fit.cov[0])) == pytest.approx(ref.bse, rel=1e-4)
    assert fit.converged[0]


def test_model_matrix_names_and_order_follow_r():
    # R: colnames(model.matrix(~ sex + time + sex:time)) with DESeq2's resultsNames
    meta = pd.DataFrame(
        {
            "sex": pd.Categorical(["F", "M"] * 3, categories=["F", "M"]),
            "time": pd.Categorical(["D0", "D0", "D4", "D4", "D8", "D8"], ["D0", "D4", "D8"]),
        }
    )
    mm = model_matrix("~ sex * time", meta)
    assert mm.columns == [
        "Intercept",
        "sex_M_vs_F",
        "time_D4_vs_D0",
        "time_D8_vs_D0",
        "sexM.timeD4",
        "sexM.timeD8",
    ]
    assert mm.matrix[:, 5].tolist() == [0, 0, 0, 0, 0, 1]


def test_contrast_between_two_non_reference_levels():
    from fmslab.rnaseq.de import PreparedDesign, contrast_vector

    meta = pd.DataFrame({"g": pd.Categorical(list("aabbcc"), categories=list("abc"))})
    mm = model_matrix("~ g", meta)
    c = contrast_vector(Contrast("c_b", "g", "b", "c"), mm)
    assert c.tolist() == [0, -1, 1]
    num = contrast_vector(Contrast.parse("coef:g_b_vs_a*0.5+g_c_vs_a*0.5"), mm)
    assert num.tolist() == [0, 0.5, 0.5]
    assert PreparedDesign  # the dataclass the stages pass on


def test_trend_recovers_known_coefficients():
    # Dispersions exactly on a0 + a1/mean (times mild noise) give the coefficients back.
    rng = np.random.default_rng(5)
    mean = np.exp(rng.uniform(0, 9, 4000))
    disp = (0.02 + 2.0 / mean) * np.exp(rng.normal(0, 0.05, mean.size))
    tr = eng.fit_trend(mean, disp)
    assert tr.kind == "parametric"
    assert tr.asympt_disp == pytest.approx(0.02, rel=0.03)
    assert tr.extra_pois == pytest.approx(2.0, rel=0.03)


def test_independent_filtering_keeps_genes_above_threshold():
    rng = np.random.default_rng(2)
    mean = np.exp(rng.uniform(-2, 8, 3000))
    p = np.where(mean > 20, rng.uniform(size=3000) ** 6, rng.uniform(size=3000))
    res = eng.independent_filtering(mean, p, 0.05)
    assert np.isnan(res.padj[mean < res.threshold]).all()
    assert np.isfinite(res.padj[mean > res.threshold]).all()
    assert res.threshold > 0


def test_prepare_design_refuses_bad_designs():
    from fmslab.errors import InputError
    from fmslab.rnaseq.de import prepare_design

    sheet = pd.DataFrame({"g": list("aabb"), "batch": list("xxyy")}, index=list("ABCD"))
    con = [Contrast("b", "g", "a", "b")]
    with pytest.raises(InputError, match="rank deficient"):
        prepare_design(sheet, "~ batch + g", con)  # batch is g relabelled
    with pytest.raises(InputError, match="not a sample-sheet column"):
        prepare_design(sheet, "~ age + g", con)
    sheet["sex"] = list("fmfm")
    with pytest.raises(InputError, match="must drop terms"):
        prepare_design(sheet, "~ sex + g", con, reduced="~ batch")
    ok = prepare_design(sheet, "~ sex + g", con, reduced="~ sex")
    assert ok.full.columns == ["Intercept", "sex_m_vs_f", "g_b_vs_a"]
    assert ok.reduced.columns == ["Intercept", "sex_m_vs_f"]


def test_outlier_count_replaced_by_trimmed_mean():
    # Two groups of 7 (cells >= 7: replacement applies). Gene 0 has one count 100x its group;
    # the replacement is trunc(20%-trimmed mean of normalised counts * size factor) (hand
    # calculation below), the other genes are untouched.
    from fmslab.rnaseq.de import estimate_dispersions, fit_and_refit, prepare_design

    rng = np.random.default_rng(4)
    sheet = pd.DataFrame({"g": ["a"] * 7 + ["b"] * 7}, index=[f"s{i}" for i in range(14)])
    prepared = prepare_design(sheet, "~ g", [Contrast("b", "g", "a", "b")])
    mu = rng.uniform(50, 500, size=(300, 1)) * np.exp(rng.normal(0, 0.2, size=(1, 14)))
    counts = rng.negative_binomial(10, 10 / (10 + mu)).astype(float)
    counts[0, 3] = counts[0].max() * 100
    disp = estimate_dispersions(counts, prepared.full.matrix)
    model = fit_and_refit(counts, prepared, disp)
    assert model.replaced[0]
    sf = disp.size_factors
    from scipy.stats import trim_mean

    expected = np.trunc(trim_mean(counts[0] / sf, 0.2) * sf[3])
    assert model.counts[0, 3] == expected
    assert (model.counts[~model.replaced] == counts[~model.replaced]).all()


def test_weighted_quantile_is_quantile_of_repeated_sample():
    # Integer frequency weights: the same as numpy's type-7 quantile of the expanded sample.
    from fmslab.rnaseq.shrink import weighted_quantile

    rng = np.random.default_rng(8)
    x = rng.normal(size=40)
    w = rng.integers(1, 5, size=40).astype(float)
    expanded = np.repeat(x, w.astype(int))
    for p in (0.05, 0.5, 0.95):
        assert weighted_quantile(x, w, p) == pytest.approx(np.quantile(expanded, p), rel=1e-12)
