"""Satterthwaite degrees of freedom for a fixed-effect contrast of a nested random-intercept model.

lmerTest's default for ``lmer`` fits. For the contrast ``c'b`` with variance
``phi(s) = c' (X' V(s)^-1 X)^-1 c`` as a function of the variance parameters ``s`` (donor, mouse
..., residual variances):

    df = 2 phi^2 / (g' A g),   g = d phi / d s,   A = Cov(s_hat) = 2 H^-1

with ``H`` the Hessian of the REML deviance (-2 log restricted likelihood) at the estimate, as in
lmerTest (Kuznetsova et al. 2017, J Stat Softw 82(13)). The gradient is analytic; the Hessian is a
central finite difference of the exact REML deviance, computed block by block over the top-level
units (V is block-diagonal by donor), so memory stays linear in the number of rows. Parameters on
the boundary (a variance estimated at 0) are held fixed, as lmerTest does.
"""

from __future__ import annotations

import numpy as np


def _blocks(y: np.ndarray, x: np.ndarray, top: np.ndarray, z_levels: list[np.ndarray]):
    """Per top-level unit: (y, X, [Z_k Z_k'] for the top intercept and each lower level)."""
    out = []
    for label in np.unique(top):
        rows = top == label
        mats = [np.ones((rows.sum(), rows.sum()))]
        for codes in z_levels:
            c = codes[rows]
            mats.append((c[:, None] == c[None, :]).astype(float))
        out.append((y[rows], x[rows], mats))
    return out


def _pieces(blocks, s: np.ndarray):
    """Sum over blocks of log|V|, X'V^-1 X, X'V^-1 y, y'V^-1 y, and V^-1 per block."""
    p = blocks[0][1].shape[1]
    logdet, xvx, xvy, yvy, vinv = 0.0, np.zeros((p, p)), np.zeros(p), 0.0, []
    for yb, xb, mats in blocks:
        v = s[-1] * np.eye(len(yb))
        for k, m in enumerate(mats):
            v += s[k] * m
        sign, ld = np.linalg.slogdet(v)
        if sign <= 0:
            return None
        vi = np.linalg.inv(v)
        logdet += ld
        xvx += xb.T @ vi @ xb
        xvy += xb.T @ vi @ yb
        yvy += yb @ vi @ yb
        vinv.append(vi)
    return logdet, xvx, xvy, yvy, vinv


def reml_deviance(blocks, s: np.ndarray) -> float:
    """-2 REML log-likelihood (up to a constant) at variance parameters ``s``."""
    got = _pieces(blocks, s)
    if got is None:
        return np.inf
    logdet, xvx, xvy, yvy, _ = got
    beta = np.linalg.solve(xvx, xvy)
    return float(logdet + np.linalg.slogdet(xvx)[1] + yvy - xvy @ beta)


def fixed_effect_cov(
    y: np.ndarray, x: np.ndarray, top: np.ndarray, lower: list[np.ndarray], variances: np.ndarray
) -> np.ndarray:
    """``(X' V^-1 X)^-1`` at the given variances: the fixed-effect covariance lme4 reports.

    Unlike statsmodels' ``bse_fe`` (from the Hessian of all parameters) it is defined when a
    variance sits on the boundary.
    """
    blocks = _blocks(np.asarray(y, float), np.asarray(x, float), np.asarray(top), lower)
    got = _pieces(blocks, np.asarray(variances, float))
    if got is None:
        raise ValueError("variance matrix not positive definite")
    return np.linalg.inv(got[1])


def satterthwaite_df(
    y: np.ndarray,
    x: np.ndarray,
    top: np.ndarray,
    lower: list[np.ndarray],
    variances: np.ndarray,
    contrast: np.ndarray,
    *,
    boundary_tol: float = 1e-6,
) -> float:
    """Satterthwaite df of ``contrast' beta`` (see module docstring).

    Parameters
    ----------
    y, x
        Outcome and fixed-effect design.
    top
        Top-level unit label per row (the donor).
    lower
        For each lower level (mouse within donor ...), a unit code per row (unique across donors).
    variances
        REML estimates ``[var_top, var_lower..., var_residual]``.
    contrast
        Contrast vector over the columns of ``x``.
    """
    s = np.asarray(variances, float)
    blocks = _blocks(np.asarray(y, float), np.asarray(x, float), np.asarray(top), lower)
    logdet, xvx, xvy, yvy, vinv = _pieces(blocks, s)
    cov_b = np.linalg.inv(xvx)
    phi = float(contrast @ cov_b @ contrast)
    free = [k for k in range(len(s)) if s[k] > boundary_tol * s.sum() or k == len(s) - 1]
    # gradient: d phi / d s_k = c' C (sum_b X_b' V_b^-1 dV_b/ds_k V_b^-1 X_b) C c
    w = cov_b @ contrast
    grad = np.zeros(len(s))
    for k in range(len(s)):
        acc = np.zeros_like(xvx)
        for (_, xb, mats), vi in zip(blocks, vinv, strict=True):
            dv = mats[k] if k < len(mats) else np.eye(len(xb))
            t = vi @ xb
            acc += t.T @ dv @ t
        grad[k] = w @ acc @ w
    # Hessian of the REML deviance in the free parameters by central differences
    f = len(free)
    h = np.zeros((f, f))
    steps = 1e-4 * np.maximum(s, 1e-8 * s.sum())
    for i, a in enumerate(free):
        for j, b in enumerate(free[i:], start=i):

            def dev(da: float, db: float, a: int = a, b: int = b) -> float:
                t = s.copy()
                t[a] += da
                t[b] += db
                return reml_deviance(blocks, t)

            ha, hb = steps[a], steps[b]
            val = (dev(ha, hb) - dev(ha, -hb) - dev(-ha, hb) + dev(-ha, -hb)) / (4 * ha * hb)
            h[i, j] = h[j, i] = val
    cov_s = 2 * np.linalg.inv(h)
    g = grad[free]
    denom = float(g @ cov_s @ g)
    return float(2 * phi**2 / denom) if denom > 0 else np.nan
