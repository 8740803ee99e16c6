"""Clinical association: Spearman rho and its exact permutation p, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmslab.donors.clinical import clinical_association, permutation_spearman


def test_exact_permutation_p_by_hand():
    """y = (2, 1, 4, 3, 5) vs x = 1..5: sum d^2 = 4, rho = 1 - 6*4/(5*24) = 0.8. Permutations of
    5 with sum d^2 <= 4: identity, 4 adjacent swaps, 3 pairs of disjoint adjacent swaps = 8;
    as many with rho <= -0.8 (reversed): p = 16/120."""
    rho, p, n = permutation_spearman(np.arange(1, 6), np.array([2, 1, 4, 3, 5]))
    assert rho == pytest.approx(0.8)
    assert p == pytest.approx(16 / 120)
    assert n == 120


def test_random_permutations_beyond_eight_donors():
    """A perfect rank order of 10: rho 1; p is (1 + hits) / (1 + n) >= 1/(1 + n), and the exact
    p is 2/10! ~ 5.5e-7, so hits are almost surely 0."""
    rho, p, n = permutation_spearman(np.arange(10), np.arange(10) * 2.0, n_permutations=2000)
    assert rho == pytest.approx(1.0)
    assert p == pytest.approx(1 / 2001)
    assert n == 2000


def test_association_uses_patient_donors_and_warns_when_few():
    effects = pd.DataFrame(
        {
            "outcome": "mean_post_pct",
            "donor_id": ["D1", "D2", "D3", "D4", "H1", "H2"],
            "group": ["FMS"] * 4 + ["HC"] * 2,
            "reference": "HC",
            "effect_shrunken": [-40.0, -30.0, -20.0, -10.0, 0.0, 1.0],
            "sd_total": 10.0,
            "direction": -1,
        }
    )
    donors = pd.DataFrame(
        {"donor_id": ["D1", "D2", "D3", "D4", "H1", "H2"], "FIQR": [80, 70, 60, 50, 5, 3]}
    )
    out = clinical_association(effects, donors).iloc[0]
    assert out["score"] == "FIQR" and out["n_donors"] == 4
    assert out["spearman_rho"] == pytest.approx(1.0)  # stronger hypersensitivity, higher FIQR
    assert out["p_permutation"] == pytest.approx(2 / 24)
    assert "only 4 patient donors" in out["warning"]
