"""Curated mouse ion-channel gene set and the candidate-channel ranking.

Gene set (package data ``fmslab/data/rnaseq/ion_channels_mouse.csv``), built by
:func:`build_channel_set` from

- the IUPHAR/BPS Guide to PHARMACOLOGY 2023.1 targets of type voltage-gated (``vgic``),
  ligand-gated (``lgic``) and other (``other_ic``) ion channel: 270 mouse MGI symbols with their
  GtoPdb family (HTML tags removed). Harding SD et al. (2024) Nucleic Acids Res 52:D1438-D1449,
  "The IUPHAR/BPS Guide to PHARMACOLOGY in 2024"; data CC-BY-SA 4.0;
- auxiliary subunits and channel genes GtoPdb leaves out, curated one by one in
  ``ion_channel_addendum_curation.csv`` (decision and reason per gene; 89 candidates, kept ones get
  a family label, dropped ones such as Fxyd and Clic are listed with the reason).

Ranking score of a channel gene (all terms in [0, 1], documented in docs/rnaseq.md)::

    evidence   = min(-log10(padj), 10) / 10          (padj NA -> 0)
    effect     = min(|LFC|, 2) / 2                  (shrunk LFC when available)
    expression = min(log10(baseMean + 1) / 3, 1)    (full weight from ~1000 normalised counts)
    score      = evidence * effect * expression [* (1 + nociceptor_weight) / 2]

``nociceptor_weight`` (optional) is the gene's mean pseudobulk expression in the nociceptor cell
types divided by its maximum over all cell types of a single-cell reference
(:func:`nociceptor_weight`), so channels absent from nociceptors are down-weighted by half, not
removed.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.errors import InputError

DATA_PACKAGE = "fmslab.data.rnaseq"
CHANNEL_FILE = "ion_channels_mouse.csv"
CURATION_FILE = "ion_channel_addendum_curation.csv"
ATTRIBUTION = (
    "Ion-channel gene set: IUPHAR/BPS Guide to PHARMACOLOGY 2023.1 (Harding SD et al., "
    "Nucleic Acids Res 2024; CC-BY-SA 4.0) plus curated auxiliary subunits (fmslab)."
)
TYPE_LABELS = {"vgic": "voltage-gated", "lgic": "ligand-gated", "other_ic": "other"}


def _clean(text: str) -> str:
    text = re.sub(r"<[^>]+>", "", str(text))
    return re.sub(r"\s+", " ", text).strip()


def build_channel_set(gtopdb_csv: str | Path, curation_csv: str | Path) -> pd.DataFrame:
    """Build the curated table: ``symbol, family, channel_class, source, gtopdb_target_id``."""
    gt = pd.read_csv(gtopdb_csv, dtype=str)
    gt = gt[gt["MGI symbol"].notna() & (gt["MGI symbol"].str.strip() != "")]
    core = pd.DataFrame(
        {
            "symbol": gt["MGI symbol"].str.strip(),
            "family": gt["Family name"].map(_clean),
            "channel_class": gt["Type"].map(TYPE_LABELS),
            "source": "GtoPdb 2023.1",
            "gtopdb_target_id": gt["Target id"],
        }
    ).drop_duplicates("symbol")
    cur = pd.read_csv(curation_csv, dtype=str)
    kept = cur[cur["decision"] == "keep"]
    aux = pd.DataFrame(
        {
            "symbol": kept["symbol"],
            "family": kept["family"],
            "channel_class": "auxiliary/other",
            "source": "fmslab curated addendum",
            "gtopdb_target_id": "",
        }
    )
    aux = aux[~aux["symbol"].isin(core["symbol"])]
    out = pd.concat([core, aux], ignore_index=True)
    return out.sort_values(["channel_class", "family", "symbol"]).reset_index(drop=True)


def load_channel_set() -> pd.DataFrame:
    """The shipped curated mouse ion-channel gene set."""
    with resources.files(DATA_PACKAGE).joinpath(CHANNEL_FILE).open("r") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def load_curation() -> pd.DataFrame:
    """Per-gene decisions on the auxiliary addendum (keep/drop with reasons)."""
    with resources.files(DATA_PACKAGE).joinpath(CURATION_FILE).open("r") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def nociceptor_weight(celltype_expression: pd.DataFrame, nociceptor_types: list[str]) -> pd.Series:
    """Mean expression in nociceptor types / maximum over all types (genes x cell types in).

    Genes not expressed anywhere get weight 0.
    """
    missing = [t for t in nociceptor_types if t not in celltype_expression.columns]
    if missing:
        raise InputError(
            f"nociceptor cell types {missing} not among {list(celltype_expression.columns)}"
        )
    top = celltype_expression.max(axis=1)
    noci = celltype_expression[nociceptor_types].mean(axis=1)
    w = (noci / top.replace(0, np.nan)).fillna(0.0).clip(0, 1)
    return w.rename("nociceptor_weight")


def rank_channels(
    results: pd.DataFrame,
    channels: pd.DataFrame | None = None,
    *,
    gene_names: pd.Series | None = None,
    weights: pd.Series | None = None,
) -> pd.DataFrame:
    """Score and rank the ion-channel genes of one DE results table.

    Parameters
    ----------
    results
        DE table indexed by gene (DESeq2 columns, optional ``log2FoldChange_shrunk``).
    channels
        Gene set (default: the shipped one), matched on ``symbol``.
    gene_names
        Optional gene id -> symbol mapping when ``results`` is indexed by Ensembl ids.
    weights
        Optional nociceptor weight per symbol (:func:`nociceptor_weight`).
    """
    channels = load_channel_set() if channels is None else channels
    res = results.copy()
    res["symbol"] = (
        gene_names.reindex(res.index).fillna("").to_numpy()
        if gene_names is not None
        else res.index.astype(str)
    )
    merged = res.reset_index().merge(channels, on="symbol", how="inner")
    lfc_col = (
        "log2FoldChange_shrunk"
        if "log2FoldChange_shrunk" in merged and merged["log2FoldChange_shrunk"].notna().any()
        else "log2FoldChange"
    )
    padj = merged["padj"].astype(float)
    evidence = np.where(padj.notna(), np.minimum(-np.log10(padj.clip(lower=1e-300)), 10) / 10, 0.0)
    effect = np.minimum(merged[lfc_col].astype(float).abs().fillna(0), 2) / 2
    expression = np.minimum(np.log10(merged["baseMean"].astype(float).fillna(0) + 1) / 3, 1)
    merged["evidence"] = evidence
    merged["effect"] = effect
    merged["expression"] = expression
    merged["score"] = evidence * effect * expression
    if weights is not None:
        w = weights.reindex(merged["symbol"]).fillna(0.0).to_numpy()
        merged["nociceptor_weight"] = w
        merged["score"] = merged["score"] * (1 + w) / 2
    merged["lfc_used"] = lfc_col
    merged = merged.sort_values(["score", "padj"], ascending=[False, True], na_position="last")
    merged.insert(0, "rank", np.arange(1, len(merged) + 1))
    return merged.reset_index(drop=True)
