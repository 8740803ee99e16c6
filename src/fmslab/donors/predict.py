"""Predicting transfer from clinical scores, evaluated only out of sample.

Model: L2-penalised logistic regression (the objective of scikit-learn's ``LogisticRegression``:
log-likelihood minus ``||w||^2 / (2 C)``, intercept unpenalised; solved here by Newton's method,
the matrices being tiny) of a donor's transfer label on its standardised clinical scores (standardised inside
each training fold). Evaluation is by leave-one-donor-out cross-validation: each donor's
probability comes from a model fitted without it; the AUC of those probabilities is reported with
a bootstrap CI over donors (percentile) and a permutation test of the *whole procedure* (labels
permuted, the cross-validation redone; p = (1 + #{AUC* >= AUC}) / (1 + n)). With few donors
(fewer than :data:`FEW_DONORS`, or fewer than :data:`FEW_PER_CLASS` in a class) a warning says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

FEW_DONORS = 12
FEW_PER_CLASS = 4
#: A new donor's transfer is predicted only from labels with at least this many per class.
MIN_PER_CLASS = 2


@dataclass
class PredictionResult:
    """Cross-validated prediction of transfer from clinical scores."""

    scores: list[str]
    n_donors: int
    n_positive: int
    auc: float
    auc_low: float
    auc_high: float
    p_permutation: float
    n_permutations: int
    predictions: pd.DataFrame  # donor_id, label, p_loo
    warnings: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """One-row summary."""
        return pd.DataFrame(
            [
                {
                    "scores": ",".join(self.scores),
                    "n_donors": self.n_donors,
                    "n_positive": self.n_positive,
                    "auc_loo": self.auc,
                    "auc_low": self.auc_low,
                    "auc_high": self.auc_high,
                    "p_permutation": self.p_permutation,
                    "n_permutations": self.n_permutations,
                    "warnings": "; ".join(self.warnings),
                }
            ]
        )


def fit_ridge_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Coefficients ``(intercept, w...)`` maximising ``loglik - ||w||^2 / (2 c)`` (Newton)."""
    xd = np.column_stack([np.ones(len(y)), x])
    pen = np.full(xd.shape[1], 1.0 / c)
    pen[0] = 0.0
    beta = np.zeros(xd.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(xd @ beta)))
        grad = xd.T @ (y - p) - pen * beta
        hess = (xd * (p * (1 - p))[:, None]).T @ xd + np.diag(pen) + 1e-12 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def _loo_probabilities(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    n = len(y)
    out = np.full(n, np.nan)
    for i in range(n):
        train = np.arange(n) != i
        if len(set(y[train])) < 2:
            out[i] = float(y[train].mean())  # one class left: its frequency
            continue
        mu = x[train].mean(axis=0)
        sd = x[train].std(axis=0, ddof=1)
        sd[~(sd > 0)] = 1.0
        beta = fit_ridge_logistic((x[train] - mu) / sd, y[train], c)
        eta = beta[0] + ((x[i] - mu) / sd) @ beta[1:]
        out[i] = float(1.0 / (1.0 + np.exp(-eta)))
    return out


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count 1/2)."""
    pos, neg = p[y == 1], p[y == 0]
    if not len(pos) or not len(neg):
        return np.nan
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def predict_transfer(
    labels: pd.Series,
    donors: pd.DataFrame,
    scores: list[str],
    *,
    c: float = 1.0,
    n_permutations: int = 200,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PredictionResult:
    """Leave-one-donor-out penalised logistic prediction of transfer from clinical scores.

    Parameters
    ----------
    labels
        Transfer label (1/0 or bool) indexed by ``donor_id`` (e.g. the responder call on one
        outcome, or a planted truth).
    donors
        Donors sheet with ``donor_id`` and the ``scores`` columns (numeric).
    scores
        Predictor columns.
    c
        Inverse L2 penalty of the logistic regression.
    n_permutations, n_boot, confidence, seed
        Permutation test of the whole procedure; bootstrap CI of the AUC over donors.

    Returns
    -------
    PredictionResult
    """
    sheet = donors.assign(donor_id=donors["donor_id"].astype(str)).set_index("donor_id")
    lab = labels.astype(float).rename("label")
    lab.index = lab.index.astype(str)
    data = sheet[list(scores)].join(lab, how="inner").dropna()
    y = data["label"].to_numpy(int)
    x = data[list(scores)].to_numpy(float)
    n, n_pos = len(y), int(y.sum())
    notes = []
    if n < FEW_DONORS or min(n_pos, n - n_pos) < FEW_PER_CLASS:
        notes.append(
            f"only {n} donors ({n_pos} transferring): too few for a predictive model; "
            "the AUC and its interval are very uncertain"
        )
    if min(n_pos, n - n_pos) < 1:
        notes.append("one class only: no AUC")
        empty = pd.DataFrame({"donor_id": data.index, "label": y, "p_loo": np.nan})
        return PredictionResult(
            list(scores), n, n_pos, np.nan, np.nan, np.nan, np.nan, 0, empty, notes
        )
    rng = np.random.default_rng(seed)
    p = _loo_probabilities(x, y, c)
    auc = _auc(y, p)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        a = _auc(y[idx], p[idx])
        if np.isfinite(a):
            boots.append(a)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha]) if boots else (np.nan, np.nan)
    null = np.array([_auc(yp, _loo_probabilities(x, yp, c)) for yp in
                     (rng.permutation(y) for _ in range(n_permutations))])  # fmt: skip
    p_perm = float((1 + np.sum(null >= auc - 1e-12)) / (1 + n_permutations))
    preds = pd.DataFrame({"donor_id": data.index, "label": y, "p_loo": p})
    return PredictionResult(
        list(scores), n, n_pos, auc, float(low), float(high), p_perm, n_permutations, preds, notes
    )


def _labelled(
    labels: pd.Series, donors: pd.DataFrame, scores: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (donors x scores) and 0/1 labels of the donors having a label and every score."""
    sheet = donors.assign(donor_id=donors["donor_id"].astype(str)).set_index("donor_id")
    lab = labels.astype(float).rename("label")
    lab.index = lab.index.astype(str)
    data = sheet[list(scores)].join(lab, how="inner").dropna()
    return data[list(scores)].to_numpy(float), data["label"].to_numpy(int)


