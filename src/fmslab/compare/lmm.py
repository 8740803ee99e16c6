"""Linear mixed models with nested random intercepts and any fixed-effect design, with
Satterthwaite inference for contrasts and F tests (as lme4 + lmerTest).

Model for rows ``i`` nested in units of the levels ``l_1 > l_2 > ...`` (donor > mouse > cell,
donor > dish > cell, donor > mouse > day ...)::

    y = X b + Z_1 u_1 + Z_2 u_2 + ... + e,   u_k ~ N(0, s_k I),   e ~ N(0, s_res I)

``X`` is any full-rank fixed-effect design (group, covariates, day terms, interactions). The
variances are fitted by REML with statsmodels ``MixedLM`` (top level = ``groups``, deeper levels
= variance components ``exog_vc``; lme4's ``(1|donor) + (1|donor:mouse)``), then polished by a
bounded quasi-Newton search on the profiled REML criterion that lme4 optimises (relative standard
deviations ``theta_k = sqrt(s_k / s_res) >= 0``), keeping whichever fit has the higher restricted
likelihood: statsmodels' optimisers stall near a zero variance (singular fit), the bounded search
reaches the boundary exactly.

Inference (Kuznetsova et al. 2017, J Stat Softw 82(13), the method of lmerTest):

- fixed effects ``b = (X' V^-1 X)^-1 X' V^-1 y`` and ``C = (X' V^-1 X)^-1`` at the REML variances;
- a contrast ``l'b`` has the Satterthwaite df ``2 phi^2 / (g' A g)`` with ``phi = l' C l``,
  ``g = d phi / d s`` (analytic: ``-l' C X'V^-1 (dV/ds_k) V^-1 X C l``) and ``A = 2 H^-1``, ``H``
  the Hessian of the REML deviance in the variances (analytic, observed); variances on the
  boundary are held fixed (their derivative is zero in lme4's ``theta`` parametrisation, so
  lmerTest drops them too);
- an F test of ``L b = 0`` (``q`` rows) rotates ``L C L'`` to its eigenvectors, takes the
  Satterthwaite df ``nu_m`` of each of the ``q`` independent t statistics and combines them:
  ``E = sum nu_m / (nu_m - 2)``, ``ddf = 2 E / (E - q)`` (``ddf = 2`` if any ``nu_m <= 2``).

``V`` is block-diagonal by top-level unit, so all the linear algebra is done block by block and
memory stays linear in the number of rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats
from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec
from threadpoolctl import threadpool_limits

#: A variance component below this fraction of the total variance is called a singular fit.
SINGULAR_REL_TOL = 1e-6


@dataclass
class Block:
    """Rows of one top-level unit: outcome, design, and the ``Z_k Z_k'`` incidence matrices."""

    y: np.ndarray
    x: np.ndarray
    mats: list[np.ndarray]


def make_blocks(
    y: np.ndarray, x: np.ndarray, top: np.ndarray, lower: list[np.ndarray]
) -> list[Block]:
    """Split rows by top-level unit; ``lower`` holds one unit code per row for each deeper level."""
    out = []
    top = np.asarray(top)
    for label in pd.unique(top):
        rows = top == label
        n = int(rows.sum())
        mats = [np.ones((n, n))]
        for codes in lower:
            c = np.asarray(codes)[rows]
            mats.append((c[:, None] == c[None, :]).astype(float))
        out.append(Block(y[rows], x[rows], mats))
    return out


@dataclass
class _Pieces:
    logdet: float
    xvx: np.ndarray
    xvy: np.ndarray
    yvy: float
    vinv: list[np.ndarray]


