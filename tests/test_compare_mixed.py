"""Mixed-model validation against R lme4, Julia MixedModels.jl and closed-form ANOVA estimators.

Data: the ``Pastes`` data of lme4 (10 batches x 3 casks x 2 samples, strength of a paste), shipped
with statsmodels' test suite as ``pastes.csv``. Batch plays the donor, cask the mouse within donor,
the two samples the cells: exactly the donor > mouse > cell nesting of a passive-transfer study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
from scipy import stats

from fmslab.compare.mixed import fit_lmm

PASTES = Path(statsmodels.__file__).parent / "regression" / "tests" / "results" / "pastes.csv"


@pytest.fixture(scope="module")
def pastes() -> pd.DataFrame:
    return pd.read_csv(PASTES)


def _nested_anova(df: pd.DataFrame, y: str, top: str, mid: str) -> tuple[float, float, float]:
    """Mean squares of a balanced two-level nested ANOVA, by hand."""
    a = df[top].nunique()
    c = df.groupby(top)[mid].nunique().iloc[0]
    n = df.groupby([top, mid]).size().iloc[0]
    grand = df[y].mean()
    top_mean = df.groupby(top)[y].transform("mean")
    mid_mean = df.groupby([top, mid])[y].transform("mean")
    ms_top = ((top_mean - grand) ** 2).sum() / (a - 1)
    ms_mid = ((mid_mean - top_mean) ** 2).sum() / (a * (c - 1))
    ms_err = ((df[y] - mid_mean) ** 2).sum() / (a * c * (n - 1))
    return ms_top, ms_mid, ms_err


def test_pastes_reml_matches_lme4(pastes: pd.DataFrame) -> None:
    # R: lmer(strength ~ (1|batch) + (1|batch:cask), Pastes); values quoted in statsmodels'
    # test_lme.py (test_pastes_vcomp). lme4 prints 4 significant digits, so rtol 1e-3 is the
    # rounding of the reference, not slack in the fit.
    r = fit_lmm(pastes, "strength", group=None, levels=("batch", "cask"), reference=None)
    assert r.converged and not any("singular" in w for w in r.warnings)
    assert r.estimate == pytest.approx(60.0533, rel=1e-5)
    assert r.se == pytest.approx(0.6769, rel=1e-3)
    assert r.variances["batch"] == pytest.approx(1.657, rel=1e-3)
    assert r.variances["residual"] == pytest.approx(0.678, rel=1e-3)


def test_pastes_reml_equals_anova_closed_form(pastes: pd.DataFrame) -> None:
    # Balanced nested design with positive ANOVA estimates: REML = ANOVA (method of moments)
    # estimator exactly; residual differences are the optimiser's tolerance (~1e-5 relative).
    ms_top, ms_mid, ms_err = _nested_anova(pastes, "strength", "batch", "cask")
    r = fit_lmm(pastes, "strength", group=None, levels=("batch", "cask"), reference=None)
    assert r.variances["residual"] == pytest.approx(ms_err, rel=1e-4)
    assert r.variances["cask"] == pytest.approx((ms_mid - ms_err) / 2, rel=1e-4)
    assert r.variances["batch"] == pytest.approx((ms_top - ms_mid) / 6, rel=1e-3)
    # SE of the grand mean in a balanced nested design: sqrt(MS_top / N).
    assert r.se == pytest.approx(np.sqrt(ms_top / len(pastes)), rel=1e-4)


def test_pastes_ml_matches_mixedmodels_jl(pastes: pd.DataFrame) -> None:
    # Julia MixedModels.jl test suite (ML fit of strength ~ (1|sample) + (1|batch)):
    # deviance 247.99446595133628, stderr 0.6421028764099568, sd(sample) 2.9040438837658265,
    # sd(batch) 1.0948966747384568. The deviance agrees to 1e-9; the likelihood is very flat
    # along the batch variance, so the optimisers stop 3e-4 apart there: rtol 1e-3 on the sds/SE.
    r = fit_lmm(
        pastes, "strength", group=None, levels=("batch", "cask"), reference=None, reml=False
    )
    assert -2 * r.log_likelihood == pytest.approx(247.99446595133628, rel=1e-8)
    assert r.se == pytest.approx(0.6421028764099568, rel=1e-3)
    assert np.sqrt(r.variances["cask"]) == pytest.approx(2.9040438837658265, rel=1e-3)
    assert np.sqrt(r.variances["batch"]) == pytest.approx(1.0948966747384568, rel=1e-3)


def test_group_effect_equals_t_test_on_donor_means(pastes: pd.DataFrame) -> None:
    # For a donor-level factor in a balanced design, the REML estimate is the difference of donor
    # means and the t test with n_donors - 2 df equals Student's t test on the donor means.
    df = pastes.assign(group=np.where(pastes["batch"].isin(list("ABCDE")), "HC", "FMS"))
    r = fit_lmm(df, "strength", group="group", levels=("batch", "cask"), reference="HC")
    means = df.groupby("batch").agg(y=("strength", "mean"), g=("group", "first"))
    ref = stats.ttest_ind(means.y[means.g == "FMS"], means.y[means.g == "HC"])
    assert r.estimate == pytest.approx(
        means.y[means.g == "FMS"].mean() - means.y[means.g == "HC"].mean(), rel=1e-6
    )
    assert r.df == 8
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-4)
    assert r.p == pytest.approx(ref.pvalue, rel=1e-4)
    ci = ref.confidence_interval()
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-4)


def test_singular_fit_is_reported() -> None:
    # Donor means made exactly equal within each group: the between-donor mean square is smaller
    # than the within-donor one, so the REML donor variance sits on the boundary (0).
    rng = np.random.default_rng(7)
    rows = []
    for g in ("HC", "FMS"):
        for d in range(4):
            noise = rng.normal(size=(3, 5))
            noise -= noise.mean()
            for m in range(3):
                for c in range(5):
                    rows.append(
                        (g, f"{g}{d}", f"{g}{d}m{m}", noise[m, c] + (1.0 if g == "FMS" else 0.0))
                    )
    df = pd.DataFrame(rows, columns=["group", "donor_id", "mouse_id", "y"])
    r = fit_lmm(df, "y", group="group", levels=("donor_id", "mouse_id"), reference="HC")
    assert any("singular fit: 'donor_id'" in w for w in r.warnings), r.warnings


def test_singular_fit_lands_on_the_boundary_optimum() -> None:
    # With the donor variance at 0 the REML likelihood must equal that of the model without the
    # donor level (mouse random intercept only): an independent check that the refit reached the
    # boundary optimum rather than stopping where the gradient optimiser stalled.
    rng = np.random.default_rng(7)
    rows = []
    for g in ("HC", "FMS"):
        for d in range(4):
            noise = rng.normal(size=(3, 5))
            noise -= noise.mean()
            for m in range(3):
                for c in range(5):
                    rows.append((g, f"{g}{d}", f"{g}{d}m{m}", noise[m, c] + (g == "FMS")))
    df = pd.DataFrame(rows, columns=["group", "donor_id", "mouse_id", "y"])
    full = fit_lmm(df, "y", group="group", levels=("donor_id", "mouse_id"), reference="HC")
    reduced = fit_lmm(df, "y", group="group", levels=("mouse_id",), reference="HC")
    assert full.log_likelihood == pytest.approx(reduced.log_likelihood, abs=1e-5)
    assert full.estimate == pytest.approx(1.0, abs=1e-9)  # donor means differ by exactly 1
