"""The DESeq2 model, vectorised over genes: every stage of ``DESeq()`` and ``results()``.

Written from the DESeq2 paper (Love, Huber & Anders 2014, Genome Biology 15:550, Methods) and
DESeq2's documentation (vignette and manual pages of ``estimateSizeFactors``,
``estimateDispersions*``, ``nbinomWaldTest``, ``nbinomLRT``, ``replaceOutliers``, ``results``
and ``lfcShrink``). Counts are genes x samples; every stage works on all genes at once with
numpy (batched linear algebra over genes), so no per-gene Python loop remains.

Stages (each a function returning a typed result):

- :func:`size_factors` - median-of-ratios;
- :func:`initial_mu` - means for the gene-wise dispersion fit;
- :func:`genewise_dispersions` - maximise the Cox-Reid adjusted profile likelihood;
- :func:`fit_trend` - parametric trend ``a0 + a1 / mean``;
- :func:`map_dispersions` - maximise the posterior with a normal prior on log dispersion;
- :func:`fit_glm` - negative binomial GLM by IRLS (optional ridge prior);
- :func:`cooks_distances` - Cook's distances with a robust dispersion;
- :func:`independent_filtering` - filter on the mean, Benjamini-Hochberg.

Conventions (DESeq2 defaults): ``minDisp = 1e-8``, ``maxDisp = max(10, m)``, ``minmu = 0.5``,
coefficient ridge ``1e-6`` (log2 scale), IRLS tolerance ``1e-8`` on the relative deviance
change with at most 100 iterations. Coefficients are natural log inside this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln
from scipy.stats import chi2, norm

MIN_DISP = 1e-8
MIN_MU = 0.5
BETA_TOL = 1e-8
MAX_IT = 100
RIDGE_LOG2 = 1e-6
LN2 = np.log(2.0)


def max_disp(n_samples: int) -> float:
    """DESeq2's upper bound on the dispersion, ``max(10, m)``."""
    return float(max(10, n_samples))


# ---------------------------------------------------------------------------------------------
# size factors and means


def size_factors(counts: np.ndarray) -> np.ndarray:
    """Median-of-ratios size factors (DESeq2 ``estimateSizeFactors``).

    Each sample's factor is the median, over genes with no zero count, of its count divided by
    the gene's geometric mean across samples.
    """
    with np.errstate(divide="ignore"):
        logc = np.log(counts.astype(float))
    loggeo = logc.mean(axis=1)
    use = np.isfinite(loggeo)
    if not use.any():
        raise ValueError("every gene has a zero count: median-of-ratios size factors undefined")
    return np.exp(np.median(logc[use] - loggeo[use, None], axis=0))


