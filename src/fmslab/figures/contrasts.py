"""Figures of k-group comparisons: planned contrasts from the statistics table of
:func:`fmslab.compare.compare_outcomes` (``stats.csv`` / catalog ``compare_stats``).

- :func:`forest_plot` — each planned contrast of each outcome: estimate and CI, zero line,
  adjusted p; one panel per outcome (outcomes have different units).
- :func:`contrast_estimation_plot` — k groups in the study's order and colours: donor means and
  group means on the left, the planned contrasts (estimate and CI) on a difference axis right.
- :func:`time_course_contrasts` — the time course (group mean +- SEM across mice, study order and
  colours) with per-day contrast marks: a star above a day where a planned contrast's adjusted p
  (Holm over contrasts x days) is below 0.05, one row of marks per contrast.

Like :mod:`fmslab.figures.plots` they return the Figure (or draw into ``ax``) and record the
drawn numbers on each Axes (:func:`fmslab.figures.plots.source_data`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fmslab.compare.summary import level_means
from fmslab.errors import InputError
from fmslab.figures.groups import GroupStyle
from fmslab.figures.plots import _record, time_course
from fmslab.figures.style import figure_size, house_style
from fmslab.figures.vocabulary import axis_label

STAT_COLUMNS = ("outcome", "test", "contrast", "model", "estimate", "ci_low", "ci_high")


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _planned(stats: pd.DataFrame, model: str, test: str = "contrast") -> pd.DataFrame:
    missing = [c for c in STAT_COLUMNS if c not in stats.columns]
    if missing:
        raise InputError(f"statistics table lacks column(s) {missing} (use compare's stats.csv)")
    rows = stats[(stats["test"] == test) & (stats["model"] == model)]
    if rows.empty:
        raise InputError(f"no '{test}' rows of model '{model}' in the statistics table")
    return rows


def _p_text(row: pd.Series) -> str:
    """``p (holm) = 0.03`` from ``p_adj``/``adjustment``, else the raw ``p``."""
    p, how = row.get("p_adj", np.nan), str(row.get("adjustment", "") or "")
    if np.isfinite(p) and how and not how.startswith("none"):
        return f"p ({how.split()[0]}) = {p:.2g}"
    p = row.get("p", np.nan)
    return f"p = {p:.2g}" if np.isfinite(p) else ""


def forest_plot(
    stats: pd.DataFrame,
    *,
    outcomes: Sequence[str] | None = None,
    contrasts: Sequence[str] | None = None,
    model: str = "lmm",
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = None,
) -> Figure:
    """Planned contrasts per outcome: estimate (dot) and CI (bar), dashed zero line.

    Parameters
    ----------
    stats
        The statistics table; rows with ``test == "contrast"`` and ``model == model`` are drawn.
    outcomes, contrasts
        Which outcomes (panels, top down) and contrasts (rows, top down); default: table order.
    model
        ``lmm`` (containment df, the primary), ``lmm_satterthwaite``, ``welch_donor_means``, ...
    ax
        Draw the first outcome into this Axes (a panel of a composed figure).

    Each row is labelled with the contrast name and its adjusted p (``p_adj``; the correction is
    in the table's ``adjustment`` column).
    """
    rows = _planned(stats, model)
    outs = list(outcomes) if outcomes else list(dict.fromkeys(rows["outcome"]))
    names = list(contrasts) if contrasts else list(dict.fromkeys(rows["contrast"]))
    height = height_mm or 12 + 8 * len(names) * len(outs)
    with house_style():
        if ax is not None:
            fig, axes, outs = ax.figure, [ax], outs[:1]
        else:
            fig = plt.figure(figsize=figure_size(width, height), layout="constrained")
            axes = fig.subplots(len(outs), 1, squeeze=False)[:, 0]
        for ax, outcome in zip(axes, outs, strict=True):
            sub = rows[rows["outcome"] == outcome].set_index("contrast")
            sub = sub.reindex([n for n in names if n in sub.index])
            y = np.arange(len(sub))[::-1]
            est = sub["estimate"].to_numpy(float)
            lo, hi = sub["ci_low"].to_numpy(float), sub["ci_high"].to_numpy(float)
            ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", color="black", ms=3.5,
                        capsize=2, lw=0.9)  # fmt: skip
            ax.axvline(0.0, color="0.5", lw=0.7, ls="--")
            ax.set_yticks(y, [f"{c}   {_p_text(r)}" for c, r in sub.iterrows()])
            ax.set_xlabel(f"difference in {axis_label(outcome)}")
            ax.set_title(axis_label(outcome), loc="left", fontsize="medium")
            _record(ax, sub.reset_index()[["contrast", "estimate", "ci_low", "ci_high", "p"]
                                          + (["p_adj"] if "p_adj" in sub else [])])  # fmt: skip
    return fig


def contrast_estimation_plot(
    data: pd.DataFrame,
    stats: pd.DataFrame,
    *,
    value: str,
    group: str = "group",
    levels: tuple[str, ...] = ("donor_id", "mouse_id"),
    order: Sequence[str] | None = None,
    colors: Mapping[str, str] | None = None,
    model: str = "lmm",
    seed: int = 0,
    width: str | float = "double",
    height_mm: float | None = 60,
) -> Figure:
    """k groups (study order and colours): donor means and group means left; the planned
    contrasts of ``value`` (estimate and CI from ``stats``) right, on a difference axis.

    ``data`` is the compared rows (compare's ``data.csv``); the donor mean is the mean of its
    mice's means, as in the donor-mean routes.
    """
    if value not in data.columns or group not in data.columns:
        raise InputError(f"estimation plot: data lacks '{value}' or '{group}'")
    df = data.dropna(subset=[value]).copy()
    df[group] = df[group].astype(str)
    style = GroupStyle(order=tuple(order or ()), colors=dict(colors or {}))
    groups = style.arrange(df[group].unique())
    palette = style.palette(groups)
    means = level_means(df, value, group=group, levels=levels, upto=1) if levels else df
    rows = _planned(stats, model)
    rows = rows[rows["outcome"] == value]
    rng = np.random.default_rng(seed)
    with house_style():
        fig = plt.figure(figsize=figure_size(width, height_mm), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[max(len(groups), 2), max(len(rows), 2)])
        src = []
        for i, g in enumerate(groups):
            v = means.loc[means[group] == g, value].to_numpy(float)
            x = i + rng.uniform(-0.15, 0.15, len(v))
            left.scatter(x, v, s=14, color=palette[g], edgecolor="black", lw=0.4, zorder=3)
            left.hlines(v.mean() if len(v) else np.nan, i - 0.3, i + 0.3, color="black", lw=1.2)
            src += [{"panel": "groups", "group": g, "x": xi, "value": vi}
                    for xi, vi in zip(x, v, strict=True)]  # fmt: skip
        left.set_xticks(range(len(groups)), [
            f"{g}\n{int((means[group] == g).sum())} {levels[0].removesuffix('_id') if levels else 'rows'}s"
            for g in groups])  # fmt: skip
        left.set_ylabel(axis_label(value))
        left.set_title(f"{levels[0].removesuffix('_id') if levels else 'row'} means",
                       loc="left", fontsize="medium")  # fmt: skip
        for j, (_, r) in enumerate(rows.iterrows()):
            color = palette.get(str(r.get("treatment")), "black")
            right.errorbar([j], [r["estimate"]], yerr=[[r["estimate"] - r["ci_low"]],
                           [r["ci_high"] - r["estimate"]]], fmt="o", color=color, ms=4,
                           capsize=2, lw=1.0)  # fmt: skip
            right.annotate(_p_text(r), (j, r["ci_high"]), xytext=(0, 3),
                           textcoords="offset points", ha="center", fontsize="small")  # fmt: skip
            src.append({"panel": "contrasts", "group": r["contrast"], "x": j,
                        "value": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]})  # fmt: skip
        right.axhline(0.0, color="0.5", lw=0.7, ls="--")
        right.set_xticks(range(len(rows)), [str(c).replace(" vs ", "\nvs ").replace(" - ", "\n- ")
                                            for c in rows["contrast"]])  # fmt: skip
        right.set_xlim(-0.6, max(len(rows), 1) - 0.4)
        right.set_ylabel(f"difference ({model}, 95% CI)")
        _record(left, pd.DataFrame([s for s in src if s["panel"] == "groups"]))
        _record(right, pd.DataFrame([s for s in src if s["panel"] == "contrasts"]))
    return fig


def time_course_contrasts(
    data: pd.DataFrame,
    stats: pd.DataFrame,
    *,
    value: str,
    x: str = "day",
    group: str = "group",
    unit: str = "mouse_id",
    order: Sequence[str] | None = None,
    colors: Mapping[str, str] | None = None,
    contrasts: Sequence[str] | None = None,
    alpha: float = 0.05,
    model: str = "lmm_satterthwaite",
    ax: Axes | None = None,
    width: str | float = "single",
    height_mm: float | None = 65,
) -> Figure:
    """Time course with per-day contrast marks (see module docstring).

    ``stats`` must hold ``test == "per_day"`` rows of ``value`` (``fmslab compare --day``). A
    day's mark is the stars of its adjusted p (``*`` < 0.05, ``**`` < 0.01, ``***`` < 0.001), in
    the colour of the contrast's target group, on the contrast's row above the curves; the rows
    are named at the right.
    """
    style = GroupStyle(order=tuple(order or ()), colors=dict(colors or {}))
    groups = style.arrange(data[group].dropna().astype(str).unique())
    palette = style.palette(groups)
    rows = _planned(stats, model, test="per_day")
    rows = rows[rows["outcome"] == value]
    names = list(contrasts) if contrasts else list(dict.fromkeys(rows["contrast"]))
    fig = time_course(data, x=x, value=value, group=group, unit=unit, order=list(groups),
                      colors=palette, ax=ax, width=width, height_mm=height_mm)  # fmt: skip
    ax = fig.axes[0] if ax is None else ax
    with house_style():
        lo, hi = ax.get_ylim()
        step = 0.07 * (hi - lo)
        marks = []
        for k, name in enumerate(names):
            level = hi + step * (k + 0.5)
            sub = rows[rows["contrast"] == name]
            target = str(sub["treatment"].iloc[0]) if len(sub) else ""
            color = palette.get(target, "black")
            for r in sub.itertuples():
                p = r.p_adj if np.isfinite(getattr(r, "p_adj", np.nan)) else r.p
                star = _stars(p) if p < alpha else ""
                if star:
                    ax.text(r.day, level, star, ha="center", va="center", color=color,
                            fontsize="small")  # fmt: skip
                marks.append({"contrast": name, "day": r.day, "estimate": r.estimate,
                              "p_adj": p, "mark": star})  # fmt: skip
            ax.annotate(name, (1.0, level), xycoords=("axes fraction", "data"), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize="x-small",
                        color=color)  # fmt: skip
        ax.set_ylim(lo, hi + step * (len(names) + 0.5))
        old = getattr(ax, "fmslab_source_data", pd.DataFrame())
        ax.fmslab_contrast_marks = pd.DataFrame(marks)
        _record(ax, old)
    return fig
