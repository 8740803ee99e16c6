"""The multimodal donor profile: one row per donor across outcomes, a heat map and a
concordance summary.

Standardised effect of a donor on an outcome: its shrunken effect divided by the model's total
SD (``sqrt(s2_donor + s2_mouse + s2_resid)``, the spread of single observations), signed so that
positive is the hypersensitive direction (outcomes with no declared direction keep their sign).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats


def standardised(effects: pd.DataFrame) -> pd.Series:
    """Signed standardised shrunken effect of each row of a called effect table."""
    sign = effects["direction"].replace(0, 1) if "direction" in effects else 1
    return sign * effects["effect_shrunken"] / effects["sd_total"]


def donor_profile(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per donor: per outcome the standardised effect (``z_``), the number of mice
    (``n_mice_``) and observations (``n_obs_``) behind it, the responder probability (``p_``)
    and call (``call_``); then how many outcomes were called.

    Parameters
    ----------
    effects
        Output of :func:`fmslab.donors.responders.call_responders`.
    """
    eff = effects.assign(z=standardised(effects))
    wide = eff.pivot_table(
        index=["donor_id", "group"],
        columns="outcome",
        values=["z", "n_mice", "n_obs", "p_transfer", "call"],
        aggfunc="first",
    )
    outcomes = list(dict.fromkeys(effects["outcome"]))
    cols = {}
    for o in outcomes:
        for val, prefix in (("z", "z"), ("n_mice", "n_mice"), ("n_obs", "n_obs")):
            cols[f"{prefix}_{o}"] = wide[(val, o)]
        cols[f"p_{o}"] = wide[("p_transfer", o)]
        cols[f"call_{o}"] = wide[("call", o)]
    prof = pd.DataFrame(cols).reset_index()
    calls = prof[[f"call_{o}" for o in outcomes]]
    prof["n_outcomes"] = calls.notna().sum(axis=1)
    prof["n_called"] = (calls == "transferrer").sum(axis=1)
    return prof.sort_values(["group", "donor_id"]).reset_index(drop=True)


def concordance(effects: pd.DataFrame) -> pd.DataFrame:
    """For each pair of outcomes, across the donors having both: Spearman correlation of the
    standardised effects (patient and control donors together), the number of donors, how many
    share the same call and how many are called on both.

    Returns
    -------
    pandas.DataFrame
        ``outcome_a, outcome_b, n_donors, spearman_rho, same_call, both_called``.
    """
    eff = effects.assign(z=standardised(effects))
    z = eff.pivot_table(index="donor_id", columns="outcome", values="z", aggfunc="first")
    call = eff.pivot_table(index="donor_id", columns="outcome", values="call", aggfunc="first")
    rows = []
    for a, b in itertools.combinations(list(dict.fromkeys(effects["outcome"])), 2):
        both = z[[a, b]].dropna().index
        rho = np.nan
        if len(both) >= 3 and z.loc[both, a].nunique() > 1 and z.loc[both, b].nunique() > 1:
            rho = float(stats.spearmanr(z.loc[both, a], z.loc[both, b]).statistic)
        ca, cb = call.loc[both, a], call.loc[both, b]
        rows.append(
            {
                "outcome_a": a,
                "outcome_b": b,
                "n_donors": len(both),
                "spearman_rho": rho,
                "same_call": int((ca == cb).sum()),
                "both_called": int(((ca == "transferrer") & (cb == "transferrer")).sum()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["outcome_a", "outcome_b", "n_donors", "spearman_rho", "same_call", "both_called"],
    )


def plot_profile_heatmap(effects: pd.DataFrame) -> Figure:
    """Heat map donors x outcomes of the standardised shrunken effects (positive:
    hypersensitive), centred at 0, donors ordered by group; rows labelled ``donor (group)``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from fmslab.figures.plots import heatmap

    eff = effects.assign(
        z=standardised(effects), row=effects["donor_id"] + " (" + effects["group"] + ")"
    )
    eff = eff.sort_values(["group", "donor_id"])
    matrix = eff.pivot_table(
        index="row", columns="outcome", values="z", aggfunc="first", sort=False
    )
    matrix = matrix.reindex(columns=list(dict.fromkeys(effects["outcome"])))
    height = 25 + 5 * len(matrix)
    return heatmap(
        matrix,
        center=0.0,
        colorbar_label="donor effect (SD, + = hypersensitive)",
        width="single",
        height_mm=min(height, 200),
    )


def plot_donor_card(effects: pd.DataFrame, donor_id: str) -> Figure:
    """One-page figure of one donor: for each outcome, where its standardised shrunken effect
    (with prediction interval) sits among the control and patient donors; the control donors'
    range is shaded. Positive = hypersensitive.

    Parameters
    ----------
    effects
        Called effect table (:func:`fmslab.donors.responders.call_responders`).
    donor_id
        The donor shown.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from fmslab.donors.timecourse import plot_donor_page

    return plot_donor_page(effects, donor_id)


def draw_donor_card(ax, effects: pd.DataFrame, donor_id: str) -> None:
    """Draw :func:`plot_donor_card`'s panel on ``ax``."""
    import matplotlib.pyplot as plt

    from fmslab.figures.style import group_colors

    if donor_id not in set(effects["donor_id"]):
        raise ValueError(f"donor '{donor_id}' not in the effect table")
    eff = effects.assign(z=standardised(effects))
    sign = eff["direction"].replace(0, 1) if "direction" in eff else 1
    eff = eff.assign(
        zl=sign * eff["pred_low"] / eff["sd_total"], zh=sign * eff["pred_high"] / eff["sd_total"]
    )
    outcomes = list(dict.fromkeys(eff["outcome"]))
    colors = group_colors(sorted(eff["group"].unique()))
    for i, o in enumerate(outcomes):
        sub = eff[eff["outcome"] == o]
        ctrl = sub[sub["group"] == sub["reference"]]["z"]
        if len(ctrl):
            ax.fill_betweenx([i - 0.4, i + 0.4], ctrl.min(), ctrl.max(), color="0.88", lw=0)
        others = sub[sub["donor_id"] != donor_id]
        jitter = np.linspace(-0.15, 0.15, max(len(others), 1))
        ax.scatter(
            others["z"], i + jitter[: len(others)], s=8,
            c=[colors[g] for g in others["group"]], alpha=0.6, lw=0,
        )  # fmt: skip
        me = sub[sub["donor_id"] == donor_id]
        if len(me):
            row = me.iloc[0]
            lo, hi = sorted((row["zl"], row["zh"]))
            ax.plot([lo, hi], [i, i], color="k", lw=1.2)
            ax.plot(row["z"], i, "D", color="k", ms=4)
            ax.annotate(
                f"P={row['p_transfer']:.2f} {row['call']}", (row["z"], i), xytext=(0, 5),
                textcoords="offset points", fontsize=6, ha="center", va="bottom",
            )  # fmt: skip
    ax.axvline(0, color="0.5", lw=0.6, ls=":")
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=colors[g], ms=3, label=f"{g} donors")
        for g in colors
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=6, frameon=False)
    ax.set_yticks(range(len(outcomes)), outcomes)
    ax.invert_yaxis()
    ax.set_xlabel("donor effect (SD, + = hypersensitive)")
    group = eff.loc[eff["donor_id"] == donor_id, "group"].iloc[0]
    ax.set_title(f"{donor_id} ({group}); grey: control donors' range", fontsize=7)