class Data:
    """Rows of a model, split by top-level unit (:class:`Block`) and as Woodbury cross-products.

    ``V = s_res I + Z D Z'`` with ``Z`` the unit indicators of every level and ``D`` diagonal, so
    ``V^-1 = (I - Z M^-1 Z') / s_res`` with ``M = s_res D^-1 + Z'Z`` (size = number of units):
    one small Cholesky per evaluation of the likelihood instead of one per donor.
    """

    def __init__(self, y: np.ndarray, x: np.ndarray, top: np.ndarray, lower: list[np.ndarray]):
        self.blocks = make_blocks(y, x, top, lower)
        self.n, self.p = x.shape
        zs, self.level_of = [], []
        for k, codes in enumerate([pd.factorize(np.asarray(top))[0], *lower]):
            codes = np.asarray(codes)
            z = np.zeros((len(y), int(codes.max()) + 1))
            z[np.arange(len(y)), codes] = 1.0
            zs.append(z)
            self.level_of += [k] * z.shape[1]
        self.level_of = np.array(self.level_of)
        z = np.column_stack(zs)
        self.ztz, self.ztx, self.zty = z.T @ z, z.T @ x, z.T @ y
        self.xtx, self.xty, self.yty = x.T @ x, x.T @ y, float(y @ y)


def _pieces(
    data: Data, s: np.ndarray, keep: bool = False, blockwise: bool = False
) -> _Pieces | None:
    """log|V|, X'V^-1 X, X'V^-1 y, y'V^-1 y at variances ``s`` (and V^-1 per block if ``keep``).

    The Woodbury form is fast but loses a few digits to cancellation; ``blockwise`` (Cholesky
    per top-level unit) is used where precision matters (finite-difference Hessians).
    """
    if not (keep or blockwise):
        return _pieces_woodbury(data, s)
    blocks = data.blocks
    p = blocks[0].x.shape[1]
    logdet, xvx, xvy, yvy, vinv = 0.0, np.zeros((p, p)), np.zeros(p), 0.0, []
    for b in blocks:
        v = s[-1] * np.eye(len(b.y))
        for k, m in enumerate(b.mats):
            v += s[k] * m
        try:
            chol = np.linalg.cholesky(v)
        except np.linalg.LinAlgError:
            return None
        logdet += 2.0 * float(np.log(np.diag(chol)).sum())
        w = linalg.solve_triangular(chol, np.column_stack([b.x, b.y]), lower=True)
        wx, wy = w[:, :-1], w[:, -1]
        xvx += wx.T @ wx
        xvy += wx.T @ wy
        yvy += float(wy @ wy)
        if keep:
            vinv.append(linalg.cho_solve((chol, True), np.eye(len(b.y))))
    return _Pieces(logdet, xvx, xvy, yvy, vinv)


def _pieces_woodbury(data: Data, s: np.ndarray) -> _Pieces | None:
    s = np.asarray(s, float)
    res = s[-1]
    if res <= 0 or np.any(s < 0):
        return None
    d = s[data.level_of]
    cols = np.flatnonzero(d > 0)
    logdet = data.n * np.log(res)
    if cols.size == 0:
        return _Pieces(logdet, data.xtx / res, data.xty / res, data.yty / res, [])
    m = res * np.diag(1.0 / d[cols]) + data.ztz[np.ix_(cols, cols)]
    try:
        chol = linalg.cho_factor(m, lower=True)
    except linalg.LinAlgError:
        return None
    zx, zy = data.ztx[cols], data.zty[cols]
    sol = linalg.cho_solve(chol, np.column_stack([zx, zy]))
    ax, ay = sol[:, :-1], sol[:, -1]
    logdet += -cols.size * np.log(res) + float(np.log(d[cols]).sum())
    logdet += 2.0 * float(np.log(np.diag(chol[0])).sum())
    xvx = (data.xtx - zx.T @ ax) / res
    xvy = (data.xty - zx.T @ ay) / res
    yvy = (data.yty - float(zy @ ay)) / res
    return _Pieces(logdet, xvx, xvy, yvy, [])


def reml_deviance(blocks: Data, s: np.ndarray, blockwise: bool = False) -> float:
    """-2 REML log-likelihood up to a constant, at variances ``s`` (levels top down, residual)."""
    got = _pieces(blocks, np.asarray(s, float), blockwise=blockwise)
    if got is None:
        return np.inf
    sign, ld = np.linalg.slogdet(got.xvx)
    if sign <= 0:
        return np.inf
    beta = np.linalg.solve(got.xvx, got.xvy)
    return float(got.logdet + ld + got.yvy - got.xvy @ beta)


