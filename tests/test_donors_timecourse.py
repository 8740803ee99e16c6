"""A donor's predicted time course against the control band, and the one-page donor figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fmslab.donors.timecourse import donor_time_course, plot_donor_page
from fmslab.errors import InputError

DATA = Path(__file__).parent / "data" / "donors"


def test_one_day_equals_lme4_fixef_plus_ranef():
    """On one day the model is lme4's `y ~ group + (1 | donor)` on one row per mouse: the
    predicted mouse mean of each donor is fixef(Intercept) + fixef(group) + ranef(donor) from
    tests/data/donors/donors_lme4.csv (outcome y_mouse; agreement of the engine with lme4 on
    this case is ~1e-8, test_donors_lme4.py), and the control mean is the intercept."""
    data = pd.read_csv(DATA / "donors_input_mice.csv").assign(day=3.0)
    ref = pd.read_csv(DATA / "donors_lme4.csv")
    ref = ref[ref["outcome"] == "y_mouse"].set_index("donor_id")
    tc = donor_time_course(data, "y_mouse", reference="HC").set_index("donor_id")
    want = ref["intercept"] + ref["effect_shrunken"]
    np.testing.assert_allclose(tc.loc[want.index, "predicted"], want, atol=1e-6)
    np.testing.assert_allclose(tc["control_mean"], ref["intercept"].iloc[0], atol=1e-6)
    assert (tc["pred_low"] < tc["predicted"]).all() and (tc["predicted"] < tc["pred_high"]).all()
    assert (tc["n_mice"] == data.groupby("donor_id").size().loc[tc.index]).all()


def _study(rng, days=(0, 3, 7, 21), n=6, mice=3, effect=-0.4):
    """Controls and patients; patient donor D00 has a transient effect peaking on day 3."""
    rows = []
    for i in range(2 * n):
        g = "FMS" if i < n else "HC"
        u = rng.normal(0, 0.05)
        for m in range(mice):
            v = rng.normal(0, 0.05)
            for day in days:
                shape = {0: 0.0, 3: 1.0, 7: 0.5, 21: 0.0}[day]
                eff = effect * shape if g == "FMS" else 0.0
                y = 0.0 + eff + u + v + rng.normal(0, 0.04)
                rows.append((f"D{i:02d}", f"M{i}_{m}", g, day, y))
    return pd.DataFrame(rows, columns=["donor_id", "mouse_id", "group", "day", "value"])


def test_planted_transient_effect_leaves_the_band_and_returns():
    data = _study(np.random.default_rng(1))
    tc = donor_time_course(data, "value", reference="HC")
    me = tc[tc["donor_id"] == "D00"].set_index("day")
    assert me.loc[3.0, "pred_high"] < me.loc[3.0, "control_low"]  # clearly out at the peak
    for day in (0.0, 21.0):
        assert me.loc[day, "control_low"] < me.loc[day, "predicted"] < me.loc[day, "control_high"]
    hc = tc[tc["group"] == "HC"]
    inside = (hc["predicted"] > hc["control_low"]) & (hc["predicted"] < hc["control_high"])
    assert inside.all()


@pytest.mark.slow
def test_control_band_covers_a_new_control_donors_mouse():
    """Over 300 simulated single-day studies (6 control, 6 patient donors, 2 mice each; donor SD
    1, mouse SD 1) a mouse of a new control donor falls inside the 95 % control band in 90-99 %
    of them (nominal 95 %; binomial SD of the rate at 300 studies ~1.3 %, and the plug-in of
    REML variances makes small-sample bands a little narrow or, on a singular fit, wide)."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(300):
        rows = []
        for i in range(12):
            g = "FMS" if i < 6 else "HC"
            u = rng.normal(0, 1)
            rows += [(f"D{i}", g, 1.0, 2.0 * (g == "FMS") + u + rng.normal(0, 1)) for _ in range(2)]
        data = pd.DataFrame(rows, columns=["donor_id", "group", "day", "value"])
        band = donor_time_course(data, "value", reference="HC").iloc[0]
        new = rng.normal(0, 1) + rng.normal(0, 1)
        hits += band["control_low"] < new < band["control_high"]
    assert 0.90 <= hits / 300 <= 0.99, hits / 300


def test_donor_page_has_time_course_and_card():
    data = _study(np.random.default_rng(2))
    tc = donor_time_course(data, "value", reference="HC")
    from fmslab.donors.effects import donor_effects
    from fmslab.donors.responders import call_responders

    peak = data[data["day"] == 3]
    eff = call_responders(donor_effects(peak, "value", reference="HC", n_boot=50))
    fig = plot_donor_page(eff, "D00", course=tc, observed=data, course_outcome="value")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax = fig.axes[0]
    line = next(ln for ln in ax.lines if ln.get_label() == "predicted (donor)")
    me = tc[tc["donor_id"] == "D00"].sort_values("day")
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), me["predicted"])
    obs = next(ln for ln in ax.lines if ln.get_label() == "its mice (observed)")
    assert len(obs.get_xdata()) == (data["donor_id"] == "D00").sum()
    plt.close(fig)
    fig = plot_donor_page(eff, "D00")  # no time course: the card alone
    assert len(fig.axes) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="not in the effect table"):
        plot_donor_page(eff, "nobody")


def test_series_by_assay_are_separate_models_and_panels():
    """With ``by="assay"`` each assay is its own series: its rows equal the time course of that
    assay's rows alone (the models do not mix assays), and the donor page has one time-course
    panel per assay above the card."""
    rng = np.random.default_rng(3)
    vf = _study(rng).assign(assay="vonfrey", measure="threshold", unit="g")
    hg = _study(rng, effect=0.0).assign(assay="hargreaves", measure="latency", unit="s")
    hg["value"] += 10.0
    data = pd.concat([vf, hg], ignore_index=True)
    tc = donor_time_course(data, "value", reference="HC", by="assay")
    assert set(tc["assay"]) == {"vonfrey", "hargreaves"}
    for name, part in (("vonfrey", vf), ("hargreaves", hg)):
        alone = donor_time_course(part, "value", reference="HC")
        got = tc[tc["assay"] == name].reset_index(drop=True)
        np.testing.assert_allclose(got["predicted"], alone["predicted"], rtol=1e-12)
        assert (got["unit"] == part["unit"].iloc[0]).all()
    assert (alone["assay"] == "value").all()  # no `by`: the series is named by the outcome
    from fmslab.donors.effects import donor_effects
    from fmslab.donors.responders import call_responders

    eff = call_responders(donor_effects(vf[vf["day"] == 3], "value", reference="HC", n_boot=20))
    fig = plot_donor_page(eff, "D00", course=tc, observed=data)
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes[:2]]
    assert "hargreaves" in titles[0] and "vonfrey" in titles[1]
    obs = next(ln for ln in fig.axes[1].lines if ln.get_label() == "its mice (observed)")
    assert len(obs.get_xdata()) == (vf["donor_id"] == "D00").sum()  # its assay's mice only
    plt.close(fig)
    with pytest.raises(InputError, match="missing"):
        donor_time_course(vf, "value", reference="HC", by="protocol")
