"""``scipy.optimize.curve_fit``'s unbounded Levenberg-Marquardt path without importing
``scipy.optimize``.

Importing ``scipy.optimize`` costs ~0.5 s of CPU (it pulls in scipy.linalg, scipy.fft, the
linear-programming and global optimisers, numpy.f2py): in ``fmslab ephys analyze`` that was a
serial third of the start-up, paid before the worker processes could start, for one call per
hyperpolarising sweep (the tau fit). :func:`curve_fit_lm` runs the same MINPACK ``lmdif`` routine
of the same scipy installation (its compiled ``_minpack`` module, loaded on its own: a few
milliseconds) with the same arguments, residual function, checks and failure rule as
``curve_fit(f, x, y, p0=p0, maxfev=maxfev)`` (scipy 1.17: ``curve_fit`` -> ``leastsq`` ->
``_minpack._lmdif``), so the parameters are the same to the bit (``tests/test_ephys_minpack.py``
compares them with scipy's own ``curve_fit``). It returns the parameters only: the covariance
(and its "could not be estimated" warning) is not computed. When the compiled module cannot be
loaded this way (another scipy layout) it calls scipy's ``curve_fit``.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: leastsq's defaults, as curve_fit passes them
FTOL = XTOL = 1.49012e-8
GTOL = 0.0
FACTOR = 100


@functools.lru_cache(maxsize=1)
def _lmdif() -> Callable[..., Any] | None:
    """scipy's compiled MINPACK ``lmdif``, loaded without the ``scipy.optimize`` package."""
    try:
        import scipy

        base = Path(scipy.__file__).parent / "optimize"
        files = sorted(base.glob("_minpack.*.so")) + sorted(base.glob("_minpack.*.pyd"))
        if not files:
            return None
        spec = importlib.util.spec_from_file_location("scipy.optimize._minpack", files[0])
        if spec is None or spec.loader is None:
            return None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod._lmdif
    except Exception:  # noqa: BLE001 - fall back to scipy's own curve_fit
        return None


def _memoized(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """scipy's ``_lightweight_memoizer``: the first parameters and their residuals are reused
    (MINPACK evaluates the start point twice)."""
    state: dict[str, Any] = {"params": None, "val": None, "skip": False}

    def g(params: np.ndarray) -> np.ndarray:
        if state["skip"]:
            return f(params)
        if np.all(state["params"] == params):
            return state["val"]
        elif state["params"] is not None:
            state["skip"] = True
        val = f(params)
        if state["params"] is None:
            state["params"] = np.copy(params)
            state["val"] = val
        return val

    return g


def curve_fit_lm(
    f: Callable[..., np.ndarray], xdata: np.ndarray, ydata: np.ndarray, p0, maxfev: int
) -> np.ndarray:
    """``scipy.optimize.curve_fit(f, xdata, ydata, p0=p0, maxfev=maxfev)[0]``.

    Raises ``ValueError`` for non-finite or empty data and ``RuntimeError`` when MINPACK does not
    converge, as ``curve_fit`` does.
    """
    lmdif = _lmdif()
    if lmdif is None:  # pragma: no cover - another scipy layout
        from scipy.optimize import curve_fit

        return curve_fit(f, xdata, ydata, p0=p0, maxfev=maxfev)[0]
    p0 = np.atleast_1d(p0)
    n = p0.size
    ydata = np.asarray_chkfinite(ydata, float)
    xdata = np.asarray_chkfinite(xdata, float)
    if ydata.size == 0:
        raise ValueError("`ydata` must not be empty!")
    if ydata.size != 1 and n > ydata.size:
        raise TypeError(
            f"The number of func parameters={n} must not exceed the number of data "
            f"points={ydata.size}"
        )

    def residuals(params: np.ndarray) -> np.ndarray:
        return f(xdata, *params) - ydata

    func = _memoized(residuals)
    # leastsq
    x0 = np.asarray(p0).flatten()
    res = np.atleast_1d(func(x0[:n]))
    dt = res.dtype if np.issubdtype(res.dtype, np.inexact) else np.dtype(float)
    if n > res.shape[0]:
        raise TypeError(
            f"Improper input: func input vector length N={n} must not exceed func output "
            f"vector length M={res.shape[0]}"
        )
    retval = lmdif(func, x0, (), 1, FTOL, XTOL, GTOL, maxfev, np.finfo(dt).eps, FACTOR, None)
    info = retval[-1]
    if info not in (1, 2, 3, 4):
        raise RuntimeError(f"Optimal parameters not found (MINPACK info {info})")
    return retval[0]
