"""Plot functions: data first, options keyword-only; they return the Figure and never pick a path.

Each draws into ``ax`` when given (for multi-panel figures) or into a new figure of a journal width,
inside :func:`fmslab.figures.style.house_style`. The exact numbers drawn are recorded on the Axes as
a tidy DataFrame, retrieved with :func:`source_data` (journals ask for one source-data file per
panel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from fmslab.figures.annotate import place_labels
from fmslab.figures.groups import GroupStyle
from fmslab.figures.style import OKABE_ITO, figure_size, group_colors, house_style
from fmslab.figures.vocabulary import axis_label

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


def _order(data: pd.DataFrame, group: str, order: Sequence[str] | None) -> list[str]:
    """Groups present in display order: ``order`` if given, else the default (control first)."""
    present = data[group].dropna().astype(str).unique()
    return GroupStyle(order=tuple(order or ())).arrange(present)


def _palette(
    groups: list[str], order: Sequence[str] | None, colors: Mapping[str, str] | None
) -> dict[str, str]:
    """Colour per group from the study's group style (``order``/``colors``, see figures.groups)."""
    return GroupStyle(order=tuple(order or ()), colors=dict(colors or {})).palette(groups)


def _value_label(data: pd.DataFrame, value: str) -> str:
    """Axis label of ``value``; a generic ``value`` column is named by its ``measure``/``unit``
    columns when they hold one measure (behaviour tables: ``threshold_g`` in ``g``)."""
    if value == "value" and "measure" in data.columns:
        measures = data["measure"].dropna().astype(str).unique()
        if len(measures) == 1:
            units = data["unit"].dropna().astype(str).unique() if "unit" in data.columns else []
            return axis_label(measures[0], unit=units[0] if len(units) == 1 else None)
    return axis_label(value)


def _singular(noun: str) -> str:
    return {"mice": "mouse"}.get(noun, noun[:-1] if noun.endswith("s") else noun)


def _n_text(sub: pd.DataFrame, columns: Sequence[tuple[str, str]]) -> str:
    """ "3 donors, 6 mice, 24 cells" for the id columns present in ``sub``."""
    parts = []
    for col, noun in columns:
        if col in sub.columns:
            n = int(sub[col].nunique()) if col else len(sub)
            parts.append(f"{n} {noun if n != 1 else _singular(noun)}")
    return ", ".join(parts)


#: Markers cycled per donor once the colours run out (so no two donors look alike).
UNIT_MARKERS = ("o", "s", "^", "D", "v", "P")


