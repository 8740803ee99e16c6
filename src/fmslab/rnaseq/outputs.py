"""Writing a DE run to a directory: tables, AnnData, QC figures, provenance (all atomic)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmslab.atomic import write_json, write_table, write_with
from fmslab.rnaseq import plots, qc
from fmslab.rnaseq.de import DEResult

log = logging.getLogger(__name__)

RESULTS_H5AD = "de_results.h5ad"


def results_filename(contrast_id: str, n_contrasts: int) -> str:
    """``de_results.csv`` with one contrast, ``de_results_<id>.csv`` with several."""
    return "de_results.csv" if n_contrasts == 1 else f"de_results_{contrast_id}.csv"


def long_results(result: DEResult, gene_names: pd.Series | None = None) -> pd.DataFrame:
    """All contrasts stacked, with ``contrast`` and ``gene`` columns (catalog layout)."""
    frames = []
    for cid, table in result.results.items():
        t = table.reset_index()
        if gene_names is not None:
            t.insert(1, "gene_name", gene_names.reindex(t["gene"]).to_numpy())
        t.insert(0, "contrast", cid)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def to_anndata(
    result: DEResult, counts: pd.DataFrame, samples: pd.DataFrame, transformed: pd.DataFrame
):
    """AnnData (samples x genes): raw counts in ``X``; normalised and VST layers; per-contrast
    result columns in ``var`` prefixed ``<contrast>:``; fit details in ``uns``."""
    import anndata as ad

    var = pd.DataFrame(index=counts.index.astype(str))
    for cid, table in result.results.items():
        for col in table.columns:
            var[f"{cid}:{col}"] = table[col].reindex(var.index).to_numpy()
    for col in result.dispersions.columns:
        var[col] = result.dispersions[col].reindex(var.index).to_numpy()
    obs = samples.loc[counts.columns].copy().astype(str)
    obs["size_factor"] = result.size_factors.reindex(obs.index).to_numpy()
    adata = ad.AnnData(
        X=counts.T.to_numpy(dtype=np.float32),
        obs=obs,
        var=var,
        layers={
            "normalized": result.normalized_counts.loc[counts.index, counts.columns].T.to_numpy(),
            "vst": transformed.loc[counts.index, counts.columns].T.to_numpy(),
        },
    )
    adata.uns["fmslab_rnaseq"] = {
        "prior_disp_var": result.prior_disp_var,
        "prior_method": result.prior_method,
        "trend_a0": result.trend[0],
        "trend_a1": result.trend[1],
        "contrasts": list(result.results),
        **{k: str(v) for k, v in result.parameters.items()},
    }
    return adata


def write_de_outputs(
    result: DEResult,
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    out_dir: str | Path,
    *,
    provenance: dict[str, Any],
    gene_names: pd.Series | None = None,
    color_by: str | None = None,
) -> dict[str, Path]:
    """Write result tables, h5ad, QC tables/figures and ``provenance.json`` in ``out_dir``."""
    out = Path(out_dir)
    (out / "qc").mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    n = len(result.results)
    for cid, table in result.results.items():
        t = table.reset_index()
        if gene_names is not None:
            t.insert(1, "gene_name", gene_names.reindex(t["gene"]).to_numpy())
        paths[cid] = write_table(t, out / results_filename(cid, n))
    transformed = qc.vst(result.normalized_counts, *result.trend)
    adata = to_anndata(result, counts, samples, transformed)
    paths["h5ad"] = write_with(out / RESULTS_H5AD, lambda p: adata.write_h5ad(p))

    summary = qc.sample_summary(counts, result.size_factors)
    write_table(summary.reset_index(), out / "qc" / "sample_summary.csv")
    scores, variance = qc.pca(transformed)
    write_table(
        scores.iloc[:, : min(5, scores.shape[1])].reset_index(names="sample"),
        out / "qc" / "pca_scores.csv",
    )
    dist = qc.sample_distances(transformed)
    write_table(dist.reset_index(names="sample"), out / "qc" / "sample_distances.csv")
    cooks = qc.cooks_summary(result.cooks, result.design_matrix.shape[1])
    write_table(cooks.reset_index(), out / "qc" / "cooks_summary.csv")
    write_table(result.dispersions.reset_index(names="gene"), out / "qc" / "dispersions.csv")
    groups = samples[color_by] if color_by and color_by in samples.columns else None
    from fmslab.figures.export import save_module_figure

    save_module_figure(plots.pca_figure(scores, variance, groups), out / "qc" / "pca.pdf")
    save_module_figure(plots.distance_heatmap(dist), out / "qc" / "sample_distances.pdf")
    for cid, table in result.results.items():
        save_module_figure(plots.volcano(table), out / f"volcano_{cid}.pdf")
    flagged = list(cooks.index[cooks["outlier"]])
    if flagged:
        log.warning("samples flagged by the Cook's summary: %s", flagged)
    prov = dict(provenance)
    prov.update(
        {
            "prior_disp_var": result.prior_disp_var,
            "prior_method": result.prior_method,
            "trend": {"a0": result.trend[0], "a1": result.trend[1]},
            "outlier_samples": flagged,
            "outputs": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()),
        }
    )
    paths["provenance"] = write_json(out / "provenance.json", prov)
    return paths
