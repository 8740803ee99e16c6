"""One vocabulary, one group style, labels that do not overlap, module figures as PNG + TrueType."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from fmslab.errors import InputError  # noqa: E402
from fmslab.figures import source_data, time_course, volcano  # noqa: E402
from fmslab.figures.annotate import label_boxes_overlap  # noqa: E402
from fmslab.figures.export import save_module_figure  # noqa: E402
from fmslab.figures.groups import GroupStyle, group_style_from_config  # noqa: E402
from fmslab.figures.vocabulary import axis_label, name_of  # noqa: E402


def test_labels_come_from_the_vocabulary_with_units() -> None:
    assert axis_label("rheobase_pA") == "Rheobase (pA)"
    assert axis_label("rin_MOhm") == "Input resistance (MΩ)"
    assert axis_label("firing_pattern=repetitive") == "Firing pattern: repetitive"
    # not in the table: derived from the name, unit from the suffix, never the raw column
    assert axis_label("sag_depth_mV") == "Sag depth (mV)"
    assert name_of("threshold_g") == "50% withdrawal threshold"


def test_group_colours_do_not_depend_on_which_figure_draws_them() -> None:
    style = group_style_from_config({"groups": {"order": ["HC", "FMS"]}})
    both = style.palette(["FMS", "HC"])
    assert list(both) == ["HC", "FMS"]  # the study's order, whatever the data order
    assert style.palette(["FMS"])["FMS"] == both["FMS"]  # FMS alone keeps its colour
    # without a study order: control-like names first, so HC/FMS get the same colours everywhere
    assert GroupStyle().arrange(["FMS", "HC"]) == ["HC", "FMS"]
    assert GroupStyle().palette(["FMS", "HC"]) == GroupStyle().palette(["HC", "FMS"])
    fixed = group_style_from_config({"groups": {"order": ["HC", "FMS"], "colors": {"FMS": "#000"}}})
    assert fixed.palette(["HC", "FMS"])["FMS"] == "#000"
    with pytest.raises(InputError, match="groups"):
        group_style_from_config({"groups": "HC"})


def test_time_course_colours_follow_the_order_given() -> None:
    df = pd.DataFrame(
        {
            "group": ["FMS"] * 4 + ["HC"] * 4,
            "mouse_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "day": [0, 1] * 4,
            "threshold_g": [1.0, 0.5, 1.1, 0.6, 1.0, 1.0, 0.9, 1.0],
        }
    )
    colours = {}
    for data in (df, df.iloc[::-1]):
        fig = time_course(data, value="threshold_g")
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["HC (2 mice)", "FMS (2 mice)"]  # n in the legend, control first
        assert "mean ± SEM" in ax.get_legend().get_title().get_text()
        assert ax.get_ylabel() == "50% withdrawal threshold (g)"
        colours[len(colours)] = [
            matplotlib.colors.to_hex(h.lines[0].get_color())
            for h in ax.get_legend_handles_labels()[0]  # ErrorbarContainers
        ]
        plt.close(fig)
    assert colours[0] == colours[1] == ["#0072b2", "#d55e00"]


def _de() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    genes = [f"g{i}" for i in range(n)]
    lfc = rng.normal(0, 1, n)
    padj = np.clip(rng.uniform(0, 1, n) ** 3, 1e-12, 1)
    df = pd.DataFrame({"gene": genes, "log2FoldChange": lfc, "padj": padj})
    # a channel with a small fold change but the smallest p (the Scn11a case of issue 20)
    df.loc[0, ["gene", "log2FoldChange", "padj"]] = ["Scn11a", 0.91, 1.6e-8]
    df.loc[1, ["gene", "log2FoldChange", "padj"]] = ["Kcnq2", -0.3, 0.2]  # channel, not significant
    return df


def test_volcano_labels_channels_by_significance_not_fold_change() -> None:
    fig = volcano(_de(), highlight=["Scn11a", "Kcnq2"], n_labels=12)
    src = source_data(fig.axes[0]).set_index("gene")
    assert src.loc["Scn11a", "category"] == "up"  # padj decides, |LFC| 0.91 < 1 does not hide it
    assert bool(src.loc["Scn11a", "labelled"])  # the significant channel is named first
    assert not bool(src.loc["Kcnq2", "labelled"])  # a non-significant one is not
    # the labelled genes are the most significant ones (rank), the channel ahead of the rest
    labelled = src[src["labelled"]]
    assert labelled["padj"].max() <= src[src["category"] != "ns"]["padj"].nsmallest(12).max()
    fig.canvas.draw()
    assert not label_boxes_overlap(fig.axes[0])
    plt.close(fig)


def test_module_figure_saved_as_pdf_with_truetype_and_png(tmp_path) -> None:
    from fmslab.behaviour.plotting import plot_time_course

    md = pd.DataFrame(
        {
            "mouse_id": ["a", "a", "b", "b"],
            "day": [0, 3, 0, 3],
            "assay": ["vonfrey"] * 4,
            "value": [1.0, 0.6, 1.2, 0.5],
            "group": ["T1", "T1", "T2", "T2"],
        }
    )
    fig = plot_time_course(md)
    pdf, png = save_module_figure(fig, tmp_path / "time_course.pdf")
    raw = pdf.read_bytes()
    assert b"/FontFile2" in raw and b"/Type3" not in raw
    assert png.suffix == ".png" and png.stat().st_size > 1000
    assert fig.axes[0].get_ylabel() == "50% withdrawal threshold (g)"


def test_generic_value_column_is_named_by_its_measure() -> None:
    # behaviour tables hold readings in 'value' with the quantity in 'measure' and 'unit'
    df = pd.DataFrame(
        {
            "group": ["HC", "HC", "FMS", "FMS"],
            "mouse_id": ["a", "a", "b", "b"],
            "day": [0, 1, 0, 1],
            "value": [1.0, 0.9, 1.0, 0.4],
            "measure": ["latency_s"] * 4,
            "unit": ["s"] * 4,
        }
    )
    fig = time_course(df, value="value")
    assert fig.axes[0].get_ylabel() == "Withdrawal latency (s)"
    plt.close(fig)


def test_spec_links_the_statistic_and_the_channels(tmp_path) -> None:
    from fmslab.figures.compose import build_figure, load_spec

    rng = np.random.default_rng(2)
    cells = pd.DataFrame(
        {
            "group": ["HC"] * 8 + ["FMS"] * 8,
            "donor_id": [f"D{i // 4}" for i in range(16)],
            "mouse_id": [f"M{i // 2}" for i in range(16)],
            "rheobase_pA": rng.normal(80, 10, 16),
        }
    )
    cells.to_csv(tmp_path / "cells.csv", index=False)
    pd.DataFrame(
        [{"outcome": "rheobase_pA", "model": "lmm", "primary": True, "estimate": -49.2,
          "ci_low": -86.1, "ci_high": -12.3, "p": 0.0213}]
    ).to_csv(tmp_path / "stats.csv", index=False)  # fmt: skip
    _de().to_csv(tmp_path / "de.csv", index=False)
    pd.DataFrame({"gene": ["Scn11a"], "symbol": ["Nav1.9 (Scn11a)"]}).to_csv(
        tmp_path / "channels.csv", index=False
    )
    (tmp_path / "f.yaml").write_text(
        "figures:\n  - name: f\n    layout: [ab]\n    panels:\n"
        "      a: {type: superplot, table: cells.csv, value: rheobase_pA, stats: stats.csv}\n"
        "      b: {type: volcano, table: de.csv, highlight_table: channels.csv}\n"
    )
    spec = load_spec(tmp_path / "f.yaml")

    def load(name: str) -> pd.DataFrame:
        return pd.read_csv(tmp_path / name)

    fig, sources = build_figure(spec["figures"][0], load)
    # written by hand from the stats row: estimate and interval to the interval's digits
    assert fig.axes[0].get_xlabel() == "mixed model: -49 pA [-86, -12], p = 0.021"
    b = sources["b"].set_index("gene")
    assert bool(b.loc["Scn11a", "highlight"]) and bool(b.loc["Scn11a", "labelled"])
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert "Nav1.9 (Scn11a)" in texts
    plt.close(fig)
