"""Time-course figure: mean +/- SEM per group over days, with every mouse drawn thinly."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fmslab.behaviour.assays import ASSAYS


def plot_time_course(mouse_day: pd.DataFrame, *, column: str = "value") -> Figure:
    """One panel per assay; returns the Figure (the caller saves it).

    Parameters
    ----------
    mouse_day
        Rows ``mouse_id, day, assay, value`` (and ``group``; without it all mice form one group).
    column
        ``value`` (assay units) or ``pct_baseline``.
    """
    md = mouse_day.copy()
    if "group" not in md.columns:
        md["group"] = "all"
    md["group"] = md["group"].fillna("unassigned").astype(str)
    assays = sorted(md["assay"].unique())
    n = max(1, len(assays))
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    groups = sorted(md["group"].unique())
    colours = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    for ax, assay in zip(axes, assays, strict=False):
        d = md[(md["assay"] == assay) & md[column].notna()]
        for g in groups:
            dg = d[d["group"] == g]
            if dg.empty:
                continue
            for _, dm in dg.groupby("mouse_id"):
                dm = dm.sort_values("day")
                ax.plot(dm["day"], dm[column], color=colours[g], alpha=0.25, lw=0.8)
            agg = dg.groupby("day")[column].agg(["mean", "sem", "count"]).reset_index()
            ax.errorbar(
                agg["day"],
                agg["mean"],
                yerr=agg["sem"].fillna(0.0),
                color=colours[g],
                lw=2,
                marker="o",
                ms=4,
                capsize=3,
                label=f"{g} (n={dg['mouse_id'].nunique()})",
            )
        spec = ASSAYS.get(assay)
        unit = "% of baseline" if column == "pct_baseline" else (spec.measure if spec else column)
        ax.set_title(assay)
        ax.set_xlabel("day")
        ax.set_ylabel(unit)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, frameon=False)
    for ax in axes[len(assays) :]:
        ax.set_visible(False)
    # fixed margins: constrained layout costs seconds per save and the panels are uniform
    height_in = 3.4 * nrows
    fig.subplots_adjust(
        left=0.18 if ncols == 1 else 0.08,
        right=0.98,
        bottom=0.55 / height_in,
        top=1 - 0.35 / height_in,
        wspace=0.35,
        hspace=0.9 / 3.4,
    )
    return fig
