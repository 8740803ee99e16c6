"""Leave-one-donor-out prediction of transfer from clinical scores: informative vs noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fmslab.donors.predict import _auc, predict_transfer


def _donors(rng, n, informative: bool):
    potency = rng.lognormal(0, 0.6, n)
    label = (potency > np.median(potency)).astype(int)
    fiqr = 50 + (15 * np.log(potency) if informative else 0) + rng.normal(0, 5, n)
    other = rng.normal(0, 1, n)  # never informative
    ids = [f"D{i:02d}" for i in range(n)]
    sheet = pd.DataFrame({"donor_id": ids, "FIQR": fiqr, "tender_points": other})
    return sheet, pd.Series(label, index=ids)


def test_auc_by_hand():
    """Positives (0.9, 0.4), negatives (0.4, 0.1): pairs 0.9>0.4, 0.9>0.1, 0.4=0.4 (1/2),
    0.4>0.1 -> 3.5 / 4."""
    assert _auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.4, 0.1])) == 0.875


def test_informative_scores_predict_out_of_sample():
    rng = np.random.default_rng(3)
    sheet, label = _donors(rng, 30, informative=True)
    res = predict_transfer(label, sheet, ["FIQR", "tender_points"], n_permutations=50, n_boot=200)
    assert res.auc > 0.8
    assert res.p_permutation <= 2 / 51  # no more than one permuted AUC reaches it
    assert res.auc_low < res.auc < res.auc_high
    assert not res.warnings


def test_noise_scores_give_auc_near_half():
    """Pure-noise scores, 10 simulated studies of 24 donors: the mean leave-one-out AUC is
    0.5 within 0.12 (per-study SD of a 12-vs-12 AUC ~0.12, /sqrt(10) ~0.04; LOO biases noise
    AUCs downwards a little), and the permutation p is not small on average."""
    rng = np.random.default_rng(5)
    aucs, ps = [], []
    for _ in range(10):
        sheet, label = _donors(rng, 24, informative=False)
        res = predict_transfer(
            label, sheet, ["FIQR", "tender_points"], n_permutations=20, n_boot=50
        )
        aucs.append(res.auc)
        ps.append(res.p_permutation)
    assert abs(np.mean(aucs) - 0.5) < 0.12
    assert np.mean(ps) > 0.25


def test_few_donors_warn():
    rng = np.random.default_rng(1)
    sheet, label = _donors(rng, 6, informative=True)
    res = predict_transfer(label, sheet, ["FIQR"], n_permutations=10, n_boot=20)
    assert any("too few" in w for w in res.warnings)


def test_ridge_logistic_equals_scikit_learn():
    """Same objective as scikit-learn's LogisticRegression(C) with the lbfgs solver (an
    independent implementation); both converge to the unique optimum, agreeing to ~1e-5
    (sklearn's default tolerance 1e-4 on the gradient)."""
    sklearn = __import__("pytest").importorskip("sklearn.linear_model")
    from fmslab.donors.predict import fit_ridge_logistic

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] + rng.normal(size=40) > 0).astype(int)
    ref = sklearn.LogisticRegression(C=0.7, tol=1e-10, max_iter=10000).fit(x, y)
    beta = fit_ridge_logistic(x, y, 0.7)
    np.testing.assert_allclose(beta[0], ref.intercept_[0], atol=1e-5)
    np.testing.assert_allclose(beta[1:], ref.coef_[0], atol=1e-5)


def test_new_donor_probability_follows_its_score():
    """Informative FIQR: a new donor at the top of the FIQR range is predicted to transfer
    (> 0.5), one at the bottom not (< 0.5); intervals contain their estimates."""
    from fmslab.donors.predict import predict_new_donor

    rng = np.random.default_rng(3)
    sheet, label = _donors(rng, 30, informative=True)
    hi = predict_new_donor(label, sheet, ["FIQR"], {"FIQR": 70.0})
    lo = predict_new_donor(label, sheet, ["FIQR"], {"FIQR": 35.0})
    assert hi[0] > 0.5 > lo[0]
    assert hi[1] <= hi[0] <= hi[2] and lo[1] <= lo[0] <= lo[2]
