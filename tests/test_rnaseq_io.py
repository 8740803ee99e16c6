"""Count readers and bad-input handling (rnaseq.io, rnaseq.de input checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmslab.errors import InputError
from fmslab.rnaseq import io
from fmslab.rnaseq.de import run_de

DATA = "rnaseq/cerebellum_gse96870"


@pytest.fixture(scope="module")
def real_counts(test_data) -> pd.DataFrame:
    """First 300 genes x 6 samples of the real GSE96870 matrix."""
    counts = pd.read_csv(test_data(f"{DATA}/GSE96870_counts_cerebellum.csv"), index_col=0)
    sheet = pd.read_csv(test_data(f"{DATA}/reference/cerebellum_small/coldata.csv"), index_col=0)
    return counts.loc[:, sheet.index].iloc[:300]


def test_plain_csv_and_tsv_roundtrip(tmp_path, real_counts):
    for sep, name in ((",", "c.csv"), ("\t", "c.tsv")):
        p = tmp_path / name
        real_counts.to_csv(p, sep=sep)
        got, info = io.read_counts(p)
        pd.testing.assert_frame_equal(got, real_counts.astype(np.int64), check_names=False)
        assert info.empty


def test_featurecounts_layout(tmp_path, real_counts):
    fc = real_counts.copy()
    fc.columns = [f"/data/bam/{s}.sorted.bam" for s in fc.columns]
    meta = pd.DataFrame(
        {"Chr": "1", "Start": 1, "End": 100, "Strand": "+", "Length": 100}, index=fc.index
    )
    table = pd.concat([meta, fc], axis=1).rename_axis("Geneid").reset_index()
    p = tmp_path / "counts.txt"
    with open(p, "w") as fh:
        fh.write('# Program:featureCounts v2.0.6; Command:"featureCounts" "-a" "x.gtf"\n')
        table.to_csv(fh, sep="\t", index=False)
    got, info = io.read_counts(p)
    assert list(got.columns) == list(real_counts.columns)
    assert (got.to_numpy() == real_counts.to_numpy()).all()
    assert list(info.columns) == io.FEATURECOUNTS_META


def test_nfcore_merged_counts_rounds_salmon_fractions(tmp_path, real_counts):
    frac = real_counts.astype(float) + 0.4  # salmon-like estimated counts
    frac.iloc[0, 0] = 2.5  # round half to even -> 2, as R's round()
    table = frac.rename_axis("gene_id").reset_index()
    table.insert(1, "gene_name", [f"sym{i}" for i in range(len(table))])
    p = tmp_path / "salmon.merged.gene_counts.tsv"
    table.to_csv(p, sep="\t", index=False)
    got, info = io.read_counts(p)
    assert got.iloc[0, 0] == 2
    assert (got.iloc[1:, 1:].to_numpy() == real_counts.iloc[1:, 1:].to_numpy()).all()
    assert info.loc[real_counts.index[3], "gene_name"] == "sym3"


def test_h5ad_counts(tmp_path, real_counts):
    import anndata as ad

    a = ad.AnnData(X=real_counts.T.to_numpy(dtype=np.float32))
    a.obs_names = list(real_counts.columns)
    a.var_names = list(real_counts.index)
    a.write_h5ad(tmp_path / "c.h5ad")
    got, _ = io.read_counts(tmp_path / "c.h5ad")
    assert (got.to_numpy() == real_counts.to_numpy()).all()


@pytest.mark.parametrize(
    ("value", "words"),
    [(2.5, "not an integer"), (-3, "negative count"), ("abc", "not a number")],
)
def test_bad_count_values_name_gene_and_sample(tmp_path, real_counts, value, words):
    bad = real_counts.astype(object)
    bad.iloc[5, 2] = value
    p = tmp_path / "bad.csv"
    bad.to_csv(p)
    with pytest.raises(InputError) as err:
        io.read_counts(p)
    msg = str(err.value)
    assert words in msg and "bad.csv" in msg
    assert real_counts.index[5] in msg and real_counts.columns[2] in msg


def test_duplicated_genes_refused(tmp_path, real_counts):
    dup = pd.concat([real_counts, real_counts.iloc[[7]]])
    p = tmp_path / "dup.csv"
    dup.to_csv(p)
    with pytest.raises(InputError, match=f"duplicated gene ids.*{real_counts.index[7]}"):
        io.read_counts(p)


def test_sample_missing_from_sheet(tmp_path, real_counts):
    sheet = pd.DataFrame({"cond": ["a"] * 5}, index=real_counts.columns[:5])
    with pytest.raises(InputError, match=f"sample '{real_counts.columns[5]}'.*not in the sample"):
        io.match_samples(real_counts, sheet, counts_file="c.csv", samples_file="s.csv")


def _small_sheet(counts):
    return pd.DataFrame(
        {"cond": ["A", "A", "A", "B", "B", "B"], "batch": ["x", "x", "x", "y", "y", "y"]},
        index=counts.columns,
    )


def test_rank_deficient_design_refused(real_counts):
    sheet = _small_sheet(real_counts)  # batch is confounded with cond
    with pytest.raises(InputError, match="rank deficient"):
        run_de(real_counts, sheet, "~ batch + cond", [io.Contrast.parse("cond,B,A")], shrink=False)


def test_unknown_level_and_variable(real_counts):
    sheet = _small_sheet(real_counts)
    with pytest.raises(InputError, match="level 'C' not found"):
        run_de(real_counts, sheet, "~ cond", [io.Contrast.parse("cond,C,A")], shrink=False)
    with pytest.raises(InputError, match="design variable 'sex'"):
        run_de(real_counts, sheet, "~ sex", [io.Contrast.parse("cond,B,A")], shrink=False)


def test_all_zero_genes_kept_with_na_results(real_counts):
    counts = real_counts.copy()
    counts.iloc[0] = 0
    sheet = _small_sheet(counts)
    res = run_de(counts, sheet, "~ cond", [io.Contrast.parse("cond,B,A")], shrink=False)
    table = res.results["cond_B_vs_A"]
    # DESeq2 convention: all-zero genes get baseMean 0 and NA statistics
    assert table.iloc[0]["baseMean"] == 0
    zero = counts.sum(axis=1) == 0
    assert zero.sum() > 1  # gene 0 plus the real matrix's own all-zero genes
    assert table.loc[zero, "pvalue"].isna().all() and table.loc[zero, "padj"].isna().all()
    assert (table.loc[zero, "baseMean"] == 0).all()
    # other genes are tested (a few may lose their p-value to Cook's filtering, as in DESeq2)
    assert table.loc[~zero, "pvalue"].notna().mean() > 0.9


def test_contrast_parsing_and_table(tmp_path):
    c = io.Contrast.parse("time,Day8,Day0")
    assert (c.variable, c.target, c.reference, c.id) == (
        "time",
        "Day8",
        "Day0",
        "time_Day8_vs_Day0",
    )
    with pytest.raises(InputError):
        io.Contrast.parse("time,Day8")
    p = tmp_path / "contrasts.csv"
    p.write_text("id,variable,reference,target\nd8,time,Day0,Day8\nd4,time,Day0,\n")
    with pytest.raises(InputError, match="row 3"):
        io.read_contrasts(p)
