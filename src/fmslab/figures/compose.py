"""Multi-panel figures from a YAML spec: layout, panel letters, shared legend, source data.

A spec (``figures.yaml``)::

    study: ../my_study            # optional: catalog tables can be named instead of files
    figures:
      - name: figure2
        width: double             # single (85 mm), double (180 mm) or mm
        height_mm: 110
        layout: ["aab", "cde"]    # matplotlib mosaic: one character per panel ("." = empty)
        shared_legend: true       # one legend under the figure instead of one per panel
        panels:
          a: {type: superplot, table: compare/data.csv, value: rheobase_pA, order: [HC, FMS]}
          b: {type: estimation, table: compare/data.csv, value: rheobase_pA, reference: HC}
          c: {type: time_course, table: behaviour_mouse_day, x: day, value: threshold_g}
          d: {type: volcano, table: rnaseq_de}
          e: {type: heatmap, table: z.csv, index: gene, center: 0}

``table`` is a .csv/.parquet path (relative to the spec) or a catalog table name; ``where`` filters
rows with a pandas query; other keys are the plot function's keyword options.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import yaml
from matplotlib.figure import Figure

from fmslab.errors import InputError
from fmslab.figures import contrasts, plots
from fmslab.figures.groups import GroupStyle
from fmslab.figures.style import figure_size, house_style

PLOTS: dict[str, Callable[..., Figure]] = {
    "superplot": plots.superplot,
    "estimation": plots.estimation_plot,
    "time_course": plots.time_course,
    "fi_curve": plots.fi_curve,
    "stimulus_response": plots.stimulus_response,
    "example_traces": plots.example_traces,
    "volcano": plots.volcano,
    "heatmap": plots.heatmap,
    # planned contrasts of k groups from a compare stats.csv (fmslab.figures.contrasts)
    "forest": contrasts.forest_plot,
}
_RESERVED = {"type", "table", "where", "index", "columns", "stats", "highlight_table",
             "highlight_column", "highlight_label"}  # fmt: skip
#: Panel types that take the study's group order / colours.
_ORDERED = {"superplot", "estimation", "time_course", "fi_curve", "stimulus_response"}
_COLOURED = _ORDERED - {"superplot"}  # a SuperPlot colours donors, not groups
_FIGURE_KEYS = {"name", "width", "height_mm", "layout", "panels", "shared_legend", "letters"}


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read and check a figures spec; errors name the file and the figure/panel."""
    path = Path(path)
    if not path.is_file():
        raise InputError("figures spec not found", file=path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", file=path) from exc
    figures = spec.get("figures") if isinstance(spec, dict) else None
    if not isinstance(figures, list) or not figures:
        raise InputError("needs a non-empty 'figures:' list", file=path)
    for i, fig in enumerate(figures):
        name = fig.get("name") if isinstance(fig, dict) else None
        if not name:
            raise InputError(f"figure #{i + 1} has no name", file=path)
        unknown = sorted(set(fig) - _FIGURE_KEYS)
        if unknown:
            raise InputError(
                f"figure '{name}': unknown key(s) {unknown}; known: {sorted(_FIGURE_KEYS)}",
                file=path,
            )
        panels = fig.get("panels") or {}
        if not isinstance(panels, dict) or not panels:
            raise InputError(f"figure '{name}': needs 'panels:'", file=path)
        for key, panel in panels.items():
            kind = panel.get("type") if isinstance(panel, dict) else None
            if kind not in PLOTS:
                raise InputError(
                    f"figure '{name}' panel '{key}': type must be one of "
                    f"{sorted(PLOTS)}, not {kind!r}",
                    file=path,
                )
            if "table" not in panel:
                raise InputError(f"figure '{name}' panel '{key}': needs 'table:'", file=path)
        layout = fig.get("layout")
        if layout is not None:
            keys = {ch for row in layout for ch in row if ch != "."}
            if keys != {str(k) for k in panels}:
                raise InputError(
                    f"figure '{name}': layout panels {sorted(keys)} differ from panels "
                    f"{sorted(map(str, panels))}",
                    file=path,
                )
    return spec


def panel_data(panel: dict[str, Any], load: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
    """The panel's table, filtered by ``where`` and shaped by ``index``/``columns`` (heatmaps)."""
    df = load(str(panel["table"]))
    if panel.get("where"):
        try:
            df = df.query(panel["where"])
        except Exception as exc:  # pandas raises many types for a bad expression
            raise InputError(
                f"bad 'where' {panel['where']!r}: {exc}", file=str(panel["table"])
            ) from exc
    if panel.get("index"):
        df = df.set_index(panel["index"])
    if panel.get("columns"):
        df = df[list(panel["columns"])]
    elif panel["type"] == "heatmap":
        df = df.select_dtypes("number")
    return df


def build_figure(
    fig_spec: dict[str, Any],
    load: Callable[[str], pd.DataFrame],
    *,
    groups: GroupStyle | None = None,
) -> tuple[Figure, dict[str, pd.DataFrame]]:
    """Draw one figure of a spec; return it and the source data of each panel (by letter).

    ``groups`` (the study's group order and colours, :func:`fmslab.figures.groups.study_group_style`)
    applies to every panel that does not set ``order``/``colors`` itself.
    """
    panels = fig_spec["panels"]
    layout = fig_spec.get("layout") or [list(map(str, panels))]
    layout = [list(row) if isinstance(row, str) else [str(c) for c in row] for row in layout]
    upper = str(fig_spec.get("letters", "lower")) == "upper"
    with house_style():
        fig = plt.figure(
            figsize=figure_size(fig_spec.get("width", "double"), fig_spec.get("height_mm")),
            layout="constrained",
        )
        axd = fig.subplot_mosaic(layout, empty_sentinel=".")
        sources: dict[str, pd.DataFrame] = {}
        for key, panel in panels.items():
            key = str(key)
            ax = axd[key]
            options = {k: v for k, v in panel.items() if k not in _RESERVED}
            options.update(_linked_options(panel, load))
            if groups is not None and panel["type"] in _ORDERED and groups.order:
                options.setdefault("order", list(groups.order))
            if groups is not None and panel["type"] in _COLOURED and groups.colors:
                options.setdefault("colors", dict(groups.colors))
            try:
                PLOTS[panel["type"]](panel_data(panel, load), ax=ax, **options)
            except TypeError as exc:
                raise InputError(f"panel '{key}' ({panel['type']}): {exc}") from exc
            sources[key.upper() if upper else key.lower()] = plots.source_data(ax)
        if fig_spec.get("shared_legend"):
            _shared_legend(fig, list(axd.values()))
        for key in map(str, panels):
            ax = axd[key]
            # the letter sits above the top-left corner, and above a legend placed over the panel
            ax.annotate(
                key.upper() if upper else key.lower(),
                xy=(0, 1),
                xycoords="axes fraction",
                xytext=(-22, 6 + _legend_above_pt(fig, ax)),
                textcoords="offset points",
                fontsize=9,
                fontweight="bold",
                va="bottom",
                ha="left",
            )
    return fig, sources


def _linked_options(panel: dict[str, Any], load: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    """Options read from other tables: the statistic of a panel, the genes a volcano highlights.

    - ``stats: compare/stats.csv`` (superplot, estimation): the primary row whose ``outcome`` is
      the panel's ``value`` becomes the line under the axis ("mixed model: -49 pA [-86, -12],
      p = 0.02").
    - ``highlight_table: rnaseq/channels.csv`` (volcano): its ``highlight_column`` (``gene``) genes
      are outlined and labelled first, named by ``highlight_label`` (``symbol``) when present.
    """
    out: dict[str, Any] = {}
    if panel.get("stats") and "stat" not in panel:
        from fmslab.display import stat_line
        from fmslab.figures.vocabulary import unit_of

        stats = load(str(panel["stats"]))
        value = str(panel.get("value", ""))
        rows = stats[(stats["outcome"].astype(str) == value) & stats["primary"].astype(bool)]
        if not len(rows):
            raise InputError(f"no primary row for outcome '{value}'", file=str(panel["stats"]))
        out["stat"] = stat_line(rows.iloc[0].to_dict(), unit_of(value))
    if panel.get("highlight_table"):
        table = load(str(panel["highlight_table"]))
        col = str(panel.get("highlight_column", "gene"))
        lab = str(panel.get("highlight_label", "symbol"))
        if col not in table.columns:
            raise InputError(f"no column '{col}'", file=str(panel["highlight_table"]))
        names = table[lab] if lab in table.columns else table[col]
        out["highlight"] = dict(
            zip(table[col].astype(str), names.fillna(table[col]).astype(str), strict=True)
        )
    return out


def _legend_above_pt(fig: Figure, ax: Any) -> float:
    """Height (points) of a legend placed above the axes, so the panel letter can clear it."""
    legend = ax.get_legend()
    if legend is None:
        return 0.0
    renderer = fig.canvas.get_renderer()
    if legend.get_bbox_to_anchor().y0 < ax.get_window_extent(renderer).y1 - 1:
        return 0.0
    return legend.get_window_extent(renderer).height * 72.0 / fig.dpi


_N_SUFFIX = re.compile(r" \((n = )?\d+( [a-z]+)?\)$")


def _shared_legend(fig: Figure, axes: list) -> None:
    handles: dict[str, Any] = {}
    for ax in axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        artists, labels = ax.get_legend_handles_labels()
        if not artists:  # legend built from proxy handles (e.g. superplot)
            artists, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
        for h, t in zip(artists, labels, strict=False):
            # group labels carry each panel's n; the shared legend names the group only
            handles.setdefault(_N_SUFFIX.sub("", t), h)
        legend.remove()
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside lower center",
            ncols=min(len(handles), 6),
        )
