"""Least-squares fit of one exponential, ``y = v_inf + amp * exp(-t / tau)``, in numpy only.

The membrane time constant is the one non-linear fit of the current-clamp analysis, one call per
hyperpolarising sweep. ``scipy.optimize`` would do it, but importing that package costs ~0.5 s of
CPU (scipy.linalg, scipy.fft, the optimisers), paid in the main process before the batch's worker
processes start. For a fixed ``tau`` the model is linear in ``v_inf`` and ``amp``, which have a
closed-form least-squares solution, so the fit reduces to minimising the residual sum of squares
over ``tau`` alone (variable projection): a grid over log tau finds the basin, a golden-section
search refines it. The minimiser is the same one a Levenberg-Marquardt fit of the three parameters
converges to (``tests/test_ephys_expfit.py`` compares with ``scipy.optimize.curve_fit`` on real
charging curves), and a minimum at the edge of the allowed range is reported as no fit rather
than as a boundary value.
"""

from __future__ import annotations

import math

import numpy as np

#: log-spaced trial values of tau across the allowed range
GRID_POINTS = 64
#: the golden-section search stops when the bracket is this narrow in log tau
LOG_TAU_TOL = 1e-10
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


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
    lo, hi = float(log_grid[i - 1]), float(log_grid[i + 1])
    c = hi - _INV_PHI * (hi - lo)
    d = lo + _INV_PHI * (hi - lo)
    fc = _projected(t, y_c, math.exp(c))[0]
    fd = _projected(t, y_c, math.exp(d))[0]
    while hi - lo > LOG_TAU_TOL:
        if fc <= fd:
            hi, d, fd = d, c, fc
            c = hi - _INV_PHI * (hi - lo)
            fc = _projected(t, y_c, math.exp(c))[0]
        else:
            lo, c, fc = c, d, fd
            d = lo + _INV_PHI * (hi - lo)
            fd = _projected(t, y_c, math.exp(d))[0]
    tau = math.exp((lo + hi) / 2.0)
    _, amp = _projected(t, y_c, tau)
    v_inf = y_mean - amp * float(np.exp(-t / tau).mean())
    return v_inf, amp, tau
