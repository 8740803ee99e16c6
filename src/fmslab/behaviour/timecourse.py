"""Per-mouse time courses: % of baseline, area under the curve, responders (mouse and donor).

Baseline rule
    Baseline days are the days <= ``baseline_max_day`` (default 0: tests before or on the day of
    the first injection, before it is given). The baseline of a mouse and assay is the mean of its
    mouse-day values on those days. A mouse without a baseline for an assay gets no % of baseline
    (flag ``no_baseline``); a zero baseline gives none either (flag ``zero_baseline``).
% of baseline
    ``100 * value / baseline`` on every day (baseline days included).
AUC (trapezoid, % x day)
    Over the points (last baseline day, 100 %) and every post-baseline day the mouse was tested,
    ``auc_pct_days`` = trapezoid of % of baseline, ``auc_change_pct_days`` = trapezoid of (% of
    baseline - 100) (negative = below baseline). Days the assay has for other mice but this mouse
    lacks are listed in ``missing_days`` (the trapezoid then bridges them).
Responder rule
    ``mean_post_pct`` = mean % of baseline over the post-baseline days. A mouse is a responder when
    it moves in the assay's hypersensitive direction by at least ``responder_change_pct`` (default
    20 %): ``mean_post_pct <= 100 - change`` for thresholds/latencies/forces, ``>= 100 + change``
    for scores. A donor is a responder when the mean ``mean_post_pct`` of its mice passes the same
    rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fmslab.behaviour.assays import ASSAYS

DEFAULT_RESPONDER_CHANGE_PCT = 20.0


def _is_responder(mean_post_pct: float, direction: str, change_pct: float) -> float:
    if not np.isfinite(mean_post_pct):
        return np.nan
    if direction == "decrease":
        return float(mean_post_pct <= 100.0 - change_pct)
    return float(mean_post_pct >= 100.0 + change_pct)


def percent_of_baseline(mouse_day: pd.DataFrame, *, baseline_max_day: float = 0.0) -> pd.DataFrame:
    """``mouse_day`` with ``baseline``, ``pct_baseline`` and ``is_baseline`` added."""
    md = mouse_day.copy()
    md["is_baseline"] = md["day"] <= baseline_max_day
    base = md[md["is_baseline"]].groupby(["mouse_id", "assay"])["value"].mean().rename("baseline")
    md = md.drop(columns=[c for c in ("baseline",) if c in md.columns]).join(
        base, on=["mouse_id", "assay"]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * md["value"] / md["baseline"]
    md["pct_baseline"] = pct.where(md["baseline"] > 0)
    return md


def mouse_summary(
    mouse_day: pd.DataFrame,
    *,
    baseline_max_day: float = 0.0,
    responder_change_pct: float = DEFAULT_RESPONDER_CHANGE_PCT,
) -> pd.DataFrame:
    """One row per mouse and assay: baseline, AUCs, mean post-baseline %, responder, flags.

    ``mouse_day`` must already carry ``pct_baseline`` (see :func:`percent_of_baseline`).
    """
    meta = [c for c in ("group", "treatment_code", "donor_id") if c in mouse_day.columns]
    design_days = mouse_day.groupby("assay")["day"].apply(lambda s: sorted(set(s)))
    rows = []
    for (mouse, assay), grp in mouse_day.groupby(["mouse_id", "assay"], sort=True):
        spec = ASSAYS[assay]
        grp = grp.sort_values("day")
        rec: dict = {"mouse_id": mouse, "assay": assay, "measure": grp["measure"].iloc[0]}
        for c in meta:
            vals = grp[c].dropna().unique()
            rec[c] = vals[0] if len(vals) == 1 else None
        baseline = grp["baseline"].iloc[0]
        post = grp[~grp["is_baseline"] & grp["pct_baseline"].notna()]
        flags = []
        if grp["is_baseline"].sum() == 0 or not np.isfinite(baseline):
            flags.append("no_baseline")
        elif baseline == 0:
            flags.append("zero_baseline")
        missing = sorted(set(design_days[assay]) - set(grp.loc[grp["value"].notna(), "day"]))
        if missing:
            flags.append("missing_days")
        auc = auc_change = mean_post = np.nan
        if not flags or flags == ["missing_days"]:
            if len(post):
                last_base = grp.loc[grp["is_baseline"], "day"].max()
                days = np.concatenate([[last_base], post["day"].to_numpy(float)])
                pct = np.concatenate([[100.0], post["pct_baseline"].to_numpy(float)])
                auc = float(np.trapezoid(pct, days))
                auc_change = float(np.trapezoid(pct - 100.0, days))
                mean_post = float(post["pct_baseline"].mean())
            else:
                flags.append("no_post_baseline_days")
        rec.update(
            baseline=baseline,
            n_days=int(grp["value"].notna().sum()),
            n_post_days=int(len(post)),
            first_day=float(grp["day"].min()),
            last_day=float(grp["day"].max()),
            auc_pct_days=auc,
            auc_change_pct_days=auc_change,
            mean_post_pct=mean_post,
            direction=spec.direction,
            responder=_is_responder(mean_post, spec.direction, responder_change_pct),
            missing_days=",".join(f"{d:g}" for d in missing),
            flag=";".join(flags),
        )
        rows.append(rec)
    return pd.DataFrame(rows)


def donor_summary(
    mice: pd.DataFrame, *, responder_change_pct: float = DEFAULT_RESPONDER_CHANGE_PCT
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Donor-level responders and the per-group count ("8/8 donors vs 0/6").

    Returns
    -------
    donors, groups
        ``donors``: one row per assay and donor (``group, n_mice, mean_post_pct, responder``);
        ``groups``: one row per assay and group (``n_donors, n_responders, summary``). Both empty
        when the mice have no ``donor_id``.
    """
    if "donor_id" not in mice.columns or mice["donor_id"].isna().all():
        return pd.DataFrame(), pd.DataFrame()
    m = mice.dropna(subset=["donor_id"])
    if "group" not in m.columns:
        m = m.assign(group=pd.NA)
    rows = []
    for (assay, donor), grp in m.groupby(["assay", "donor_id"], sort=True):
        groups = grp["group"].dropna().unique()
        mean_post = (
            float(grp["mean_post_pct"].mean()) if grp["mean_post_pct"].notna().any() else np.nan
        )
        rows.append(
            {
                "assay": assay,
                "donor_id": donor,
                "group": groups[0] if len(groups) == 1 else None,
                "n_mice": int(len(grp)),
                "n_mice_classified": int(grp["responder"].notna().sum()),
                "n_mice_responders": int((grp["responder"] == 1).sum()),
                "mean_post_pct": mean_post,
                "responder": _is_responder(
                    mean_post, ASSAYS[assay].direction, responder_change_pct
                ),
            }
        )
    donors = pd.DataFrame(rows)
    grows = []
    for (assay, group), grp in donors.dropna(subset=["group"]).groupby(
        ["assay", "group"], sort=True
    ):
        classified = grp["responder"].notna()
        n_resp = int((grp["responder"] == 1).sum())
        grows.append(
            {
                "assay": assay,
                "group": group,
                "n_donors": int(classified.sum()),
                "n_responders": n_resp,
                "n_donors_unclassified": int((~classified).sum()),
                "summary": f"{n_resp}/{int(classified.sum())} {group} donors responders"
                + (f" ({int((~classified).sum())} unclassified)" if (~classified).any() else ""),
            }
        )
    return donors, pd.DataFrame(grows)
