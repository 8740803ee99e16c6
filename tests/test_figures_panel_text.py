"""n and the statistic on each panel: heatmaps and time courses (the text in the artists).

Expected counts are worked out from the input frames with pandas (nunique), independently of the
plotting code; the text is read back from matplotlib's artists, not from pixels.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from fmslab.figures import heatmap, source_data, time_course  # noqa: E402


def _colorbar_label(fig) -> str:
    cbar = [a for a in fig.axes if a is not fig.axes[0]]
    assert len(cbar) == 1
    return cbar[0].get_ylabel()


def test_heatmap_states_its_n_on_the_axes_and_the_statistic_on_the_colour_bar() -> None:
    m = pd.DataFrame(np.arange(6.0).reshape(2, 3), index=pd.Index(["Scn9a", "Scn10a"],
                     name="gene"), columns=["s1", "s2", "s3"])  # fmt: skip
    fig = heatmap(m, center=0, colorbar_label="VST \u2212 gene mean")
    ax = fig.axes[0]
    assert ax.get_ylabel() == f"{m.index.nunique()} genes"  # 2 genes
    assert ax.get_xlabel() == "3 columns"  # the columns have no name: said plainly
    assert _colorbar_label(fig) == "VST \u2212 gene mean"
    plt.close(fig)
    fig = heatmap(m.iloc[:1], col_noun="samples", row_noun="genes")
    assert (fig.axes[0].get_ylabel(), fig.axes[0].get_xlabel()) == ("1 gene", "3 samples")
    plt.close(fig)


def test_rnaseq_heatmaps_name_samples_and_genes() -> None:
    from fmslab.rnaseq.plots import distance_heatmap, expression_heatmap

    rng = np.random.default_rng(3)
    pts = rng.normal(size=(4, 2))
    names = ["S1", "S2", "S3", "S4"]
    dist = pd.DataFrame(
        np.linalg.norm(pts[:, None] - pts[None], axis=2), index=names, columns=names
    )
    fig = distance_heatmap(dist)
    ax = fig.axes[0]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("4 samples", "4 samples")
    assert _colorbar_label(fig) == "Euclidean distance (VST)"
    plt.close(fig)
    vst = pd.DataFrame(rng.normal(8, 1, size=(5, 4)), index=list("abcde"), columns=names)
    fig = expression_heatmap(vst, title="Top 5 channels")
    ax = fig.axes[0]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("5 genes", "4 samples")
    assert ax.get_title() == "Top 5 channels"
    plt.close(fig)


def _course() -> pd.DataFrame:
    # FMS: 3 mice, HC: 2 mice (one of them measured on day 7 only); two days
    rows = [("FMS", "m1", 0, 1.0), ("FMS", "m1", 7, 0.5), ("FMS", "m2", 0, 1.2),
            ("FMS", "m2", 7, 0.6), ("FMS", "m3", 0, 0.9), ("FMS", "m3", 7, 0.4),
            ("HC", "m4", 0, 1.1), ("HC", "m4", 7, 1.0), ("HC", "m5", 7, 1.2)]  # fmt: skip
    return pd.DataFrame(rows, columns=["group", "mouse_id", "day", "threshold_g"])


def test_time_course_panel_states_n_per_group_and_what_the_bars_are() -> None:
    df = _course()
    fig = time_course(df, value="threshold_g", order=["HC", "FMS"])
    ax = fig.axes[0]
    legend = ax.get_legend()
    n = df.groupby("group")["mouse_id"].nunique()  # FMS 3, HC 2
    assert [t.get_text() for t in legend.get_texts()] == [
        f"HC ({n['HC']} mice)",
        f"FMS ({n['FMS']} mice)",
    ]
    assert legend.get_title().get_text() == "mean \u00b1 SEM across mice"
    assert (
        ax.get_ylabel() == "50% withdrawal threshold (g)"
        and ax.get_xlabel() == "Time after first injection (days)"
    )
    # n per point, in the source data: HC has one mouse on day 0, two on day 7
    src = source_data(ax).set_index(["group", "day"])
    assert src.loc[("HC", 0), "n_mouse_id"] == 1 and src.loc[("HC", 7), "n_mouse_id"] == 2
    assert src.loc[("FMS", 7), "mean_threshold_g"] == pytest.approx(0.5, abs=1e-12)
    plt.close(fig)


def test_behaviour_time_course_figure_states_n_on_every_assay_panel() -> None:
    from fmslab.behaviour.plotting import plot_time_course

    a = _course().rename(columns={"threshold_g": "value"}).assign(assay="vonfrey")
    b = a[a["mouse_id"] != "m3"].assign(assay="hargreaves", value=lambda d: d["value"] * 10)
    md = pd.concat([a, b], ignore_index=True)
    fig = plot_time_course(md)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_legend() is not None]
    assert len(panels) == 2
    # each panel counts its own mice (m3 has no hargreaves data)
    got = sorted(sorted(t.get_text() for t in ax.get_legend().get_texts()) for ax in panels)
    assert got == [["FMS (2 mice)", "HC (2 mice)"], ["FMS (3 mice)", "HC (2 mice)"]]
    # the legend title names the assay and what the points and bars are
    titles = sorted(ax.get_legend().get_title().get_text() for ax in panels)
    assert titles == [
        "Hargreaves (radiant heat): mean \u00b1 SEM across mice",
        "von Frey (up-down): mean \u00b1 SEM across mice",
    ]
    plt.close(fig)