def key_noun(column: str) -> str:
    """``donor_id`` -> ``donor`` (for legend text)."""
    return column[:-3] if column.endswith("_id") else column


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
    stat: str | None = None,
    cell: str = "cells",
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 60,
    seed: int = 0,
    legend: str | None = "above",
) -> Figure:
    """SuperPlot (Lord et al. 2020): every cell, coloured by donor (or mouse), with mouse means.

    Cells are small translucent dots (jitter from a seeded generator), mouse means larger dots with
    a black edge in the same colour, and the group mean of donor means a black bar: the eye sees
    the replicates that the statistics use ("mean of donor means" in the legend). Each donor has
    its own colour and marker across the whole panel (listed in the legend), and each group's
    tick label gives its n (donors, mice, ``cell`` rows). ``stat`` (e.g. "mixed model p = 0.02")
    is written under the axis. ``legend``: ``"above"`` (over the panel), ``"right"`` (outside),
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
        df[key] = df[key].astype(str)
        # one colour + marker per donor over the whole panel (never reused in another group)
        units = [u for g in groups for u in sorted(df.loc[df[group] == g, key].unique())]
        colors = group_colors(units)
        n_col = len({*colors.values()})
        markers = {u: UNIT_MARKERS[(i // n_col) % len(UNIT_MARKERS)] for i, u in enumerate(units)}
        rows = []
        ticks = []
        for x, g in enumerate(groups):
            sub = df[df[group] == g]
            ticks.append(
                g
                + "\n"
                + _n_text(sub, [(c, n) for c, n in ((donor, "donors"), (mouse, "mice")) if c])
                + f"\n{len(sub)} {cell if len(sub) != 1 else _singular(cell)}"
            )
            jitter = x + rng.uniform(-0.22, 0.22, len(sub))
            for u, su in sub.assign(_x=jitter).groupby(key, sort=False):
                ax.scatter(
                    su["_x"],
                    su[value],
                    s=4,
                    color=colors[u],
                    marker=markers[u],
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
            for xi, (_, r) in zip(mx, mm.iterrows(), strict=True):
                u = str(r[key])
                ax.scatter(
                    [xi],
                    [r[value]],
                    s=16,
                    color=colors[u],
                    marker=markers[u],
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
        ax.set_xticks(range(len(groups)), ticks)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylabel(ylabel or axis_label(value))
        if stat:
            ax.set_xlabel(stat)
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
            Line2D([], [], color="black", lw=1.2, label=f"mean of {key_noun(key)} means"),
        ]
        handles += [
            Line2D([], [], marker=markers[u], ls="", ms=3, color=colors[u], label=u) for u in units
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
            ncols=min(len(handles), 4),
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
    order: list[str] | None = None,
    colors: Mapping[str, str] | None = None,
    stat: str | None = None,
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 60,
) -> Figure:
    """Gardner-Altman estimation plot on top-level (donor) means.

    Left: one dot per donor (mean of its mice) and each group's mean. Right, on an axis whose zero
    is the reference mean: the hierarchical-bootstrap distribution of the mean difference, the
    point estimate and its CI (:func:`fmslab.compare.bootstrap.hierarchical_bootstrap`, BCa).
    Group order and colours follow ``order``/``colors`` (the study's group style); tick labels give
    the number of top-level units; ``stat`` is written under the axis.
    """
    _need(data, [value, group, *levels], "estimation plot")
    df = data.dropna(subset=[value]).copy()
    df[group] = df[group].astype(str)
    groups = _order(df, group, order)
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
    colors = _palette(groups, order, colors)
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
        ax.set_ylabel(ylabel or axis_label(value))
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
        pct = int(round(confidence * 100))
        ax2.set_ylabel(f"{trt} \u2212 {ref}, mean difference ({pct}% CI)")
        ax.set_xlim(-0.5, 2.6)
        top = levels[0] if levels else None
        ticks = [
            f"{g}\n" + (_n_text(df[df[group] == g], [(top, key_noun(top) + "s")]) if top else "")
            for g in (ref, trt)
        ]
        ax.set_xticks([0, 1, 2.1], [*ticks, "difference"])
        if stat:
            ax.set_xlabel(stat)
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
    colors: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Mean +- SEM across units per group and x (each unit first averaged at each x).

    The legend (above the panel, so it never covers data) names each group with its number of
    units and says what the points and bars are.
    """
    df = data.dropna(subset=[x, y]).copy()
    df[group] = df[group].astype(str)
    per_unit = df.groupby([group, unit, x], sort=True)[y].mean().reset_index()
    groups = _order(per_unit, group, order)
    colors = _palette(groups, order, colors)
    noun = {"mouse": "mice", "cell": "cells", "unit": "units"}.get(key_noun(unit), key_noun(unit))
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
            label=f"{g} ({sub[unit].nunique()} {noun})",
        )
        rows.append(
            s.rename(columns={"mean": f"mean_{y}", "sem": f"sem_{y}", "count": f"n_{unit}"}).assign(
                **{group: g}
            )
        )
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=min(len(groups), 3),
        title=f"mean \u00b1 SEM across {noun}",
        title_fontsize=plt.rcParams["legend.fontsize"],
        handletextpad=0.3,
        columnspacing=1.0,
    )
    return pd.concat(rows, ignore_index=True)


