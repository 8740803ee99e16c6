"""A clinical score as a donor-level covariate in the mixed model, against R lmerTest.

Reference: tests/data/donors/lmertest_covariate.R (lme4 1.1.31, lmerTest 3.1.3, R 4.2.2) on the
committed input CSVs; the test reads the committed table covariate_lmertest.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmslab.donors.covariate import score_mixed_model, score_models
from fmslab.errors import InputError

DATA = Path(__file__).parent / "data" / "donors"
#: (outcome, input file, mouse level, groups kept besides HC, reference subset)
CASES = [
    ("y", "covariate_input.csv", "mouse_id", None, "patients"),
    ("y_mouse", "covariate_input_mice.csv", None, None, "patients"),
    ("y", "covariate_input.csv", "mouse_id", "FMS", "FMS"),
]


def _ref(outcome: str, subset: str) -> pd.Series:
    ref = pd.read_csv(DATA / "covariate_lmertest.csv")
    return ref[(ref["outcome"] == outcome) & (ref["subset"] == subset)].iloc[0]


@pytest.mark.parametrize(("outcome", "file", "mouse", "keep", "subset"), CASES)
def test_slope_equals_lmertest(outcome, file, mouse, keep, subset):
    """Slope, SE, Satterthwaite df and p of the score against lmerTest's summary. Both fits
    stop at the REML optimum within their optimisers' tolerances (measured differences: slope
    4e-8, SE 1.5e-6 relative, df 4e-6 relative, p 8e-7); the tolerances leave ~20-100x room for
    a change of optimiser or BLAS: slope 1e-6 absolute (slope SE ~0.1), SE 1e-4 relative, df
    1e-3 relative (a ratio of derivatives of the REML surface, the most sensitive quantity),
    p 1e-4. The third case is singular in lme4 (donor variance 0): the engine must reach the
    boundary too."""
    data = pd.read_csv(DATA / file)
    if keep:
        data = data[data["group"].isin(["HC", keep])]
    donors = pd.read_csv(DATA / "covariate_donors.csv")
    row = score_mixed_model(data, outcome, donors, "FIQR", reference="HC", mouse=mouse)
    ref = _ref(outcome, subset)
    assert row["n_donors"] == data.loc[data["group"] != "HC", "donor_id"].nunique()
    assert row["slope"] == pytest.approx(ref["slope"], abs=1e-6)
    assert row["slope_se"] == pytest.approx(ref["slope_se"], rel=1e-4)
    assert row["slope_df"] == pytest.approx(ref["slope_df"], rel=1e-3)
    assert row["p"] == pytest.approx(ref["p"], abs=1e-4)
    assert row["slope_low"] == pytest.approx(ref["slope_low"], abs=1e-5)
    assert row["slope_high"] == pytest.approx(ref["slope_high"], abs=1e-5)
    assert row["var_residual"] == pytest.approx(ref["var_residual"], rel=1e-4)
    assert row["var_donor"] == pytest.approx(ref["var_donor"], rel=1e-3, abs=1e-6)


def test_planted_slope_is_recovered():
    """A strong planted slope (-0.5 per point, 20 patient donors) is estimated within 3 SE and
    is significant; the controls (score 0, no slope) are left out."""
    rng = np.random.default_rng(4)
    rows, sheet = [], []
    for i in range(24):
        g = "HC" if i < 4 else "FMS"
        s = rng.uniform(0, 10) if g == "HC" else rng.uniform(30, 90)
        sheet.append((f"D{i:02d}", s))
        u = rng.normal(0, 3)
        for m in range(3):
            v = rng.normal(0, 2)
            for _ in range(3):
                y = 100 + (0 if g == "HC" else -0.5 * (s - 60)) + u + v + rng.normal(0, 5)
                rows.append((f"D{i:02d}", f"M{m}", g, y))
    data = pd.DataFrame(rows, columns=["donor_id", "mouse_id", "group", "y"])
    donors = pd.DataFrame(sheet, columns=["donor_id", "FIQR"])
    row = score_models(data, "y", donors, ["FIQR"], reference="HC").iloc[0]
    assert abs(row["slope"] + 0.5) < 3 * row["slope_se"]
    assert row["p"] < 1e-4 and row["n_donors"] == 20


def test_too_few_donors_and_missing_score():
    data = pd.read_csv(DATA / "covariate_input.csv")
    data = data[data["donor_id"].isin(["D01", "D02", "D05", "D06", "D07"])]
    donors = pd.read_csv(DATA / "covariate_donors.csv")
    row = score_mixed_model(data, "y", donors, "FIQR", reference="HC")
    assert np.isnan(row["slope"]) and "not estimated" in row["warnings"]
    with pytest.raises(InputError, match="'wpi' is not a column"):
        score_mixed_model(data, "y", donors, "wpi", reference="HC")
