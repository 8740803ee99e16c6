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
    import warnings

    from statsmodels.tools.sm_exceptions import DomainWarning

    for _ in range(11):
        resid = disps / (coefs[0] + coefs[1] / means)
        good = (resid > 1e-4) & (resid < 15)
        x = np.column_stack([np.ones(good.sum()), 1.0 / means[good]])
        with warnings.catch_warnings():
            # identity link with Gamma: R's own choice (glm(family = Gamma(link = "identity")))
            warnings.simplefilter("ignore", DomainWarning)
            fit = sm.GLM(disps[good], x, family=family).fit(start_params=coefs, maxiter=100)
        old, coefs = coefs, np.asarray(fit.params)
        if not np.all(coefs > 0):
            raise RuntimeError("parametric dispersion fit gave non-positive coefficients")
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and fit.converged:
            return float(coefs[0]), float(coefs[1])
    raise RuntimeError("parametric dispersion fit did not converge")


def _cr_terms(mu: np.ndarray, alpha: np.ndarray, design: np.ndarray):
    w = 1.0 / (1.0 / mu + alpha[None, :])
    dw = -(w**2)
    b = np.einsum("sg,si,sj->gij", w, design, design)
    db = np.einsum("sg,si,sj->gij", dw, design, design)
    return b, db


def log_posterior(
    log_alpha: np.ndarray,
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
) -> np.ndarray:
    """R DESeq2 ``log_posterior`` (C++), vectorised over genes (columns)."""
    alpha = np.exp(log_alpha)
    lp = cr_log_likelihood(counts, mu, alpha, design)
    if prior_mean is not None:
        lp = lp - (log_alpha - prior_mean) ** 2 / (2 * prior_var)
    return lp


def dlog_posterior(
    log_alpha: np.ndarray,
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
) -> np.ndarray:
    """Derivative of :func:`log_posterior` with respect to ``log(alpha)`` (R ``dlog_posterior``)."""
    from scipy.special import digamma

    alpha = np.exp(log_alpha)
    inv = 1.0 / alpha[None, :]
    ll = (alpha**-2) * (
        digamma(inv)
        + np.log1p(mu * alpha[None, :])
        - mu * alpha[None, :] / (1.0 + mu * alpha[None, :])
        - digamma(counts + inv)
        + counts / (mu + inv)
    ).sum(axis=0)
    b, db = _cr_terms(mu, alpha, design)
    cr = -0.5 * np.einsum("gii->g", np.linalg.solve(b, db))
    out = (ll + cr) * alpha
    if prior_mean is not None:
        out = out - (log_alpha - prior_mean) / prior_var
    return out


def fit_disp(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    log_alpha_init: np.ndarray,
    *,
    prior_mean: np.ndarray | None = None,
    prior_var: float | None = None,
    min_disp: float = 1e-8,
    kappa_0: float = 1.0,
    tol: float = 1e-6,
    maxit: int = 100,
) -> dict[str, np.ndarray]:
    """R DESeq2's ``fitDisp`` line search, run for all genes at once.

    Backtracking search on ``log(alpha)``: propose ``a + kappa * dlp``, accept when the posterior
    rises by at least ``1e-4 * kappa * dlp^2`` (Armijo), stop when an accepted step improves it by
    less than ``tol`` or ``a < log(min_disp / 10)``; ``kappa`` grows by 1.1 (capped at
    ``kappa_0``) after an accepted step, halves after every fifth accepted step and after a
    rejected one; ``a`` is kept in ``[-30, 10]``. Mirrors ``DESeq2.cpp`` so that gene-wise and MAP
    estimates end where R's do, including genes whose likelihood is flat near zero dispersion.

    Returns ``log_alpha``, ``iter``, ``initial_lp``, ``last_lp``.
    """
    eps = 1.0e-4
    min_log_alpha = np.log(min_disp / 10)
    n = counts.shape[1]
    a = np.asarray(log_alpha_init, dtype=float).copy()
    pm = None if prior_mean is None else np.asarray(prior_mean, dtype=float)

    def lp_of(vals, idx):
        return log_posterior(
            vals, counts[:, idx], mu[:, idx], design, None if pm is None else pm[idx], prior_var
        )

    def dlp_of(vals, idx):
        return dlog_posterior(
            vals, counts[:, idx], mu[:, idx], design, None if pm is None else pm[idx], prior_var
        )

    all_idx = np.arange(n)
    lp = lp_of(a, all_idx)
    dlp = dlp_of(a, all_idx)
    initial_lp = lp.copy()
    kappa = np.full(n, kappa_0)
    iters = np.zeros(n, dtype=int)
    accepts = np.zeros(n, dtype=int)
    active = np.ones(n, dtype=bool)
    for _ in range(maxit):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        iters[idx] += 1
        ai, di, ki = a[idx], dlp[idx], kappa[idx]
        prop = ai + ki * di
        with np.errstate(divide="ignore", invalid="ignore"):
            ki = np.where(prop < -30.0, (-30.0 - ai) / di, ki)
            ki = np.where(prop > 10.0, (10.0 - ai) / di, ki)
        new_a = ai + ki * di
        theta_kappa = -lp_of(new_a, idx)
        theta_hat = -lp[idx] - ki * eps * di**2
        accept = theta_kappa <= theta_hat
        # rejected: halve kappa
        rej = idx[~accept]
        kappa[rej] = ki[~accept] / 2.0
        acc = idx[accept]
        if acc.size:
            a_acc = new_a[accept]
            lp_new = -theta_kappa[accept]
            change = lp_new - lp[acc]
            a[acc] = a_acc
            stop = (change < tol) | (a_acc < min_log_alpha)
            lp[acc] = lp_new
            accepts[acc] += 1
            cont = acc[~stop]
            active[acc[stop]] = False
            if cont.size:
                dlp[cont] = dlp_of(a[cont], cont)
                k = np.minimum(ki[accept][~stop] * 1.1, kappa_0)
                k = np.where(accepts[cont] % 5 == 0, k / 2.0, k)
                kappa[cont] = k
    return {"log_alpha": a, "iter": iters, "initial_lp": initial_lp, "last_lp": lp}


