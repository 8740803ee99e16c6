"""Figures for QC, DE and channel ranking. Every function returns a Figure and saves nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def pca_figure(
    scores: pd.DataFrame, variance: pd.Series, groups: pd.Series | None = None
) -> Figure:
    """PC1 vs PC2 scatter, coloured by ``groups`` (sample -> label)."""
    from fmslab.figures.groups import GroupStyle

    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.add_subplot()
    if groups is None:
        ax.scatter(scores["PC1"], scores["PC2"], s=30)
    else:
        g = groups.reindex(scores.index).astype(str)
        colors = GroupStyle().palette(g.unique())  # the same group colours as every figure
        for level, color in colors.items():
            sel = g == level
            n = int(sel.sum())
            ax.scatter(scores.loc[sel, "PC1"], scores.loc[sel, "PC2"], s=30, color=color,
                       label=f"{level} ({n})")  # fmt: skip
        # outside the axes: a legend never covers a sample
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_xlabel(f"PC1 ({100 * variance['PC1']:.0f}% variance)")
    ax.set_ylabel(f"PC2 ({100 * variance['PC2']:.0f}% variance)")
    ax.set_title("PCA of VST counts (500 most variable genes)")
    return fig


def distance_heatmap(distances: pd.DataFrame) -> Figure:
    """Heatmap of sample-to-sample distances, samples ordered by hierarchical clustering.

    Drawn by :func:`fmslab.figures.plots.heatmap` (the one plotting layer).
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    from fmslab.figures.plots import heatmap

    order = distances.index
    if len(distances) > 2:
        z = linkage(squareform(distances.to_numpy(), checks=False), method="average")
        order = distances.index[leaves_list(z)]
    d = distances.loc[order, order]
    fig = heatmap(
        d, cmap="viridis_r", colorbar_label="Euclidean distance (VST)", height_mm=30 + 4 * len(d),
        row_noun="samples", col_noun="samples",
    )  # fmt: skip
    fig.axes[0].set_title("Sample distances")
    return fig


def volcano(
    results: pd.DataFrame,
    *,
    highlight: pd.Series | None = None,
    label_top: int = 15,
    alpha: float = 0.05,
) -> Figure:
    """Volcano plot of a DE table indexed by gene; ``highlight`` (gene -> label) drawn and labelled
    first. Drawn by :func:`fmslab.figures.plots.volcano` (labels by significance and rank)."""
    from fmslab.figures.plots import volcano as draw

    res = results.drop(columns=["gene"], errors="ignore").rename_axis("gene").reset_index()
    return draw(res, p="padj", highlight=highlight, n_labels=label_top, alpha=alpha)


def expression_heatmap(values: pd.DataFrame, *, title: str = "") -> Figure:
    """Row-centred heatmap (genes x samples), e.g. VST of the top-ranked channels.

    Drawn by :func:`fmslab.figures.plots.heatmap`.
    """
    from fmslab.figures.plots import heatmap

    z = values.sub(values.mean(axis=1), axis=0)
    fig = heatmap(z, center=0.0, colorbar_label="VST \u2212 gene mean", height_mm=25 + 3 * len(z),
                  row_noun="genes", col_noun="samples")  # fmt: skip
    fig.axes[0].set_title(title)
    return fig


def dot_plot(fraction: pd.DataFrame, mean_expr: pd.DataFrame, *, title: str = "") -> Figure:
    """Dot plot: genes (rows) x cell types (columns); size = fraction expressing, colour = mean."""
    genes, types = list(fraction.index), list(fraction.columns)
    fig = Figure(figsize=(2.5 + 0.45 * len(types), 1.5 + 0.22 * len(genes)))
    ax = fig.add_subplot()
    xx, yy = np.meshgrid(range(len(types)), range(len(genes)))
    sc = ax.scatter(
        xx.ravel(),
        yy.ravel(),
        s=200 * fraction.to_numpy().ravel(),
        c=mean_expr.loc[genes, types].to_numpy().ravel(),
        cmap="Reds",
    )
    ax.set_xticks(range(len(types)), types, rotation=90, fontsize=7)
    ax.set_yticks(range(len(genes)), genes, fontsize=7)
    ax.invert_yaxis()
    fig.colorbar(sc, ax=ax, label="mean log1p(normalised)")
    ax.set_title(title or "dot size: fraction of cells expressing")
    return fig
