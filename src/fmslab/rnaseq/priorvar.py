"""Variance of the dispersion prior (DESeq2's ``dispPriorVar``).

The prior on the log dispersions is normal around the trend (Love et al. 2014). Its variance is
the variance of the log residuals ``log(dispGeneEst / dispFit)`` minus their expected sampling
variance. With ``m - p > 3`` residual degrees of freedom the residual variance is estimated
robustly, ``s^2 = MAD^2`` (R's ``mad``: constant 1.4826), and the sampling variance is
``trigamma((m - p) / 2)``: prior variance ``max(s^2 - trigamma((m - p) / 2), 0.25)``.

With ``m - p <= 3`` the residuals are too skewed for that moment estimate; DESeq2 instead picks
the variance ``v`` whose simulated residual distribution, ``log(chi2_df / df) + N(0, v)``, is
closest (Kullback-Leibler, on a histogram of half-unit bins over ``(-10, 10]``) to the observed
one, for 200 candidates ``v`` in ``[0, 8]`` smoothed by ``loess(span = 0.2)`` and minimised on
a 1000-point grid (floor 0.25). The simulated histograms come from R's generator after
``set.seed(2)`` and so depend only on ``df``; they and the loess smoother (a fixed linear
operator on the 200-point curve) are tabulated by ``fmslab/data/rnaseq/make_priorvar_table.R``,
which also checks the tables against DESeq2's ``estimateDispersionsPriorVar``. This module
computes the observed histogram and the divergence, and applies the tabulated smoother: the
result is R's value exactly, in milliseconds.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy.special import polygamma

#: Histogram breaks ``-10, -9.5, ..., 10``.
BREAKS = np.arange(-20, 21) / 2.0
COARSE_GRID = np.linspace(0.0, 8.0, 200)
FINE_GRID = np.linspace(0.0, 8.0, 1000)
MIN_PRIOR_VAR = 0.25
MAD_CONSTANT = 1.4826


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[int, np.ndarray], np.ndarray]:
    pkg = resources.files("fmslab.data.rnaseq")
    with resources.as_file(pkg / "priorvar_sim_counts.csv") as path:
        sim = pd.read_csv(path)
    with resources.as_file(pkg / "priorvar_loess.csv.gz") as path:
        op = pd.read_csv(path)
    counts = {}
    for df, block in sim.groupby("df"):
        block = block.sort_values("grid_index")
        counts[int(df)] = block.filter(like="bin").to_numpy(dtype=float)
    smoother = np.zeros((len(FINE_GRID), len(COARSE_GRID)))
    smoother[op["fine_index"].to_numpy() - 1, op["coarse_index"].to_numpy() - 1] = op["weight"]
    return counts, smoother


def hist_density(values: np.ndarray) -> np.ndarray:
    """Density histogram on :data:`BREAKS` of the values inside ``(-10, 10)``, right-closed
    bins (``(-10, -9.5], (-9.5, -9], ...``)."""
    values = np.asarray(values, dtype=float)
    values = values[(values > BREAKS[0]) & (values < BREAKS[-1])]
    idx = np.searchsorted(BREAKS, values, side="left") - 1
    counts = np.bincount(idx, minlength=len(BREAKS) - 1).astype(float)
    return counts / (counts.sum() * np.diff(BREAKS))


def kl_curve(residuals: np.ndarray, df: int) -> np.ndarray:
    """Divergence of the observed residual histogram from each simulated one (200 values).

    ``sum(p_obs * (log(p_obs + s) - log(p_sim + s)))`` with ``s`` the smallest positive density
    of the two histograms.
    """
    counts, _ = _tables()
    obs = hist_density(residuals)
    sim = counts[df] / (counts[df].sum(axis=1, keepdims=True) * 0.5)
    both = np.concatenate([np.broadcast_to(obs, sim.shape), sim], axis=1)
    small = np.where(both > 0, both, np.inf).min(axis=1, keepdims=True)
    return np.sum(obs * (np.log(obs + small) - np.log(sim + small)), axis=1)


def monte_carlo_prior_var(residuals: np.ndarray, df: int) -> float:
    """DESeq2's prior variance for ``1 <= df <= 3`` residual degrees of freedom."""
    if df not in (1, 2, 3):
        raise ValueError(f"the simulated prior is tabulated for 1-3 residual df, got {df}")
    _, smoother = _tables()
    smooth = smoother @ kl_curve(residuals, df)
    return float(max(FINE_GRID[int(np.argmin(smooth))], MIN_PRIOR_VAR))


def mad(x: np.ndarray) -> float:
    """R's ``mad``: ``1.4826 * median(|x - median(x)|)``."""
    x = np.asarray(x, dtype=float)
    return float(MAD_CONSTANT * np.median(np.abs(x - np.median(x))))


def prior_variance(log_residuals: np.ndarray, df: int) -> tuple[float, float, str]:
    """Return ``(dispPriorVar, varLogDispEsts, method)`` from the log residuals of the genes
    with ``dispGeneEst >= 100 * minDisp``; method is ``"simulation"`` (df <= 3) or ``"mad"``."""
    var_log = mad(log_residuals) ** 2
    if df <= 3:
        return monte_carlo_prior_var(log_residuals, df), var_log, "simulation"
    return float(max(var_log - polygamma(1, df / 2), MIN_PRIOR_VAR)), var_log, "mad"