def _profiled(theta: np.ndarray, blocks: Data, n: int, p: int) -> float:
    """Profiled REML deviance of lme4 (residual variance profiled out) at relative SDs ``theta``."""
    s = np.append(np.asarray(theta, float) ** 2, 1.0)
    got = _pieces(blocks, s)
    if got is None:
        return np.inf
    sign, ld = np.linalg.slogdet(got.xvx)
    if sign <= 0:
        return np.inf
    beta = np.linalg.solve(got.xvx, got.xvy)
    rss = got.yvy - got.xvy @ beta
    if rss <= 0:
        return np.inf
    return float(got.logdet + ld + (n - p) * (1.0 + np.log(2 * np.pi * rss / (n - p))))


def _reml_loglik(blocks: Data, s: np.ndarray, n: int, p: int) -> float:
    """REML log-likelihood with lme4's constant (comparable with ``logLik(lmer(...))``)."""
    return -0.5 * (reml_deviance(blocks, s, blockwise=True) + (n - p) * np.log(2 * np.pi))


@dataclass
class ContrastResult:
    """One linear combination ``l'b``: estimate, SE, Satterthwaite df and the t test."""

    estimate: float
    se: float
    df: float
    statistic: float
    p: float

    def ci(self, confidence: float = 0.95, df: float | None = None) -> tuple[float, float]:
        d = self.df if df is None else df
        if not (np.isfinite(d) and d > 0 and np.isfinite(self.se)):
            return np.nan, np.nan
        half = stats.t.ppf(0.5 + confidence / 2, d) * self.se
        return self.estimate - half, self.estimate + half


@dataclass
class FTestResult:
    """Joint test of ``L b = 0``: F, numerator and Satterthwaite denominator df, p."""

    statistic: float
    df_num: int
    df_den: float
    p: float


