"""Plot functions: data first, options keyword-only; they return the Figure and never pick a path.

Each draws into ``ax`` when given (for multi-panel figures) or into a new figure of a journal width,
inside :func:`fmslab.figures.style.house_style`. The exact numbers drawn are recorded on the Axes as
a tidy DataFrame, retrieved with :func:`source_data` (journals ask for one source-data file per
panel).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from fmslab.compare.bootstrap import build_tree, hierarchical_bootstrap
from fmslab.compare.summary import level_means
from fmslab.errors import InputError
from fmslab.figures.style import OKABE_ITO, figure_size, group_colors, house_style

_ATTR = "fmslab_source_data"


def source_data(obj: Axes | Figure) -> pd.DataFrame:
    """The source data recorded by a plot function (for a Figure: its panels, concatenated)."""
    if isinstance(obj, Axes):
        if not hasattr(obj, _ATTR):
            raise ValueError("this Axes was not drawn by an fmslab plot function")
        return getattr(obj, _ATTR)
    frames = [
        getattr(a, _ATTR).assign(panel=i) for i, a in enumerate(obj.axes) if hasattr(a, _ATTR)
    ]
    if not frames:
        raise ValueError("this Figure has no panel drawn by an fmslab plot function")
    return pd.concat(frames, ignore_index=True)


def _record(ax: Axes, df: pd.DataFrame) -> None:
    setattr(ax, _ATTR, df.reset_index(drop=True))


def _axes(ax: Axes | None, width: str | float, height_mm: float | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figure_size(width, height_mm), layout="constrained")
    return fig, fig.add_subplot()


def _need(data: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InputError(
            f"{what}: column(s) {missing} not in the data (has {list(data.columns)[:12]})"
        )


def _order(data: pd.DataFrame, group: str, order: list[str] | None) -> list[str]:
    present = sorted(data[group].dropna().astype(str).unique())
    return [g for g in order if g in present] if order else present


def superplot(
    data: pd.DataFrame,
    *,
    value: str,
    group: str = "group",
    mouse: str = "mouse_id",
    donor: str | None = "donor_id",
    color_by: str = "donor",
    order: list[str] | None = None,
    ylabel: str | None = None,
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 60,
    seed: int = 0,
    legend: str | None = "above",
) -> Figure:
    """SuperPlot (Lord et al. 2020): every cell, coloured by donor (or mouse), with mouse means.

    Cells are small translucent dots (jitter from a seeded generator), mouse means larger dots with
    a black edge in the same colour, and the group mean of donor means a black bar: the eye sees
    the replicates that the statistics use ("mean" in the legend is the mean of donor means).
    ``legend``: ``"above"`` (3 columns over the panel), ``"right"`` (outside, one column),
    ``"inside"`` (matplotlib's best spot) or ``None``.
    """
    cols = [value, group, mouse] + ([donor] if donor else [])
    _need(data, cols, "superplot")
    key = donor if (color_by == "donor" and donor) else mouse
    rng = np.random.default_rng(seed)
    with house_style():
        fig, ax = _axes(ax, width, height_mm)
        groups = _order(data, group, order)
        df = data[cols].dropna(subset=[value]).copy()
        df[group] = df[group].astype(str)
        rows = []
        for x, g in enumerate(groups):
            sub = df[df[group] == g]
            units = sorted(sub[key].astype(str).unique())
            colors = group_colors(units)
            jitter = x + rng.uniform(-0.22, 0.22, len(sub))
            ax.scatter(
                jitter,
                sub[value],
                s=4,
                c=[colors[str(u)] for u in sub[key]],
                alpha=0.45,
                linewidths=0,
                zorder=1,
            )
            rows.append(sub.assign(level="cell", x=jitter))
            mm = (
                sub.groupby([*([donor] if donor else []), mouse], sort=True)[value]
                .mean()
                .reset_index()
            )
            mx = (
                x + np.linspace(-0.12, 0.12, len(mm)) if len(mm) > 1 else np.full(len(mm), float(x))
            )
            ax.scatter(
                mx,
                mm[value],
                s=16,
                c=[colors[str(u)] for u in mm[key]],
                edgecolors="black",
                linewidths=0.5,
                zorder=3,
            )
            rows.append(mm.assign(**{group: g, "level": "mouse_mean", "x": mx}))
            top = mm.groupby(donor)[value].mean() if donor else mm[value]
            gm = float(top.mean())
            ax.hlines(gm, x - 0.3, x + 0.3, color="black", linewidth=1.2, zorder=4)
            rows.append(
                pd.DataFrame(
                    {
                        group: [g],
                        value: [gm],
                        "level": ["group_mean_of_" + ("donor" if donor else "mouse") + "_means"],
                        "x": [x],
                    }
                )
            )
        ax.set_xticks(range(len(groups)), groups)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylabel(ylabel or value)
        handles = [
            Line2D([], [], marker="o", ls="", ms=2, color="grey", alpha=0.6, label="cell"),
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                ms=4,
                mfc="grey",
                mec="black",
                mew=0.5,
                label="mouse mean",
            ),
            Line2D(
                [],
                [],
                color="black",
                lw=1.2,
                label="mean",
            ),
        ]
        _place_legend(ax, handles, legend)
        _record(ax, pd.concat(rows, ignore_index=True))
    return fig


def _place_legend(ax: Axes, handles: list, where: str | None) -> None:
    if where is None:
        return
    if where == "above":
        ax.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncols=3,
            handletextpad=0.2,
            columnspacing=0.8,
        )
    elif where == "right":
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5))
    elif where == "inside":
        ax.legend(handles=handles, loc="best")
    else:
        raise InputError(f"legend must be above, right, inside or None, not {where!r}")


def estimation_plot(
    data: pd.DataFrame,
    *,
    value: str,
    group: str = "group",
    reference: str | None = None,
    levels: tuple[str, ...] = ("donor_id", "mouse_id"),
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    ylabel: str | None = None,
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 60,
) -> Figure:
    """Gardner-Altman estimation plot on top-level (donor) means.

    Left: one dot per donor (mean of its mice) and each group's mean. Right, on an axis whose zero
    is the reference mean: the hierarchical-bootstrap distribution of the mean difference, the
    point estimate and its CI (:func:`fmslab.compare.bootstrap.hierarchical_bootstrap`, BCa).
    """
    _need(data, [value, group, *levels], "estimation plot")
    df = data.dropna(subset=[value]).copy()
    df[group] = df[group].astype(str)
    groups = _order(df, group, None)
    if len(groups) != 2:
        raise InputError(f"estimation plot: need 2 groups in '{group}', found {groups}")
    ref = reference or groups[0]
    trt = next(g for g in groups if g != ref)
    means = level_means(df, value, group=group, levels=levels, upto=1) if levels else df
    a, b = df[df[group] == ref], df[df[group] == trt]
    boot = hierarchical_bootstrap(
        build_tree(a[value], a, levels),
        build_tree(b[value], b, levels),
        n_resamples=n_resamples,
        confidence=confidence,
        rng=seed,
    )
    colors = group_colors([ref, trt])
    rng = np.random.default_rng(seed)
    with house_style():
        fig, ax = _axes(ax, width, height_mm)
        rows = []
        gm = {}
        for x, g in enumerate([ref, trt]):
            v = means.loc[means[group] == g, value].to_numpy(float)
            xs = x + rng.uniform(-0.12, 0.12, len(v))
            ax.scatter(
                xs, v, s=14, color=colors[g], edgecolors="black", linewidths=0.4, zorder=3, label=g
            )
            gm[g] = float(v.mean())
            ax.hlines(gm[g], x - 0.25, x + 0.25, color="black", lw=1.0)
            unit = levels[0] if levels else "row"
            rows.append(means.loc[means[group] == g].assign(level=f"{unit}_mean", x=xs))
        ax.set_xticks([0, 1], [ref, trt])
        ax.set_ylabel(ylabel or value)
        ax2 = ax.twinx()
        ax2.spines["right"].set_visible(True)
        dist = boot.distribution
        parts = ax2.violinplot([dist], positions=[2.1], widths=0.5, showextrema=False)
        for body in parts["bodies"]:
            body.set_facecolor(colors[trt])
            body.set_alpha(0.35)
        ax2.errorbar(
            [2.1],
            [boot.estimate],
            yerr=[[boot.estimate - boot.ci_low], [boot.ci_high - boot.estimate]],
            fmt="o",
            color="black",
            ms=3,
            capsize=0,
            lw=1,
        )
        lo, hi = ax.get_ylim()
        lo2 = min(lo - gm[ref], float(np.min(dist)))
        hi2 = max(hi - gm[ref], float(np.max(dist)))
        ax.set_ylim(lo2 + gm[ref], hi2 + gm[ref])
        ax2.set_ylim(lo2, hi2)
        ax2.axhline(0, color="grey", lw=0.5, ls=":")
        ax2.set_ylabel(f"{trt} - {ref} (mean difference)")
        ax.set_xlim(-0.5, 2.6)
        ax.set_xticks([0, 1, 2.1], [ref, trt, "difference"])
        pct = int(round(confidence * 100))
        rows.append(
            pd.DataFrame(
                {
                    "level": ["mean_difference"],
                    value: [boot.estimate],
                    "ci_low": [boot.ci_low],
                    "ci_high": [boot.ci_high],
                    "ci_method": [f"hierarchical bootstrap {boot.method} {pct}% ({n_resamples})"],
                }
            )
        )
        _record(ax, pd.concat(rows, ignore_index=True))
    return fig


def _group_curves(
    data: pd.DataFrame,
    *,
    x: str,
    y: str,
    group: str,
    unit: str,
    order: list[str] | None,
    ax: Axes,
    show_units: bool,
    marker: str,
) -> pd.DataFrame:
    """Mean +- SEM across units per group and x (each unit first averaged at each x)."""
    df = data.dropna(subset=[x, y]).copy()
    df[group] = df[group].astype(str)
    per_unit = df.groupby([group, unit, x], sort=True)[y].mean().reset_index()
    groups = _order(per_unit, group, order)
    colors = group_colors(groups)
    rows = []
    for g in groups:
        sub = per_unit[per_unit[group] == g]
        if show_units:
            for _, u in sub.groupby(unit):
                ax.plot(u[x], u[y], color=colors[g], alpha=0.25, lw=0.5)
        s = sub.groupby(x)[y].agg(["mean", "sem", "count"]).reset_index()
        ax.errorbar(
            s[x],
            s["mean"],
            yerr=s["sem"].fillna(0),
            color=colors[g],
            marker=marker,
            ms=3,
            capsize=1.5,
            lw=1,
            label=f"{g} (n = {sub[unit].nunique()})",
        )
        rows.append(
            s.rename(columns={"mean": f"mean_{y}", "sem": f"sem_{y}", "count": f"n_{unit}"}).assign(
                **{group: g}
            )
        )
    ax.legend()
    return pd.concat(rows, ignore_index=True)


def time_course(
    data: pd.DataFrame,
    *,
    x: str = "day",
    value: str,
    group: str = "group",
    unit: str = "mouse_id",
    order: list[str] | None = None,
    show_units: bool = True,
    xlabel: str | None = None,
    ylabel: str | None = None,
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 55,
) -> Figure:
    """Group mean +- SEM over time across units (mice), with thin per-unit lines."""
    _need(data, [x, value, group, unit], "time course")
    with house_style():
        fig, ax = _axes(ax, width, height_mm)
        src = _group_curves(
            data,
            x=x,
            y=value,
            group=group,
            unit=unit,
            order=order,
            ax=ax,
            show_units=show_units,
            marker="o",
        )
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel or value)
        _record(ax, src)
    return fig


def stimulus_response(
    data: pd.DataFrame,
    *,
    stimulus: str,
    response: str,
    group: str = "group",
    unit: str = "unit_id",
    order: list[str] | None = None,
    log_x: bool = False,
    show_units: bool = False,
    xlabel: str | None = None,
    ylabel: str | None = None,
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 55,
) -> Figure:
    """Response vs stimulus (force, temperature, current) per group: mean +- SEM across units."""
    _need(data, [stimulus, response, group, unit], "stimulus-response curve")
    with house_style():
        fig, ax = _axes(ax, width, height_mm)
        src = _group_curves(
            data,
            x=stimulus,
            y=response,
            group=group,
            unit=unit,
            order=order,
            ax=ax,
            show_units=show_units,
            marker="s",
        )
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel or stimulus)
        ax.set_ylabel(ylabel or response)
        _record(ax, src)
    return fig


def fi_curve(
    data: pd.DataFrame,
    *,
    current: str = "stim_pA",
    rate: str = "firing_rate_hz",
    group: str = "group",
    unit: str = "cell_id",
    **options: Any,
) -> Figure:
    """F-I curve: firing rate vs injected current, mean +- SEM across cells per group."""
    options.setdefault("xlabel", "Current (pA)")
    options.setdefault("ylabel", "Firing rate (Hz)")
    return stimulus_response(
        data, stimulus=current, response=rate, group=group, unit=unit, **options
    )


def example_traces(
    traces: pd.DataFrame,
    *,
    time: str = "time_ms",
    value: str = "vm_mv",
    trace: str = "sweep",
    color_by: str | None = None,
    offset: float = 0.0,
    scalebar: tuple[float, float] | None = (100.0, 20.0),
    units: tuple[str, str] = ("ms", "mV"),
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 45,
) -> Figure:
    """Example traces without axes, with an L-shaped scale bar (``scalebar=(time, value)``)."""
    _need(traces, [time, value, trace], "example traces")
    with house_style():
        fig, ax = _axes(ax, width, height_mm)
        keys = list(dict.fromkeys(traces[color_by].astype(str))) if color_by else []
        colors = group_colors(sorted(keys)) if color_by else {}
        for i, (name, sub) in enumerate(traces.groupby(trace, sort=False)):
            c = colors[str(sub[color_by].iloc[0])] if color_by else "black"
            ax.plot(sub[time], sub[value] + i * offset, color=c, lw=0.6, label=str(name))
        ax.set_axis_off()
        if scalebar:
            tx, vy = scalebar
            x1 = float(traces[time].max())
            span = float(traces[value].max() - traces[value].min()) or 1.0
            y0 = float(traces[value].min()) - 0.05 * span
            ax.plot([x1 - tx, x1], [y0, y0], color="black", lw=1)
            ax.plot([x1, x1], [y0, y0 + vy], color="black", lw=1)
            labels = [
                ax.text(x1 - tx / 2, y0, f"{tx:g} {units[0]}", ha="center", va="top"),
                ax.text(x1, y0 + vy / 2, f" {vy:g} {units[1]}", ha="left", va="center"),
            ]
            for label in labels:  # kept out of constrained layout (it cannot place them)
                label.set_in_layout(False)
            ax.margins(x=0.15, y=0.08)
        _record(ax, traces[[c for c in (trace, time, value, color_by) if c]].copy())
    return fig


def volcano(
    data: pd.DataFrame,
    *,
    lfc: str = "log2FoldChange",
    p: str = "padj",
    label: str | None = "gene",
    alpha: float = 0.05,
    lfc_threshold: float = 1.0,
    n_labels: int = 10,
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 65,
) -> Figure:
    """Volcano plot: log2 fold change vs -log10 adjusted p; up/down coloured, top genes named."""
    _need(data, [lfc, p] + ([label] if label else []), "volcano")
    df = data.dropna(subset=[lfc, p]).copy()
    floor = np.nextafter(0, 1)
    df["neg_log10_p"] = -np.log10(df[p].clip(lower=floor))
    sig = df[p] < alpha
    df["category"] = np.select(
        [sig & (df[lfc] >= lfc_threshold), sig & (df[lfc] <= -lfc_threshold)], ["up", "down"], "ns"
    )
    colors = {"ns": "#BBBBBB", "up": OKABE_ITO[5], "down": OKABE_ITO[4]}
    with house_style():
        fig, ax = _axes(ax, width, height_mm)
        for cat in ("ns", "down", "up"):
            sub = df[df["category"] == cat]
            ax.scatter(
                sub[lfc],
                sub["neg_log10_p"],
                s=3,
                color=colors[cat],
                linewidths=0,
                label=f"{cat} ({len(sub)})",
                rasterized=len(sub) > 5000,
            )
        ax.axhline(-np.log10(alpha), color="grey", lw=0.5, ls="--")
        for v in (-lfc_threshold, lfc_threshold):
            ax.axvline(v, color="grey", lw=0.5, ls="--")
        if label and n_labels:
            top = df[df["category"] != "ns"].nsmallest(n_labels, p)
            for r in top.itertuples():
                ax.annotate(
                    str(getattr(r, label)),
                    (getattr(r, lfc), r.neg_log10_p),
                    fontsize=5,
                    xytext=(2, 2),
                    textcoords="offset points",
                )
        ax.set_xlabel("log$_2$ fold change")
        ax.set_ylabel("-log$_{10}$ adjusted p")
        ax.legend(markerscale=2)
        _record(ax, df[[c for c in (label, lfc, p, "neg_log10_p", "category") if c]])
    return fig


def heatmap(
    matrix: pd.DataFrame,
    *,
    center: float | None = None,
    cmap: str | None = None,
    colorbar_label: str = "",
    row_labels: bool = True,
    col_labels: bool = True,
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 70,
) -> Figure:
    """Heatmap of a numeric matrix (rows x columns of a DataFrame).

    With ``center`` the colour scale is symmetric around it (diverging ``RdBu_r``, a colour-blind
    safe ColorBrewer scheme); otherwise sequential ``cividis``.
    """
    values = matrix.apply(pd.to_numeric, errors="coerce").to_numpy(float)
    with house_style():
        fig, ax = _axes(ax, width, height_mm)
        if center is not None:
            span = float(np.nanmax(np.abs(values - center))) or 1.0
            kw = {"vmin": center - span, "vmax": center + span, "cmap": cmap or "RdBu_r"}
        else:
            kw = {"cmap": cmap or "cividis"}
        mesh = ax.pcolormesh(values, **kw)
        ax.invert_yaxis()
        ax.set_xticks(
            np.arange(values.shape[1]) + 0.5,
            matrix.columns.astype(str) if col_labels else [""] * values.shape[1],
            rotation=90,
        )
        ax.set_yticks(
            np.arange(values.shape[0]) + 0.5,
            matrix.index.astype(str) if row_labels else [""] * values.shape[0],
        )
        ax.tick_params(length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        fig.colorbar(mesh, ax=ax, label=colorbar_label, shrink=0.8)
        _record(ax, matrix.reset_index())
    return fig
