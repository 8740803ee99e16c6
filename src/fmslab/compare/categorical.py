"""Binary outcomes (e.g. repetitive vs other firing; responder or not).

Two routes are reported:

- Fisher's exact test (:func:`scipy.stats.fisher_exact`) on the 2 x 2 table of row counts, with the
  conditional odds-ratio CI of :func:`scipy.stats.contingency.odds_ratio`. It treats every cell as
  independent, so with clustered data it is flagged as pseudo-replicated.
- A logistic model fitted by GEE (statsmodels ``GEE``, binomial family, exchangeable working
  correlation within the donor) with the bias-reduced (Mancl-DeRouen) sandwich covariance, and a
  t reference with ``n_donors - 2`` df. GEE is used rather than ``BinomialBayesMixedGLM`` because
  the latter is a variational-Bayes fit that returns posterior means/SDs, not p-values or
  frequentist CIs; GEE estimates the population-averaged odds ratio that the patient-vs-control
  question asks for, and its cluster-robust SE only assumes the donors are independent.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats


@dataclass
class BinaryResult:
    """Odds ratio treatment vs reference with CI and p."""

    estimate: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    statistic: float = np.nan
    df: float = np.nan
    p: float = np.nan
    warnings: list[str] = field(default_factory=list)


def fisher(y: np.ndarray, treated: np.ndarray, *, confidence: float = 0.95) -> BinaryResult:
    """Fisher's exact test of ``y`` (0/1) between ``treated`` (bool) and the reference."""
    table = np.array(
        [
            [np.sum(y[treated] == 1), np.sum(y[treated] == 0)],
            [np.sum(y[~treated] == 1), np.sum(y[~treated] == 0)],
        ]
    )
    out = BinaryResult()
    res = stats.fisher_exact(table)
    out.p = float(res.pvalue)
    odds = stats.contingency.odds_ratio(table)
    out.estimate = float(odds.statistic)
    ci = odds.confidence_interval(confidence_level=confidence)
    out.ci_low, out.ci_high = float(ci.low), float(ci.high)
    return out


def gee_logit(
    y: np.ndarray, treated: np.ndarray, clusters: np.ndarray, *, confidence: float = 0.95
) -> BinaryResult:
    """Population-averaged odds ratio by GEE with donor clusters (see module docstring)."""
    out = BinaryResult()
    n_clusters = int(pd.Series(clusters).nunique())
    out.df = float(n_clusters - 2)
    for arm, name in ((treated, "treatment"), (~treated, "reference")):
        if y[arm].min() == y[arm].max():
            out.warnings.append(
                f"all rows of the {name} group are {int(y[arm][0])}: odds ratio not estimable"
            )
            return out
    if out.df < 1:
        out.warnings.append(f"only {n_clusters} clusters: no degrees of freedom")
        return out
    x = np.column_stack([np.ones(len(y)), treated.astype(float)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = sm.GEE(y, x, groups=clusters, family=sm.families.Binomial(),
                           cov_struct=sm.cov_struct.Exchangeable())  # fmt: skip
            fit = model.fit(cov_type="bias_reduced")
        except (np.linalg.LinAlgError, ValueError) as exc:
            out.warnings.append(f"fit failed: {exc}")
            return out
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        if text not in out.warnings:
            out.warnings.append(text)
    beta, se = float(fit.params[1]), float(fit.bse[1])
    if not np.isfinite(se) or se <= 0:
        out.warnings.append("standard error not available")
        return out
    half = stats.t.ppf(0.5 + confidence / 2, out.df) * se
    out.estimate = float(np.exp(beta))
    out.ci_low, out.ci_high = float(np.exp(beta - half)), float(np.exp(beta + half))
    out.statistic = beta / se
    out.p = float(2 * stats.t.sf(abs(out.statistic), out.df))
    return out