def time_course(
    data: pd.DataFrame,
    *,
    x: str = "day",
    value: str,
    group: str = "group",
    unit: str = "mouse_id",
    order: list[str] | None = None,
    colors: Mapping[str, str] | None = None,
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
            colors=colors,
        )
        ax.set_xlabel(xlabel or axis_label(x))
        ax.set_ylabel(ylabel or _value_label(data, value))
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
    colors: Mapping[str, str] | None = None,
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
            colors=colors,
        )
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel or axis_label(stimulus))
        ax.set_ylabel(ylabel or axis_label(response))
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
    lfc_threshold: float = 0.0,
    n_labels: int = 10,
    highlight: Sequence[str] | Mapping[str, str] | pd.Series | None = None,
    highlight_name: str = "candidate channels",
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 65,
) -> Figure:
    """Volcano plot: log2 fold change vs -log10 adjusted p.

    A gene is "up" or "down" when ``p < alpha`` and ``|lfc| >= lfc_threshold`` (default 0: the
    adjusted p alone decides, as in the DE test; a fold-change cut-off is drawn only when given).
    Labels go to the ``n_labels`` genes of smallest ``p`` among the significant ones, the
    ``highlight`` genes (e.g. candidate ion channels; a mapping gives their display names) first;
    they are placed so that no two overlap (:func:`fmslab.figures.annotate.place_labels`).
    Highlighted genes are drawn larger with a black edge whatever their p.
    """
    _need(data, [lfc, p] + ([label] if label else []), "volcano")
    df = data.dropna(subset=[lfc, p]).copy()
    floor = np.nextafter(0, 1)
    df["neg_log10_p"] = -np.log10(df[p].clip(lower=floor))
    sig = df[p] < alpha
    df["category"] = np.select(
        [sig & (df[lfc] >= lfc_threshold) & (df[lfc] > 0),
         sig & (df[lfc] <= -lfc_threshold) & (df[lfc] < 0)],
        ["up", "down"],
        "ns",
    )  # fmt: skip
    names = _highlight_names(highlight)
    key = df[label].astype(str) if label else pd.Series(df.index.astype(str), index=df.index)
    df["highlight"] = key.isin(names)
    colors = {"ns": "#BBBBBB", "up": OKABE_ITO[5], "down": OKABE_ITO[4]}
    words = {"ns": "not significant", "up": "up", "down": "down"}
    with house_style():
        fig, ax = _axes(ax, width, height_mm)
        for cat in ("ns", "down", "up"):
            sub = df[(df["category"] == cat) & ~df["highlight"]]
            n_cat = int((df["category"] == cat).sum())
            ax.scatter(
                sub[lfc],
                sub["neg_log10_p"],
                s=3,
                color=colors[cat],
                linewidths=0,
                label=f"{words[cat]} ({n_cat})",
                rasterized=len(sub) > 5000,
            )
        hl = df[df["highlight"]]
        if len(hl):
            ax.scatter(
                hl[lfc],
                hl["neg_log10_p"],
                s=9,
                c=[colors[c] for c in hl["category"]],
                edgecolors="black",
                linewidths=0.4,
                zorder=3,
                label=f"{highlight_name} ({len(hl)})",
            )
        ax.axhline(-np.log10(alpha), color="grey", lw=0.5, ls="--")
        if lfc_threshold > 0:
            for v in (-lfc_threshold, lfc_threshold):
                ax.axvline(v, color="grey", lw=0.5, ls="--")
        ax.set_xlabel("log$_2$ fold change")
        ax.set_ylabel(f"\u2212log$_{{10}}$ {'adjusted p' if p == 'padj' else p}")
        ax.legend(
            markerscale=1.5,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncols=2,
            title=f"adjusted p < {alpha:g}"
            + (f", |log$_2$FC| \u2265 {lfc_threshold:g}" if lfc_threshold > 0 else ""),
            title_fontsize=plt.rcParams["legend.fontsize"],
        )
        df["labelled"] = False
        if label and n_labels:
            cand = df[df["category"] != "ns"].copy()
            cand["_rank"] = np.where(cand["highlight"], 0, 1) if names else 0
            top = cand.sort_values(["_rank", p, "neg_log10_p"], ascending=[True, True, False])
            top = top.head(n_labels)
            texts = [names.get(str(g), str(g)) if names else str(g) for g in top[label]]
            ok = place_labels(ax, top[lfc].tolist(), top["neg_log10_p"].tolist(), texts)
            df.loc[top.index[np.asarray(ok, bool)], "labelled"] = True
        keep = [c for c in (label, lfc, p, "neg_log10_p", "category", "highlight", "labelled") if c]
        _record(ax, df[keep])
    return fig


def _highlight_names(
    highlight: Sequence[str] | Mapping[str, str] | pd.Series | None,
) -> dict[str, str]:
    """Gene -> display name of the genes to highlight."""
    if highlight is None:
        return {}
    if isinstance(highlight, pd.Series):
        return {str(k): str(v) for k, v in highlight.items()}
    if isinstance(highlight, Mapping):
        return {str(k): str(v) for k, v in highlight.items()}
    return {str(g): str(g) for g in highlight}


def _noun_of(name: object, default: str) -> str:
    """``gene`` / ``sample_id`` -> ``genes`` / ``samples`` (what one row or column is)."""
    if not isinstance(name, str) or not name:
        return default
    noun = key_noun(name).replace("_", " ")
    return noun if noun.endswith("s") else noun + "s"


def _count(n: int, noun: str) -> str:
    """``"12 samples"`` (``"1 sample"``)."""
    return f"{n} {noun if n != 1 else _singular(noun)}"


def heatmap(
    matrix: pd.DataFrame,
    *,
    center: float | None = None,
    cmap: str | None = None,
    colorbar_label: str = "",
    row_labels: bool = True,
    col_labels: bool = True,
    row_noun: str | None = None,
    col_noun: str | None = None,
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 70,
) -> Figure:
    """Heatmap of a numeric matrix (rows x columns of a DataFrame).

    With ``center`` the colour scale is symmetric around it (diverging ``RdBu_r``, a colour-blind
    safe ColorBrewer scheme); otherwise sequential ``cividis``. The panel states its n on the axes
    ("12 samples", "30 genes": ``row_noun``/``col_noun``, plural; default from the index and
    column names, e.g. ``gene`` -> genes) and what the colour is on the colour bar
    (``colorbar_label``, e.g. "VST \u2212 gene mean").
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
        n_rows, n_cols = values.shape
        ax.set_ylabel(_count(n_rows, row_noun or _noun_of(matrix.index.name, "rows")))
        ax.set_xlabel(_count(n_cols, col_noun or _noun_of(matrix.columns.name, "columns")))
        fig.colorbar(mesh, ax=ax, label=colorbar_label, shrink=0.8)
        _record(ax, matrix.reset_index())
    return fig
