"""Group x day statistics: linear mixed model (statsmodels MixedLM) and per-day group contrasts.

Model (per assay)
    ``value ~ 0 + C(group:day)`` (one fixed mean per group and day, "cell means"), fitted by REML
    with a random intercept per mouse. When several mice share a donor and every group has at least
    two donors, the random part is a donor random intercept plus a mouse-within-donor variance
    component (``groups=donor_id, re_formula="1", vc_formula={"mouse": "0 + C(mouse_id)"}``). With
    one donor per group the donor variance cannot be told from the group effect: the mouse random
    intercept is used and the ``note`` column says so.
Contrasts
    For every day and every pair of groups tested that day: difference of the two cell means, its
    standard error from the fixed-effects covariance, Wald z, two-sided normal p value and 95 % CI;
    p values are corrected over all days and pairs of the assay by Holm's method
    (``statsmodels.stats.multitest.multipletests``). An omnibus group x day Wald test (the change of
    each pair's difference relative to the first day is zero on every later day) is added per pair.
"""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.stats.multitest import multipletests

log = logging.getLogger(__name__)

MIN_MICE_PER_GROUP = 2


def _cell(group: str, day: float) -> str:
    return f"{group}|{day:g}"


def fit_group_day(data: pd.DataFrame) -> tuple[object | None, str, str]:
    """Fit the mixed model to one assay's mouse-day rows.

    ``data`` has ``value, group, day, mouse_id`` and optionally ``donor_id``.

    Returns
    -------
    result, model_text, note
        ``result`` is None when the model could not be fitted (``note`` says why).
    """
    d = data.copy()
    d["cell"] = [_cell(g, x) for g, x in zip(d["group"], d["day"], strict=True)]
    use_donor = (
        "donor_id" in d.columns
        and d["donor_id"].notna().all()
        and d.groupby("donor_id")["mouse_id"].nunique().max() > 1
        and d.groupby("group")["donor_id"].nunique().min() >= 2
    )
    if use_donor:
        model = MixedLM.from_formula(
            "value ~ 0 + cell",
            d,
            groups="donor_id",
            re_formula="1",
            vc_formula={"mouse": "0 + C(mouse_id)"},
        )
        text = (
            "MixedLM REML: value ~ 0 + group:day; donor random intercept"
            " + mouse(donor) variance component"
        )
    else:
        model = MixedLM.from_formula("value ~ 0 + cell", d, groups="mouse_id")
        text = "MixedLM REML: value ~ 0 + group:day; mouse random intercept"
    notes = []
    if (
        not use_donor
        and "donor_id" in d.columns
        and d["donor_id"].notna().all()
        and (d.groupby("donor_id")["mouse_id"].nunique().max() > 1)
    ):
        notes.append(
            "mice share donors but a group has < 2 donors: donor effect not separable from group"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = model.fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return None, text, f"model failed: {exc}"
    for w in caught:
        msg = str(w.message).split("\n")[0]
        if msg not in notes:
            notes.append(msg)
    if not res.converged:
        notes.append("did not converge")
    return res, text, "; ".join(notes)


def group_day_contrasts(mouse_day: pd.DataFrame, *, column: str = "value") -> pd.DataFrame:
    """Per-day group contrasts for every assay (see module docstring).

    ``column`` is the response: ``value`` (assay units, default) or ``pct_baseline``.
    """
    out = []
    for assay, data in mouse_day.groupby("assay", sort=True):
        d = data.dropna(subset=[column, "group"])
        if column != "value":
            d = d.drop(columns=["value"]).rename(columns={column: "value"})
        counts = d.groupby("group")["mouse_id"].nunique()
        measure = (
            data["measure"].iloc[0]
            if column == "value"
            else f"{column} ({data['measure'].iloc[0]})"
        )
        base = {"assay": assay, "measure": measure}
        if len(counts) < 2 or counts.min() < MIN_MICE_PER_GROUP:
            out.append(
                {
                    **base,
                    "test": "skipped",
                    "note": f"needs >= 2 groups with >= {MIN_MICE_PER_GROUP} mice "
                    f"(has {counts.to_dict()})",
                }
            )
            continue
        res, text, note = fit_group_day(d)
        if res is None:
            out.append({**base, "test": "skipped", "model": text, "note": note})
            continue
        fe = res.fe_params
        names = list(fe.index)
        cov = res.cov_params().loc[names, names].to_numpy()
        pos = {n: i for i, n in enumerate(names)}
        rows = []
        groups = sorted(counts.index)
        days = sorted(d["day"].unique())
        n_mice = d.groupby(["group", "day"])["mouse_id"].nunique()
        for ga, gb in itertools.combinations(groups, 2):
            lrows = []
            for day in days:
                ca, cb = f"cell[{_cell(ga, day)}]", f"cell[{_cell(gb, day)}]"
                if ca not in pos or cb not in pos:
                    continue
                L = np.zeros(len(names))
                L[pos[cb]], L[pos[ca]] = 1.0, -1.0
                lrows.append(L)
                diff = float(L @ fe.to_numpy())
                se = float(np.sqrt(L @ cov @ L))
                z = diff / se if se > 0 else np.nan
                p = float(2 * sps.norm.sf(abs(z))) if np.isfinite(z) else np.nan
                rows.append(
                    {
                        **base,
                        "test": "per_day_contrast",
                        "day": day,
                        "group_a": ga,
                        "group_b": gb,
                        "mean_a": float(fe[ca]),
                        "mean_b": float(fe[cb]),
                        "difference_b_minus_a": diff,
                        "se": se,
                        "z": z,
                        "p_value": p,
                        "ci_low": diff - 1.959964 * se,
                        "ci_high": diff + 1.959964 * se,
                        "n_mice_a": int(n_mice.get((ga, day), 0)),
                        "n_mice_b": int(n_mice.get((gb, day), 0)),
                        "model": text,
                        "converged": bool(res.converged),
                        "note": note,
                    }
                )
            if len(lrows) >= 2:
                Lm = np.array([r - lrows[0] for r in lrows[1:]])
                b = Lm @ fe.to_numpy()
                V = Lm @ cov @ Lm.T
                try:
                    chi2 = float(b @ np.linalg.solve(V, b))
                    p = float(sps.chi2.sf(chi2, df=len(b)))
                except np.linalg.LinAlgError:
                    chi2, p = np.nan, np.nan
                rows.append(
                    {
                        **base,
                        "test": "group_x_day_wald",
                        "group_a": ga,
                        "group_b": gb,
                        "chi2": chi2,
                        "df": len(b),
                        "p_value": p,
                        "model": text,
                        "converged": bool(res.converged),
                        "note": note,
                    }
                )
        per_day = [r for r in rows if r["test"] == "per_day_contrast" and np.isfinite(r["p_value"])]
        if per_day:
            _, adj, _, _ = multipletests([r["p_value"] for r in per_day], method="holm")
            for r, a in zip(per_day, adj, strict=True):
                r["p_holm"] = float(a)
        out.extend(rows)
    return pd.DataFrame(out)
