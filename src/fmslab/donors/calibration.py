"""Calibration of the cross-validated transfer predictions: observed vs predicted, with intervals.

The leave-one-donor-out probabilities (:func:`fmslab.donors.predict.predict_transfer`) are
grouped in equal-width bins of the predicted probability; in each bin the observed fraction of
transferring donors is shown with its Wilson score interval (the binomial interval that stays
inside [0, 1] and keeps its coverage at the small counts of a donor study)::

    centre = (k + z^2 / 2) / (n + z^2),  half = z * sqrt(k (n - k) / n + z^2 / 4) / (n + z^2)

with ``k`` transferring donors out of ``n`` in the bin and ``z`` the normal quantile of the
level. A well-calibrated model has its points on the diagonal; with a dozen donors the intervals
are wide, and the plot says so rather than hiding it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

CALIBRATION_COLUMNS = [
    "bin_low", "bin_high", "n", "n_positive", "mean_predicted", "observed", "observed_low",
    "observed_high",
]  # fmt: skip


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n`` (NaN for ``n = 0``)."""
    if n <= 0:
        return np.nan, np.nan
    if not 0 <= k <= n:
        raise ValueError(f"k = {k} is not between 0 and n = {n}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    centre = (k + z * z / 2) / (n + z * z)
    half = z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def calibration_table(
    predictions: pd.DataFrame, *, n_bins: int = 5, confidence: float = 0.95
) -> pd.DataFrame:
    """Observed fraction of transferring donors per bin of predicted probability.

    Parameters
    ----------
    predictions
        ``label`` (1/0) and ``p_loo`` (cross-validated probability) per donor; rows with a
        missing probability are left out.
    n_bins
        Equal-width bins on [0, 1] (the last one closed); empty bins are not listed.
    confidence
        Level of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        :data:`CALIBRATION_COLUMNS`, one row per non-empty bin.
    """
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    need = {"label", "p_loo"} - set(predictions.columns)
    if need:
        raise ValueError(f"predictions lack column(s) {sorted(need)}")
    ok = predictions.dropna(subset=["p_loo", "label"])
    p = ok["p_loo"].to_numpy(float)
    y = ok["label"].to_numpy(int)
    if ((p < 0) | (p > 1)).any():
        raise ValueError("predicted probabilities must be in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        sel = which == b
        n = int(sel.sum())
        if not n:
            continue
        k = int(y[sel].sum())
        lo, hi = wilson_interval(k, n, confidence)
        rows.append(
            {
                "bin_low": edges[b],
                "bin_high": edges[b + 1],
                "n": n,
                "n_positive": k,
                "mean_predicted": float(p[sel].mean()),
                "observed": k / n,
                "observed_low": lo,
                "observed_high": hi,
            }
        )
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


def plot_calibration(
    predictions: pd.DataFrame,
    *,
    n_bins: int = 5,
    confidence: float = 0.95,
    title: str | None = None,
    auc: tuple[float, float, float] | None = None,
) -> Figure:
    """Calibration plot of cross-validated transfer probabilities.

    Binned observed fraction (with Wilson intervals, :func:`calibration_table`) against the mean
    predicted probability, the diagonal of perfect calibration, and each donor's prediction as a
    tick (top: transferring donors, bottom: not). ``auc = (estimate, low, high)`` is written in
    the corner.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from fmslab.figures.style import figure_size, house_style

    table = calibration_table(predictions, n_bins=n_bins, confidence=confidence)
    ok = predictions.dropna(subset=["p_loo", "label"])
    with house_style():
        fig, ax = plt.subplots(figsize=figure_size(70.0, 70.0))
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", label="perfect calibration")
        if len(table):
            yerr = np.vstack(
                [table["observed"] - table["observed_low"],
                 table["observed_high"] - table["observed"]]
            )  # fmt: skip
            ax.errorbar(
                table["mean_predicted"], table["observed"], yerr=yerr, fmt="o", color="k",
                ms=3.5, lw=1.0, capsize=2,
                label=f"observed (Wilson {confidence:.0%} CI)",
            )  # fmt: skip
            for row in table.itertuples():
                ax.annotate(
                    f"n={row.n}", (row.mean_predicted, row.observed), xytext=(4, -8),
                    textcoords="offset points", fontsize=5.5,
                )  # fmt: skip
        pos = ok[ok["label"] == 1]["p_loo"]
        neg = ok[ok["label"] == 0]["p_loo"]
        ax.plot(
            pos, np.full(len(pos), 1.03), "|", color="#b2182b", ms=6, label="transferring donor"
        )
        ax.plot(neg, np.full(len(neg), -0.03), "|", color="#2166ac", ms=6, label="not transferring")
        if auc is not None and np.isfinite(auc[0]):
            ax.text(
                0.03, 0.90, f"LOO AUC {auc[0]:.2f} [{auc[1]:.2f}, {auc[2]:.2f}]",
                transform=ax.transAxes, fontsize=6,
            )  # fmt: skip
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.08, 1.08)
        ax.set_xlabel("predicted probability of transfer (leave-one-donor-out)")
        ax.set_ylabel("observed fraction transferring")
        ax.legend(loc="lower right", fontsize=5.5, frameon=False)
        ax.set_title(title or f"Calibration ({len(ok)} donors)", fontsize=7)
        fig.tight_layout()
    return fig


def calibration_figures(loo: pd.DataFrame) -> list[tuple[str, Figure]]:
    """One calibration plot per outcome of a table of leave-one-out predictions (``outcome``,
    ``label``, ``p_loo`` and the AUC columns ``auc_loo``, ``auc_low``, ``auc_high``), as written
    by ``fmslab donors`` (``donor_predictions``)."""
    figs = []
    for outcome, sub in loo.groupby("outcome", sort=False):
        first = sub.iloc[0]
        auc = tuple(float(first[c]) for c in ("auc_loo", "auc_low", "auc_high"))
        title = f"{outcome}: calibration (clinical scores)"
        figs.append((str(outcome), plot_calibration(sub, title=title, auc=auc)))
    return figs
