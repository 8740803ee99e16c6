"""`fmslab rnaseq de` / `channels` end to end on a real-count subset, with catalog storage."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO

DATA = "rnaseq/cerebellum_gse96870"


def _fmslab(*args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run(
        [sys.executable, "-m", "fmslab", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def inputs(test_data, tmp_path_factory):
    """1,500 expressed genes (plus known channels) x the 6 samples of the small reference design."""
    tmp = tmp_path_factory.mktemp("rnaseq_cli")
    ref = test_data(f"{DATA}/reference/cerebellum_small")
    counts = pd.read_csv(test_data(f"{DATA}/GSE96870_counts_cerebellum.csv"), index_col=0)
    sheet = pd.read_csv(ref / "coldata.csv")
    counts = counts[sheet["sample"]]
    counts = counts[counts.sum(axis=1) >= 10]
    channels = ["Scn1a", "Kcnq2", "Cacna2d1", "Piezo2", "Trpv1", "Hcn1", "Kcna1", "Gabra1"]
    keep = list(
        dict.fromkeys(list(counts.index[:1500]) + [g for g in channels if g in counts.index])
    )
    counts.loc[keep].to_csv(tmp / "counts.csv")
    sheet.to_csv(tmp / "samples.csv", index=False)
    return tmp


def test_de_and_channels_cli(inputs, sample_study):
    out = inputs / "out"
    r = _fmslab(
        "rnaseq",
        "de",
        "--counts",
        inputs / "counts.csv",
        "--samples",
        inputs / "samples.csv",
        "--design",
        "~ sex + time",
        "--contrast",
        "time,Day8,Day0",
        "--out",
        out,
        "--n-cpus",
        "1",
        "--study",
        sample_study,
        "--color-by",
        "time",
    )
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out / "de_results.csv")
    assert list(table.columns[:7]) == [
        "gene",
        "baseMean",
        "log2FoldChange",
        "lfcSE",
        "stat",
        "pvalue",
        "padj",
    ]
    assert "log2FoldChange_shrunk" in table.columns
    # shrinkage pulls estimates toward zero; with two correlated shrunk coefficients (sex, time)
    # a few genes can move outward (measured 98.6% not larger on this subset)
    ok = table["log2FoldChange_shrunk"].notna()
    assert (
        table.loc[ok, "log2FoldChange_shrunk"].abs() <= table.loc[ok, "log2FoldChange"].abs() + 1e-6
    ).mean() > 0.95
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["parameters"]["n_cpus"] == 1 and prov["parameters"]["reduced"] is None
    assert len(prov["inputs"]) == 2 and all(len(h) == 64 for h in prov["inputs"].values())
    assert prov["prior_method"] == "simulation"
    for name in (
        "de_results.h5ad",
        "qc/pca.pdf",
        "qc/sample_distances.pdf",
        "qc/sample_summary.csv",
        "qc/cooks_summary.csv",
    ):
        assert (out / name).is_file(), name
    summary = pd.read_csv(out / "qc" / "sample_summary.csv").set_index("sample")
    counts = pd.read_csv(inputs / "counts.csv", index_col=0)
    assert (summary["library_size"] == counts.sum(axis=0)).all()

    r = _fmslab("rnaseq", "channels", out, "--study", sample_study)
    assert r.returncode == 0, r.stderr
    ranked = pd.read_csv(out / "channels.csv")
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert set(ranked["symbol"]) <= {
        "Scn1a",
        "Kcnq2",
        "Cacna2d1",
        "Piezo2",
        "Trpv1",
        "Hcn1",
        "Kcna1",
        "Gabra1",
    } | set(counts.index)
    # score recomputed by hand from the row's own numbers (docs/rnaseq.md formula)
    row = ranked.iloc[0]
    lfc = (
        row["log2FoldChange_shrunk"]
        if row["lfc_used"] == "log2FoldChange_shrunk"
        else row["log2FoldChange"]
    )
    hand = (
        (min(-np.log10(row["padj"]), 10) / 10)
        * (min(abs(lfc), 2) / 2)
        * min(np.log10(row["baseMean"] + 1) / 3, 1)
    )
    assert row["score"] == pytest.approx(hand, rel=1e-12)
    assert (out / "volcano_channels.pdf").is_file() and (out / "channel_heatmap.pdf").is_file()

    from fmslab.catalog import query
    from fmslab.study import load_study

    db = load_study(sample_study).catalog_path
    n = query(db, "SELECT count(*) AS n FROM rnaseq_de_results")["n"][0]
    assert n == len(table)
    assert query(db, "SELECT count(*) AS n FROM rnaseq_channels")["n"][0] == len(ranked)


def test_de_cli_bad_sample_sheet(inputs):
    sheet = pd.read_csv(inputs / "samples.csv").iloc[:-1]
    sheet.to_csv(inputs / "samples_short.csv", index=False)
    r = _fmslab(
        "rnaseq",
        "de",
        "--counts",
        inputs / "counts.csv",
        "--samples",
        inputs / "samples_short.csv",
        "--design",
        "~ time",
        "--contrast",
        "time,Day8,Day0",
        "--out",
        inputs / "bad",
    )
    assert r.returncode == 2
    missing = pd.read_csv(inputs / "samples.csv")["sample"].iloc[-1]
    assert missing in r.stderr and "not in the sample sheet" in r.stderr


def test_blinded_sheet_by_key_or_by_codes(inputs, tmp_path):
    # A blinded study's sheet carries treatment codes only. `--unblinding KEY` joins the key's
    # group in memory; analysing by codes needs no key. Both must give exactly the numbers of
    # the unblinded sheet (the same fit on the same factor, relabelled).
    from fmslab.rnaseq import run

    sheet = pd.read_csv(inputs / "samples.csv")
    codes = {"Day0": "T16", "Day8": "T19"}
    blinded = sheet.assign(treatment_code=sheet["time"].map(codes)).drop(columns="time")
    blinded.to_csv(tmp_path / "blinded.csv", index=False)
    key = pd.DataFrame({"treatment_code": list(codes.values()), "group": list(codes)})
    key.to_csv(tmp_path / "key.csv", index=False)
    counts = inputs / "counts.csv"
    plain = run(
        counts,
        inputs / "samples.csv",
        "~ sex + time",
        ["time,Day8,Day0"],
        out=tmp_path / "plain",
        shrink=False,
    )
    keyed = run(
        counts,
        tmp_path / "blinded.csv",
        "~ sex + group",
        ["group,Day8,Day0"],
        out=tmp_path / "keyed",
        unblinding=tmp_path / "key.csv",
        shrink=False,
    )
    coded = run(
        counts,
        tmp_path / "blinded.csv",
        "~ sex + treatment_code",
        ["treatment_code,T19,T16"],
        out=tmp_path / "coded",
        shrink=False,
    )
    ref = plain.result.results["time_Day8_vs_Day0"]
    for other, cid in ((keyed, "group_Day8_vs_Day0"), (coded, "treatment_code_T19_vs_T16")):
        pd.testing.assert_frame_equal(other.result.results[cid], ref, check_exact=False, rtol=1e-12)
    prov = json.loads((tmp_path / "keyed" / "provenance.json").read_text())
    assert prov["parameters"]["unblinded"] is True
    assert not any("unblind" in p.name for p in (tmp_path / "keyed").rglob("*.csv"))
