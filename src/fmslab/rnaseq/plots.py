"""Figures for QC, DE and channel ranking. Every function returns a Figure and saves nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def pca_figure(
    scores: pd.DataFrame, variance: pd.Series, groups: pd.Series | None = None
) -> Figure:
    """PC1 vs PC2 scatter, coloured by ``groups`` (sample -> label)."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    if groups is None:
        ax.scatter(scores["PC1"], scores["PC2"], s=30)
    else:
        g = groups.reindex(scores.index).astype(str)
        for level in sorted(g.unique()):
            sel = g == level
            ax.scatter(scores.loc[sel, "PC1"], scores.loc[sel, "PC2"], s=30, label=level)
        ax.legend(fontsize=7, frameon=False)
    ax.set_xlabel(f"PC1 ({100 * variance['PC1']:.0f}% variance)")
    ax.set_ylabel(f"PC2 ({100 * variance['PC2']:.0f}% variance)")
    ax.set_title("PCA of VST counts (500 most variable genes)")
    return fig


def distance_heatmap(distances: pd.DataFrame) -> Figure:
    """Heatmap of sample-to-sample distances, samples ordered by hierarchical clustering."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    order = distances.index
    if len(distances) > 2:
        z = linkage(squareform(distances.to_numpy(), checks=False), method="average")
        order = distances.index[leaves_list(z)]
    d = distances.loc[order, order]
    n = len(d)
    fig = Figure(figsize=(2 + 0.3 * n, 1.5 + 0.3 * n))
    ax = fig.add_subplot()
    im = ax.imshow(d.to_numpy(), cmap="viridis_r")
    ax.set_xticks(range(n), d.columns, rotation=90, fontsize=6)
    ax.set_yticks(range(n), d.index, fontsize=6)
    fig.colorbar(im, ax=ax, label="Euclidean distance (VST)")
    ax.set_title("Sample distances")
    return fig


def volcano(
    results: pd.DataFrame,
    *,
    highlight: pd.Series | None = None,
    label_top: int = 15,
    alpha: float = 0.05,
) -> Figure:
    """Volcano plot; genes in ``highlight`` (gene -> label) drawn in colour, top ones labelled."""
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    res = results.dropna(subset=["log2FoldChange", "pvalue"])
    y = -np.log10(res["pvalue"].clip(lower=1e-300))
    sig = res["padj"] < alpha
    ax.scatter(res["log2FoldChange"], y, s=3, c=np.where(sig, "0.45", "0.8"), rasterized=True)
    if highlight is not None:
        hl = res.loc[res.index.intersection(highlight.index)]
        yh = -np.log10(hl["pvalue"].clip(lower=1e-300))
        ax.scatter(hl["log2FoldChange"], yh, s=12, c="tab:red", label="ion channels")
        for gene in hl.sort_values("pvalue").index[:label_top]:
            ax.annotate(
                str(highlight[gene]),
                (hl.at[gene, "log2FoldChange"], yh[gene]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("log2 fold change")
    ax.set_ylabel("-log10 p-value")
    ax.set_title(f"Volcano (grey dark: padj < {alpha})")
    return fig


def expression_heatmap(values: pd.DataFrame, *, title: str = "") -> Figure:
    """Row-centred heatmap (genes x samples), e.g. VST of the top-ranked channels."""
    z = values.sub(values.mean(axis=1), axis=0)
    n_g, n_s = z.shape
    fig = Figure(figsize=(2.5 + 0.3 * n_s, 1.5 + 0.22 * n_g))
    ax = fig.add_subplot()
    lim = float(np.nanmax(np.abs(z.to_numpy()))) if z.size else 1.0
    im = ax.imshow(z.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(n_s), z.columns, rotation=90, fontsize=6)
    ax.set_yticks(range(n_g), z.index, fontsize=7)
    fig.colorbar(im, ax=ax, label="VST - gene mean")
    ax.set_title(title)
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
