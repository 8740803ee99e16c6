"""Curated ion-channel gene set and the ranking score (rnaseq.channels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from fmslab.rnaseq.channels import (
    build_channel_set,
    load_channel_set,
    load_curation,
    nociceptor_weight,
    rank_channels,
)

GENESETS = "genesets"


def test_shipped_set_is_rebuilt_from_shared_sources(test_data):
    built = build_channel_set(
        test_data(f"{GENESETS}/gtopdb_ion_channels_human_mouse.csv"),
        REPO / "src/fmslab/data/rnaseq/ion_channel_addendum_curation.csv",
    )
    shipped = load_channel_set()
    pd.testing.assert_frame_equal(built.fillna(""), shipped, check_dtype=False)


def test_gtopdb_core_and_curation(test_data):
    ch = load_channel_set()
    gt = pd.read_csv(test_data(f"{GENESETS}/gtopdb_ion_channels_human_mouse.csv"), dtype=str)
    mgi = set(gt["MGI symbol"].dropna())
    assert len(mgi) == 270  # the README's count of mouse symbols
    assert mgi <= set(ch["symbol"])
    assert ch["symbol"].is_unique
    addendum = pd.read_csv(test_data(f"{GENESETS}/ion_channel_auxiliary_addendum_mouse.csv"))
    cur = load_curation()
    # every addendum gene has exactly one documented decision with a reason
    assert sorted(cur["symbol"]) == sorted(addendum["MGI symbol"])
    assert (cur["reason"].str.len() > 5).all()
    dropped = set(cur.loc[cur["decision"] == "drop", "symbol"])
    assert {f"Fxyd{i}" for i in range(1, 8)} <= dropped
    assert {"Clic1", "Clic4"} <= dropped and not dropped & set(ch["symbol"])
    for gene in ("Cacna2d1", "Scn1b", "Scn4b", "Kcnip2", "Unc80"):
        assert gene in set(ch["symbol"])
    # family labels present and HTML-free
    assert ch["family"].str.len().gt(0).all() and not ch["family"].str.contains("<").any()
    assert ch.set_index("symbol").at["Scn9a", "family"] == "Voltage-gated sodium channels (NaV)"


def test_score_by_hand():
    res = pd.DataFrame(
        {
            "baseMean": [1000.0, 9.0, 500.0, 100.0],
            "log2FoldChange": [1.0, -3.0, 0.1, 2.0],
            "padj": [1e-4, 1e-20, 0.5, np.nan],
        },
        index=pd.Index(["Scn9a", "Trpv1", "Piezo2", "Kcnq2"], name="gene"),
    )
    ranked = rank_channels(res).set_index("symbol")
    # Scn9a: evidence 4/10, effect 1/2, expression log10(1001)/3 (> 1 -> 1)
    assert ranked.at["Scn9a", "score"] == pytest.approx(0.4 * 0.5 * 1.0)
    # Trpv1: evidence capped at 1, effect capped at 1, expression log10(10)/3
    assert ranked.at["Trpv1", "score"] == pytest.approx(1 / 3)
    assert ranked.at["Kcnq2", "score"] == 0  # padj NA -> no evidence
    assert list(ranked.index[:2]) == ["Trpv1", "Scn9a"]
    w = pd.Series({"Scn9a": 1.0, "Trpv1": 0.0})
    weighted = rank_channels(res, weights=w).set_index("symbol")
    assert weighted.at["Scn9a", "score"] == pytest.approx(0.2)  # (1 + 1) / 2
    assert weighted.at["Trpv1", "score"] == pytest.approx(1 / 6)  # (1 + 0) / 2


def test_nociceptor_weight():
    expr = pd.DataFrame(
        {"NP": [2.0, 0.0, 1.0], "PEP": [1.0, 0.0, 1.0], "NF": [4.0, 0.0, 0.5]},
        index=["a", "b", "c"],
    )
    w = nociceptor_weight(expr, ["NP", "PEP"])
    assert w.to_dict() == pytest.approx({"a": 1.5 / 4, "b": 0.0, "c": 1.0})


def test_ensembl_ids_mapped_through_annotation(test_data, tmp_path):
    # R's small-design results re-indexed by the mouse Ensembl ids GtoPdb gives for its channel
    # genes; with the annotation table the ranking must find the same channels as by symbol.
    from fmslab.rnaseq.io import read_annotation

    gt = pd.read_csv(test_data(f"{GENESETS}/gtopdb_ion_channels_human_mouse.csv"), dtype=str)
    gt = gt.dropna(subset=["MGI symbol", "Mouse Ensembl Gene"])
    gt = gt[~gt["Mouse Ensembl Gene"].str.contains(r"\|")].drop_duplicates("MGI symbol")
    ann = gt.rename(columns={"Mouse Ensembl Gene": "gene_id", "MGI symbol": "symbol"})
    ann[["gene_id", "symbol"]].to_csv(tmp_path / "ann.csv", index=False)
    names = read_annotation(tmp_path / "ann.csv")["gene_name"]
    r = pd.read_csv(
        test_data("rnaseq/cerebellum_gse96870/reference/cerebellum_small/deseq2_R_results.csv.gz"),
        index_col=0,
    )
    by_symbol = rank_channels(r)
    sym_to_id = dict(zip(names.to_numpy(), names.index, strict=True))
    r_ens = r.loc[[g for g in r.index if g in sym_to_id]]
    r_ens.index = [sym_to_id[g] for g in r_ens.index]
    by_id = rank_channels(r_ens, gene_names=names)
    expected = by_symbol[by_symbol["symbol"].isin(set(names))]
    assert len(by_id) == len(expected) > 150
    assert by_id["symbol"].tolist()[:20] == expected["symbol"].tolist()[:20]
