"""Time-course figure: mean +/- SEM per group over days, with every mouse drawn thinly.

Each panel is drawn by :func:`fmslab.figures.plots.time_course` (the one plotting layer).
"""

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
    import matplotlib.pyplot as plt

    from fmslab.figures.plots import time_course
    from fmslab.figures.style import figure_size, house_style
    from fmslab.figures.vocabulary import axis_label, name_of

    md = mouse_day.copy()
    if "group" not in md.columns:
        md["group"] = "all"
    md["group"] = md["group"].fillna("unassigned").astype(str)
    assays = sorted(md["assay"].unique())
    n = max(1, len(assays))
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    with house_style():
        fig = plt.figure(
            figsize=figure_size("double" if ncols > 1 else "single", 62 * nrows),
            layout="constrained",
        )
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, assay in zip(axes, assays, strict=False):
            d = md[(md["assay"] == assay) & md[column].notna()]
            spec = ASSAYS.get(assay)
            if column == "pct_baseline":
                ylabel = axis_label("pct_baseline")
            elif spec is not None:
                ylabel = axis_label(spec.measure, unit=spec.unit if spec.unit != "score" else "")
            else:
                ylabel = axis_label(column)
            if d.empty:
                ax.set_axis_off()
                continue
            time_course(d, x="day", value=column, group="group", unit="mouse_id", ax=ax,
                        ylabel=ylabel)  # fmt: skip
            legend = ax.get_legend()  # the legend over the panel names the assay
            legend.set_title(f"{name_of(assay)}: {legend.get_title().get_text()}")
        for ax in axes[len(assays) :]:
            ax.set_visible(False)
    return fig
