"""Planted donor potencies (simulated here, as the demo does: log-normal potency scaling the
IgG effect) are recovered by the per-donor effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from fmslab.donors.effects import donor_effects
from fmslab.donors.responders import call_responders


def _study(seed: int, n_patients=8, n_controls=6, mice=3, cells=4, effect_pa=-100.0):
    rng = np.random.default_rng(seed)
    rows, potency = [], {}
    for i in range(n_patients + n_controls):
        d = f"D{i:02d}"
        patient = i < n_patients
        potency[d] = float(np.exp(rng.normal(0, 0.5))) if patient else 0.0
        u = rng.normal(0, 8.0)
        for m in range(mice):
            v = rng.normal(0, 10.0)
            for _ in range(cells):
                y = 300 + effect_pa * potency[d] + u + v + rng.normal(0, 25.0)
                rows.append((d, f"M{m}", "FMS" if patient else "HC", y))
    df = pd.DataFrame(rows, columns=["donor_id", "mouse_id", "group", "rheobase_pA"])
    return df, pd.Series(potency)


def test_shrunken_effects_rank_the_planted_potency():
    """Over 3 simulated studies (8 patient donors, potency CV ~50 %, donor SD 8 pA, effect
    100 pA x potency), Spearman(-effect, potency) among patient donors is > 0.6 in each (the
    noise on a donor mean, sqrt(8^2 + 10^2/3 + 25^2/12) ~ 12 pA, vs a between-donor potency
    spread of ~50 pA; with 8 donors rho still varies, hence the margin), and every
    called donor is a planted transferrer."""
    for seed in (1, 2, 3):
        df, potency = _study(seed)
        eff = call_responders(donor_effects(df, "rheobase_pA", reference="HC", n_boot=100))
        pat = eff[eff["group"] == "FMS"].set_index("donor_id")
        rho = stats.spearmanr(-pat["effect_shrunken"], potency[pat.index]).statistic
        assert rho > 0.6, (seed, rho)
        raw = stats.spearmanr(-pat["effect_raw"], potency[pat.index]).statistic
        assert raw > 0.6, (seed, raw)
        called = eff.loc[eff["call"] == "transferrer", "donor_id"]
        assert (potency[called] > 0).all()
        assert (pat["p_transfer"] > 0.5).mean() >= 0.75  # most patient donors lean to transfer


def test_an_outcome_without_variation_is_refused_by_name():
    # every unit silent at baseline (the demo's spontaneous rate can be 0 everywhere): the
    # variance components are undefined, so the outcome is refused (the flow skips it with this
    # reason) instead of a numerical failure deep in the REML fit
    import pytest

    from fmslab.errors import InputError

    df, _ = _study(1)
    df["spont_rate_hz"] = 0.0
    with pytest.raises(InputError, match="'spont_rate_hz': all 168 values are 0"):
        donor_effects(df, "spont_rate_hz", reference="HC", n_boot=10)
    df.loc[0, "spont_rate_hz"] = 0.5  # one value differs: estimated as usual
    assert len(donor_effects(df, "spont_rate_hz", reference="HC", n_boot=10)) == 14