def fit_disp_grid(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    *,
    prior_mean: np.ndarray | None = None,
    prior_var: float | None = None,
    min_disp: float = 1e-8,
    max_disp: float = 10.0,
) -> np.ndarray:
    """Fallback for genes whose line search did not converge (R ``fitDispGrid``).

    Coarse grid of 20 log-dispersions from ``log(1e-8)`` to ``log(max(10, max_disp))``, then a
    20-point fine grid around the best coarse point, as R does. Returns ``log(alpha)``.
    """
    n = counts.shape[1]
    coarse = np.linspace(np.log(1e-8), np.log(max(10.0, max_disp)), 20)
    delta = coarse[1] - coarse[0]
    pm = None if prior_mean is None else np.asarray(prior_mean, dtype=float)

    def evaluate(grid_per_gene):
        return np.stack(
            [
                log_posterior(grid_per_gene[:, j], counts, mu, design, pm, prior_var)
                for j in range(grid_per_gene.shape[1])
            ],
            axis=1,
        )

    lp = evaluate(np.tile(coarse, (n, 1)))
    best = coarse[np.argmax(lp, axis=1)]
    fine = best[:, None] + np.linspace(-delta, delta, 20)[None, :]
    lp = evaluate(fine)
    return fine[np.arange(n), np.argmax(lp, axis=1)]


def r_genewise_dispersions(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    alpha_init: np.ndarray,
    *,
    min_disp: float = 1e-8,
    max_disp: float = 10.0,
    maxit: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """R ``estimateDispersionsGeneEst`` after ``mu`` and the rough start values are known.

    :func:`fit_disp` without prior; the start value is kept where the log-likelihood did not
    rise by more than ``|initial| / 1e6``; genes that did not converge and are above
    ``10 * min_disp`` are refitted on a grid; bounded to ``[min_disp, max_disp]``.
    Returns ``(dispGeneEst, converged)``.
    """
    fit = fit_disp(counts, mu, design, np.log(alpha_init), min_disp=min_disp, maxit=maxit)
    disp = np.exp(fit["log_alpha"])
    no_increase = fit["last_lp"] < fit["initial_lp"] + np.abs(fit["initial_lp"]) / 1e6
    disp[no_increase] = alpha_init[no_increase]
    converged = fit["iter"] < maxit
    refit = ~converged & (disp > 10 * min_disp)
    if refit.any():
        disp[refit] = np.exp(
            fit_disp_grid(
                counts[:, refit], mu[:, refit], design, min_disp=min_disp, max_disp=max_disp
            )
        )
    log.debug("gene-wise: %d kept start, %d grid refits", int(no_increase.sum()), int(refit.sum()))
    return np.clip(disp, min_disp, max_disp), converged


def r_map_dispersions(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    genewise: np.ndarray,
    fitted: np.ndarray,
    prior_var: float,
    var_log_disp: float,
    *,
    min_disp: float = 1e-8,
    max_disp: float = 10.0,
    outlier_sd: float = 2.0,
    maxit: int = 100,
) -> dict[str, np.ndarray]:
    """R ``estimateDispersionsMAP``: MAP fit toward the trend, gene-wise value kept for outliers.

    Start at the gene-wise estimate when it exceeds ``0.1 * fitted``, else at the trend; normal
    prior on ``log(alpha)`` centred on ``log(fitted)`` with variance ``prior_var``; outliers are
    genes with ``log(genewise) > log(fitted) + outlier_sd * sqrt(var_log_disp)``.
    """
    init = np.where(genewise > 0.1 * fitted, genewise, fitted)
    prior_mean = np.log(fitted)
    fit = fit_disp(
        counts,
        mu,
        design,
        np.log(init),
        prior_mean=prior_mean,
        prior_var=prior_var,
        min_disp=min_disp,
        maxit=maxit,
    )
    disp_map = np.exp(fit["log_alpha"])
    converged = fit["iter"] < maxit
    if (~converged).any():
        disp_map[~converged] = np.exp(
            fit_disp_grid(
                counts[:, ~converged],
                mu[:, ~converged],
                design,
                prior_mean=prior_mean[~converged],
                prior_var=prior_var,
                min_disp=min_disp,
                max_disp=max_disp,
            )
        )
    disp_map = np.clip(disp_map, min_disp, max_disp)
    outlier = np.log(genewise) > np.log(fitted) + outlier_sd * np.sqrt(var_log_disp)
    final = np.where(outlier, genewise, disp_map)
    return {"map": disp_map, "final": final, "outlier": outlier, "converged": converged}
