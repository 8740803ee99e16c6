"""Per-donor shrunken effects (fixef(group) + ranef(donor)) against R lme4.

Reference: tests/data/donors/lme4_reference.R (lme4 1.1.31, R 4.2.2) on the committed input
CSVs; CI has no R, the test reads the committed table donors_lme4.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmslab.donors.effects import donor_effects, fit_donor_model

DATA = Path(__file__).parent / "data" / "donors"
CASES = [("y", "donors_input.csv", "mouse_id"), ("y_mouse", "donors_input_mice.csv", None)]


def _reference(outcome: str) -> pd.DataFrame:
    ref = pd.read_csv(DATA / "donors_lme4.csv")
    return ref[ref["outcome"] == outcome].set_index("donor_id")


@pytest.mark.parametrize(("outcome", "file", "mouse"), CASES)
def test_henderson_solution_equals_lme4_at_lme4_variances(outcome, file, mouse):
    """With lme4's variance components plugged in, fixef and ranef are the exact solution of
    the same mixed model equations: equal to lme4 up to its printed double precision and its
    internal (penalised least squares) rounding, ~1e-8 on effects of size ~10."""
    ref = _reference(outcome)
    data = pd.read_csv(DATA / file)
    v = ref.iloc[0]
    variances = {"donor": v["var_donor"], "residual": v["var_residual"]}
    if mouse:
        variances["mouse"] = v["var_mouse"]
    fit = fit_donor_model(data, outcome, mouse=mouse, reference="HC", variances=variances)
    assert fit.fixed["(Intercept)"] == pytest.approx(v["intercept"], abs=1e-7)
    got = fit.random.reindex(ref.index)
    np.testing.assert_allclose(got, ref["random_effect"], atol=1e-7)


@pytest.mark.parametrize(("outcome", "file", "mouse"), CASES)
def test_shrunken_effects_equal_lme4(outcome, file, mouse):
    """Full REML fit (statsmodels) vs lme4: the two optimisers stop at slightly different
    points of a flat REML surface (variance components agree to ~1e-4 relative), which moves
    the BLUPs by ~1e-4 here; 2e-3 absolute is 0.02 % of the largest effect (~12), far below
    any difference that matters for a donor call."""
    ref = _reference(outcome)
    data = pd.read_csv(DATA / file)
    eff = donor_effects(data, outcome, reference="HC", mouse=mouse, n_boot=50).set_index("donor_id")
    eff = eff.reindex(ref.index)
    assert (eff["group"] == ref["group"]).all()
    np.testing.assert_allclose(eff["effect_shrunken"], ref["effect_shrunken"], atol=2e-3)
    np.testing.assert_allclose(eff["fixed_effect"], ref["fixed_effect"], atol=2e-3)
    # the control donors' effect is their random effect alone
    hc = eff["group"] == "HC"
    np.testing.assert_allclose(eff.loc[hc, "effect_shrunken"], eff.loc[hc, "random_effect"])