@dataclass
class MixedFit:
    """A fitted nested random-intercept model (see module docstring)."""

    names: list[str]
    beta: np.ndarray
    cov_beta: np.ndarray
    variances: dict[str, float]
    reml_loglik: float
    n_top: int
    converged: bool
    warnings: list[str] = field(default_factory=list)
    data: Data | None = field(default=None, repr=False)
    tmat: np.ndarray | None = field(default=None, repr=False)
    _cov_s: np.ndarray | None = field(default=None, repr=False)
    _free: list[int] | None = field(default=None, repr=False)
    _grads: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def var_vector(self) -> np.ndarray:
        return np.array(list(self.variances.values()), float)

    # -- Satterthwaite machinery ------------------------------------------------------------
    def _prepare(self) -> None:
        if self._grads is not None:
            return
        with threadpool_limits(1, user_api="blas"):  # small matrices: threads only cost
            self._prepare_inner()

    def _prepare_inner(self) -> None:
        s = self.var_vector
        got = _pieces(self.data, s, keep=True)
        if got is None:
            raise np.linalg.LinAlgError("variance matrix not positive definite")
        cov_q = np.linalg.inv(got.xvx)
        total = float(s.sum())
        free = [k for k in range(len(s)) if s[k] > SINGULAR_REL_TOL * total or k == len(s) - 1]
        # Per block b and variance k: dV_b/ds_k (J, the level's incidence, or I), A_b = V_b^-1 X_b
        # and r_b = V_b^-1 (y_b - X_b beta). Then (exact, no finite differences)
        #   G_k = sum_b A_b' dV_k A_b,  d C / d s_k = -C G_k C,
        #   d2 dev / ds_i ds_j = -tr(P V_i P V_j) + 2 y'P V_i P V_j P y,  P = V^-1 - A C A'.
        beta_q = cov_q @ got.xvy
        n_s = len(s)
        big_g = np.zeros((n_s, *cov_q.shape))
        t1 = np.zeros((n_s, n_s))  # sum_b tr(Vi V_i Vi V_j)
        h2 = np.zeros((n_s, n_s, *cov_q.shape))  # sum_b A' V_i Vi V_j A
        q1 = np.zeros((n_s, n_s))  # sum_b r' V_i Vi V_j r
        u = np.zeros((n_s, cov_q.shape[0]))  # sum_b A' V_i r
        for blk, vi in zip(self.data.blocks, got.vinv, strict=True):
            a_b = vi @ blk.x
            r_b = vi @ (blk.y - blk.x @ beta_q)
            dvs = [*blk.mats, np.eye(len(blk.y))]
            vd = [vi @ dv for dv in dvs]  # Vi V_k
            dva = [dv @ a_b for dv in dvs]
            dvr = [dv @ r_b for dv in dvs]
            for i in range(n_s):
                big_g[i] += a_b.T @ dva[i]
                u[i] += a_b.T @ dvr[i]
                for j in range(i, n_s):
                    t1[i, j] += float(np.sum(vd[i] * vd[j].T))
                    h2[i, j] += dva[i].T @ vi @ dva[j]
                    q1[i, j] += float(dvr[i] @ vi @ dvr[j])
        grads = [-cov_q @ big_g[k] @ cov_q for k in range(n_s)]
        hess = np.zeros((n_s, n_s))
        for i in range(n_s):
            for j in range(i, n_s):
                tr = (t1[i, j] - 2 * np.trace(cov_q @ h2[i, j])
                      + np.trace(cov_q @ big_g[i] @ cov_q @ big_g[j]))  # fmt: skip
                quad = q1[i, j] - u[i] @ cov_q @ u[j]
                hess[i, j] = hess[j, i] = -tr + 2 * quad
        h = hess[np.ix_(free, free)]
        self._cov_s = 2.0 * np.linalg.inv(h)
        self._free = free
        self._grads = grads

    def satterthwaite(self, weights: np.ndarray) -> float:
        """Satterthwaite df of ``l'b``."""
        self._prepare()
        w = np.asarray(weights, float)
        phi = float(w @ self.cov_beta @ w)
        if self.tmat is not None:  # the blocks hold the orthonormalised design
            w = self.tmat.T @ w
        g = np.array([float(w @ self._grads[k] @ w) for k in self._free])
        denom = float(g @ self._cov_s @ g)
        return float(2 * phi**2 / denom) if denom > 0 else np.inf

    def contrast(self, weights: np.ndarray) -> ContrastResult:
        """Estimate, SE, Satterthwaite df, t and two-sided p of ``w'b``."""
        w = np.asarray(weights, float)
        est = float(w @ self.beta)
        se = float(np.sqrt(w @ self.cov_beta @ w))
        try:
            df = self.satterthwaite(w)
        except np.linalg.LinAlgError:
            df = np.nan
        t = est / se if se > 0 else np.nan
        p = float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) and np.isfinite(df) else np.nan
        return ContrastResult(est, se, df, t, p)

    def ftest(self, L: np.ndarray, tol: float = 1e-8) -> FTestResult:
        """F test of ``L b = 0`` with Satterthwaite denominator df (lmerTest's method)."""
        L = np.atleast_2d(np.asarray(L, float))
        vl = L @ self.cov_beta @ L.T
        vals, vecs = np.linalg.eigh(vl)
        keep = vals > tol * max(vals.max(), 0.0)
        vals, vecs = vals[keep], vecs[:, keep]
        q = int(keep.sum())
        rot = vecs.T @ L  # q independent contrasts
        t2 = (rot @ self.beta) ** 2 / vals
        fstat = float(t2.sum() / q)
        nus = np.array([self.satterthwaite(r) for r in rot])
        if q == 1:
            ddf = float(nus[0])
        elif np.all(np.abs(np.diff(nus)) < tol):
            ddf = float(nus.mean())
        elif np.any(nus <= 2):
            ddf = 2.0
        else:
            e = float(np.sum(nus / (nus - 2)))
            ddf = 2 * e / (e - q)
        p = float(stats.f.sf(fstat, q, ddf)) if np.isfinite(ddf) else np.nan
        return FTestResult(fstat, q, ddf, p)


