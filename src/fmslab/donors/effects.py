"""Per-donor transfer effects: shrunken (mixed model) and unshrunken (donor mean difference).

Model, for an outcome ``y`` of row ``i`` (cell, unit or mouse) in mouse ``m`` of donor ``d``::

    y_idm = b0 + b_g(d) + u_d + v_dm + e_idm
    u_d ~ N(0, s2_donor),  v_dm ~ N(0, s2_mouse),  e_idm ~ N(0, s2_resid)

with one fixed effect ``b_g`` per non-reference group (treatment coding, the control-IgG group
is the intercept), fitted by REML with the compare engine (:func:`fmslab.compare.lmm.fit_mixed`),
as lme4's ``lmer(y ~ group + (1 | donor) + (1 | donor:mouse))``.

The *shrunken* effect of donor ``d`` is ``b_g(d) + u_d`` (its group's fixed effect plus its
predicted random effect, i.e. the donor's expected mouse mean relative to the control group).
Given the REML variance components, ``b`` and ``u`` are the solution of Henderson's mixed model
equations; the inverse of their coefficient matrix gives the joint prediction-error covariance of
``(b_hat, u_hat - u)``, so the prediction interval of ``b_g + u_d`` accounts for the uncertainty
of the fixed effect as well as of the random effect. It uses a t quantile with
``n_donors - n_groups`` degrees of freedom (the donors are the replicates; as in
:mod:`fmslab.compare.mixed`); the variance components are taken as known (the usual plug-in).

The *unshrunken* effect is the donor's mean (of its mouse means) minus the mean of the control
donors' means, with a hierarchical-bootstrap CI (:func:`fmslab.compare.bootstrap`): the
donor's mice (and cells) and the control donors (and their mice and cells) are resampled. For a
control donor the reference is the *other* control donors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

#: Columns of the per-donor effect table (:func:`donor_effects`).
EFFECT_COLUMNS = [
    "outcome",
    "donor_id",
    "group",
    "reference",
    "n_mice",
    "n_obs",
    "effect_shrunken",
    "pred_se",
    "pred_low",
    "pred_high",
    "pred_df",
    "fixed_effect",
    "random_effect",
    "effect_raw",
    "boot_low",
    "boot_high",
    "boot_se",
    "sd_total",
    "var_donor",
    "confidence",
    "warnings",
]


@dataclass
class MixedFit:
    """REML fit of the nested random-intercept model and its Henderson solution."""

    fixed: pd.Series  # intercept and one coefficient per non-reference group
    random: pd.Series  # predicted donor random effect u_d
    pev: np.ndarray  # prediction-error covariance of (b, u_donor) (fixed first, donors after)
    variances: dict[str, float]
    donors: list[str]
    groups: list[str]  # reference first
    warnings: list[str] = field(default_factory=list)


def _indicator(codes: np.ndarray, n: int) -> np.ndarray:
    z = np.zeros((len(codes), n))
    z[np.arange(len(codes)), codes] = 1.0
    return z


def _reml_variances(
    y: np.ndarray, x: np.ndarray, donor: np.ndarray, mouse: np.ndarray | None
) -> tuple[dict[str, float], list[str]]:
    """Variance components by REML with the compare engine
    (:func:`fmslab.compare.lmm.fit_mixed`: statsmodels start, polished on lme4's profiled
    criterion, exact at a zero variance)."""
    from fmslab.compare.lmm import fit_mixed

    lower = [pd.factorize(mouse)[0]] if mouse is not None else []
    names = ["donor"] + (["mouse"] if mouse is not None else [])
    fit = fit_mixed(y, x, [f"x{i}" for i in range(x.shape[1])], donor, lower, names)
    notes = list(fit.warnings)
    if not fit.converged:
        notes.append("mixed model did not converge")
    variances = {k: max(float(v), 0.0) for k, v in fit.variances.items()}
    return variances, notes


def fit_donor_model(
    df: pd.DataFrame,
    outcome: str,
    *,
    group: str = "group",
    donor: str = "donor_id",
    mouse: str | None = "mouse_id",
    reference: str,
    variances: dict[str, float] | None = None,
) -> MixedFit:
    """Fit ``outcome ~ group + (1 | donor) + (1 | donor:mouse)`` and solve Henderson's equations.

    Parameters
    ----------
    df
        One row per observation, with the outcome (no missing values), group, donor and mouse.
    outcome, group, donor, mouse
        Column names; ``mouse=None`` (or one row per mouse) drops the mouse level.
    reference
        The control-IgG group (intercept).
    variances
        Known variance components (``donor``, ``mouse``, ``residual``) instead of REML.

    Returns
    -------
    MixedFit
    """
    y = df[outcome].to_numpy(float)
    groups = [reference] + sorted(set(df[group].astype(str)) - {reference})
    gcode = df[group].astype(str).map({g: i for i, g in enumerate(groups)}).to_numpy()
    x = np.column_stack(
        [np.ones(len(y))] + [(gcode == i).astype(float) for i in range(1, len(groups))]
    )
    donors = sorted(set(df[donor].astype(str)))
    dcode = df[donor].astype(str).map({d: i for i, d in enumerate(donors)}).to_numpy()
    notes: list[str] = []
    mouse_ids = None
    if mouse is not None and mouse in df.columns:
        mouse_ids = (df[donor].astype(str) + "/" + df[mouse].astype(str)).to_numpy()
        if pd.Series(mouse_ids).value_counts().max() <= 1:
            mouse_ids = None  # one row per mouse: the mouse variance is the residual
    if variances is None:
        variances, fit_notes = _reml_variances(y, x, df[donor].astype(str).to_numpy(), mouse_ids)
        notes += fit_notes
    z_donor = _indicator(dcode, len(donors))
    blocks = [z_donor]
    s2 = variances["residual"]
    ginv = [np.full(len(donors), s2 / variances["donor"] if variances["donor"] > 0 else np.inf)]
    if mouse_ids is not None:
        mcode, mlabels = pd.factorize(mouse_ids)
        blocks.append(_indicator(mcode, len(mlabels)))
        vm = variances.get("mouse", 0.0)
        ginv.append(np.full(len(mlabels), s2 / vm if vm > 0 else np.inf))
    for name, value in variances.items():
        zero = name != "residual" and value <= 1e-8 * (sum(variances.values()) or 1.0)
        if zero and not any("singular" in n and name in n for n in notes):
            notes.append(f"singular fit: {name} variance estimated at 0")
    z = np.column_stack(blocks)
    lam = np.concatenate(ginv)
    # a zero variance: the effect is fixed at 0 (a huge penalty keeps the equations solvable)
    lam = np.where(np.isfinite(lam), lam, 1e12)
    p = x.shape[1]
    w = np.column_stack([x, z])
    lhs = w.T @ w
    lhs[p:, p:] += np.diag(lam)
    rhs = w.T @ y
    sol = np.linalg.solve(lhs, rhs)
    pev = np.linalg.inv(lhs) * s2  # Henderson: Cov(b_hat, u_hat - u) = s2 * C^-1
    k = p + len(donors)
    fixed = pd.Series(sol[:p], index=["(Intercept)"] + groups[1:])
    random = pd.Series(sol[p:k], index=donors)
    return MixedFit(fixed, random, pev[:k, :k], dict(variances), donors, groups, notes)


def _donor_tree(sub: pd.DataFrame, outcome: str, levels: tuple[str, ...]):
    from fmslab.compare.bootstrap import build_tree

    return build_tree(sub[outcome], sub, levels)


def _raw_effect(
    reference: list,
    donor_node,
    *,
    depth: int,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[float, float, float, float]:
    """Donor mean minus the mean of the reference donors' means, with a hierarchical-bootstrap
    percentile CI: the reference donors are resampled at every level (donors, mice, cells), the
    donor itself at the levels below it (its mice, their cells); each replicate draws afresh
    (:func:`fmslab.compare.bootstrap.slot_values`)."""
    from fmslab.compare.bootstrap import node_mean, slot_values

    a = slot_values(reference, n_boot, rng, (True,) * depth).mean(axis=1)
    b = slot_values([donor_node], n_boot, rng, (False,) + (True,) * (depth - 1))[:, 0]
    dist = b - a
    est = node_mean(donor_node) - float(np.mean([node_mean(c) for c in reference]))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(dist, [alpha, 1 - alpha])
    return est, float(lo), float(hi), float(np.std(dist, ddof=1))


def donor_effects(
    df: pd.DataFrame,
    outcome: str,
    *,
    reference: str,
    group: str = "group",
    donor: str = "donor_id",
    mouse: str | None = "mouse_id",
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Shrunken and unshrunken effect of each donor on one outcome, relative to the control group.

    Parameters
    ----------
    df
        One row per observation with ``outcome``, ``group``, ``donor`` (and ``mouse``) columns;
        rows with a missing outcome are dropped.
    outcome
        Outcome column.
    reference
        Control-IgG group.
    group, donor, mouse
        Column names (``mouse=None``: rows are mice, or the level is absent).
    confidence
        Level of the prediction interval and of the bootstrap CI.
    n_boot, seed
        Hierarchical-bootstrap replicates and seed.

    Returns
    -------
    pandas.DataFrame
        One row per donor, columns :data:`EFFECT_COLUMNS`.
    """
    from fmslab.errors import InputError

    need = [c for c in (outcome, group, donor) if c not in df.columns]
    if need:
        raise InputError(f"columns {need} missing for donor effects of '{outcome}'")
    data = df.dropna(subset=[outcome, group, donor]).copy()
    data[group] = data[group].astype(str)
    data[donor] = data[donor].astype(str)
    if reference not in set(data[group]):
        raise InputError(f"reference group '{reference}' has no '{outcome}' values")
    n_controls = data.loc[data[group] == reference, donor].nunique()
    if n_controls < 2:
        raise InputError(f"'{outcome}': {n_controls} control donor(s); need at least 2")
    values = data[outcome].to_numpy(float)
    if values.size and np.all(values == values[0]):
        # no variation: the variance components (and so every shrunken effect) are undefined
        raise InputError(
            f"'{outcome}': all {values.size} values are {values[0]:g}; no donor effect to estimate"
        )
    use_mouse = mouse if mouse is not None and mouse in data.columns else None
    if use_mouse is not None:
        data[use_mouse] = data[use_mouse].astype(str)
    fit = fit_donor_model(
        data, outcome, group=group, donor=donor, mouse=use_mouse, reference=reference
    )
    n_donors = len(fit.donors)
    pred_df = n_donors - len(fit.groups)
    q = stats.t.ppf(0.5 + confidence / 2, pred_df) if pred_df >= 1 else np.nan
    p = len(fit.fixed)
    levels = (donor, use_mouse) if use_mouse else (donor,)
    controls = data[data[group] == reference]
    sd_total = float(np.sqrt(sum(fit.variances.values())))
    rows = []
    for j, d in enumerate(fit.donors):
        sub = data[data[donor] == d]
        g = str(sub[group].iloc[0])
        c = np.zeros(p + n_donors)
        c[p + j] = 1.0
        fixed = 0.0
        if g != reference:
            c[fit.groups.index(g)] = 1.0
            fixed = float(fit.fixed[g])
        est = fixed + float(fit.random[d])
        se = float(np.sqrt(max(c @ fit.pev @ c, 0.0)))
        notes = list(fit.warnings)
        if pred_df < 1:
            notes.append(f"{n_donors} donors for {len(fit.groups)} groups: no prediction interval")
        ref = controls[controls[donor] != d] if g == reference else controls
        raw, lo, hi, bse = _raw_effect(
            _donor_tree(ref, outcome, levels),
            _donor_tree(sub, outcome, levels)[0],
            depth=len(levels),
            n_boot=n_boot,
            confidence=confidence,
            rng=np.random.default_rng([seed, j]),
        )
        rows.append(
            {
                "outcome": outcome,
                "donor_id": d,
                "group": g,
                "reference": reference,
                "n_mice": int(sub[use_mouse].nunique()) if use_mouse else len(sub),
                "n_obs": len(sub),
                "effect_shrunken": est,
                "pred_se": se,
                "pred_low": est - q * se,
                "pred_high": est + q * se,
                "pred_df": float(pred_df),
                "fixed_effect": fixed,
                "random_effect": float(fit.random[d]),
                "effect_raw": raw,
                "boot_low": lo,
                "boot_high": hi,
                "boot_se": bse,
                "sd_total": sd_total,
                "var_donor": float(fit.variances["donor"]),
                "confidence": confidence,
                "warnings": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def effects_for_outcomes(df: pd.DataFrame, outcomes: Sequence[str], **kwargs) -> pd.DataFrame:
    """:func:`donor_effects` for several outcomes of one table, stacked."""
    return pd.concat([donor_effects(df, o, **kwargs) for o in outcomes], ignore_index=True)
