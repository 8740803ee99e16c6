"""A donor's predicted time course against the control band (the individual prediction graph).

For a repeated outcome (e.g. the von Frey threshold per mouse and day, ``behaviour_mouse_day``),
the donor model of :mod:`fmslab.donors.effects` is fitted on each day separately (one row per
mouse: ``y ~ group + (1 | donor)``, REML). On each day:

- the donor's *predicted mouse mean* is ``b0 + b_g + u_d`` (intercept, its group's fixed effect,
  its predicted random effect), with the prediction interval from the joint prediction-error
  covariance of Henderson's equations (t quantile on ``n_donors - n_groups`` df);
- the *control band* is where the mice of a new control donor are expected:
  ``b0 +- t * sqrt(Var(b0) + s2_donor + s2_resid)`` (the intercept's uncertainty, a new control
  donor's effect and a new mouse's variation).

A donor whose predicted curve leaves the band on the days of the IgG effect and returns with
recovery shows the transfer time course; its mice's observed values are drawn beside it.

With ``by`` (e.g. ``"assay"`` for ``behaviour_mouse_day``) each value of that column is its own
series (``assay`` column of the result; its ``measure`` and ``unit`` from the data when present),
as the behaviour group x day statistics treat each assay.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

TIMECOURSE_COLUMNS = [
    "assay", "measure", "unit", "day", "donor_id", "group", "n_mice", "predicted", "pred_low",
    "pred_high", "control_mean", "control_low", "control_high", "warnings",
]  # fmt: skip


def donor_time_course(
    data: pd.DataFrame,
    outcome: str,
    *,
    reference: str,
    day: str = "day",
    group: str = "group",
    donor: str = "donor_id",
    by: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per series, day and donor, the predicted mouse mean and the control band (module
    docstring).

    Parameters
    ----------
    data
        One row per mouse and day: ``outcome``, ``day``, ``group``, ``donor`` (and ``by``).
    reference
        Control group.
    by
        Column splitting the rows into series (e.g. ``"assay"``); None: one series, named
        ``outcome`` in the ``assay`` column.

    Returns
    -------
    pandas.DataFrame
        :data:`TIMECOURSE_COLUMNS`; days with fewer than 2 control donors are left out.
    """
    from fmslab.errors import InputError

    need = [c for c in (outcome, day, group, donor, by) if c is not None and c not in data.columns]
    if need:
        raise InputError(f"columns {need} missing for the time course of '{outcome}'")
    d = data.dropna(subset=[outcome, day, group, donor]).copy()
    d[group] = d[group].astype(str)
    d[donor] = d[donor].astype(str)
    series = d.groupby(by, sort=True) if by is not None else [(outcome, d)]
    parts = []
    for name, sub in series:
        label = {"assay": str(name)}
        for col in ("measure", "unit"):
            label[col] = str(sub[col].iloc[0]) if col in sub.columns else ""
        rows = _series_rows(sub, outcome, reference, day, group, donor, confidence)
        parts += [{**label, **r} for r in rows]
    return pd.DataFrame(parts, columns=TIMECOURSE_COLUMNS)


def _series_rows(
    d: pd.DataFrame,
    outcome: str,
    reference: str,
    day: str,
    group: str,
    donor: str,
    confidence: float,
) -> list[dict]:
    """The rows of one series (one model per day)."""
    from fmslab.donors.effects import fit_donor_model

    rows = []
    for value, sub in d.groupby(day, sort=True):
        if sub.loc[sub[group] == reference, donor].nunique() < 2:
            continue
        fit = fit_donor_model(sub, outcome, group=group, donor=donor, mouse=None,
                              reference=reference)  # fmt: skip
        p = len(fit.fixed)
        n_d = len(fit.donors)
        df = n_d - len(fit.groups)
        q = stats.t.ppf(0.5 + confidence / 2, df) if df >= 1 else np.nan
        b0 = float(fit.fixed["(Intercept)"])
        spread = fit.variances["donor"] + fit.variances["residual"]
        half = q * np.sqrt(fit.pev[0, 0] + spread)
        note = "; ".join(fit.warnings)
        for j, dn in enumerate(fit.donors):
            ds = sub[sub[donor] == dn]
            g = str(ds[group].iloc[0])
            c = np.zeros(p + n_d)
            c[0] = 1.0
            c[p + j] = 1.0
            est = b0 + float(fit.random[dn])
            if g != reference:
                c[fit.groups.index(g)] = 1.0
                est += float(fit.fixed[g])
            se = float(np.sqrt(max(c @ fit.pev @ c, 0.0)))
            rows.append(
                {
                    "day": float(value), "donor_id": dn, "group": g, "n_mice": len(ds),
                    "predicted": est, "pred_low": est - q * se, "pred_high": est + q * se,
                    "control_mean": b0, "control_low": b0 - half, "control_high": b0 + half,
                    "warnings": note,
                }
            )  # fmt: skip
    return rows


