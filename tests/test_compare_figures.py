"""k-group figures (fmslab.figures.contrasts) draw exactly the numbers of the statistics table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fmslab.compare import Hierarchy, compare_outcomes
from fmslab.compare.design import DaySpec
from fmslab.errors import InputError
from fmslab.figures.contrasts import contrast_estimation_plot, forest_plot, time_course_contrasts
from fmslab.figures.plots import source_data

DATA = Path(__file__).resolve().parent / "data" / "compare"
ORDER = ["HC", "FMS", "RA_FMS", "RA_noFMS"]
COLORS = {"HC": "#0072B2", "FMS": "#D55E00", "RA_FMS": "#009E73", "RA_noFMS": "#CC79A7"}
THREE = ["RA_FMS - RA_noFMS", "RA_FMS - HC", "FMS - HC"]


@pytest.fixture(scope="module")
def k4():
    df = pd.read_csv(DATA / "design_k4.csv")
    st = compare_outcomes(df, ["rheobase_pA"], hierarchy=Hierarchy(), contrasts=THREE,
                          covariates=["age", "sex"], groups=ORDER, n_resamples=20)  # fmt: skip
    return df, st


def test_forest_plot_draws_each_contrast_ci(k4) -> None:
    _, st = k4
    fig = forest_plot(st, contrasts=THREE)
    assert isinstance(fig, Figure)
    drawn = source_data(fig.axes[0]).set_index("contrast")
    lmm = st[(st.test == "contrast") & (st.model == "lmm")].set_index("contrast")
    for c in THREE:
        assert drawn.loc[c, "estimate"] == lmm.loc[c, "estimate"]
        assert drawn.loc[c, "ci_low"] == lmm.loc[c, "ci_low"]
    ticks = dict(zip(fig.axes[0].get_yticks(), fig.axes[0].get_yticklabels(), strict=True))
    assert ticks[max(ticks)].get_text().startswith(THREE[0])  # first contrast on top
    with pytest.raises(InputError, match="no 'contrast' rows of model 'nope'"):
        forest_plot(st, model="nope")


def test_estimation_plot_keeps_study_order_and_colours(k4) -> None:
    df, st = k4
    fig = contrast_estimation_plot(df, st, value="rheobase_pA", order=ORDER, colors=COLORS)
    left, right = fig.axes[:2]
    assert [t.get_text().split("\n")[0] for t in left.get_xticklabels()] == ORDER
    pts = source_data(left)
    donor_means = df.groupby(["group", "donor_id", "mouse_id"]).rheobase_pA.mean().groupby(
        ["group", "donor_id"]).mean()  # fmt: skip
    for g in ORDER:
        assert sorted(pts[pts.group == g].value) == pytest.approx(sorted(donor_means[g]))
    # dots of group i carry the study colour of group i
    from matplotlib.collections import PathCollection

    dots = [c for c in left.collections if isinstance(c, PathCollection)]
    for i, g in enumerate(ORDER):
        face = dots[i].get_facecolor()[0][:3]
        assert np.allclose(face, [int(COLORS[g][k : k + 2], 16) / 255 for k in (1, 3, 5)])
    assert source_data(right)["value"].tolist() == pytest.approx(
        st[(st.test == "contrast") & (st.model == "lmm")]["estimate"].tolist()
    )


def test_time_course_marks_days_with_adjusted_p_below_alpha() -> None:
    df = pd.read_csv(DATA / "design_timecourse.csv")
    st = compare_outcomes(df, ["log10_threshold_g"], hierarchy=Hierarchy(), contrasts=THREE,
                          day=DaySpec("day"), groups=ORDER, n_resamples=20)  # fmt: skip
    fig = time_course_contrasts(df, st, value="log10_threshold_g", order=ORDER, colors=COLORS)
    marks = fig.axes[0].fmslab_contrast_marks
    per_day = st[st.test == "per_day"]
    assert len(marks) == len(per_day) == 3 * 6
    merged = marks.merge(per_day, on=["contrast", "day"])
    assert ((merged["mark"] != "") == (merged["p_adj_y"] < 0.05)).all()
    assert (merged["mark"] != "").any()  # the planted FMS effect at the peak is marked
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"*", "**", "***"} & texts


def test_forest_panel_in_a_composed_figure(k4) -> None:
    from fmslab.figures.compose import build_figure

    df, st = k4
    spec = {"name": "f", "layout": ["ab"], "panels": {
        "a": {"type": "superplot", "table": "data", "value": "rheobase_pA"},
        "b": {"type": "forest", "table": "stats", "outcomes": ["rheobase_pA"]},
    }}  # fmt: skip
    fig, sources = build_figure(spec, {"data": df, "stats": st}.__getitem__)
    lmm = st[(st.test == "contrast") & (st.model == "lmm")]
    assert sources["b"]["estimate"].tolist() == lmm["estimate"].tolist()