def nb_loglik(y: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Negative binomial log-likelihood summed over the last axis (``alpha`` broadcasts)."""
    r = 1.0 / alpha
    return np.sum(
        gammaln(y + r)
        - gammaln(r)
        - gammaln(y + 1.0)
        + r * np.log(r / (r + mu))
        + y * np.log(mu / (r + mu)),
        axis=-1,
    )


def linear_mu(normed: np.ndarray, sf: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Fitted means of a least-squares fit of the normalised counts, times size factors,
    floored at ``minmu`` (DESeq2's ``linearMu``)."""
    coef, *_ = np.linalg.lstsq(x, normed.T, rcond=None)
    return np.maximum((x @ coef).T * sf[None, :], MIN_MU)


def rough_dispersions(normed: np.ndarray, sf: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Starting dispersions: the smaller of the moments and the linear-model estimates.

    Moments: ``(var - mean(1/s) * mean) / mean^2``. Linear model:
    ``sum(((y - yhat)^2 - yhat) / yhat^2) / (m - p)`` with ``yhat = max(fitted, 1)``.
    """
    m, p = x.shape
    mean = normed.mean(axis=1)
    var = normed.var(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        moments = (var - np.mean(1.0 / sf) * mean) / mean**2
    coef, *_ = np.linalg.lstsq(x, normed.T, rcond=None)
    yhat = np.maximum((x @ coef).T, 1.0)
    rough = np.maximum(np.sum(((normed - yhat) ** 2 - yhat) / yhat**2, axis=1) / (m - p), 0.0)
    return np.minimum(rough, moments)


# ---------------------------------------------------------------------------------------------
# GLM


@dataclass
class GLMFit:
    """IRLS fit of the NB GLM for each gene (natural-log coefficients)."""

    beta: np.ndarray  # genes x p
    cov: np.ndarray  # genes x p x p, sandwich covariance
    mu: np.ndarray  # genes x samples, sf * exp(X beta)
    hat: np.ndarray  # genes x samples, diagonal of the hat matrix
    deviance: np.ndarray  # genes, -2 log-likelihood
    iterations: np.ndarray
    converged: np.ndarray


def _xtwx(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.einsum("gs,si,sj->gij", w, x, x, optimize=True)


def fit_glm(
    counts: np.ndarray,
    sf: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    *,
    ridge: np.ndarray | None = None,
    beta_init: np.ndarray | None = None,
    maxit: int = MAX_IT,
    tol: float = BETA_TOL,
) -> GLMFit:
    """Negative binomial GLM ``log(mu / s) = X beta`` fitted by IRLS for every gene at once.

    Parameters
    ----------
    counts
        genes x samples.
    sf
        Size factors.
    x
        Model matrix, samples x p.
    alpha
        Dispersion per gene.
    ridge
        Penalty per coefficient on the natural-log scale (``beta' diag(ridge) beta / 2``
        added to the negative log-likelihood); default DESeq2's ``1e-6`` on the log2 scale.
    beta_init
        Start; default the least-squares fit of ``log(normalised count + 0.1)``.

    Notes
    -----
    Each iteration solves ``(X'WX + ridge) beta = X'Wz`` with ``W = mu / (1 + alpha mu)`` and
    ``z = log(mu / s) + (y - mu) / mu``; fitted means are floored at ``minmu = 0.5``. A gene
    stops when its deviance changes by less than ``tol * (|deviance| + 0.1)``. The covariance
    is the sandwich ``(X'WX + R)^-1 X'WX (X'WX + R)^-1`` and the hat diagonal is
    ``W^1/2 X (X'WX + R)^-1 X' W^1/2``. The returned means and deviance use the unfloored
    means ``s exp(X beta)`` (the deviance is the likelihood-ratio test's).
    """
    y = counts.astype(float)
    n_genes = y.shape[0]
    p = x.shape[1]
    lam = np.full(p, RIDGE_LOG2 / LN2**2) if ridge is None else np.asarray(ridge, dtype=float)
    log_sf = np.log(sf)
    if beta_init is None:
        beta, *_ = np.linalg.lstsq(x, np.log(y / sf[None, :] + 0.1).T, rcond=None)
        beta = beta.T.copy()
    else:
        beta = np.array(beta_init, dtype=float)
    alpha = np.asarray(alpha, dtype=float)
    mu = np.maximum(np.exp(beta @ x.T + log_sf), MIN_MU)
    dev = np.full(n_genes, np.inf)
    iters = np.zeros(n_genes, dtype=int)
    converged = np.zeros(n_genes, dtype=bool)
    active = np.arange(n_genes)
    for _ in range(maxit):
        if active.size == 0:
            break
        ya, mua, aa = y[active], mu[active], alpha[active, None]
        w = mua / (1.0 + aa * mua)
        z = np.log(mua) - log_sf + (ya - mua) / mua
        lhs = _xtwx(w, x) + np.diag(lam)
        rhs = np.einsum("gs,si->gi", w * z, x)
        new = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        beta[active] = new
        mua = np.maximum(np.exp(new @ x.T + log_sf), MIN_MU)
        mu[active] = mua
        dnew = -2.0 * nb_loglik(ya, mua, aa)
        iters[active] += 1
        done = np.abs(dnew - dev[active]) / (np.abs(dnew) + 0.1) < tol
        dev[active] = dnew
        converged[active[done]] = True
        active = active[~done & (np.abs(new).max(axis=1) <= 30)]
    w = mu / (1.0 + alpha[:, None] * mu)
    xtwx = _xtwx(w, x)
    inv = np.linalg.inv(xtwx + np.diag(lam))
    cov = inv @ xtwx @ inv
    hat = w * np.einsum("si,gij,sj->gs", x, inv, x, optimize=True)
    mu_raw = np.exp(beta @ x.T + log_sf)
    return GLMFit(
        beta=beta,
        cov=cov,
        mu=mu_raw,
        hat=hat,
        deviance=-2.0 * nb_loglik(y, mu_raw, alpha[:, None]),
        iterations=iters,
        converged=converged,
    )


# ---------------------------------------------------------------------------------------------
# dispersions


def _cr_objective(
    t: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    x: np.ndarray,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
) -> np.ndarray:
    """Cox-Reid adjusted log-likelihood of ``alpha = exp(t)`` (+ log prior), per gene.

    ``sum_j log NB(y_j; mu_j, alpha) - log det(X' W X) / 2`` with ``W = mu / (1 + alpha mu)``,
    terms constant in alpha dropped.
    """
    a = np.exp(t)[:, None]
    r = 1.0 / a
    ll = np.sum(gammaln(y + r) - gammaln(r) + r * np.log(r) - (y + r) * np.log(r + mu), axis=1)
    w = mu / (1.0 + a * mu)
    if x.shape[1] == 1:
        logdet = np.log(np.sum(w * x[:, 0] ** 2, axis=1))
    else:
        logdet = np.linalg.slogdet(_xtwx(w, x))[1]
    out = ll - 0.5 * logdet
    if prior_mean is not None:
        out = out - (t - prior_mean) ** 2 / (2.0 * prior_var)
    return out


def grid_log_alpha(
    y: np.ndarray,
    mu: np.ndarray,
    x: np.ndarray,
    lower: float,
    upper: float,
    *,
    prior_mean: np.ndarray | None = None,
    prior_var: float | None = None,
    n: int = 20,
) -> np.ndarray:
    """Grid maximiser of :func:`_cr_objective`: the best of ``n`` points spanning
    ``[lower, upper]``, then the best of ``n`` points spanning one coarse step either side of
    it (DESeq2's fallback for searches that do not converge)."""
    n_genes = y.shape[0]

    def best(points: np.ndarray) -> np.ndarray:
        vals = np.stack(
            [
                _cr_objective(points[:, k], y, mu, x, prior_mean, prior_var)
                for k in range(points.shape[1])
            ],
            axis=1,
        )
        vals = np.where(np.isfinite(vals), vals, -np.inf)
        return points[np.arange(n_genes), np.argmax(vals, axis=1)]

    coarse = np.linspace(lower, upper, n)
    step = coarse[1] - coarse[0]
    centre = best(np.broadcast_to(coarse, (n_genes, n)))
    fine = centre[:, None] + np.linspace(-step, step, n)[None, :]
    return best(fine)


def _cr_gradient(
    t: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    x: np.ndarray,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
) -> np.ndarray:
    """Derivative of :func:`_cr_objective` with respect to ``t = log(alpha)``."""
    a = np.exp(t)[:, None]
    r = 1.0 / a
    dr = np.sum(
        digamma(y + r) - digamma(r) + np.log(r) + 1.0 - np.log(r + mu) - (y + r) / (r + mu),
        axis=1,
    )
    w = mu / (1.0 + a * mu)
    if x.shape[1] == 1:
        lev = x[:, 0] ** 2 / np.sum(w * x[:, 0] ** 2, axis=1, keepdims=True)
    else:
        inv = np.linalg.inv(_xtwx(w, x))
        lev = np.einsum("si,gij,sj->gs", x, inv, x, optimize=True)
    out = -r[:, 0] * dr + 0.5 * a[:, 0] * np.sum(w**2 * lev, axis=1)
    if prior_mean is not None:
        out = out - (t - prior_mean) / prior_var
    return out


def line_search_log_alpha(
    t0: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    x: np.ndarray,
    *,
    prior_mean: np.ndarray | None = None,
    prior_var: float | None = None,
    kappa0: float = 1.0,
    tol: float = 1e-6,
    maxit: int = 100,
    lower: float = np.log(MIN_DISP / 10),
    upper: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backtracking gradient ascent on ``t = log(alpha)`` (DESeq2's documented scheme:
    ``kappa_0``, ``dispTol``, ``maxit``).

    Each iteration proposes ``t + kappa * g`` (``g`` the derivative). A proposal that raises
    the objective by at least ``1e-4 * kappa * g^2`` (Armijo) is accepted and ``kappa`` grows
    by 10% (at most ``kappa0``), and is halved after every fifth accepted step; otherwise
    ``kappa`` is halved. The search stops when an accepted step raises the objective by less
    than ``tol``. Returns ``(t, iterations, converged)``.
    """
    t = np.array(t0, dtype=float)
    n_genes = len(t)
    iters = np.zeros(n_genes, dtype=int)
    accepted = np.zeros(n_genes, dtype=int)
    conv = np.zeros(n_genes, dtype=bool)
    kappa = np.full(n_genes, kappa0)

    def sub(idx, arr):
        return None if arr is None else arr[idx]

    f = _cr_objective(t, y, mu, x, prior_mean, prior_var)
    g = _cr_gradient(t, y, mu, x, prior_mean, prior_var)
    active = np.arange(n_genes)
    for _ in range(maxit):
        if active.size == 0:
            break
        ya, ma, pa = y[active], mu[active], sub(active, prior_mean)
        ka, ga = kappa[active], g[active]
        prop = np.clip(t[active] + ka * ga, lower, upper)
        fp = _cr_objective(prop, ya, ma, x, pa, prior_var)
        iters[active] += 1
        ok = fp >= f[active] + 1e-4 * ka * ga**2
        acc = active[ok]
        rise = fp[ok] - f[acc]
        t[acc] = prop[ok]
        f[acc] = fp[ok]
        accepted[acc] += 1
        new_k = np.minimum(ka * 1.1, kappa0)
        new_k = np.where(ok & (accepted[active] % 5 == 0), new_k / 2.0, new_k)
        kappa[active] = np.where(ok, new_k, ka / 2.0)
        done = rise < tol
        conv[acc[done]] = True
        moving = acc[~done]
        if moving.size:
            g[moving] = _cr_gradient(
                t[moving], y[moving], mu[moving], x, sub(moving, prior_mean), prior_var
            )
        active = active[~np.isin(active, acc[done])]
    return t, iters, conv


@dataclass
class GenewiseDispersions:
    """Gene-wise dispersion estimates and the means they were computed with."""

    dispersion: np.ndarray  # dispGeneEst, clipped to [minDisp, maxDisp]
    mu: np.ndarray  # genes x samples
    initial: np.ndarray  # rough starting dispersion


def initial_mu(counts: np.ndarray, sf: np.ndarray, x: np.ndarray, rough: np.ndarray) -> np.ndarray:
    """Means for the gene-wise dispersion fit: a linear model of the normalised counts when the
    design has as many distinct rows as coefficients (groups only), else the NB GLM fitted with
    the rough dispersions; floored at ``minmu``."""
    normed = counts / sf[None, :]
    if len(np.unique(x, axis=0)) == x.shape[1]:
        return linear_mu(normed, sf, x)
    fit = fit_glm(counts, sf, x, rough)
    return np.maximum(fit.mu, MIN_MU)


def genewise_dispersions(counts: np.ndarray, sf: np.ndarray, x: np.ndarray) -> GenewiseDispersions:
    """Cox-Reid adjusted maximum-likelihood dispersion per gene (``dispGeneEst``), means held
    at :func:`initial_mu`.

    A backtracking line search on log dispersion from the rough estimate
    (:func:`line_search_log_alpha`, ``dispTol = 1e-6``, ``maxit = 100``). A move that raises
    the objective by less than a millionth of its absolute value is not accepted (the rough
    estimate stays). Genes whose search used all iterations, or stopped after one, are
    maximised on a grid (:func:`grid_log_alpha`) unless their estimate is below
    ``10 * minDisp``. Clipped to ``[minDisp, maxDisp]``.
    """
    y = counts.astype(float)
    upper = max_disp(y.shape[1])
    normed = y / sf[None, :]
    rough = np.clip(rough_dispersions(normed, sf, x), MIN_DISP, upper)
    mu = initial_mu(y, sf, x, rough)
    t0 = np.log(rough)
    t, iters, _ = line_search_log_alpha(t0, y, mu, x)
    f0 = _cr_objective(t0, y, mu, x, None, None)
    f1 = _cr_objective(t, y, mu, x, None, None)
    t = np.where(f1 < f0 + np.abs(f0) / 1e6, t0, t)
    refit = ((iters >= MAX_IT) | (iters == 1)) & (np.exp(t) > 10 * MIN_DISP)
    if refit.any():
        t[refit] = grid_log_alpha(y[refit], mu[refit], x, np.log(MIN_DISP), np.log(upper))
    return GenewiseDispersions(np.clip(np.exp(t), MIN_DISP, upper), mu, rough)


@dataclass(frozen=True)
class Trend:
    """Dispersion-mean trend ``asymptDisp + extraPois / mean`` (``kind="parametric"``) or a
    constant (``kind="mean"``)."""

    kind: str
    asympt_disp: float
    extra_pois: float

    def __call__(self, mean: np.ndarray) -> np.ndarray:
        if self.kind == "mean":
            return np.full(np.shape(mean), self.asympt_disp)
        return self.asympt_disp + self.extra_pois / np.asarray(mean, dtype=float)


def _gamma_identity_glm(
    y: np.ndarray, z: np.ndarray, start: np.ndarray, maxit: int = 25
) -> tuple[np.ndarray, bool]:
    """Gamma GLM with identity link ``E y = b0 + b1 z`` by IRLS (weights ``1 / mu^2``), as R's
    ``glm.fit`` runs it from ``start``: the deviance of ``start`` is the first reference, the
    fit stops when one iteration changes the deviance by less than 1e-8 relative
    (``|dev - dev_old| / (|dev| + 0.1)``), at most ``maxit`` (R's 25) iterations; a step that
    makes a fitted value non-positive is halved towards the previous coefficients.

    Returns ``(coefficients, converged)``. Where the search stops matters at the 1e-5 level
    (IRLS with a non-canonical link converges linearly): one extra iteration, or a first
    reference of infinity instead of the start's deviance, moved the trend of the reference
    designs by up to 2e-4 relative from R's.
    """
    design = np.column_stack([np.ones_like(z), z])
    coef = start.astype(float)

    def deviance(mu):
        return 2.0 * np.sum(-np.log(y / mu) + (y - mu) / mu)

    mu = design @ coef
    if np.any(mu <= 0):
        raise RuntimeError("non-positive fitted dispersion at the trend fit's start")
    dev_old = deviance(mu)
    for _ in range(maxit):
        w = 1.0 / mu**2
        new = np.linalg.solve(design.T @ (design * w[:, None]), design.T @ (w * y))
        # an invalid step (a fitted value <= 0) is halved towards the last valid fit
        for _ in range(maxit):
            if np.all(design @ new > 0):
                break
            new = (new + coef) / 2.0
        else:
            raise RuntimeError("non-positive fitted dispersion in the trend fit")
        coef = new
        mu = design @ coef
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            return coef, True
        dev_old = dev
    return coef, False


def fit_trend(base_mean: np.ndarray, genewise: np.ndarray) -> Trend:
    """Parametric dispersion trend (DESeq2 ``fitType = "parametric"``).

    A gamma-family GLM with identity link of ``dispGeneEst`` on ``1 / baseMean`` over genes
    with ``dispGeneEst >= 100 * minDisp``: each fit (from the previous coefficients, first
    ``(0.1, 1)``) leaves out the genes whose ratio of estimate to the current fitted value is
    outside ``[1e-4, 15]``; the fits stop when the coefficients change by less than ``1e-6``
    (sum of squared log ratios) and the GLM converged, after at most 11 fits. When the fit fails (non-positive
    coefficients or no convergence) the trend is the mean of the estimates above
    ``10 * minDisp`` trimmed by 0.1% (DESeq2's ``fitType = "mean"``).
    """
    use = genewise >= 100 * MIN_DISP
    d, mean = genewise[use], base_mean[use]
    coef = np.array([0.1, 1.0])
    try:
        for _ in range(11):
            # the genes of each fit are chosen by the current coefficients, the starting
            # (0.1, 1) included, as DESeq2 does
            ratio = d / (coef[0] + coef[1] / mean)
            good = (ratio > 1e-4) & (ratio < 15)
            old = coef
            coef, converged = _gamma_identity_glm(d[good], 1.0 / mean[good], coef)
            if not np.all(coef > 0):
                raise RuntimeError("non-positive trend coefficients")
            if np.sum(np.log(coef / old) ** 2) < 1e-6 and converged:
                return Trend("parametric", float(coef[0]), float(coef[1]))
        raise RuntimeError("trend fit did not converge")
    except RuntimeError:
        from scipy.stats import trim_mean

        keep = genewise > 10 * MIN_DISP
        return Trend("mean", float(trim_mean(genewise[keep], 0.001)), 0.0)


@dataclass
class MAPDispersions:
    """Maximum a posteriori dispersions and the final dispersions used for testing."""

    map: np.ndarray  # dispMAP
    dispersion: np.ndarray  # final: dispGeneEst for outliers, else dispMAP
    outlier: np.ndarray  # dispOutlier


def map_dispersions(
    counts: np.ndarray,
    mu: np.ndarray,
    x: np.ndarray,
    genewise: np.ndarray,
    fitted: np.ndarray,
    prior_var: float,
    var_log_disp: float,
) -> MAPDispersions:
    """Posterior mode of the dispersion with prior ``log alpha ~ N(log dispFit, prior_var)``.

    Line search from the gene-wise estimate (or the trend when the estimate is below a tenth
    of it); genes that do not converge are maximised on a grid (:func:`grid_log_alpha`).

    Genes whose gene-wise estimate lies more than two standard deviations of the log residuals
    (``2 * sqrt(varLogDispEsts)``) above the trend keep their gene-wise estimate
    (``dispOutlier``), as DESeq2 does.
    """
    y = counts.astype(float)
    upper = max_disp(y.shape[1])
    start = np.where(genewise > 0.1 * fitted, genewise, fitted)
    prior_mean = np.log(fitted)
    t, _, conv = line_search_log_alpha(
        np.log(start), y, mu, x, prior_mean=prior_mean, prior_var=prior_var
    )
    if (~conv).any():
        t[~conv] = grid_log_alpha(
            y[~conv],
            mu[~conv],
            x,
            np.log(MIN_DISP),
            np.log(upper),
            prior_mean=prior_mean[~conv],
            prior_var=prior_var,
        )
    disp_map = np.clip(np.exp(t), MIN_DISP, upper)
    outlier = np.log(genewise) > np.log(fitted) + 2.0 * np.sqrt(var_log_disp)
    return MAPDispersions(disp_map, np.where(outlier, genewise, disp_map), outlier)


# ---------------------------------------------------------------------------------------------
# Cook's distances and outlier replacement


def cell_sizes(x: np.ndarray) -> np.ndarray:
    """For each sample, the number of samples with the same model-matrix row (its cell)."""
    _, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    return counts[inverse.ravel()]


def robust_dispersions(normed: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trimmed method-of-moments dispersion used for Cook's distances (pydeseq2's public
    ``robust_method_of_moments_disp``: trimmed within-cell variances when a cell has three or
    more samples, floor 0.04)."""
    import pandas as pd
    from pydeseq2.utils import robust_method_of_moments_disp

    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    return robust_method_of_moments_disp(normed.T, frame)


def cooks_distances(counts: np.ndarray, sf: np.ndarray, x: np.ndarray, fit: GLMFit) -> np.ndarray:
    """Cook's distance of every count: ``r^2 / p * h / (1 - h)^2`` with Pearson residual
    ``r = (y - mu) / sqrt(mu + alpha_rob mu^2)`` (robust dispersion) and hat diagonal ``h``."""
    normed = counts / sf[None, :]
    alpha_rob = robust_dispersions(normed, x)
    mu = fit.mu
    resid2 = (counts - mu) ** 2 / (mu + alpha_rob[:, None] * mu**2)
    h = fit.hat
    return resid2 / x.shape[1] * h / (1.0 - h) ** 2


def cooks_cutoff(n_samples: int, n_coef: int) -> float:
    """DESeq2's outlier threshold: the 0.99 quantile of ``F(p, m - p)``."""
    from scipy.stats import f

    return float(f.ppf(0.99, n_coef, n_samples - n_coef))


def max_cooks(cooks: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Largest Cook's distance per gene over samples in cells with 3 or more samples (DESeq2
    does not judge outliers among 2 replicates); NaN when no sample qualifies."""
    use = cell_sizes(x) >= 3
    if not use.any():
        return np.full(cooks.shape[0], np.nan)
    return np.nanmax(cooks[:, use], axis=1)


def replace_outliers(
    counts: np.ndarray, sf: np.ndarray, x: np.ndarray, cooks: np.ndarray, min_replicates: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """Replace outlier counts by the gene's 20%-trimmed mean of normalised counts times the
    sample's size factor (truncated to an integer), in samples whose cell has at least
    ``min_replicates`` samples (DESeq2 ``replaceOutliers``). Returns (new counts, replaced
    genes)."""
    from scipy.stats import trim_mean

    eligible = cell_sizes(x) >= min_replicates
    cutoff = cooks_cutoff(*x.shape)
    out = (cooks > cutoff) & eligible[None, :]
    genes = out.any(axis=1)
    new = counts.copy()
    if genes.any():
        trimmed = trim_mean(counts[genes] / sf[None, :], 0.2, axis=1)
        repl = np.trunc(trimmed[:, None] * sf[None, :])
        block = new[genes]
        block[out[genes]] = repl[out[genes]]
        new[genes] = block
    return new, genes


# ---------------------------------------------------------------------------------------------
# tests


@dataclass
class TestResult:
    """Per-gene statistics of one contrast or likelihood-ratio test (log2 scale)."""

    log2_fold_change: np.ndarray
    lfc_se: np.ndarray
    stat: np.ndarray
    pvalue: np.ndarray


def wald_test(fit: GLMFit, contrast: np.ndarray) -> TestResult:
    """Wald test of ``c' beta = 0``: ``stat = c'beta / sqrt(c' Sigma c)``, two-sided normal p."""
    c = np.asarray(contrast, dtype=float)
    lfc = fit.beta @ c
    se = np.sqrt(np.einsum("i,gij,j->g", c, fit.cov, c))
    stat = lfc / se
    return TestResult(lfc / LN2, se / LN2, stat, 2.0 * norm.sf(np.abs(stat)))


def lrt_test(full: GLMFit, reduced: GLMFit, df: int, coef: np.ndarray) -> TestResult:
    """Likelihood-ratio test: ``stat = deviance(reduced) - deviance(full)`` against
    chi-square(``df``); the fold change and its SE are the full model's for ``coef``."""
    wald = wald_test(full, coef)
    stat = reduced.deviance - full.deviance
    return TestResult(wald.log2_fold_change, wald.lfc_se, stat, chi2.sf(stat, df))


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN stays NaN; n = number of non-NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    n = int(ok.sum())
    if n == 0:
        return out
    pv = p[ok]
    order = np.argsort(pv)[::-1]
    ranked = pv[order] * n / np.arange(n, 0, -1)
    adj = np.minimum(1.0, np.minimum.accumulate(ranked))
    res = np.empty(n)
    res[order] = adj
    out[ok] = res
    return out


@dataclass
class FilterResult:
    """Independent filtering: adjusted p-values and the chosen mean threshold."""

    padj: np.ndarray
    threshold: float
    theta: float
    n_rejections: np.ndarray


def independent_filtering(base_mean: np.ndarray, pvalue: np.ndarray, alpha: float) -> FilterResult:
    """Independent filtering on the mean of normalised counts (DESeq2 ``results``).

    For 50 quantiles ``theta`` of the mean from the fraction of zero means to 0.95, genes
    with mean above the quantile are kept and BH-adjusted; the number of adjusted p-values
    below ``alpha`` is smoothed by ``lowess(f = 1/5)`` and the threshold is the lowest
    quantile whose rejections exceed the curve's peak minus one residual standard deviation
    (root mean square of the residuals of quantiles with rejections); no filtering when at
    most 10 genes are rejected at any quantile.
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    lower = float(np.mean(base_mean == 0))
    upper = 0.95 if lower < 0.95 else 1.0
    thetas = np.linspace(lower, upper, 50)
    cutoffs = np.quantile(base_mean, thetas)
    padjs = []
    for cut in cutoffs:
        keep = base_mean >= cut
        p = np.where(keep, pvalue, np.nan)
        padjs.append(bh_adjust(p))
    n_rej = np.array([np.sum(pa < alpha) for pa in padjs])
    if n_rej.max() <= 10:
        j = 0
    else:
        fit = lowess(
            n_rej.astype(float),
            thetas,
            frac=1 / 5,
            it=3,
            delta=0.01 * (thetas[-1] - thetas[0]),
            return_sorted=False,
        )
        resid = n_rej[n_rej > 0] - fit[n_rej > 0]
        thresh = fit.max() - np.sqrt(np.mean(resid**2))
        above = np.nonzero(n_rej > thresh)[0]
        j = int(above[0]) if above.size else 0
    return FilterResult(padjs[j], float(cutoffs[j]), float(thetas[j]), n_rej)
