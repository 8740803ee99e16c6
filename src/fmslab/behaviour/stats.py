"""Group x day statistics of the behaviour time course, by the comparison engine's mixed model.

Model (per assay; :mod:`fmslab.compare.design` and :mod:`fmslab.compare.lmm`)
    ``value ~ group * factor(day)`` (treatment coding: one mean per group and day), fitted by REML
    with nested random intercepts. When several mice share a donor and every group has at least
    two donors, the random part is donor + mouse-within-donor (lme4
    ``(1|donor_id) + (1|donor_id:mouse_id)``); otherwise a mouse random intercept, and the
    ``note`` column says why. Days on which a group has no mouse are left out (noted).
Contrasts
    The planned contrasts (default: every pair of groups, ``group_b - group_a`` in sorted order)
    at every day: difference of the two groups' model means, its SE (``(X'V^-1X)^-1``, as lme4),
    a t test with Satterthwaite df (as lmerTest / emmeans) and its 95 % CI; p values are
    corrected over all days and contrasts of the assay by Holm's method. Per contrast, a
    contrast x day test (does the difference change from the first day?) is an F test with
    Satterthwaite denominator df (``group_x_day``); for more than two groups the overall group x
    day interaction is added (``contrast`` empty).
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from fmslab.compare.design import Contrast, DaySpec, build_design
from fmslab.compare.engine import _lower_codes
from fmslab.compare.lmm import fit_mixed
from fmslab.errors import InputError

log = logging.getLogger(__name__)

MIN_MICE_PER_GROUP = 2


def _use_donor(d: pd.DataFrame) -> tuple[bool, str]:
    has = "donor_id" in d.columns and d["donor_id"].notna().all()
    shared = has and d.groupby("donor_id")["mouse_id"].nunique().max() > 1
    if shared and d.groupby("group")["donor_id"].nunique().min() >= 2:
        return True, ""
    if shared:
        return False, (
            "mice share donors but a group has < 2 donors: donor effect not separable from group"
        )
    return False, ""


def _model_text(use_donor: bool) -> str:
    rand = (
        "donor random intercept + mouse(donor) variance component"
        if use_donor
        else "mouse random intercept"
    )
    return f"REML LMM (fmslab.compare): value ~ group * factor(day); {rand}; Satterthwaite df"


def group_day_contrasts(
    mouse_day: pd.DataFrame,
    *,
    column: str = "value",
    contrasts: list | None = None,
    groups: list[str] | None = None,
) -> pd.DataFrame:
    """Per-day group contrasts and contrast x day tests for every assay (see module docstring).

    ``column`` is the response: ``value`` (assay units, default) or ``pct_baseline``.
    ``contrasts`` are planned contrasts (``"A - B"`` or ``{name, target, reference}``; default
    all pairs), ``groups`` the group order.
    """
    out = []
    for assay, data in mouse_day.groupby("assay", sort=True):
        d = data.dropna(subset=[column, "group"])
        if column != "value":
            d = d.drop(columns=["value"]).rename(columns={column: "value"})
        d = d.assign(group=d["group"].astype(str), mouse_id=d["mouse_id"].astype(str))
        counts = d.groupby("group")["mouse_id"].nunique()
        measure = (
            data["measure"].iloc[0]
            if column == "value"
            else f"{column} ({data['measure'].iloc[0]})"
        )
        base = {"assay": assay, "measure": measure}
        if len(counts) < 2 or counts.min() < MIN_MICE_PER_GROUP:
            out.append({**base, "test": "skipped",
                        "note": f"needs >= 2 groups with >= {MIN_MICE_PER_GROUP} mice "
                                f"(has {counts.to_dict()})"})  # fmt: skip
            continue
        out.extend(_assay_rows(d, base, contrasts, groups))
    return pd.DataFrame(out)


def _assay_rows(d: pd.DataFrame, base: dict, contrasts, groups) -> list[dict]:
    notes: list[str] = []
    cells = pd.crosstab(d["group"], d["day"])
    bad_days = [day for day in cells.columns if (cells[day] == 0).any()]
    if bad_days:
        notes.append(f"day(s) {bad_days} left out: a group has no mouse there")
        d = d[~d["day"].isin(bad_days)]
    order = [g for g in (groups or []) if g in set(d["group"])]
    order += sorted(g for g in set(d["group"]) if g not in order)
    if contrasts:
        planned = [Contrast.parse(c) for c in contrasts]
    else:
        planned = [Contrast(b, a) for a, b in itertools.combinations(sorted(order), 2)]
    planned = [c for c in planned if c.target in order and c.reference in order]
    use_donor, why = _use_donor(d)
    if why:
        notes.append(why)
    levels = ("donor_id", "mouse_id") if use_donor else ("mouse_id",)
    text = _model_text(use_donor)
    reference = planned[0].reference if planned else order[0]
    try:
        des = build_design(d, group="group", groups=order, reference=reference,
                           day=DaySpec("day", "factor"), top=levels[0])  # fmt: skip
        codes, names, lnotes = _lower_codes(d, levels)
        fit = fit_mixed(d["value"].to_numpy(float), des.x, des.names, d[levels[0]].to_numpy(),
                        codes, names)  # fmt: skip
    except (InputError, np.linalg.LinAlgError, ValueError) as exc:
        return [{**base, "test": "skipped", "model": text, "note": f"model failed: {exc}"}]
    note = "; ".join([*notes, *lnotes, *fit.warnings])
    n_mice = d.groupby(["group", "day"])["mouse_id"].nunique()
    rows = []
    for c in planned:
        ga, gb = c.reference, c.target
        lrows = []
        for day in des.days:
            w = des.contrast_row(c, day)
            lrows.append(w)
            r = fit.contrast(w)
            lo, hi = r.ci(0.95)
            rows.append({**base, "test": "per_day_contrast", "contrast": c.name, "day": day,
                         "group_a": ga, "group_b": gb,
                         "mean_a": float(des.mean_row(ga, day) @ fit.beta),
                         "mean_b": float(des.mean_row(gb, day) @ fit.beta),
                         "difference_b_minus_a": r.estimate, "se": r.se, "t": r.statistic,
                         "df": r.df, "p_value": r.p, "ci_low": lo, "ci_high": hi,
                         "n_mice_a": int(n_mice.get((ga, day), 0)),
                         "n_mice_b": int(n_mice.get((gb, day), 0)),
                         "model": text, "converged": fit.converged, "note": note})  # fmt: skip
        if len(lrows) >= 2:
            f = fit.ftest(np.array([w - lrows[0] for w in lrows[1:]]))
            rows.append({**base, "test": "group_x_day", "contrast": c.name, "group_a": ga,
                         "group_b": gb, "F": f.statistic, "df_num": f.df_num, "df": f.df_den,
                         "p_value": f.p, "model": text, "converged": fit.converged,
                         "note": note})  # fmt: skip
    if len(order) > 2:
        f = fit.ftest(des.interaction_rows())
        rows.append({**base, "test": "group_x_day", "contrast": "", "F": f.statistic,
                     "df_num": f.df_num, "df": f.df_den, "p_value": f.p, "model": text,
                     "converged": fit.converged, "note": note})  # fmt: skip
    per_day = [r for r in rows if r["test"] == "per_day_contrast" and np.isfinite(r["p_value"])]
    if per_day:
        _, adj, _, _ = multipletests([r["p_value"] for r in per_day], method="holm")
        for r, a in zip(per_day, adj, strict=True):
            r["p_holm"] = float(a)
    return rows
