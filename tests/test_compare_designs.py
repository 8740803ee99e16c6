"""The k-group engine against R lme4 + lmerTest + emmeans on three unbalanced real-shaped designs.

Inputs and reference: tests/data/compare/design_*.csv (made by make_designs.py) and
designs_reference.csv (made by designs_reference.R; R is needed only to remake it). Designs:
k = 4 groups with donor and cell covariates (donor > mouse > cell); a von Frey-like time course
(donor > mouse > day, day as factor, linear and natural spline); an in-vitro design (donor > dish
> cell, no mice).

Tolerances (measured maximum deviations over 69 contrasts / per-day contrasts and 8 F tests in
brackets; both sides fit the same REML criterion, bobyqa run to rhoend 1e-12 in R, L-BFGS-B +
Newton polish here):
- estimates 1e-6 relative, or 1e-6 of their SE when the estimate is near 0 (max 1.1e-8 SE;
  3.5e-5 relative for a day-0 difference of 3e-5);
- SE 1e-6 relative (1.2e-8); F 1e-5 relative (2.8e-8);
- Satterthwaite df 1e-3 absolute or 2e-5 relative (t tests: 1.4e-6). fmslab's gradient and
  Hessian are analytic, lmerTest's numerical (numDeriv): the one larger deviation is the 9-df
  spline interaction F test, whose denominator df combines nine Satterthwaite df: 178.4503 vs
  178.4470 (1.85e-5 relative);
- p 1e-4 relative or 1e-7 absolute (t tests 3e-7 relative; that F test's p is 2.3e-14);
- REML log-likelihood 1e-8 absolute (not for the spline: REML depends on the scaling of X, and
  our spline basis differs from R's B-spline form; the fitted model is the same).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmslab.compare import Hierarchy, compare_outcomes
from fmslab.compare.design import Contrast, DaySpec, build_design
from fmslab.compare.engine import _lower_codes
from fmslab.compare.lmm import fit_mixed

DATA = Path(__file__).resolve().parent / "data" / "compare"
THREE = ["RA_FMS - RA_noFMS", "RA_FMS - HC", "FMS - HC"]
G4 = ["HC", "FMS", "RA_FMS", "RA_noFMS"]

CASES = {
    ("k4", "cells"): dict(
        file="design_k4.csv", y="rheobase_pA", levels=("donor_id", "mouse_id"), groups=G4,
        covariates=["age", "sex", "igg_batch", "capacitance_pF"], day=None, contrasts=THREE,
    ),
    ("invitro", "cells"): dict(
        file="design_invitro.csv", y="rheobase_pA", levels=("donor_id", "dish_id"),
        groups=["HC", "FMS", "RA_FMS"], covariates=["igg_batch", "capacitance_pF"], day=None,
        contrasts=["FMS - HC", "RA_FMS - HC", "RA_FMS - FMS"],
    ),
    **{
        ("timecourse", m): dict(
            file="design_timecourse.csv", y="log10_threshold_g", levels=("donor_id", "mouse_id"),
            groups=G4, covariates=["sex"], day=DaySpec("day", m), contrasts=THREE,
        )
        for m in ("factor", "linear", "spline")
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    ref = pd.read_csv(DATA / "designs_reference.csv")
    ref["contrast"] = ref["contrast"].fillna("")
    return ref


@pytest.fixture(scope="module")
def fits() -> dict:
    out = {}
    for key, case in CASES.items():
        df = pd.read_csv(DATA / case["file"])
        des = build_design(df, group="group", groups=case["groups"], reference="HC",
                           covariates=case["covariates"], day=case["day"],
                           top=case["levels"][0])  # fmt: skip
        codes, names, _ = _lower_codes(df, case["levels"])
        fit = fit_mixed(df[case["y"]].to_numpy(float), des.x, des.names,
                        df[case["levels"][0]].to_numpy(), codes, names)  # fmt: skip
        out[key] = (des, fit)
    return out


def _ref(reference, key, test, contrast="", quantity="value", day=None) -> float:
    r = reference[(reference.dataset == key[0]) & (reference.model == key[1])]
    r = r[(r.test == test) & (r.contrast == contrast) & (r.quantity == quantity)]
    if day is not None:
        r = r[r.day == day]
    assert len(r) == 1, (key, test, contrast, quantity, day)
    return float(r.value.iloc[0])


def _close_df(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= max(1e-3, 2e-5 * abs(theirs))


def _close_p(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= max(1e-7, 1e-4 * abs(theirs))


@pytest.mark.parametrize("key", list(CASES))
def test_variances_and_likelihood_match_lmer(key, fits, reference) -> None:
    _, fit = fits[key]
    names = {"donor_id": "donor_id", "residual": "Residual"}
    for name, value in fit.variances.items():
        rname = names.get(name, f"donor_id:{name}")
        assert value == pytest.approx(_ref(reference, key, "variance", rname), rel=1e-4)
    if key[1] != "spline":
        assert fit.reml_loglik == pytest.approx(
            _ref(reference, key, "fit", quantity="reml_loglik"), abs=1e-8
        )


@pytest.mark.parametrize("key", list(CASES))
def test_omnibus_f_matches_lmertest(key, fits, reference) -> None:
    des, fit = fits[key]
    f = fit.ftest(des.omnibus_rows())
    assert f.df_num == _ref(reference, key, "omnibus", quantity="df_num")
    assert f.statistic == pytest.approx(_ref(reference, key, "omnibus", quantity="F"), rel=1e-5)
    assert _close_df(f.df_den, _ref(reference, key, "omnibus", quantity="df_den"))
    assert _close_p(f.p, _ref(reference, key, "omnibus", quantity="p"))


@pytest.mark.parametrize("key", list(CASES))
def test_planned_contrasts_match_emmeans(key, fits, reference) -> None:
    des, fit = fits[key]
    for spec in CASES[key]["contrasts"]:
        c = Contrast.parse(spec)
        r = fit.contrast(des.contrast_row(c))
        est = _ref(reference, key, "contrast", c.name, "estimate")
        se = _ref(reference, key, "contrast", c.name, "SE")
        assert r.estimate == pytest.approx(est, rel=1e-6, abs=1e-6 * se)
        assert r.se == pytest.approx(se, rel=1e-6)
        assert _close_df(r.df, _ref(reference, key, "contrast", c.name, "df"))
        assert _close_p(r.p, _ref(reference, key, "contrast", c.name, "p.value"))
        lo, hi = r.ci(0.95)
        assert lo == pytest.approx(_ref(reference, key, "contrast", c.name, "lower.CL"), rel=1e-5)
        assert hi == pytest.approx(_ref(reference, key, "contrast", c.name, "upper.CL"), rel=1e-5)


@pytest.mark.parametrize("key", [k for k in CASES if k[0] == "timecourse"])
def test_group_x_day_and_per_day_contrasts_match(key, fits, reference) -> None:
    des, fit = fits[key]
    f = fit.ftest(des.interaction_rows())
    assert f.df_num == _ref(reference, key, "group_x_day", quantity="df_num")
    assert f.statistic == pytest.approx(_ref(reference, key, "group_x_day", quantity="F"), rel=1e-5)
    assert _close_df(f.df_den, _ref(reference, key, "group_x_day", quantity="df_den"))
    assert _close_p(f.p, _ref(reference, key, "group_x_day", quantity="p"))
    for spec in THREE:
        c = Contrast.parse(spec)
        for d in des.days:
            r = fit.contrast(des.contrast_row(c, d))
            se = _ref(reference, key, "per_day", c.name, "SE", d)
            est = _ref(reference, key, "per_day", c.name, "estimate", d)
            assert r.estimate == pytest.approx(est, rel=1e-6, abs=1e-6 * se)
            assert r.se == pytest.approx(se, rel=1e-6)
            assert _close_df(r.df, _ref(reference, key, "per_day", c.name, "df", d))
            assert _close_p(r.p, _ref(reference, key, "per_day", c.name, "p.value", d))


def test_engine_table_carries_the_r_numbers_and_holm(reference) -> None:
    """The public engine (compare_outcomes) reports the same numbers, Holm over the contrasts and
    per-day contrasts Holm over contrasts x days (R's p.adjust)."""
    key = ("timecourse", "factor")
    df = pd.read_csv(DATA / "design_timecourse.csv")
    t = compare_outcomes(df, ["log10_threshold_g"], hierarchy=Hierarchy(), contrasts=THREE,
                         covariates=["sex"], day=DaySpec("day", "factor"), groups=G4,
                         n_resamples=50)  # fmt: skip
    om = t[(t.test == "omnibus")].iloc[0]
    assert om["statistic"] == pytest.approx(_ref(reference, key, "omnibus", quantity="F"), rel=1e-5)
    sat = t[(t.test == "contrast") & (t.model == "lmm_satterthwaite")].set_index("contrast")
    raw = [_ref(reference, key, "contrast", c, "p.value") for c in THREE]
    holm = np.minimum(1, np.maximum.accumulate(np.sort(raw) * np.arange(3, 0, -1)))
    expect = dict(zip(np.array(THREE)[np.argsort(raw)], holm, strict=True))  # Holm by hand
    for c in THREE:
        assert _close_p(sat.loc[c, "p"], _ref(reference, key, "contrast", c, "p.value"))
        assert sat.loc[c, "p_adj"] == pytest.approx(expect[c], rel=1e-4)
        assert sat.loc[c, "unit"] == "donor"
    per_day = t[t.test == "per_day"]
    assert len(per_day) == 3 * 6 and per_day["primary"].all()
    for row in per_day.itertuples():
        ref_holm = _ref(reference, key, "per_day", row.contrast, "p_holm", row.day)
        assert _close_p(row.p_adj, ref_holm)
    gxd = t[t.test == "group_x_day"].iloc[0]
    assert _close_p(gxd["p"], _ref(reference, key, "group_x_day", quantity="p"))
    assert (t["unit"].dropna() != "").all() and t["unit"].notna().all()
