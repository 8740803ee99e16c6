"""Dispersion prior variance as R DESeq2 estimates it with few residual degrees of freedom.

With ``m - p <= 3`` residual degrees of freedom (``m`` samples, ``p`` design columns) the log
dispersion residuals are strongly skewed and the MAD-based moment estimator is poor. R DESeq2's
``estimateDispersionsPriorVar`` then matches their distribution by simulation instead:

1. residuals ``r = log(dispGeneEst) - log(dispFit)`` of genes with ``dispGeneEst >= 100 * minDisp``,
   restricted to ``(-10, 10)``, histogrammed on breaks ``-10, -9.5, ..., 10`` (density);
2. for 200 candidate variances ``v`` in ``[0, 8]``: simulate ``log(chi2_df) + N(0, v) - log(df)``
   (10,000 draws), histogram it the same way, KL divergence of observed vs simulated
   (``sum(p_obs * (log(p_obs + s) - log(p_sim + s)))``, ``s`` = smallest positive density);
3. smooth the KL curve with ``loess(span = 0.2)`` (local quadratic, tricube weights), predict on a
   1,000-point grid over ``[0, 8]``, take the argmin; floor at 0.25.

pydeseq2 0.5.4 always uses ``max(MAD^2 - trigamma(df / 2), 0.25)``. R seeds its generator with
``set.seed(2)``; numpy cannot reproduce R's stream, so we use a seeded ``numpy`` generator. The
loess smoothing over the 200-point grid removes most of the Monte-Carlo noise, so the argmin is
stable to within a few fine-grid steps across seeds (tested).
"""

from __future__ import annotations

import numpy as np

from fmslab.rnaseq.rrng import RStream

#: Histogram breaks of R's ``-20:20/2``.
BREAKS = np.arange(-20, 21) / 2.0
N_DRAWS = 10_000
COARSE_GRID = np.linspace(0.0, 8.0, 200)
FINE_GRID = np.linspace(0.0, 8.0, 1000)
LOESS_SPAN = 0.2
MIN_PRIOR_VAR = 0.25
DEFAULT_SEED = 2


def _hist_density(values: np.ndarray) -> np.ndarray:
    """Density histogram on :data:`BREAKS` with R's right-closed bins (``hist(right=TRUE)``)."""
    idx = np.searchsorted(BREAKS, values, side="left") - 1
    idx = np.clip(idx, 0, len(BREAKS) - 2)  # include.lowest: -10 goes to the first bin
    counts = np.bincount(idx, minlength=len(BREAKS) - 1).astype(float)
    widths = np.diff(BREAKS)
    return counts / (counts.sum() * widths)


def _inside(values: np.ndarray) -> np.ndarray:
    return values[(values > BREAKS[0]) & (values < BREAKS[-1])]


def kl_divergence_curve(
    residuals: np.ndarray, df: int, *, seed: int = DEFAULT_SEED, grid: np.ndarray = COARSE_GRID
) -> np.ndarray:
    """KL divergence between observed log-dispersion residuals and simulated ones per variance.

    Parameters
    ----------
    residuals
        ``log(dispGeneEst) - log(dispFit)`` of the genes used for the prior.
    df
        Residual degrees of freedom ``m - p`` (1, 2 or 3 in R's use).
    seed
        Seed of R's generator (``set.seed``); R DESeq2 uses 2.
    grid
        Candidate prior variances.
    """
    obs = _hist_density(_inside(np.asarray(residuals, dtype=float)))
    stream = RStream(seed)
    kl = np.empty(len(grid))
    for i, var in enumerate(grid):
        # R evaluates log(rchisq(...)) before rnorm(...): same order of draws
        chi = stream.rchisq(N_DRAWS, df)
        sim = np.log(chi) + stream.rnorm(N_DRAWS, 0.0, float(np.sqrt(var)))
        sim = _inside(sim - np.log(df))
        dens = _hist_density(sim)
        z = np.concatenate([obs, dens])
        small = z[z > 0].min()
        kl[i] = np.sum(obs * (np.log(obs + small) - np.log(dens + small)))
    return kl


def loess_quadratic(
    x: np.ndarray, y: np.ndarray, x_new: np.ndarray, *, span: float = LOESS_SPAN
) -> np.ndarray:
    """Local quadratic regression with tricube weights, as R's ``loess(y ~ x, span)`` (1-D).

    The neighbourhood of each prediction point holds the ``floor(span * n)`` nearest data points;
    its radius is the distance to the farthest of them. This is R's ``surface = "direct"``
    computation; R's default ``"interpolate"`` evaluates the same local fits on a k-d tree and
    interpolates between them, which differs by far less than the 0.008 step of the fine grid
    in the argmin.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    q = int(np.floor(span * len(x)))
    q = max(q, 3)
    out = np.empty(len(x_new))
    for i, x0 in enumerate(np.asarray(x_new, dtype=float)):
        d = np.abs(x - x0)
        h = np.partition(d, q - 1)[q - 1]
        u = np.clip(d / h, 0.0, 1.0) if h > 0 else (d > 0).astype(float)
        w = (1.0 - u**3) ** 3
        keep = w > 0
        dx = x[keep] - x0
        design = np.column_stack([np.ones(keep.sum()), dx, dx**2])
        sw = np.sqrt(w[keep])
        coef, *_ = np.linalg.lstsq(design * sw[:, None], y[keep] * sw, rcond=None)
        out[i] = coef[0]
    return out


def monte_carlo_prior_var(residuals: np.ndarray, df: int, *, seed: int = DEFAULT_SEED) -> float:
    """R DESeq2's dispersion prior variance for ``1 <= df <= 3`` residual degrees of freedom.

    Returns ``max(argmin_v smoothed KL(v), 0.25)``.
    """
    if df < 1:
        raise ValueError(f"need at least one residual degree of freedom, got {df}")
    kl = kl_divergence_curve(residuals, df, seed=seed)
    smooth = loess_quadratic(COARSE_GRID, kl, FINE_GRID)
    return float(max(FINE_GRID[int(np.argmin(smooth))], MIN_PRIOR_VAR))
