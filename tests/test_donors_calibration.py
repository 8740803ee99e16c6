"""Calibration table and plot of the cross-validated transfer predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from statsmodels.stats.proportion import proportion_confint

from fmslab.donors.calibration import calibration_table, plot_calibration, wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 4), (1, 3), (2, 2), (5, 9), (12, 12)])
def test_wilson_equals_statsmodels(k, n):
    """statsmodels' own implementation of the Wilson score interval is the reference."""
    lo, hi = wilson_interval(k, n, 0.95)
    ref = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert lo == pytest.approx(ref[0], abs=1e-12) and hi == pytest.approx(ref[1], abs=1e-12)


def test_wilson_refuses_impossible_counts():
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(4, 3)
    assert np.isnan(wilson_interval(0, 0)[0])


def test_table_by_hand():
    """Five bins of width 0.2: predictions 0.05, 0.1 (labels 0, 0) -> bin 0, observed 0/2;
    0.5 (1) and 0.55 (0) -> bin 2, 1/2; 0.9, 1.0 (1, 1) -> bin 4 (1.0 in the closed last bin)."""
    pred = pd.DataFrame(
        {"label": [0, 0, 1, 0, 1, 1, 1], "p_loo": [0.05, 0.1, 0.5, 0.55, 0.9, 1.0, np.nan]}
    )
    t = calibration_table(pred, n_bins=5)
    assert list(t["bin_low"].round(2)) == [0.0, 0.4, 0.8]
    assert list(t["n"]) == [2, 2, 2]
    assert list(t["observed"]) == [0.0, 0.5, 1.0]
    assert t["mean_predicted"].tolist() == pytest.approx([0.075, 0.525, 0.95])
    lo, hi = proportion_confint(1, 2, alpha=0.05, method="wilson")
    assert t.loc[1, "observed_low"] == pytest.approx(lo) and t.loc[1, "observed_high"] == (
        pytest.approx(hi)
    )


def test_bad_predictions_refused():
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        calibration_table(pd.DataFrame({"label": [1], "p_loo": [1.2]}))
    with pytest.raises(ValueError, match="lack"):
        calibration_table(pd.DataFrame({"label": [1]}))


def test_plot_shows_the_table():
    """The plotted points and error bars are the table's (read back from the Figure)."""
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 40)
    pred = pd.DataFrame({"label": (rng.uniform(0, 1, 40) < p).astype(int), "p_loo": p})
    fig = plot_calibration(pred, auc=(0.8, 0.6, 0.95))
    assert isinstance(fig, Figure)
    t = calibration_table(pred)
    ax = fig.axes[0]
    points = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(points) == 1
    np.testing.assert_allclose(np.asarray(points[0].get_xdata(), float), t["mean_predicted"])
    np.testing.assert_allclose(np.asarray(points[0].get_ydata(), float), t["observed"])
    ticks = [ln for ln in ax.lines if ln.get_marker() == "|"]
    assert sum(len(ln.get_xdata()) for ln in ticks) == 40
    assert any("AUC 0.80" in txt.get_text() for txt in ax.texts)
