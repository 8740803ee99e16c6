"""The RNA-seq counts as one AnnData file (``.h5ad``), readable by scanpy.

* ``X``: raw counts, samples x genes (int64), from ``parameters.rnaseq.counts``;
* ``obs``: the exported sample sheet (ids as exported; ``group`` only when unblinded), index =
  exported sample id;
* ``var``: genes with the annotation columns of the count file and, for ion-channel genes, the
  curated channel annotation shipped with fmslab (symbol, family, channel class, GtoPdb id);
* unblinded only: ``varm["de_<contrast>"]`` holds each contrast's DE results (baseMean,
  log2FoldChange, lfcSE, stat, pvalue, padj, shrunken log2FoldChange) per gene and
  ``uns["de"]`` the design, contrasts and run of ``fmslab rnaseq de`` (from the catalog's runs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.errors import InputError


def _de_parameters(catalog: dict[str, pd.DataFrame], run_ids: set[str]) -> dict:
    runs = catalog.get("runs", pd.DataFrame())
    rows = runs[runs["run_id"].isin(run_ids)] if len(runs) else runs
    out = {}
    for r in rows.itertuples(index=False):
        params = json.loads(r.parameters) if isinstance(r.parameters, str) else (r.parameters or {})
        out[str(r.run_id)] = {
            "command": str(r.command),
            "design": str(params.get("design", "")),
            "contrasts": json.dumps(params.get("contrasts", [])),
            "engine": str(params.get("engine", "")),
            "alpha": str(params.get("alpha", "")),
            "finished_at": str(r.finished_at),
        }
    return out


def build_anndata(study, catalog: dict[str, pd.DataFrame], tables, ps, unblinded: bool):
    """The AnnData of the study's counts (see the module docstring), or None without counts."""
    import anndata as ad

    from fmslab.rnaseq.channels import load_channel_set
    from fmslab.rnaseq.io import read_counts

    rp = (study.config.get("parameters") or {}).get("rnaseq") or {}
    if not rp.get("counts") or "rnaseq_samples" not in tables.tables:
        return None
    counts_path = study.resolve(rp["counts"])
    counts, gene_info = read_counts(counts_path)
    sheet = tables.tables["rnaseq_samples"].copy()
    exported = {ps.pid("sample", s): s for s in counts.columns}
    missing = sorted(set(exported) - set(sheet["sample_id"].astype(str)))
    if missing:
        raise InputError(
            f"count column(s) {', '.join(exported[m] for m in missing[:5])} not in the sample sheet",
            file=counts_path,
        )
    obs = sheet.set_index("sample_id").loc[list(exported)]
    obs.index = obs.index.astype(str)
    obs = obs.astype("string").fillna("").astype(object)
    var = gene_info.reindex(counts.index).copy() if len(gene_info.columns) else None
    var = pd.DataFrame(index=counts.index.astype(str)) if var is None else var
    var.index = var.index.astype(str)
    chan = load_channel_set().drop_duplicates("symbol").set_index("symbol")
    for col, name in (
        ("family", "channel_family"),
        ("channel_class", "channel_class"),
        ("gtopdb_target_id", "gtopdb_target_id"),
    ):
        var[name] = chan[col].reindex(var.index).fillna("").astype(str).to_numpy()
    var["is_ion_channel"] = var.index.isin(chan.index)
    adata = ad.AnnData(X=counts.T.to_numpy(dtype=np.int64), obs=obs, var=var)
    adata.uns["fmslab"] = {
        "what": "raw RNA-seq counts (samples x genes) exported by fmslab export",
        "counts_file": counts_path.name if not ps.active else "counts matrix",
        "pseudonymised": bool(ps.active),
        "unblinded": bool(unblinded),
    }
    de = tables.tables.get("rnaseq_de_results") if unblinded else None
    if de is not None and len(de):
        cols = [c for c in de.columns if c not in ("contrast", "gene", "run_id")]
        for cid, part in de.groupby("contrast", sort=True):
            m = part.set_index("gene")[cols].reindex(var.index)
            adata.varm[f"de_{cid}"] = m.astype("float64")
        adata.uns["de"] = {
            "contrasts": sorted(str(c) for c in de["contrast"].unique()),
            "columns": cols,
            "runs": _de_parameters(catalog, set(de["run_id"].astype(str))),
        }
    return adata


def export_h5ad(study, catalog, tables, ps, out_path: Path, unblinded: bool) -> Path | None:
    """Write the counts AnnData to ``out_path`` atomically (None when the study has no counts)."""
    from fmslab.atomic import write_with

    adata = build_anndata(study, catalog, tables, ps, unblinded)
    if adata is None:
        return None
    return write_with(out_path, lambda p: adata.write_h5ad(p))