def plot_time_course_panel(
    ax,
    course: pd.DataFrame,
    observed: pd.DataFrame | None,
    donor_id: str,
    *,
    outcome: str,
    day: str = "day",
    donor: str = "donor_id",
) -> None:
    """Draw one donor's predicted time course (with interval), its mice's observed values and
    the control band on ``ax``."""
    me = course[course["donor_id"] == donor_id].sort_values("day")
    band = course.drop_duplicates("day").sort_values("day")
    ax.fill_between(band["day"], band["control_low"], band["control_high"], color="0.88", lw=0,
                    label="control band (new control donor's mice)")  # fmt: skip
    ax.plot(band["day"], band["control_mean"], color="0.55", lw=0.8, label="control mean")
    if observed is not None and len(observed):
        obs = observed[observed[donor].astype(str) == donor_id]
        ax.plot(obs[day], obs[outcome], "o", color="#b2182b", ms=2.5, alpha=0.6, lw=0,
                label="its mice (observed)")  # fmt: skip
    if len(me):
        ax.fill_between(
            me["day"], me["pred_low"], me["pred_high"], color="#b2182b", alpha=0.18, lw=0
        )
        ax.plot(me["day"], me["predicted"], "-", color="#b2182b", lw=1.3, label="predicted (donor)")
    ax.set_xlabel(day)
    ax.set_ylabel(outcome)
    ax.legend(fontsize=5.5, frameon=False, loc="best")


def plot_donor_page(
    effects: pd.DataFrame,
    donor_id: str,
    *,
    course: pd.DataFrame | None = None,
    observed: pd.DataFrame | None = None,
    course_outcome: str = "value",
    by: str = "assay",
) -> Figure:
    """One page per donor: its predicted time course against the control band, one panel per
    series of ``course`` (e.g. per behaviour assay; none when no time course is given), above
    where it sits among the control and patient donors on every outcome
    (:func:`fmslab.donors.profile.draw_donor_card`). :func:`fmslab.donors.profile.plot_donor_card`
    is this page without a time course.

    Parameters
    ----------
    course
        :func:`donor_time_course` output.
    observed
        The mouse x day rows behind it (``course_outcome``, ``day``, ``donor_id`` and, when the
        course has several series, the ``by`` column).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from fmslab.donors.profile import draw_donor_card
    from fmslab.figures.style import figure_size, house_style

    if donor_id not in set(effects["donor_id"]):
        raise ValueError(f"donor '{donor_id}' not in the effect table")
    n_out = effects["outcome"].nunique()
    panels = []
    if course is not None and donor_id in set(course["donor_id"]):
        for name, sub in course.groupby("assay", sort=True):
            obs = observed
            if obs is not None and by in obs.columns:
                obs = obs[obs[by].astype(str) == name]
            measure = str(sub["measure"].iloc[0]) if "measure" in sub else ""
            panels.append((name, measure, sub, obs))
    with house_style():
        heights = [55.0] * len(panels) + [20 + 12 * n_out]
        fig = plt.figure(figsize=figure_size(120.0, sum(heights) + 10))
        grid = fig.add_gridspec(len(heights), 1, height_ratios=heights)
        for k, (name, measure, sub, obs) in enumerate(panels):
            ax = fig.add_subplot(grid[k])
            plot_time_course_panel(ax, sub, obs, donor_id, outcome=course_outcome)
            what = f"{name} ({measure})" if measure and measure != name else name
            ax.set_ylabel(f"{course_outcome} ({measure})" if measure else course_outcome)
            ax.set_title(f"{donor_id}, {what}: predicted time course vs control band", fontsize=7)
        draw_donor_card(fig.add_subplot(grid[-1]), effects, donor_id)
        fig.tight_layout()
    return fig
