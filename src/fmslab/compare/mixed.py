"""Linear mixed models with nested random intercepts (statsmodels ``MixedLM``).

Model for an outcome ``y`` of row ``i`` (cell) in mouse ``m`` of donor ``d``::

    y_idm = b0 + b1 * [group_d == treatment] + u_d + v_dm + e_idm
    u_d ~ N(0, s2_donor),  v_dm ~ N(0, s2_mouse),  e_idm ~ N(0, s2_resid)

fitted by REML. The donor is the ``groups`` argument of MixedLM (random intercept) and each deeper
level (mouse within donor, ...) is a variance component (``exog_vc``), which is how statsmodels
expresses lme4's ``(1 | donor) + (1 | donor:mouse)``.

Inference on ``b1`` uses a t distribution with ``n_donors - 2`` degrees of freedom (the
"containment" df: the group is a donor-level factor, so the donors are the replicates). In a
balanced design this equals the Satterthwaite df of lmerTest and makes the test identical to a
Student t test on donor means; statsmodels' own p-value (normal reference) is anti-conservative with
few donors and is not used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

from fmslab.compare.satterthwaite import fixed_effect_cov, satterthwaite_df

#: A variance component below this fraction of the total variance is called a singular fit.
SINGULAR_REL_TOL = 1e-6


@dataclass
class LmmResult:
    """Treatment - reference difference from a mixed model, with its diagnostics."""

    estimate: float = np.nan
    se: float = np.nan
    statistic: float = np.nan
    df: float = np.nan
    p: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    intercept: float = np.nan
    log_likelihood: float = np.nan
    variances: dict[str, float] = field(default_factory=dict)
    df_satterthwaite: float = np.nan
    p_satterthwaite: float = np.nan
    converged: bool = False
    warnings: list[str] = field(default_factory=list)


def _design(
    df: pd.DataFrame,
    outcome: str,
    group: str | None,
    levels: tuple[str, ...],
    reference: str | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, VCSpec | None, list[str]]:
    notes: list[str] = []
    y = df[outcome].to_numpy(float)
    x = np.ones((len(df), 1))
    if group is not None:
        x = np.column_stack([x, (df[group] != reference).to_numpy(float)])
    groups = df[levels[0]].to_numpy()
    names: list[str] = []
    colnames: list[list[list[str]]] = []
    mats: list[list[np.ndarray]] = []
    # MixedLM orders its groups by sorted label; the matrices must follow that order.
    top_labels = sorted(set(groups))
    for depth, level in enumerate(levels[1:], start=2):
        # A level whose every cluster holds one row is confounded with the residual: drop it.
        if df.groupby(list(levels[:depth]), sort=False).size().max() <= 1:
            notes.append(
                f"'{level}' has one row per unit: its variance is the residual; component dropped"
            )
            continue
        names.append(level)
        colnames.append([])
        mats.append([])
        for g in top_labels:
            units = df.loc[groups == g, list(levels[1:depth])].astype(str).agg("/".join, axis=1)
            cat = pd.Categorical(units)
            colnames[-1].append([str(c) for c in cat.categories])
            mats[-1].append(np.eye(len(cat.categories))[cat.codes])
    vc = VCSpec(names, colnames, mats) if names else None
    return y, x, groups, vc, notes


def _fit(model: MixedLM, *, reml: bool, method: list[str] | None) -> tuple[Any, list[str]]:
    """Fit, returning the result and the warnings raised while fitting (as text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(reml=reml) if method is None else model.fit(reml=reml, method=method)
    texts: list[str] = []
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0]}"
        if text not in texts:
            texts.append(text)
    return fit, texts


def _at_boundary(fit: Any) -> bool:
    values = [float(np.asarray(fit.cov_re)[0, 0]), *np.atleast_1d(fit.vcomp).tolist()]
    total = sum(values) + float(fit.scale)
    return any(v <= 1e-4 * total for v in values)


