"""Normal-prior shrinkage of log fold changes (DESeq2 ``lfcShrink(type = "normal")``).

As described in Love et al. (2014, "Empirical prior for logarithmic fold changes") and
DESeq2's ``nbinomWaldTest(betaPrior = TRUE)`` documentation:

1. the model is refitted on the *expanded* model matrix (intercept plus an indicator for every
   level of every factor, covariates as they are) with a zero-centred normal prior on each
   non-intercept coefficient;
2. the prior variance is matched to the MLE fold changes of the standard fit: for every pair of
   levels of a factor, the weighted 0.95 quantile (frequency weights
   ``1 / (1 / mean(mu) + dispFit)``, :func:`weighted_quantile`) of the absolute MLE log2 fold
   change (genes with ``|LFC| < 10``) divided by ``qnorm(0.975)``, squared; averaged
   over the pairs, the same for every level of the factor;
3. the fit is ridge-penalised IRLS (penalty ``1 / prior variance``, intercept ``1e-6``), and a
   contrast of two levels is ``beta_target - beta_reference``.

Designs with interactions are not shrunk (DESeq2 refuses them for this prior too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from fmslab.rnaseq import engine as eng
from fmslab.rnaseq.design import expanded_matrix


@dataclass
class ShrunkFit:
    """Normal-prior fit on the expanded model matrix (natural-log coefficients)."""

    beta: np.ndarray
    columns: list[str]
    prior_var_log2: dict[str, float]


def weighted_quantile(x: np.ndarray, w: np.ndarray, prob: float) -> float:
    """Quantile of ``x`` with frequency weights ``w``: the type-7 quantile of the sample in which
    each value appears ``w`` times (position ``1 + (sum(w) - 1) * prob``, linear between the
    values at the two neighbouring integer positions)."""
    order = np.argsort(x)
    x, w = x[order], w[order]
    n = w.sum()
    pos = 1 + (n - 1) * prob
    lo = max(np.floor(pos), 1.0)
    hi = min(lo + 1, n)
    cw = np.cumsum(w)

    def at(k: float) -> float:
        return float(x[min(np.searchsorted(cw, k, side="left"), len(x) - 1)])

    frac = pos % 1
    return (1 - frac) * at(lo) + frac * at(hi)


def weighted_upper_quantile_variance(
    lfc: np.ndarray, weights: np.ndarray, upper_quantile: float = 0.05
) -> float:
    """``(weighted quantile(|lfc|, 1 - q) / qnorm(1 - q / 2))^2`` over finite ``|lfc| < 10``."""
    use = np.isfinite(lfc) & np.isfinite(weights) & (np.abs(lfc) < 10)
    q = weighted_quantile(np.abs(lfc[use]), weights[use], 1 - upper_quantile)
    return (q / norm.ppf(1 - upper_quantile / 2)) ** 2


def prior_variances(model, design) -> dict[str, float]:
    """Prior variance (log2 scale) of every expanded column (step 2 of the module notes)."""
    from itertools import combinations

    mm = design.full
    fit = model.full
    weights = 1.0 / (1.0 / fit.mu.mean(axis=1) + model.disp.fitted)
    beta2 = fit.beta / np.log(2)
    out = {"Intercept": 1e6}
    for (var,) in mm.terms:
        if var not in mm.factors:
            j = mm.columns.index(var)
            out[var] = weighted_upper_quantile_variance(beta2[:, j], weights)
            continue
        levels = mm.factors[var]
        eff = np.zeros((len(beta2), len(levels)))
        for k, lev in enumerate(levels[1:], start=1):
            eff[:, k] = beta2[:, mm.columns.index(f"{var}_{lev}_vs_{levels[0]}".replace(" ", "."))]
        v = np.mean(
            [
                weighted_upper_quantile_variance(eff[:, b] - eff[:, a], weights)
                for a, b in combinations(range(len(levels)), 2)
            ]
        )
        for lev in levels:
            out[f"{var}{lev}"] = float(v)
    return out


def fit_normal_prior(model, design) -> ShrunkFit:
    """Refit every nonzero gene with the normal prior on the expanded model matrix."""
    xe, names = expanded_matrix(design.full, design.meta)
    priors = prior_variances(model, design)
    ridge = np.array([1.0 / priors[n] for n in names]) / np.log(2) ** 2
    ridge[0] = eng.RIDGE_LOG2 / np.log(2) ** 2
    sf = model.disp.size_factors
    y = model.counts
    start = np.zeros((len(y), len(names)))
    start[:, 0] = np.log(np.maximum((y / sf[None, :]).mean(axis=1), 1e-8))
    fit = eng.fit_glm(y, sf, xe, model.disp.dispersion, ridge=ridge, beta_init=start)
    return ShrunkFit(fit.beta, names, priors)


def expanded_contrast(contrast, columns: list[str]) -> np.ndarray:
    """``e_target - e_reference`` on the expanded columns."""
    c = np.zeros(len(columns))
    c[columns.index(f"{contrast.variable}{contrast.target}")] = 1.0
    c[columns.index(f"{contrast.variable}{contrast.reference}")] = -1.0
    return c
