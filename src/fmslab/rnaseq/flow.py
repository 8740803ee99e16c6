"""The RNA-seq flows: the entry points behind ``fmslab rnaseq de|channels|singlecell``, the demo
and the workflow.

- :func:`run` — differential expression: read counts and samples, fit, write the tables, AnnData,
  QC figures and provenance, store ``rnaseq_de_results`` in the study catalog.
- :func:`run_channels` — rank candidate ion channels from a DE output folder, with figures; store
  ``rnaseq_channels``.
- :func:`run_singlecell` — pseudobulk per sample x cell type, DE per cell type, channel dot plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.errors import InputError
from fmslab.rnaseq.io import Contrast


@dataclass(frozen=True)
class DERun:
    """What :func:`run` did.

    Attributes
    ----------
    result
        The fit and one results table per contrast (:class:`fmslab.rnaseq.de.DEResult`).
    contrasts
        The contrasts tested.
    out
        Output folder (``de_results*.csv``, ``de_results.h5ad``, figures, ``provenance.json``).
    alpha
        FDR used for independent filtering and for :attr:`n_significant`.
    n_significant
        ``{contrast id: genes with padj < alpha}``.
    """

    result: Any  # fmslab.rnaseq.de.DEResult (not imported here, to keep this import cheap)
    contrasts: list[Contrast]
    out: Path
    alpha: float
    n_significant: dict[str, int]


@dataclass(frozen=True)
class ChannelsRun:
    """What :func:`run_channels` did: the ranked channels of each contrast."""

    ranked: dict[str, pd.DataFrame]
    out: Path


@dataclass(frozen=True)
class SingleCellRun:
    """What :func:`run_singlecell` did: DE results per cell type and contrast."""

    results: dict[str, Any]  # cell type -> DEResult
    cells_per_sample: pd.DataFrame
    out: Path


def _contrasts(contrasts: Sequence[str | Contrast], table: str | Path | None) -> list[Contrast]:
    from fmslab.rnaseq import io

    cons = [c if isinstance(c, Contrast) else Contrast.parse(c) for c in contrasts]
    if table is not None:
        cons += io.read_contrasts(table)
    if not cons:
        raise InputError("give at least one --contrast VAR,TARGET,REF or --contrasts table")
    ids = [c.id for c in cons]
    if len(set(ids)) != len(ids):
        raise InputError(f"duplicated contrast ids: {ids}")
    return cons


def _catalog_of(study: str | Path) -> Path:
    from fmslab.study.validate import load_validated_study

    return load_validated_study(study).catalog_path


def run(
    counts: str | Path,
    samples: str | Path,
    design: str,
    contrasts: Sequence[str | Contrast] = (),
    *,
    out: str | Path,
    contrasts_table: str | Path | None = None,
    annotation: str | Path | None = None,
    sample_column: str | None = None,
    reduced: str | None = None,
    unblinding: str | Path | None = None,
    shrink: bool = True,
    alpha: float = 0.05,
    n_cpus: int = 2,
    color_by: str | None = None,
    study: str | Path | None = None,
) -> DERun:
    """Differential expression of a counts table; outputs in ``out``, catalog with ``study``.

    Parameters
    ----------
    counts
        Counts: CSV/TSV, featureCounts, nf-core merged table or h5ad.
    samples
        Sample sheet (first column, or ``sample_column``, is the sample id).
    design
        Design formula, e.g. ``"~ sex + condition"``.
    contrasts, contrasts_table
        ``"VAR,TARGET,REF"`` strings or :class:`~fmslab.rnaseq.io.Contrast` objects, and/or a
        table ``id,variable,reference,target``.
    out
        Output folder.
    annotation
        ``gene_id,gene_name`` table; default: gene names of the counts file, if any.
    reduced
        Reduced formula: likelihood-ratio test of ``design`` against it (p-values of every
        contrast are the LRT's; fold changes stay the contrast's).
    unblinding
        Unblinding key (``treatment_code,group``) of a blinded study: its ``group`` is joined
        to the sample sheet in memory (the sheet must have ``treatment_code``), so the design
        and contrasts can use ``group``; nothing unblinded is written besides the results.
        Without it, a blinded sheet is analysed by its codes (``treatment_code`` in the design).
    shrink, alpha, n_cpus
        Add ``log2FoldChange_shrunk``; FDR for independent filtering; threads of the numerical
        libraries (BLAS) during the fit.
    color_by
        Sample-sheet column colouring the PCA.
    study
        Study folder whose catalog receives ``rnaseq_de_results``.

    Returns
    -------
    DERun
    """
    from fmslab.provenance import package_versions, sha256_file
    from fmslab.rnaseq import io
    from fmslab.rnaseq.de import run_de
    from fmslab.rnaseq.outputs import long_results, write_de_outputs

    cons = _contrasts(contrasts, contrasts_table)
    counts, samples, out = Path(counts), Path(samples), Path(out)
    count_table, gene_info = io.read_counts(counts)
    sheet = io.read_samples(samples, id_column=sample_column)
    if unblinding is not None:
        from fmslab.study import unblind
        from fmslab.study.blinding import read_unblinding

        sheet = unblind(sheet, read_unblinding(unblinding))
    count_table, sheet = io.match_samples(
        count_table, sheet, counts_file=counts, samples_file=samples
    )
    gene_names = None
    if annotation is not None:
        gene_names = io.read_annotation(annotation)["gene_name"]
    elif "gene_name" in gene_info.columns:
        gene_names = gene_info["gene_name"]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, n_cpus)):
        result = run_de(
            count_table,
            sheet,
            design,
            cons,
            reduced=reduced,
            shrink=shrink,
            alpha=alpha,
            samples_file=samples,
        )
    inputs = [
        Path(p) for p in (counts, samples, contrasts_table, annotation, unblinding) if p is not None
    ]
    params = {
        "design": design,
        "reduced": reduced,
        "contrasts": [c.__dict__ for c in cons],
        "unblinded": unblinding is not None,
        "shrink": shrink,
        "alpha": alpha,
        "n_cpus": n_cpus,
    }
    prov = {
        "command": "rnaseq de",
        "parameters": params,
        "inputs": {str(p): sha256_file(p) for p in inputs},
        "versions": package_versions(),
    }
    write_de_outputs(
        result, count_table, sheet, out, provenance=prov, gene_names=gene_names, color_by=color_by
    )
    if study is not None:
        from fmslab.catalog import open_session

        with open_session(_catalog_of(study), command="rnaseq de", parameters=params) as cat:
            cat.record_inputs(inputs)
            cat.write_table(
                "rnaseq_de_results", long_results(result, gene_names), replace_on=["contrast"]
            )
    n_sig = {cid: int((t["padj"] < alpha).sum()) for cid, t in result.results.items()}
    return DERun(result=result, contrasts=cons, out=out, alpha=alpha, n_significant=n_sig)


def run_channels(
    de_dir: str | Path,
    *,
    contrast: str | None = None,
    sc_reference: str | Path | None = None,
    celltype_key: str = "cell_type",
    nociceptor: Sequence[str] = (),
    top: int = 30,
    study: str | Path | None = None,
) -> ChannelsRun:
    """Rank candidate ion channels of a DE output folder; write tables and figures into it.

    Parameters
    ----------
    de_dir
        Output folder of :func:`run` (holds ``de_results.h5ad``).
    contrast
        Contrast id; default: all.
    sc_reference, celltype_key, nociceptor
        Single-cell h5ad (raw counts), its cell-type column and the nociceptor labels: weights
        the ranking by nociceptor expression.
    top
        Channels shown in the heatmap.
    study
        Study folder whose catalog receives ``rnaseq_channels``.

    Returns
    -------
    ChannelsRun
        ``channels[_ID].csv``, ``volcano_channels[_ID].pdf``, ``channel_heatmap[_ID].pdf`` and
        ``channels_provenance.json`` are written into ``de_dir``.
    """
    import anndata as ad

    from fmslab.atomic import write_json, write_table
    from fmslab.figures.export import save_module_figure
    from fmslab.provenance import package_versions, sha256_file
    from fmslab.rnaseq import plots
    from fmslab.rnaseq.channels import ATTRIBUTION, nociceptor_weight, rank_channels
    from fmslab.rnaseq.outputs import RESULTS_H5AD

    de_dir = Path(de_dir)
    h5 = de_dir / RESULTS_H5AD
    if not h5.is_file():
        raise InputError(
            f"no {RESULTS_H5AD}: run `fmslab rnaseq de --out {de_dir}` first", file=de_dir
        )
    adata = ad.read_h5ad(h5)
    all_ids = list(adata.uns["fmslab_rnaseq"]["contrasts"])
    ids = [contrast] if contrast else all_ids
    for cid in ids:
        if cid not in all_ids:
            raise InputError(f"contrast '{cid}' not in {all_ids}", file=h5)
    weights = None
    if sc_reference is not None:
        from fmslab.rnaseq.singlecell import celltype_mean_expression, read_singlecell

        if not nociceptor:
            raise InputError("--sc-reference needs at least one --nociceptor cell type")
        sc = read_singlecell(sc_reference, celltype_key=celltype_key)
        weights = nociceptor_weight(celltype_mean_expression(sc, celltype_key), list(nociceptor))
    gene_names = None
    files = sorted(de_dir.glob("de_results*.csv"))
    if files:
        head = pd.read_csv(files[0], nrows=1)
        if "gene_name" in head.columns:
            full = pd.read_csv(files[0], usecols=["gene", "gene_name"]).set_index("gene")
            gene_names = full["gene_name"]
    vst = pd.DataFrame(adata.layers["vst"].T, index=adata.var_names, columns=adata.obs_names)
    ranked_by: dict[str, pd.DataFrame] = {}
    for cid in ids:
        cols = [c for c in adata.var.columns if c.startswith(f"{cid}:")]
        res = adata.var[cols].rename(columns=lambda c: c.split(":", 1)[1])
        res.index.name = "gene"
        ranked = rank_channels(res, gene_names=gene_names, weights=weights)
        suffix = "" if len(all_ids) == 1 else f"_{cid}"
        write_table(ranked, de_dir / f"channels{suffix}.csv")
        label = pd.Series(ranked["symbol"].to_numpy(), index=ranked["gene"].to_numpy())
        save_module_figure(
            plots.volcano(res, highlight=label), de_dir / f"volcano_channels{suffix}"
        )
        top_genes = ranked["gene"].head(top)
        heat = vst.loc[top_genes].set_axis(ranked["symbol"].head(top))
        fig = plots.expression_heatmap(heat, title=f"Top {len(heat)} channels ({cid})")
        save_module_figure(fig, de_dir / f"channel_heatmap{suffix}")
        ranked_by[cid] = ranked
    inputs = [h5] + ([Path(sc_reference)] if sc_reference else [])
    write_json(
        de_dir / "channels_provenance.json",
        {
            "command": "rnaseq channels",
            "contrasts": ids,
            "attribution": ATTRIBUTION,
            "nociceptor_types": list(nociceptor or []),
            "inputs": {str(p): sha256_file(p) for p in inputs},
            "versions": package_versions(),
        },
    )
    if study is not None:
        from fmslab.catalog import open_session

        params = {"de_dir": str(de_dir), "contrasts": ids}
        frames = [r.assign(contrast=cid) for cid, r in ranked_by.items()]
        with open_session(_catalog_of(study), command="rnaseq channels", parameters=params) as cat:
            cat.record_inputs(inputs)
            cat.write_table(
                "rnaseq_channels", pd.concat(frames, ignore_index=True), replace_on=["contrast"]
            )
    return ChannelsRun(ranked=ranked_by, out=de_dir)


def run_singlecell(
    h5ad: str | Path,
    *,
    sample_key: str,
    design: str,
    contrasts: Sequence[str | Contrast],
    out: str | Path,
    celltype_key: str = "cell_type",
    min_cells: int = 10,
    n_cpus: int = 2,
) -> SingleCellRun:
    """Pseudobulk per sample x cell type, DE per cell type, channel expression and dot plot.

    Parameters
    ----------
    h5ad
        Single-cell AnnData with raw counts and labels.
    sample_key, celltype_key
        ``obs`` columns: biological sample (animal) and cell-type label.
    design, contrasts
        Design formula on sample-level ``obs`` columns; ``"VAR,TARGET,REF"`` contrasts.
    out
        Output folder (``cells_per_sample.csv``, ``de_<celltype>_<contrast>.csv``,
        ``channel_expression_by_celltype.csv``, ``channel_dotplot.pdf``, ``provenance.json``).
    min_cells, n_cpus
        Minimum cells per sample x cell type; threads of the numerical libraries.
    """
    from fmslab.atomic import write_json, write_table
    from fmslab.figures.export import save_module_figure
    from fmslab.provenance import package_versions, sha256_file
    from fmslab.rnaseq import plots
    from fmslab.rnaseq.channels import load_channel_set
    from fmslab.rnaseq.de import _design_variables
    from fmslab.rnaseq.singlecell import (
        celltype_expression_stats,
        de_per_celltype,
        pseudobulk,
        read_singlecell,
        sample_sheet_from_obs,
    )

    h5ad, out = Path(h5ad), Path(out)
    cons = [c if isinstance(c, Contrast) else Contrast.parse(c) for c in contrasts]
    adata = read_singlecell(h5ad, celltype_key=celltype_key, sample_key=sample_key)
    variables = sorted(set(_design_variables(design)) | {c.variable for c in cons})
    sheet = sample_sheet_from_obs(adata, sample_key, variables)
    pb, n_cells = pseudobulk(
        adata, sample_key=sample_key, celltype_key=celltype_key, min_cells=min_cells
    )
    out.mkdir(parents=True, exist_ok=True)
    cells_per_sample = n_cells.reset_index(names="sample")
    write_table(cells_per_sample, out / "cells_per_sample.csv")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, n_cpus)):
        results = de_per_celltype(pb, sheet, design, cons)
    for ct, res in results.items():
        for cid, table in res.results.items():
            safe = "".join(ch if ch.isalnum() else "_" for ch in ct)
            write_table(table.reset_index(), out / f"de_{safe}_{cid}.csv")
    channels = load_channel_set()["symbol"]
    genes = [g for g in adata.var_names.astype(str) if g in set(channels)]
    frac, mean = celltype_expression_stats(adata, celltype_key, genes)
    long = pd.concat(
        [frac.stack().rename("fraction_expressing"), mean.stack().rename("mean_log1p_cp10k")],
        axis=1,
    ).reset_index(names=["gene", "cell_type"])
    write_table(long, out / "channel_expression_by_celltype.csv")
    if genes:
        fig = plots.dot_plot(frac, mean, title="Ion-channel expression by cell type")
        save_module_figure(fig, out / "channel_dotplot")
    write_json(
        out / "provenance.json",
        {
            "command": "rnaseq singlecell",
            "design": design,
            "contrasts": [f"{c.variable},{c.target},{c.reference}" for c in cons],
            "min_cells": min_cells,
            "celltypes_tested": sorted(results),
            "inputs": {str(h5ad): sha256_file(h5ad)},
            "versions": package_versions(),
        },
    )
    return SingleCellRun(results=results, cells_per_sample=cells_per_sample, out=out)
