"""`fmslab rnaseq`: Transcriptomics: differential expression and candidate ion channels."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

app = typer.Typer(
    help="Transcriptomics: differential expression and candidate ion channels.",
    no_args_is_help=True,
)
log = logging.getLogger(__name__)


@app.command("de")
def de_command(
    ctx: typer.Context,
    counts: Path = typer.Option(..., help="Counts: CSV/TSV, featureCounts, nf-core merged, h5ad."),
    samples: Path = typer.Option(..., help="Sample sheet (first column = sample id)."),
    design: str = typer.Option(..., help="Design formula, e.g. '~ sex + condition'."),
    out: Path = typer.Option(..., help="Output directory."),
    contrast: list[str] = typer.Option(None, help="VAR,TARGET,REF (repeatable)."),
    contrasts: Path | None = typer.Option(None, help="Table: id,variable,reference,target."),
    annotation: Path | None = typer.Option(None, help="gene_id,gene_name table (Ensembl->symbol)."),
    sample_column: str | None = typer.Option(None, help="Sample id column of the sheet."),
    engine: str = typer.Option("r", help="'r' (R DESeq2-compatible, default) or 'pydeseq2'."),
    shrink: bool = typer.Option(True, help="Add log2FoldChange_shrunk (pydeseq2 lfc_shrink)."),
    alpha: float = typer.Option(0.05, help="FDR for independent filtering."),
    n_cpus: int = typer.Option(2, help="Processes for pydeseq2's per-gene fits."),
    seed: int = typer.Option(2, help="Seed of the Monte-Carlo prior variance (R uses 2)."),
    color_by: str | None = typer.Option(None, help="Sample-sheet column colouring the PCA."),
    study: Path | None = typer.Option(None, help="Study root: store rnaseq_de_results."),
) -> None:
    """Differential expression with DESeq2 column names; writes OUT/de_results.csv and more."""
    from fmslab.errors import InputError
    from fmslab.provenance import package_versions, sha256_file
    from fmslab.rnaseq import io
    from fmslab.rnaseq.de import run_de
    from fmslab.rnaseq.outputs import long_results, write_de_outputs

    if engine not in ("r", "pydeseq2"):
        raise InputError(f"--engine must be 'r' or 'pydeseq2', got '{engine}'")
    cons = [io.Contrast.parse(c) for c in contrast or []]
    if contrasts is not None:
        cons += io.read_contrasts(contrasts)
    if not cons:
        raise InputError("give at least one --contrast VAR,TARGET,REF or --contrasts table")
    ids = [c.id for c in cons]
    if len(set(ids)) != len(ids):
        raise InputError(f"duplicated contrast ids: {ids}")
    count_table, gene_info = io.read_counts(counts)
    sheet = io.read_samples(samples, id_column=sample_column)
    count_table, sheet = io.match_samples(
        count_table, sheet, counts_file=counts, samples_file=samples
    )
    gene_names = None
    if annotation is not None:
        gene_names = io.read_annotation(annotation)["gene_name"]
    elif "gene_name" in gene_info.columns:
        gene_names = gene_info["gene_name"]
    result = run_de(
        count_table,
        sheet,
        design,
        cons,
        r_compatible=engine == "r",
        shrink=shrink,
        alpha=alpha,
        n_cpus=n_cpus,
        seed=seed,
        samples_file=samples,
    )
    inputs = [p for p in (counts, samples, contrasts, annotation) if p is not None]
    params = {
        "design": design,
        "contrasts": [c.__dict__ for c in cons],
        "engine": engine,
        "shrink": shrink,
        "alpha": alpha,
        "seed": seed,
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
        from fmslab.study import load_study

        st = load_study(study)
        with open_session(st.catalog_path, command="rnaseq de", parameters=params) as cat:
            cat.record_inputs(inputs)
            cat.write_table(
                "rnaseq_de_results", long_results(result, gene_names), replace_on=["contrast"]
            )
    for cid, table in result.results.items():
        n_sig = int((table["padj"] < alpha).sum())
        log.info("%s: %d genes with padj < %g", cid, n_sig, alpha)
        typer.echo(f"{cid}: {n_sig} genes padj < {alpha}; results in {out}")


@app.command("channels")
def channels_command(
    ctx: typer.Context,
    de_dir: Path = typer.Argument(..., help="Output directory of `fmslab rnaseq de`."),
    contrast: str | None = typer.Option(None, help="Contrast id (default: all)."),
    sc_reference: Path | None = typer.Option(
        None, help="Single-cell h5ad (raw counts) for nociceptor weighting."
    ),
    celltype_key: str = typer.Option("cell_type", help="obs column of cell-type labels."),
    nociceptor: list[str] = typer.Option(None, help="Nociceptor cell-type label (repeatable)."),
    top: int = typer.Option(30, help="Channels shown in the heatmap."),
    study: Path | None = typer.Option(None, help="Study root: store rnaseq_channels."),
) -> None:
    """Rank candidate ion channels from DE results; writes channels tables and figures."""
    import anndata as ad
    import pandas as pd

    from fmslab.atomic import write_json, write_table, write_with
    from fmslab.errors import InputError
    from fmslab.provenance import package_versions, sha256_file
    from fmslab.rnaseq import plots
    from fmslab.rnaseq.channels import ATTRIBUTION, nociceptor_weight, rank_channels
    from fmslab.rnaseq.outputs import RESULTS_H5AD

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
    frames = []
    for cid in ids:
        cols = [c for c in adata.var.columns if c.startswith(f"{cid}:")]
        res = adata.var[cols].rename(columns=lambda c: c.split(":", 1)[1])
        res.index.name = "gene"
        ranked = rank_channels(res, gene_names=gene_names, weights=weights)
        suffix = "" if len(all_ids) == 1 else f"_{cid}"
        write_table(ranked, de_dir / f"channels{suffix}.csv")
        label = pd.Series(ranked["symbol"].to_numpy(), index=ranked["gene"].to_numpy())
        fig = plots.volcano(res, highlight=label)
        write_with(
            de_dir / f"volcano_channels{suffix}.pdf", lambda p, f=fig: f.savefig(p, format="pdf")
        )
        top_genes = ranked["gene"].head(top)
        heat = vst.loc[top_genes].set_axis(ranked["symbol"].head(top))
        fig = plots.expression_heatmap(heat, title=f"Top {len(heat)} channels ({cid})")
        write_with(
            de_dir / f"channel_heatmap{suffix}.pdf", lambda p, f=fig: f.savefig(p, format="pdf")
        )
        frames.append(ranked.assign(contrast=cid))
        typer.echo(f"{cid}: top channels {', '.join(ranked['symbol'].head(5))}")
    inputs = [h5] + ([sc_reference] if sc_reference else [])
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
        from fmslab.study import load_study

        st = load_study(study)
        params = {"de_dir": str(de_dir), "contrasts": ids}
        with open_session(st.catalog_path, command="rnaseq channels", parameters=params) as cat:
            cat.record_inputs(inputs)
            cat.write_table(
                "rnaseq_channels", pd.concat(frames, ignore_index=True), replace_on=["contrast"]
            )


@app.command("singlecell")
def singlecell_command(
    ctx: typer.Context,
    h5ad: Path = typer.Option(..., help="Single-cell h5ad with raw counts and labels."),
    sample_key: str = typer.Option(..., help="obs column: biological sample (animal)."),
    celltype_key: str = typer.Option("cell_type", help="obs column: cell-type label."),
    design: str = typer.Option(..., help="Design formula on sample-level obs columns."),
    contrast: list[str] = typer.Option(..., help="VAR,TARGET,REF (repeatable)."),
    out: Path = typer.Option(..., help="Output directory."),
    min_cells: int = typer.Option(10, help="Minimum cells per sample x cell type."),
    n_cpus: int = typer.Option(2, help="Processes for pydeseq2's per-gene fits."),
) -> None:
    """Pseudobulk per sample x cell type, DE per cell type, channel dot plot."""
    import pandas as pd

    from fmslab.atomic import write_json, write_table, write_with
    from fmslab.provenance import package_versions, sha256_file
    from fmslab.rnaseq import plots
    from fmslab.rnaseq.channels import load_channel_set
    from fmslab.rnaseq.de import _design_variables
    from fmslab.rnaseq.io import Contrast
    from fmslab.rnaseq.singlecell import (
        celltype_expression_stats,
        de_per_celltype,
        pseudobulk,
        read_singlecell,
        sample_sheet_from_obs,
    )

    cons = [Contrast.parse(c) for c in contrast]
    adata = read_singlecell(h5ad, celltype_key=celltype_key, sample_key=sample_key)
    variables = sorted(set(_design_variables(design)) | {c.variable for c in cons})
    sheet = sample_sheet_from_obs(adata, sample_key, variables)
    pb, n_cells = pseudobulk(
        adata, sample_key=sample_key, celltype_key=celltype_key, min_cells=min_cells
    )
    out.mkdir(parents=True, exist_ok=True)
    write_table(n_cells.reset_index(names="sample"), out / "cells_per_sample.csv")
    results = de_per_celltype(pb, sheet, design, cons, n_cpus=n_cpus)
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
        write_with(out / "channel_dotplot.pdf", lambda p: fig.savefig(p, format="pdf"))
    write_json(
        out / "provenance.json",
        {
            "command": "rnaseq singlecell",
            "design": design,
            "contrasts": contrast,
            "min_cells": min_cells,
            "celltypes_tested": sorted(results),
            "inputs": {str(h5ad): sha256_file(h5ad)},
            "versions": package_versions(),
        },
    )
    typer.echo(f"cell types tested: {', '.join(sorted(results)) or 'none'}; results in {out}")
