"""The tau fit's MINPACK call without scipy.optimize (fmslab.ephys.minpack) gives scipy's
``curve_fit`` result to the bit: same parameters, same failures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import curve_fit

from fmslab.ephys.minpack import _lmdif, curve_fit_lm


def model(tt, vinf, amp, tau):
    return vinf + amp * np.exp(-tt / tau)


def charging_curves(n: int = 60):
    """Noisy exponential charging curves like a hyperpolarising step's (tau 2-80 ms, 20-400
    points), with the start values fit_tau_ms uses, and a few that are not exponentials."""
    rng = np.random.default_rng(7)
    for k in range(n):
        size = int(rng.integers(20, 400))
        dt = float(rng.choice([0.05, 0.1, 0.2, 0.5]))
        t = np.arange(size) * dt
        tau = float(rng.uniform(2, 80))
        v0, vinf = float(rng.uniform(-75, -55)), float(rng.uniform(-110, -70))
        y = vinf + (v0 - vinf) * np.exp(-t / tau) + rng.normal(0, rng.uniform(0.01, 2), size)
        if k % 10 == 9:  # not an exponential: a line, a step, noise only
            y = [np.linspace(-60, -80, size), np.where(t < t[-1] / 2, -60.0, -80.0)][k % 2]
        vmin = float(np.min(y))
        yield t, y, (vmin, y[0] - vmin, max(t[-1] / 3, 1e-3))


def scipy_or_error(t, y, p0, maxfev):
    try:
        return curve_fit(model, t, y, p0=p0, maxfev=maxfev)[0]
    except (RuntimeError, ValueError) as exc:
        return type(exc)


def fmslab_or_error(t, y, p0, maxfev):
    try:
        return curve_fit_lm(model, t, y, p0=p0, maxfev=maxfev)
    except (RuntimeError, ValueError) as exc:
        return type(exc)


def test_compiled_minpack_is_used():
    # else curve_fit_lm is scipy's curve_fit and this file tests nothing
    assert _lmdif() is not None


@pytest.mark.filterwarnings("ignore::scipy.optimize.OptimizeWarning")
@pytest.mark.parametrize("maxfev", [2000, 12])
def test_same_parameters_to_the_bit(maxfev):
    outcomes = set()
    for t, y, p0 in charging_curves():
        ref = scipy_or_error(t, y, p0, maxfev)
        got = fmslab_or_error(t, y, p0, maxfev)
        if isinstance(ref, type):
            assert got is ref
            outcomes.add(ref.__name__)
        else:
            assert got.dtype == ref.dtype and got.tobytes() == ref.tobytes(), (got, ref)
            outcomes.add("fit")
    # the curves exercise converged fits, and with 12 evaluations non-convergence
    assert ("fit" if maxfev == 2000 else "RuntimeError") in outcomes


def test_non_finite_and_empty_data_refused_like_curve_fit():
    t = np.arange(10.0)
    y = model(t, -80.0, 15.0, 3.0)
    y[4] = np.nan
    assert scipy_or_error(t, y, (-80, 15, 3), 2000) is ValueError
    assert fmslab_or_error(t, y, (-80, 15, 3), 2000) is ValueError
    with pytest.raises(ValueError):
        curve_fit_lm(model, np.array([]), np.array([]), p0=(1, 1, 1), maxfev=10)
