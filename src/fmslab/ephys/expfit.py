"""Least-squares fit of one exponential, ``y = v_inf + amp * exp(-t / tau)``, in numpy only.

The membrane time constant is the one non-linear fit of the current-clamp analysis, one call per
hyperpolarising sweep. ``scipy.optimize`` would do it, but importing that package costs ~0.5 s of
CPU (scipy.linalg, scipy.fft, the optimisers), paid in the main process before the batch's worker
processes start. For a fixed ``tau`` the model is linear in ``v_inf`` and ``amp``, which have a
closed-form least-squares solution, so the fit reduces to minimising the residual sum of squares
over ``tau`` alone (variable projection): a grid over log tau finds the basin, Brent's method
(parabolic interpolation safeguarded by golden-section steps) refines it. The minimiser is the
same one a Levenberg-Marquardt fit of the three parameters converges to
(``tests/test_ephys_expfit.py`` compares with ``scipy.optimize.curve_fit`` on real charging
curves), and a minimum at the edge of the allowed range is reported as no fit rather than as a
boundary value.
"""

from __future__ import annotations

import math

import numpy as np

#: log-spaced trial values of tau across the allowed range
GRID_POINTS = 64
#: the refinement stops when log tau is known to this (absolute) precision, i.e. tau to this
#: relative precision: about the square root of double precision, below which the sum of squares
#: no longer changes by more than its rounding error
LOG_TAU_TOL = 1e-8
#: the golden-section fraction, ``(3 - sqrt(5)) / 2``
_GOLDEN = (3.0 - math.sqrt(5.0)) / 2.0


def _projected(t: np.ndarray, y_c: np.ndarray, tau: float) -> tuple[float, float]:
    """Residual sum of squares and amplitude of the best fit with ``tau`` fixed (``y_c``
    centred)."""
    e = np.exp(-t / tau)
    e -= e.mean()
    see = float(e @ e)
    if not see > 0.0:
        return float(y_c @ y_c), 0.0
    amp = float(e @ y_c) / see
    r = y_c - amp * e
    return float(r @ r), amp


def fit_exponential(
    t: np.ndarray, y: np.ndarray, *, tau_min: float, tau_max: float
) -> tuple[float, float, float] | None:
    """Least-squares ``(v_inf, amp, tau)`` of ``y = v_inf + amp * exp(-t / tau)``.

    Parameters
    ----------
    t, y
        Sample times (any unit; ``tau`` comes out in the same unit) and values, finite, same size.
    tau_min, tau_max
        The range searched for ``tau`` (``0 < tau_min < tau_max``).

    Returns
    -------
    tuple or None
        The parameters, or None when the best ``tau`` lies at an end of the range (the data do not
        determine a time constant inside it) or the data are too few or not finite.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.shape != y.shape or t.size < 4 or not (np.isfinite(t).all() and np.isfinite(y).all()):
        return None
    if not 0.0 < tau_min < tau_max:
        raise ValueError(f"need 0 < tau_min < tau_max, got {tau_min}, {tau_max}")
    y_mean = float(y.mean())
    y_c = y - y_mean
    log_grid = np.linspace(math.log(tau_min), math.log(tau_max), GRID_POINTS)
    # all trial values at once: E[i, j] = exp(-t_j / tau_i), centred per row
    e = np.exp(-t[None, :] / np.exp(log_grid)[:, None])
    e -= e.mean(axis=1, keepdims=True)
    see = np.einsum("ij,ij->i", e, e)
    sey = e @ y_c
    with np.errstate(divide="ignore", invalid="ignore"):
        sse = float(y_c @ y_c) - np.where(see > 0, sey * sey / see, 0.0)
    i = int(np.argmin(sse))
    if i == 0 or i == GRID_POINTS - 1:
        return None
    log_tau = _brent_min(
        lambda u: _projected(t, y_c, math.exp(u))[0],
        float(log_grid[i - 1]),
        float(log_grid[i + 1]),
        float(log_grid[i]),
    )
    tau = math.exp(log_tau)
    _, amp = _projected(t, y_c, tau)
    v_inf = y_mean - amp * float(np.exp(-t / tau).mean())
    return v_inf, amp, tau


def _brent_min(f, a: float, b: float, x: float) -> float:
    """Minimiser of ``f`` in the bracket ``(a, b)`` around ``x`` (``f(x)`` below both ends),
    by Brent's method: a parabola through the three best points when its vertex is inside the
    bracket and the steps shrink, a golden-section step otherwise; stops when ``x`` is known to
    :data:`LOG_TAU_TOL`.

    Brent, R. P. (1973), *Algorithms for Minimization without Derivatives*, ch. 5.
    """
    w = v = x
    fx = fw = fv = f(x)
    step = prev = 0.0  # the last step, and the one before it
    tol = LOG_TAU_TOL
    while True:
        mid = 0.5 * (a + b)
        if abs(x - mid) <= 2.0 * tol - 0.5 * (b - a):
            return x
        golden = True
        if abs(prev) > tol:
            # vertex of the parabola through (x, fx), (w, fw), (v, fv): x + p / q
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            # accepted when inside the bracket and less than half the step before last
            if abs(p) < abs(0.5 * q * prev) and q * (a - x) < p < q * (b - x):
                prev, step = step, p / q
                u = x + step
                if u - a < 2.0 * tol or b - u < 2.0 * tol:
                    step = tol if x < mid else -tol
                golden = False
        if golden:
            prev = (a - x) if x >= mid else (b - x)
            step = _GOLDEN * prev
        u = x + (step if abs(step) >= tol else math.copysign(tol, step))
        fu = f(u)
        if fu <= fx:
            if u >= x:
                a = x
            else:
                b = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