def fit_lmm(
    df: pd.DataFrame,
    outcome: str,
    *,
    group: str | None,
    levels: tuple[str, ...],
    reference: str | None,
    confidence: float = 0.95,
    reml: bool = True,
) -> LmmResult:
    """Fit the nested random-intercept model and test the group difference.

    Parameters
    ----------
    df
        One row per lowest-level unit, with ``outcome``, ``group`` and the ``levels`` columns; rows
        with a missing outcome must already be removed. The group must be constant within
        ``levels[0]`` (checked by :func:`fmslab.compare.hierarchy.check_nesting`).
    outcome, group
        Column names. ``group=None`` fits the intercept-only model (the estimate is then the
        overall mean), as used for validation against lme4.
    levels
        Clustering columns from the top down, e.g. ``("donor_id", "mouse_id")``; at least one.
    reference
        Group value used as the reference (intercept); the estimate is other - reference.
    confidence
        Confidence level of the t interval.
    reml
        REML (default, as lme4's ``lmer``) or maximum likelihood.

    Returns
    -------
    LmmResult
        Never raises for numerical problems: a failed fit returns NaNs with the reason in
        ``warnings``; convergence and boundary (singular) warnings are recorded, never hidden.
    """
    if not levels:
        raise ValueError("a mixed model needs at least one clustering level")
    res = LmmResult()
    y, x, groups, vc, notes = _design(df, outcome, group, levels, reference)
    res.warnings += notes
    n_top = int(pd.Series(groups).nunique())
    try:
        model = MixedLM(y, x, groups, exog_re=np.ones((len(y), 1)), exog_vc=vc)
        fit, caught = _fit(model, reml=reml, method=None)
        if not fit.converged or _at_boundary(fit):
            # statsmodels' gradient optimisers often stall near a zero variance (singular fit);
            # Powell's derivative-free search then finds the boundary optimum. Keep the better.
            refit, recaught = _fit(model, reml=reml, method=["powell", "lbfgs"])
            if refit.converged and refit.llf >= fit.llf - 1e-8:
                if not fit.converged:
                    res.warnings.append("default optimiser did not converge; refit with Powell")
                fit, caught = refit, recaught
    except (np.linalg.LinAlgError, ValueError) as exc:
        res.warnings.append(f"fit failed: {exc}")
        return res
    for text in caught:
        if text not in res.warnings:
            res.warnings.append(text)
    res.converged = bool(getattr(fit, "converged", False))
    if not res.converged:
        res.warnings.append("not converged")
    scale = float(fit.scale)
    res.variances = {levels[0]: float(np.asarray(fit.cov_re)[0, 0])}
    if vc:
        for name, value in zip(vc.names, np.atleast_1d(fit.vcomp), strict=True):
            res.variances[name] = float(value)
    res.variances["residual"] = scale
    total = sum(res.variances.values())
    for name, value in res.variances.items():
        if name != "residual" and value <= SINGULAR_REL_TOL * max(total, np.finfo(float).tiny):
            res.warnings.append(f"singular fit: '{name}' variance estimated at 0 (boundary)")
    res.intercept = float(fit.fe_params[0])
    res.log_likelihood = float(fit.llf)
    res.estimate = float(fit.fe_params[-1])
    lower = []
    for depth, level in enumerate(levels[1:], start=2):
        if vc is not None and level in vc.names:
            units = df[list(levels[:depth])].astype(str).agg("/".join, axis=1)
            lower.append(pd.factorize(units)[0])
    var_vector = np.array(list(res.variances.values()))
    try:
        # (X'V^-1 X)^-1 at the estimates, as lme4's vcov(); statsmodels' bse_fe is NaN when a
        # variance is on the boundary, this stays defined.
        res.se = float(np.sqrt(fixed_effect_cov(y, x, groups, lower, var_vector)[-1, -1]))
    except (np.linalg.LinAlgError, ValueError):
        res.se = float(fit.bse_fe[-1])
    res.df = float(n_top - x.shape[1])
    if res.df < 1:
        res.warnings.append(f"only {n_top} '{levels[0]}' units: no degrees of freedom for a test")
        return res
    if not np.isfinite(res.se) or res.se <= 0:
        res.warnings.append("standard error not available (Hessian not positive definite)")
        return res
    res.statistic = res.estimate / res.se
    res.p = float(2 * stats.t.sf(abs(res.statistic), res.df))
    if group is not None:
        try:
            contrast = np.zeros(x.shape[1])
            contrast[-1] = 1.0
            res.df_satterthwaite = satterthwaite_df(y, x, groups, lower, var_vector, contrast)
            res.p_satterthwaite = float(2 * stats.t.sf(abs(res.statistic), res.df_satterthwaite))
        except (np.linalg.LinAlgError, ValueError) as exc:
            res.warnings.append(f"Satterthwaite df not available: {exc}")
    half = stats.t.ppf(0.5 + confidence / 2, res.df) * res.se
    res.ci_low, res.ci_high = res.estimate - half, res.estimate + half
    return res