def predict_new_donor(
    labels: pd.Series,
    donors: pd.DataFrame,
    scores: list[str],
    new: dict[str, float],
    *,
    c: float = 1.0,
    n_draws: int = 4000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Predicted probability of transfer for a new donor given only its clinical scores.

    The Bayesian counterpart of the model of :func:`predict_transfer` (the same standardised
    scores; Gaussian prior of variance ``c`` on each coefficient) fitted on all labelled donors:
    the posterior-predictive probability and the central credible interval of the donor's
    transfer probability (:func:`fmslab.donors.posterior.posterior_predict`). Unlike a bootstrap
    of the fitted model it stays wide when the scores separate the labelled donors.

    Returns
    -------
    (probability, low, high)
    """
    from fmslab.donors.posterior import posterior_predict

    x, y = _labelled(labels, donors, scores)
    xn = np.array([float(new[s]) for s in scores])
    res = posterior_predict(x, y, xn, c=c, confidence=confidence, n_draws=n_draws, seed=seed)
    return res.probability, res.low, res.high


#: Columns of the new-donor prediction (``donor_new_prediction.csv``).
NEW_DONOR_COLUMNS = [
    "outcome", "scores", "values", "n_donors", "n_positive", "p_transfer", "p_low", "p_high",
    "confidence", "method", "ess", "warnings",
]  # fmt: skip


def predict_new_from_calls(
    effects: pd.DataFrame,
    donors: pd.DataFrame,
    new: dict[str, float],
    *,
    outcome: str | None = None,
    confidence: float = 0.95,
    n_draws: int = 4000,
    seed: int = 0,
) -> pd.DataFrame:
    """Probability that a new donor's IgG transfers, from its clinical scores only.

    The labels are the responder calls of the patient donors on ``outcome`` (default: the first
    outcome whose calls hold both classes); the model is :func:`predict_new_donor` on the scores
    named in ``new`` (posterior-predictive probability, central credible interval; ``method``
    names the prior, ``ess`` is the importance sampler's effective sample size).

    Returns
    -------
    pandas.DataFrame
        One row, :data:`NEW_DONOR_COLUMNS`.

    Raises
    ------
    fmslab.errors.InputError
        A score that is not a numeric column of the donors sheet, an unknown outcome, or no
        outcome with both transferring and non-transferring patient donors.
    """
    from fmslab.donors.clinical import score_columns
    from fmslab.errors import InputError

    if not new:
        raise InputError("a new donor needs at least one clinical score (SCORE=VALUE)")
    known = score_columns(donors)
    bad = [s for s in new if s not in known]
    if bad:
        raise InputError(
            f"new donor: score(s) {bad} are not clinical columns of the donors sheet "
            f"(known: {', '.join(known) or 'none'})"
        )
    patients = effects[effects["group"] != effects["reference"]]
    outcomes = list(dict.fromkeys(patients["outcome"]))
    if outcome is not None and outcome not in outcomes:
        raise InputError(f"new donor: outcome '{outcome}' has no donor effects")
    chosen = None
    for o in [outcome] if outcome else outcomes:
        calls = patients[patients["outcome"] == o].set_index("donor_id")["call"]
        labels = (calls == "transferrer").astype(int)
        if labels.value_counts().reindex([0, 1], fill_value=0).min() >= MIN_PER_CLASS:
            chosen = (o, labels)
            break
    if chosen is None:
        raise InputError(
            f"new donor: no outcome has at least {MIN_PER_CLASS} transferring and "
            f"{MIN_PER_CLASS} non-transferring patient donors "
            f"({', '.join(outcomes) or 'no outcome'}): transfer cannot be predicted"
        )
    o, labels = chosen
    from fmslab.donors.posterior import PRIOR_SD_INTERCEPT, posterior_predict

    scores = list(new)
    x, y = _labelled(labels, donors, scores)
    n, n_pos = len(y), int(y.sum())
    if min(n_pos, n - n_pos) < MIN_PER_CLASS:
        raise InputError(
            f"new donor: only {n_pos} transferring and {n - n_pos} non-transferring patient "
            f"donors on '{o}' have every score of {scores}: transfer cannot be predicted"
        )
    notes = []
    if n < FEW_DONORS or min(n_pos, n - n_pos) < FEW_PER_CLASS:
        notes.append(
            f"only {n} donors ({n_pos} transferring): too few for a predictive model; "
            "the probability and its interval are very uncertain"
        )
    xn = np.array([float(new[s]) for s in scores])
    res = posterior_predict(x, y, xn, confidence=confidence, n_draws=n_draws, seed=seed)
    notes += list(res.warnings)
    method = (
        f"Bayesian logistic on standardised scores, priors intercept N(0, {PRIOR_SD_INTERCEPT:g}^2)"
        f", slopes N(0, 1); posterior mean and central credible interval"
    )
    row = {
        "outcome": o, "scores": ",".join(scores),
        "values": ",".join(f"{k}={float(v):g}" for k, v in new.items()),
        "n_donors": n, "n_positive": n_pos, "p_transfer": res.probability, "p_low": res.low,
        "p_high": res.high, "confidence": confidence, "method": method, "ess": res.ess,
        "warnings": "; ".join(notes),
    }  # fmt: skip
    return pd.DataFrame([row], columns=NEW_DONOR_COLUMNS)
