"""`fmslab rnaseq`: Transcriptomics: differential expression and candidate ion channels."""

from __future__ import annotations

from pathlib import Path

import typer

from fmslab.cli.common import defer_catalog_option

app = typer.Typer(
    help="Transcriptomics: differential expression and candidate ion channels.",
    no_args_is_help=True,
)


@app.command("de")
def de_command(
    ctx: typer.Context,
    counts: Path = typer.Option(..., help="Counts: CSV/TSV, featureCounts, nf-core merged, h5ad."),
    samples: Path = typer.Option(..., help="Sample sheet (first column = sample id)."),
    design: str = typer.Option(..., help="Design formula, e.g. '~ sex + condition'."),
    out: Path = typer.Option(..., help="Output directory."),
    contrast: list[str] = typer.Option(
        None, help="VAR,TARGET,REF or coef:NAME[*W]+NAME[*W] (repeatable)."
    ),
    contrasts: Path | None = typer.Option(None, help="Table: id,variable,reference,target."),
    annotation: Path | None = typer.Option(None, help="gene_id,gene_name table (Ensembl->symbol)."),
    sample_column: str | None = typer.Option(None, help="Sample id column of the sheet."),
    reduced: str | None = typer.Option(None, help="Reduced formula: likelihood-ratio test."),
    unblinding: Path | None = typer.Option(
        None, help="Unblinding key (treatment_code,group) joined to a blinded sheet."
    ),
    shrink: bool = typer.Option(True, help="Add log2FoldChange_shrunk (normal prior)."),
    alpha: float = typer.Option(0.05, help="FDR for independent filtering."),
    n_cpus: int = typer.Option(2, help="Threads of the numerical libraries."),
    color_by: str | None = typer.Option(None, help="Sample-sheet column colouring the PCA."),
    study: Path | None = typer.Option(None, help="Study root: store rnaseq_de_results."),
    defer_catalog: bool = defer_catalog_option(),
) -> None:
    """Differential expression with DESeq2 column names; writes OUT/de_results.csv and more."""
    from fmslab.rnaseq import run

    done = run(
        counts,
        samples,
        design,
        list(contrast or []),
        out=out,
        contrasts_table=contrasts,
        annotation=annotation,
        sample_column=sample_column,
        reduced=reduced,
        unblinding=unblinding,
        shrink=shrink,
        alpha=alpha,
        n_cpus=n_cpus,
        color_by=color_by,
        study=study,
        defer_catalog=defer_catalog,
    )
    for cid, n_sig in done.n_significant.items():
        typer.echo(f"{cid}: {n_sig} genes padj < {done.alpha}; results in {done.out}")


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
    from fmslab.rnaseq import run_channels

    done = run_channels(
        de_dir,
        contrast=contrast,
        sc_reference=sc_reference,
        celltype_key=celltype_key,
        nociceptor=list(nociceptor or []),
        top=top,
        study=study,
    )
    for cid, ranked in done.ranked.items():
        typer.echo(f"{cid}: top channels {', '.join(ranked['symbol'].head(5))}")


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
    n_cpus: int = typer.Option(2, help="Threads of the numerical libraries."),
) -> None:
    """Pseudobulk per sample x cell type, DE per cell type, channel dot plot."""
    from fmslab.rnaseq import run_singlecell

    done = run_singlecell(
        h5ad,
        sample_key=sample_key,
        celltype_key=celltype_key,
        design=design,
        contrasts=list(contrast),
        out=out,
        min_cells=min_cells,
        n_cpus=n_cpus,
    )
    typer.echo(f"cell types tested: {', '.join(sorted(done.results)) or 'none'}; results in {out}")