def _newton_polish(theta: np.ndarray, fun, iterations: int = 6) -> np.ndarray:
    """Newton steps with central-difference derivatives on the parameters off the boundary."""
    theta = theta.copy()
    f0 = fun(theta)
    for _ in range(iterations):
        free = np.flatnonzero(theta > 1e-6)
        if not free.size:
            break
        h = 1e-4 * np.maximum(theta[free], 1e-3)
        m = free.size
        grad, hess = np.zeros(m), np.zeros((m, m))

        def at(*moves: tuple[int, float], theta=theta, free=free) -> float:
            t = theta.copy()
            for i, d in moves:
                t[free[i]] += d
            return fun(t)

        for i in range(m):
            fp, fm = at((i, h[i])), at((i, -h[i]))
            grad[i] = (fp - fm) / (2 * h[i])
            hess[i, i] = (fp - 2 * f0 + fm) / h[i] ** 2
            for j in range(i):
                val = (at((i, h[i]), (j, h[j])) - at((i, h[i]), (j, -h[j]))
                       - at((i, -h[i]), (j, h[j])) + at((i, -h[i]), (j, -h[j]))) / (4 * h[i] * h[j])  # fmt: skip
                hess[i, j] = hess[j, i] = val
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.any(np.linalg.eigvalsh(hess) <= 0):
            break
        for _half in range(20):
            trial = theta.copy()
            trial[free] = np.maximum(theta[free] + step, 0.0)
            ft = fun(trial)
            if ft <= f0:
                break
            step = step / 2
        else:
            break
        done = np.max(np.abs(trial - theta)) < 1e-10
        theta, f0 = trial, ft
        if done:
            break
    return theta


def _vc_spec(
    top: np.ndarray, lower: list[np.ndarray], names: list[str]
) -> tuple[VCSpec | None, list[int]]:
    """MixedLM variance components for the deeper levels (one indicator matrix per top unit)."""
    if not lower:
        return None, []
    labels = sorted(set(top))  # MixedLM orders its groups by sorted label
    colnames, mats = [], []
    for codes in lower:
        cn, mm = [], []
        for g in labels:
            c = pd.Categorical(np.asarray(codes)[top == g])
            cn.append([str(x) for x in c.categories])
            mm.append(np.eye(len(c.categories))[c.codes])
        colnames.append(cn)
        mats.append(mm)
    return VCSpec(names, colnames, mats), []


def _statsmodels_start(
    y: np.ndarray, x: np.ndarray, top: np.ndarray, lower: list[np.ndarray], names: list[str]
) -> tuple[np.ndarray | None, list[str]]:
    """REML variances from statsmodels MixedLM (``None`` if it fails), with its warnings."""
    vc, _ = _vc_spec(top, lower, names)
    notes: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = MixedLM(y, x, top, exog_re=np.ones((len(y), 1)), exog_vc=vc)
            fit: Any = model.fit(reml=True)
        for w in caught:
            text = f"statsmodels {w.category.__name__}: {str(w.message).strip().splitlines()[0]}"
            if text not in notes:
                notes.append(text)
        s = [float(np.asarray(fit.cov_re)[0, 0]), *np.atleast_1d(fit.vcomp).tolist()]
        s.append(float(fit.scale))
        return np.maximum(np.array(s, float), 0.0), notes
    except (np.linalg.LinAlgError, ValueError) as exc:
        return None, [f"statsmodels MixedLM failed ({exc}); bounded REML search only"]


def fit_mixed(
    y: np.ndarray,
    x: np.ndarray,
    names: list[str],
    top: np.ndarray,
    lower: list[np.ndarray],
    level_names: list[str],
    *,
    top_random: bool = True,
    statsmodels_start: bool = False,
) -> MixedFit:
    """REML fit of ``y = X b + nested random intercepts + e`` (see module docstring).

    Parameters
    ----------
    y, x, names
        Outcome, full-rank fixed-effect design and its column names.
    top
        Top-level unit label per row (the unit of replication, e.g. the donor).
    lower
        For each deeper level kept in the model, a unit code per row (unique across top units).
    level_names
        Names of the top level and of each deeper level (for ``variances``).
    top_random
        ``False`` when every top-level unit holds one row: its variance cannot be told from the
        residual, it is fixed at 0 and the model is ordinary least squares.
    statsmodels_start
        Also fit with statsmodels ``MixedLM`` and keep its optimum if it is better (off by
        default: it takes ~10x longer and has never won in the validation designs).

    Returns
    -------
    MixedFit
        Fixed effects, their covariance ``(X'V^-1 X)^-1`` (lme4's ``vcov``), the variances
        (``level_names`` + ``residual``), the REML log-likelihood and warnings (statsmodels'
        warnings, which optimiser won, singular fits).
    """
    # the matrices are small (rows of one donor, units of one study): multi-threaded BLAS only
    # adds overhead (5x slower on a loaded 2-core machine), so BLAS runs single-threaded here
    with threadpool_limits(1, user_api="blas"):
        return _fit_mixed(y, x, names, top, lower, level_names, top_random, statsmodels_start)


