"""Steps where R DESeq2 1.38 and pydeseq2 0.5.4 differ, re-done the way R does them.

Each function works on plain arrays and is applied by :mod:`fmslab.rnaseq.de` between pydeseq2's
own steps. Measured on the GSE96870 references (docs/rnaseq.md), these three differences explain
most of pydeseq2's departure from R with few residual degrees of freedom:

1. **Gene-wise dispersions that do not improve the likelihood.** R
   (``estimateDispersionsGeneEst``) keeps the rough starting estimate when the Cox-Reid adjusted
   log-likelihood did not increase by more than a millionth of its absolute value, then floors at
   ``minDisp``; under-dispersed genes therefore sit at ``1e-8`` in R, whereas pydeseq2's L-BFGS-B
   stops at small positive values (1e-6 .. 1e-3).
2. **Genes used for the trend.** R fits the parametric trend on genes with
   ``dispGeneEst > 100 * minDisp`` only, starting from ``(0.1, 1)`` and dropping genes whose
   ratio to the current curve is outside ``(1e-4, 15)`` *before* each fit.
3. **Prior variance with <= 3 residual df**: Monte-Carlo match, see :mod:`.priorvar`.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import gammaln

log = logging.getLogger(__name__)


def cr_log_likelihood(
    counts: np.ndarray, mu: np.ndarray, alpha: np.ndarray, design: np.ndarray
) -> np.ndarray:
    """Cox-Reid adjusted NB log-likelihood per gene, as R DESeq2's C++ ``log_posterior``.

    Parameters
    ----------
    counts, mu
        Samples x genes.
    alpha
        One dispersion per gene.
    design
        Samples x coefficients.

    Notes
    -----
    ``sum(lgamma(y + 1/a) - lgamma(1/a) - y log(mu + 1/a) - (1/a) log(1 + mu a))
    - 0.5 log det(X' W X)`` with ``W = mu / (1 + mu a)``: the same constants as R, which matter
    because R's acceptance rule is relative to the absolute value of this quantity.
    """
    inv = 1.0 / alpha[None, :]
    ll = (
        gammaln(counts + inv)
        - gammaln(inv)
        - counts * np.log(mu + inv)
        - inv * np.log1p(mu * alpha[None, :])
    ).sum(axis=0)
    w = mu / (1.0 + mu * alpha[None, :])  # samples x genes
    xtwx = np.einsum("sg,si,sj->gij", w, design, design)
    _, logdet = np.linalg.slogdet(xtwx)
    return ll - 0.5 * logdet


def r_genewise_acceptance(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    alpha_start: np.ndarray,
    alpha_fit: np.ndarray,
    *,
    min_disp: float = 1e-8,
) -> np.ndarray:
    """Apply R's rule: keep the start value unless the fit raised the log-likelihood enough.

    Returns the gene-wise dispersions R would report (``pmax(., minDisp)``).
    """
    lp0 = cr_log_likelihood(counts, mu, alpha_start, design)
    lp1 = cr_log_likelihood(counts, mu, alpha_fit, design)
    no_increase = lp1 < lp0 + np.abs(lp0) / 1e6
    out = np.where(no_increase, alpha_start, alpha_fit)
    log.debug("R acceptance rule kept the start value for %d genes", int(no_increase.sum()))
    return np.maximum(out, min_disp)


def r_parametric_trend(
    mean_counts: np.ndarray, dispersions: np.ndarray, *, min_disp: float = 1e-8
) -> tuple[float, float]:
    """R's ``parametricDispersionFit``: ``disp = a0 + a1 / mean`` by an iterated Gamma GLM.

    Only genes with ``dispersion > 100 * min_disp`` and a positive finite mean are used.
    Returns ``(a0, a1)``; raises ``RuntimeError`` where R would fall back to a local fit.
    """
    import statsmodels.api as sm

    use = (dispersions > 100 * min_disp) & np.isfinite(mean_counts) & (mean_counts > 0)
    means = mean_counts[use]
    disps = dispersions[use]
    coefs = np.array([0.1, 1.0])
    family = sm.families.Gamma(link=sm.families.links.Identity())
    for _ in range(11):
        resid = disps / (coefs[0] + coefs[1] / means)
        good = (resid > 1e-4) & (resid < 15)
        x = np.column_stack([np.ones(good.sum()), 1.0 / means[good]])
        fit = sm.GLM(disps[good], x, family=family).fit(start_params=coefs, maxiter=100)
        old, coefs = coefs, np.asarray(fit.params)
        if not np.all(coefs > 0):
            raise RuntimeError("parametric dispersion fit gave non-positive coefficients")
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and fit.converged:
            return float(coefs[0]), float(coefs[1])
    raise RuntimeError("parametric dispersion fit did not converge")
