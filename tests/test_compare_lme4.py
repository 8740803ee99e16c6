"""Mixed models on unbalanced nested designs vs R lme4 + lmerTest (reference made by R, committed).

See tests/data/compare/README.md. Dataset ``a`` is a singular fit (donor variance 0), ``b`` has all
variance components positive.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fmslab.compare import Hierarchy, compare_outcomes
from fmslab.compare.mixed import fit_lmm

DATA = Path(__file__).resolve().parent / "data" / "compare"


def _reference(name: str) -> dict[str, float]:
    ref = pd.read_csv(DATA / "lmer_reference.csv")
    return ref[ref.dataset == name].set_index("quantity")["value"].to_dict()


@pytest.mark.parametrize("name", ["a", "b"])
def test_unbalanced_fit_matches_lmer(name: str) -> None:
    ref = _reference(name)
    df = pd.read_csv(DATA / f"unbalanced_cells_{name}.csv")
    r = fit_lmm(df, "rheobase_pA", group="group", levels=("donor_id", "mouse_id"), reference="HC")
    # Same REML criterion: the log-likelihoods agree to 1e-12 (tested at 1e-9). The two optimisers
    # stop at slightly different points of the flat optimum (variance components 1e-5 apart, 1e-7
    # in log-likelihood terms), which moves the estimate by ~1e-7 and the SE/t by ~2e-6 (measured):
    # tolerances 1e-6 and 1e-5.
    assert r.log_likelihood == pytest.approx(ref["reml_loglik"], rel=1e-9)
    assert r.estimate == pytest.approx(ref["estimate"], rel=1e-6)
    assert r.intercept == pytest.approx(ref["intercept"], rel=1e-6)
    assert r.se == pytest.approx(ref["se"], rel=1e-5)
    assert r.statistic == pytest.approx(ref["t"], rel=1e-5)
    # Variance components: 1e-4 relative (flat likelihood along them; loglik already equal).
    assert r.variances["mouse_id"] == pytest.approx(ref["var_mouse"], rel=1e-4)
    assert r.variances["residual"] == pytest.approx(ref["var_residual"], rel=1e-4)
    assert r.variances["donor_id"] == pytest.approx(ref["var_donor"], rel=1e-4, abs=1e-6)
    # Satterthwaite df: our Hessian of the REML deviance is a finite difference, lmerTest's a
    # numerical one too; measured differences 2e-6 / 7e-6 (df) and 3e-7 / 8e-6 (p): tolerance 1e-4.
    assert r.df_satterthwaite == pytest.approx(ref["df_satterthwaite"], rel=1e-4)
    assert r.p_satterthwaite == pytest.approx(ref["p_satterthwaite"], rel=1e-4)
    assert any("singular fit" in w for w in r.warnings) == bool(ref["singular"])


def test_engine_reports_both_df_choices() -> None:
    ref = _reference("b")
    df = pd.read_csv(DATA / "unbalanced_cells_b.csv")
    t = compare_outcomes(
        df, ["rheobase_pA"], hierarchy=Hierarchy(), reference="HC", n_resamples=100
    )
    rows = t.set_index("model")
    assert rows.loc["lmm", "df"] == 9  # 11 donors - 2: the primary, conservative choice
    assert rows.loc["lmm_satterthwaite", "df"] == pytest.approx(ref["df_satterthwaite"], rel=1e-4)
    assert rows.loc["lmm_satterthwaite", "p"] == pytest.approx(ref["p_satterthwaite"], rel=1e-4)
    assert rows.loc["lmm", "estimate"] == rows.loc["lmm_satterthwaite", "estimate"]
