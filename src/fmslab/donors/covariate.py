"""Mixed model with a clinical score as a donor-level covariate.

Over the patient donors (every group but the control group), for an outcome ``y`` and a score
``s`` measured once per donor::

    y_idm = b0 [+ b_g(d)] + beta * s_d + u_d + v_dm + e_idm

(``b_g``: one fixed effect per patient group beyond the first, when there are several; random
intercepts for donor and donor:mouse as in :mod:`fmslab.donors.effects`), fitted by REML with the
compare engine (:func:`fmslab.compare.lmm.fit_mixed`), as lme4's
``lmer(y ~ [group +] score + (1 | donor) + (1 | donor:mouse))``. ``beta`` is the change in the
outcome per unit of the score; its t test uses the Satterthwaite df (as lmerTest's ``summary``).
The score varies only between donors, so its df is of the order of the number of donors, not of
cells: the donor is the replicate, as it should be.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from fmslab.errors import InputError

COVARIATE_COLUMNS = [
    "outcome", "score", "n_donors", "n_mice", "n_obs", "slope", "slope_se", "slope_df",
    "slope_low", "slope_high", "t", "p", "var_donor", "var_mouse", "var_residual", "warnings",
]  # fmt: skip
#: Fewer patient donors than this: the slope is not estimated.
MIN_DONORS = 4


def score_mixed_model(
    data: pd.DataFrame,
    outcome: str,
    donors: pd.DataFrame,
    score: str,
    *,
    reference: str,
    group: str = "group",
    donor: str = "donor_id",
    mouse: str | None = "mouse_id",
    confidence: float = 0.95,
) -> dict:
    """Fit the donor-level covariate model (module docstring) for one outcome and one score.

    Parameters
    ----------
    data
        One row per observation (outcome, group, donor, mouse columns), all groups; the control
        group ``reference`` is left out.
    donors
        Donors sheet: ``donor_id`` and the numeric ``score`` column.
    mouse
        Mouse column, or None (one row per mouse).

    Returns
    -------
    dict
        One row of :data:`COVARIATE_COLUMNS`.
    """
    from fmslab.compare.lmm import fit_mixed

    if score not in donors.columns:
        raise InputError(f"clinical score '{score}' is not a column of the donors sheet")
    sheet = donors[[donor, score]].assign(**{donor: donors[donor].astype(str)})
    sheet = sheet.drop_duplicates(donor)
    d = data[data[group].astype(str) != reference].copy()
    d[donor] = d[donor].astype(str)
    d = d.merge(sheet, on=donor, how="left").dropna(subset=[outcome, score])
    row = dict.fromkeys(COVARIATE_COLUMNS, np.nan)
    n_donors = d[donor].nunique()
    use_mouse = mouse if mouse is not None and mouse in d.columns else None
    mouse_ids = None
    if use_mouse is not None:
        mouse_ids = (d[donor] + "/" + d[use_mouse].astype(str)).to_numpy()
        if pd.Series(mouse_ids).value_counts().max() <= 1:
            mouse_ids = None
    row.update(
        outcome=outcome, score=score, n_donors=n_donors, n_obs=len(d),
        n_mice=int(pd.Series(mouse_ids).nunique()) if mouse_ids is not None else len(d),
        warnings="",
    )  # fmt: skip
    if n_donors < MIN_DONORS or d.groupby(donor)[score].first().nunique() < 2:
        row["warnings"] = f"{n_donors} patient donors or no spread of {score}: not estimated"
        return row
    groups = sorted(d[group].astype(str).unique())
    cols = [np.ones(len(d))] + [(d[group].astype(str) == g).to_numpy(float) for g in groups[1:]]
    cols.append(d[score].to_numpy(float))
    x = np.column_stack(cols)
    names = ["(Intercept)"] + [f"group{g}" for g in groups[1:]] + [score]
    lower = [pd.factorize(mouse_ids)[0]] if mouse_ids is not None else []
    levels = ["donor"] + (["mouse"] if mouse_ids is not None else [])
    try:
        fit = fit_mixed(d[outcome].to_numpy(float), x, names, d[donor].to_numpy(), lower, levels)
    except np.linalg.LinAlgError as exc:
        row["warnings"] = f"mixed model could not be fitted ({exc})"
        return row
    w = np.zeros(len(names))
    w[-1] = 1.0
    res = fit.contrast(w)
    q = stats.t.ppf(0.5 + confidence / 2, res.df) if np.isfinite(res.df) else np.nan
    notes = list(fit.warnings) + ([] if fit.converged else ["mixed model did not converge"])
    if n_donors < 8:
        notes.append(f"only {n_donors} patient donors: the slope is very uncertain")
    row.update(
        slope=res.estimate, slope_se=res.se, slope_df=res.df, slope_low=res.estimate - q * res.se,
        slope_high=res.estimate + q * res.se, t=res.statistic, p=res.p,
        var_donor=fit.variances.get("donor", np.nan), var_mouse=fit.variances.get("mouse", np.nan),
        var_residual=fit.variances.get("residual", np.nan), warnings="; ".join(notes),
    )  # fmt: skip
    return row


def score_models(
    data: pd.DataFrame,
    outcome: str,
    donors: pd.DataFrame,
    scores: list[str],
    **kwargs,
) -> pd.DataFrame:
    """:func:`score_mixed_model` for each score, one row each (:data:`COVARIATE_COLUMNS`)."""
    rows = [score_mixed_model(data, outcome, donors, s, **kwargs) for s in scores]
    return pd.DataFrame(rows, columns=COVARIATE_COLUMNS)
