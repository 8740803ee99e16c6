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
  the Hessian of the REML deviance in the variances (central finite differences of the exact
  deviance); variances on the boundary are held fixed (their derivative is zero in lme4's
  ``theta`` parametrisation, so lmerTest drops them too);
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
from scipy import optimize, stats
from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

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


def _pieces(blocks: list[Block], s: np.ndarray, keep: bool = False) -> _Pieces | None:
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
        vi = np.linalg.inv(v)
        xv = b.x.T @ vi
        xvx += xv @ b.x
        xvy += xv @ b.y
        yvy += float(b.y @ vi @ b.y)
        if keep:
            vinv.append(vi)
    return _Pieces(logdet, xvx, xvy, yvy, vinv)


def reml_deviance(blocks: list[Block], s: np.ndarray) -> float:
    """-2 REML log-likelihood up to a constant, at variances ``s`` (levels top down, residual)."""
    got = _pieces(blocks, np.asarray(s, float))
    if got is None:
        return np.inf
    sign, ld = np.linalg.slogdet(got.xvx)
    if sign <= 0:
        return np.inf
    beta = np.linalg.solve(got.xvx, got.xvy)
    return float(got.logdet + ld + got.yvy - got.xvy @ beta)


def _profiled(theta: np.ndarray, blocks: list[Block], n: int, p: int) -> float:
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


def _reml_loglik(blocks: list[Block], s: np.ndarray, n: int, p: int) -> float:
    """REML log-likelihood with lme4's constant (comparable with ``logLik(lmer(...))``)."""
    return -0.5 * (reml_deviance(blocks, s) + (n - p) * np.log(2 * np.pi))


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
    blocks: list[Block] = field(default_factory=list, repr=False)
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
        s = self.var_vector
        got = _pieces(self.blocks, s, keep=True)
        if got is None:
            raise np.linalg.LinAlgError("variance matrix not positive definite")
        cov_q = np.linalg.inv(got.xvx)
        total = float(s.sum())
        free = [k for k in range(len(s)) if s[k] > SINGULAR_REL_TOL * total or k == len(s) - 1]
        # G_k = sum_b X_b' V_b^-1 dV_b/ds_k V_b^-1 X_b; d C / d s_k = -C G_k C
        grads = []
        for k in range(len(s)):
            acc = np.zeros_like(cov_q)
            for b, vi in zip(self.blocks, got.vinv, strict=True):
                t = vi @ b.x
                dv = b.mats[k] if k < len(b.mats) else None
                acc += t.T @ t if dv is None else t.T @ dv @ t
            grads.append(-cov_q @ acc @ cov_q)
        f = len(free)
        h = np.zeros((f, f))
        steps = 1e-4 * np.maximum(s, 1e-8 * total)
        for i, a in enumerate(free):
            for j in range(i, f):
                b_ = free[j]

                def dev(da: float, db: float, a: int = a, b_: int = b_) -> float:
                    t = s.copy()
                    t[a] += da
                    t[b_] += db
                    return reml_deviance(self.blocks, t)

                ha, hb = steps[a], steps[b_]
                val = (dev(ha, hb) - dev(ha, -hb) - dev(-ha, hb) + dev(-ha, -hb)) / (4 * ha * hb)
                h[i, j] = h[j, i] = val
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

    Returns
    -------
    MixedFit
        Fixed effects, their covariance ``(X'V^-1 X)^-1`` (lme4's ``vcov``), the variances
        (``level_names`` + ``residual``), the REML log-likelihood and warnings (statsmodels'
        warnings, which optimiser won, singular fits).
    """
    y = np.asarray(y, float)
    x = np.asarray(x, float)
    top = np.asarray(top).astype(str)
    n, p = x.shape
    # work with an orthonormalised design (same column space): the REML deviance and its
    # finite-difference Hessian are then evaluated on a well-conditioned X'V^-1 X
    q, r = np.linalg.qr(x)
    tmat = np.sqrt(n) * np.linalg.inv(r)  # x @ tmat = xq, beta = tmat @ beta_q
    xq = q * np.sqrt(n)
    blocks = make_blocks(y, xq, top, lower)
    notes: list[str] = []
    n_par = 1 + len(lower)
    if top_random:
        start, sm_notes = _statsmodels_start(y, xq, top, lower, level_names[1:])
    else:
        start, sm_notes = None, []
    bounds = [(0.0, None) if top_random or k > 0 else (0.0, 0.0) for k in range(n_par)]
    candidates: list[np.ndarray] = []
    if start is not None and start[-1] > 0:
        candidates.append(start)
    # bounded search on the profiled criterion, from statsmodels' optimum and from a neutral start
    starts = [np.sqrt(start[:-1] / start[-1])] if start is not None and start[-1] > 0 else []
    starts.append(np.array([0.5 if b[1] is None else 0.0 for b in bounds]))
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
        reml_loglik=_reml_loglik(make_blocks(y, x, top, lower), s, n, p),
        n_top=len(blocks),
        converged=True,
        warnings=notes,
        blocks=blocks,
        tmat=tmat,
    )
