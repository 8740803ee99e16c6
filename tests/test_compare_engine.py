"""The comparison engine: joins, nesting checks, categorical routes, BH, false positives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fmslab.compare import STATS_COLUMNS, Hierarchy, compare_outcomes, prepare_table
from fmslab.compare.categorical import fisher, gee_logit
from fmslab.compare.mixed import fit_lmm
from fmslab.errors import InputError
from fmslab.study import load_study
from fmslab.study.blinding import read_unblinding


def _design(rng, n_donors=4, mice=3, cells=8, delta=0.0, sd=(1.0, 0.5, 1.0)) -> pd.DataFrame:
    rows = []
    for g in ("HC", "FMS"):
        for d in range(n_donors):
            u = rng.normal() * sd[0] + (delta if g == "FMS" else 0.0)
            for m in range(mice):
                v = u + rng.normal() * sd[1]
                for c in range(cells):
                    rows.append(
                        (g, f"{g}{d}", f"{g}{d}m{m}", f"{g}{d}m{m}c{c}", v + rng.normal() * sd[2])
                    )
    return pd.DataFrame(rows, columns=["group", "donor_id", "mouse_id", "cell_id", "y"])


def test_prepare_table_joins_mice_sheet_and_unblinding_key(sample_study) -> None:
    study = load_study(sample_study)
    cells = study.recordings[["cell_id", "mouse_id"]].assign(rmp_mv=[-60.0, -62.0, -55.0, -57.0])
    key = read_unblinding(sample_study / "unblinding.csv")
    out = prepare_table(cells, hierarchy=Hierarchy(), mice=study.mice, key=key)
    # sample study: M01, M02 got T-A (FMS, donor D01); M03, M04 got T-B (HC, donor D02)
    assert dict(zip(out["mouse_id"], out["group"], strict=True)) == {
        "M01": "FMS",
        "M02": "FMS",
        "M03": "HC",
        "M04": "HC",
    }
    assert dict(zip(out["mouse_id"], out["donor_id"], strict=True)) == {
        "M01": "D01",
        "M02": "D01",
        "M03": "D02",
        "M04": "D02",
    }


def test_prepare_table_refuses_broken_nesting() -> None:
    df = pd.DataFrame(
        {
            "group": ["A", "A", "B"],
            "donor_id": ["D1", "D2", "D2"],
            "mouse_id": ["m1", "m2", "m3"],
            "y": [1.0, 2, 3],
        }
    )
    with pytest.raises(InputError, match="belong to more than one 'group'"):
        prepare_table(df, hierarchy=Hierarchy(), source="t.csv")
    df2 = pd.DataFrame(
        {"group": ["A", "A"], "donor_id": ["D1", "D2"], "mouse_id": ["m1", "m1"], "y": [1.0, 2]}
    )
    with pytest.raises(InputError, match="'mouse_id' value"):
        prepare_table(df2, hierarchy=Hierarchy(), source="t.csv")


def test_prepare_table_without_key_names_what_is_missing() -> None:
    df = pd.DataFrame({"mouse_id": ["m1"], "y": [1.0]})
    with pytest.raises(InputError, match="no 'group' column"):
        prepare_table(df, hierarchy=Hierarchy(), source="cells.csv")


def test_fisher_matches_hypergeometric_by_hand() -> None:
    # 2x2 table [[3, 1], [1, 3]] (Fisher's tea-tasting): two-sided p = (1 + 16 + 16 + 1) / 70.
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    treated = np.array([True] * 4 + [False] * 4)
    r = fisher(y, treated)
    assert r.p == pytest.approx(34 / 70, rel=1e-12)


def test_gee_without_clustering_equals_sample_odds_ratio() -> None:
    # One row per cluster: the GEE logit estimate is the logistic MLE, whose odds ratio for a
    # 2x2 table is ad/bc exactly (tolerance: IRLS convergence, 1e-6).
    y = np.array([1] * 12 + [0] * 8 + [1] * 5 + [0] * 15)
    treated = np.array([True] * 20 + [False] * 20)
    r = gee_logit(y, treated, np.arange(40))
    assert r.estimate == pytest.approx((12 * 15) / (8 * 5), rel=1e-6)
    assert r.df == 38


def test_tidy_table_columns_counts_and_bh() -> None:
    rng = np.random.default_rng(12)
    df = _design(rng, delta=1.5)
    df["z"] = rng.normal(size=len(df))
    df["w"] = df["y"] * 0.5 + rng.normal(size=len(df))
    df["pattern"] = np.where(
        rng.random(len(df)) < np.where(df["group"] == "FMS", 0.6, 0.3), "repetitive", "single"
    )
    df.loc[df.index[:3], "z"] = np.nan
    t = compare_outcomes(
        df,
        ["y", "z", "w", "pattern=repetitive"],
        hierarchy=Hierarchy(),
        reference="HC",
        n_resamples=300,
    )
    assert list(t.columns) == STATS_COLUMNS
    lmm = t[t.model == "lmm"].set_index("outcome")
    assert lmm.loc["y", ["n_donors_ref", "n_donors_trt", "n_mice_ref", "n_obs_trt"]].tolist() == [
        4,
        4,
        12,
        96,
    ]
    assert (
        lmm.loc["z", "n_obs_ref"] == 93
        and "3 row(s) with missing value dropped" in lmm.loc["z", "warnings"]
    )
    # Benjamini-Hochberg by hand over the three continuous outcomes of the lmm family.
    p = lmm["p"].to_numpy()
    order = np.argsort(p)
    ranked = p[order] * 3 / np.arange(1, 4)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    expected = np.empty(3)
    expected[order] = np.minimum(q, 1)
    np.testing.assert_allclose(lmm["q"].to_numpy(), expected, rtol=1e-12)
    binary = t[t.outcome == "pattern=repetitive"]
    assert set(binary.model) == {
        "fisher_rows",
        "gee_logit",
        "welch_donor_fraction",
        "mannwhitney_donor_fraction",
        "bootstrap_mean_difference",
    }
    assert "pseudo-replication" in binary.set_index("model").loc["fisher_rows", "warnings"]
    assert t.loc[t.model == "lmm", "primary"].all()


def test_non_numeric_outcome_is_a_clear_error() -> None:
    df = _design(np.random.default_rng(1))
    df["pattern"] = "single"
    with pytest.raises(InputError, match="pattern=VALUE"):
        compare_outcomes(df, ["pattern"], hierarchy=Hierarchy(), n_resamples=10)


@pytest.mark.slow
def test_pseudo_replication_false_positive_rates() -> None:
    # No true effect; 3 donors per group, 3 mice, 20 cells (180 cells per group). Donors differ
    # (SD 1), so cells of one donor are correlated. 150 seeded data sets: the binomial SE of a 5 %
    # rate is sqrt(.05*.95/150) = 1.8 %; the donor-level routes must stay below 5 % + 3 SE = 10.3 %,
    # while the naive cell-level t test (the pseudo-replicated analysis) must exceed 30 %.
    rng = np.random.default_rng(99)
    n_sim = 150
    hits = {"lmm": 0, "welch_donor": 0, "naive_cells": 0}
    for _ in range(n_sim):
        df = _design(rng, n_donors=3, mice=3, cells=20)
        r = fit_lmm(df, "y", group="group", levels=("donor_id", "mouse_id"), reference="HC")
        hits["lmm"] += r.p < 0.05
        dm = df.groupby("donor_id").agg(y=("y", "mean"), g=("group", "first"))
        hits["welch_donor"] += (
            stats.ttest_ind(dm.y[dm.g == "FMS"], dm.y[dm.g == "HC"], equal_var=False).pvalue < 0.05
        )
        hits["naive_cells"] += (
            stats.ttest_ind(df.y[df.group == "FMS"], df.y[df.group == "HC"]).pvalue < 0.05
        )
    rates = {k: v / n_sim for k, v in hits.items()}
    limit = 0.05 + 3 * np.sqrt(0.05 * 0.95 / n_sim)
    assert rates["lmm"] <= limit, rates
    assert rates["welch_donor"] <= limit, rates
    assert rates["naive_cells"] > 0.30, rates


def test_prepare_table_matches_numeric_and_text_mouse_ids() -> None:
    table = pd.DataFrame({"mouse_id": [1, 2], "y": [1.0, 2.0]})
    mice = pd.DataFrame(
        {"mouse_id": ["1", "2"], "donor_id": ["D1", "D2"], "treatment_code": ["T1", "T2"]}
    )
    key = pd.DataFrame({"treatment_code": ["T1", "T2"], "group": ["HC", "FMS"]})
    out = prepare_table(table, hierarchy=Hierarchy(), mice=mice, key=key)
    assert out["group"].tolist() == ["HC", "FMS"] and out["donor_id"].tolist() == ["D1", "D2"]


def test_default_reference_is_the_control_group() -> None:
    df = _design(np.random.default_rng(3), n_donors=3, mice=2, cells=3, delta=2.0)
    t = compare_outcomes(df, ["y"], hierarchy=Hierarchy(), n_resamples=50)
    assert set(t["reference"]) == {"HC"} and set(t["treatment"]) == {"FMS"}
