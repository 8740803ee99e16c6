"""Donor profile and concordance on a hand-made effect table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from fmslab.donors.profile import concordance, donor_profile, plot_profile_heatmap


def _effects() -> pd.DataFrame:
    # outcome a: lower = hypersensitive; outcome b: higher = hypersensitive
    rows = []
    a = {"D1": -4.0, "D2": -2.0, "D3": 0.0, "D4": 1.0}
    b = {"D1": 3.0, "D2": 1.0, "D3": 2.0, "D4": -1.0}
    for outcome, values, direction, sd in (("a", a, -1, 2.0), ("b", b, 1, 1.0)):
        for d, v in values.items():
            rows.append(
                {
                    "outcome": outcome,
                    "donor_id": d,
                    "group": "FMS" if d in ("D1", "D2") else "HC",
                    "reference": "HC",
                    "effect_shrunken": v,
                    "sd_total": sd,
                    "direction": direction,
                    "n_mice": 3,
                    "n_obs": 12,
                    "p_transfer": 0.99 if d == "D1" else 0.5,
                    "call": "transferrer" if d == "D1" else "not shown",
                }
            )
    return pd.DataFrame(rows)


def test_profile_standardises_and_signs():
    prof = donor_profile(_effects()).set_index("donor_id")
    # a: -4 / 2 SD, lower is hypersensitive -> +2
    assert prof.loc["D1", "z_a"] == pytest.approx(2.0)
    assert prof.loc["D4", "z_a"] == pytest.approx(-0.5)
    assert prof.loc["D1", "z_b"] == pytest.approx(3.0)
    assert prof.loc["D1", "n_called"] == 2 and prof.loc["D2", "n_called"] == 0
    assert (prof["n_mice_a"] == 3).all() and (prof["n_outcomes"] == 2).all()


def test_concordance_spearman_by_hand():
    """Signed z: a = (2, 1, 0, -0.5), b = (3, 1, 2, -1). Ranks a (4, 3, 2, 1), b (4, 2, 3, 1):
    sum d^2 = 2, rho = 1 - 6 * 2 / (4 * 15) = 0.8."""
    conc = concordance(_effects())
    row = conc.iloc[0]
    assert row["spearman_rho"] == pytest.approx(0.8)
    assert row["n_donors"] == 4 and row["same_call"] == 4 and row["both_called"] == 1


def test_heatmap_returns_figure():
    fig = plot_profile_heatmap(_effects())
    ax = fig.axes[0]
    values = np.asarray(ax.collections[0].get_array()).reshape(4, 2)
    assert values[0, 0] == pytest.approx(2.0)  # D1 (FMS), outcome a, signed
    plt.close(fig)


def test_donor_card_marks_the_donor():
    from fmslab.donors.profile import plot_donor_card

    eff = _effects().assign(
        pred_low=lambda d: d["effect_shrunken"] - 1, pred_high=lambda d: d["effect_shrunken"] + 1
    )
    fig = plot_donor_card(eff, "D1")
    ax = fig.axes[0]
    # the donor's point: outcome a, z = -4 / 2 * (-1) = 2
    marks = [line for line in ax.lines if line.get_marker() == "D"]
    assert [m.get_xdata()[0] for m in marks] == [2.0, 3.0]
    assert "D1 (FMS)" in ax.get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="not in the effect table"):
        plot_donor_card(eff, "nobody")