def _fit_mixed(y, x, names, top, lower, level_names, top_random, statsmodels_start) -> MixedFit:
    y = np.asarray(y, float)
    x = np.asarray(x, float)
    top = np.asarray(top).astype(str)
    n, p = x.shape
    # work with an orthonormalised design (same column space): the REML deviance and its
    # finite-difference Hessian are then evaluated on a well-conditioned X'V^-1 X
    q, r = np.linalg.qr(x)
    tmat = np.sqrt(n) * np.linalg.inv(r)  # x @ tmat = xq, beta = tmat @ beta_q
    xq = q * np.sqrt(n)
    blocks = Data(y, xq, top, lower)
    notes: list[str] = []
    n_par = 1 + len(lower)
    if top_random and statsmodels_start:
        start, sm_notes = _statsmodels_start(y, xq, top, lower, level_names[1:])
    else:
        start, sm_notes = None, []
    bounds = [(0.0, None) if top_random or k > 0 else (0.0, 0.0) for k in range(n_par)]
    candidates: list[np.ndarray] = []
    if start is not None and start[-1] > 0:
        candidates.append(start)
    # bounded search on the profiled criterion, from statsmodels' optimum and from a neutral start
    starts = [np.sqrt(start[:-1] / start[-1])] if start is not None and start[-1] > 0 else []
    for value in (1.0, 0.2):
        starts.append(np.array([value if b[1] is None else 0.0 for b in bounds]))
    for th0 in starts:
        res = optimize.minimize(
            _profiled,
            th0,
            args=(blocks, n, p),
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000},
        )
        if np.isfinite(res.fun):
            # L-BFGS-B stops on finite-difference gradient noise: a few Newton steps on the
            # interior parameters settle the optimum (to ~1e-9 in theta)
            res.x = _newton_polish(np.asarray(res.x, float), lambda t: _profiled(t, blocks, n, p))
            theta = np.asarray(res.x, float)
            s_rel = np.append(theta**2, 1.0)
            got = _pieces(blocks, s_rel)
            beta = np.linalg.solve(got.xvx, got.xvy)
            sigma2 = (got.yvy - got.xvy @ beta) / (n - p)
            candidates.append(s_rel * sigma2)
    if not candidates:
        raise np.linalg.LinAlgError("no REML fit found")
    devs = [reml_deviance(blocks, c) for c in candidates]
    best = int(np.argmin(devs))
    s = candidates[best]
    # statsmodels' convergence warnings matter only if its optimum was kept
    notes += [t for t in sm_notes if "ConvergenceWarning" not in t or best == 0]
    got = _pieces(blocks, s)
    cov_q = np.linalg.inv(got.xvx)
    beta = tmat @ (cov_q @ got.xvy)
    cov = tmat @ cov_q @ tmat.T
    variances = {name: float(v) for name, v in zip([*level_names, "residual"], s, strict=True)}
    total = float(s.sum())
    for k, (name, value) in enumerate(variances.items()):
        if k == 0 and not top_random:
            continue
        if name != "residual" and value <= SINGULAR_REL_TOL * max(total, np.finfo(float).tiny):
            notes.append(f"singular fit: '{name}' variance estimated at 0 (boundary)")
    return MixedFit(
        names=list(names),
        beta=beta,
        cov_beta=cov,
        variances=variances,
        reml_loglik=_reml_loglik(Data(y, x, top, lower), s, n, p),
        n_top=len(blocks.blocks),
        converged=True,
        warnings=notes,
        data=blocks,
        tmat=tmat,
    )
