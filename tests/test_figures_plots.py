"""Plot functions: source data equals hand-computed numbers; style is scoped; CLI builds figures."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from fmslab.cli import app  # noqa: E402
from fmslab.errors import InputError  # noqa: E402
from fmslab.figures import (  # noqa: E402
    OKABE_ITO,
    estimation_plot,
    example_traces,
    fi_curve,
    figure_size,
    heatmap,
    house_style,
    source_data,
    superplot,
    time_course,
    volcano,
)


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for g in ("HC", "FMS"):
        for d in range(3):
            for m in range(2):
                for c in range(4):
                    rows.append(
                        (g, f"{g}{d}", f"{g}{d}m{m}", f"{g}{d}m{m}c{c}", rng.normal(50, 10))
                    )
    return pd.DataFrame(rows, columns=["group", "donor_id", "mouse_id", "cell_id", "rheobase_pA"])


def test_house_style_is_scoped_and_sized() -> None:
    before = dict(mpl.rcParams)
    with house_style():
        assert mpl.rcParams["pdf.fonttype"] == 42 and mpl.rcParams["svg.fonttype"] == "none"
        assert mpl.rcParams["axes.prop_cycle"].by_key()["color"] == OKABE_ITO
    assert dict(mpl.rcParams) == before  # nothing leaks out of the context
    assert figure_size("single", 60) == pytest.approx((85 / 25.4, 60 / 25.4))
    assert figure_size("double")[0] == pytest.approx(180 / 25.4)
    with pytest.raises(ValueError):
        figure_size("triple")


def test_superplot_source_data_holds_the_means(cells: pd.DataFrame) -> None:
    fig = superplot(cells, value="rheobase_pA")
    src = source_data(fig.axes[0])
    plt.close(fig)
    mice = src[src.level == "mouse_mean"].set_index("mouse_id")["rheobase_pA"]
    pd.testing.assert_series_equal(
        mice.sort_index(), cells.groupby("mouse_id")["rheobase_pA"].mean(), check_names=False
    )
    top = src[src.level.str.startswith("group_mean")].set_index("group")["rheobase_pA"]
    by_hand = (
        cells.groupby(["group", "donor_id", "mouse_id"])
        .rheobase_pA.mean()
        .groupby(["group", "donor_id"])
        .mean()
    )
    assert top["FMS"] == pytest.approx(by_hand["FMS"].mean(), rel=1e-12)
    assert (src.level == "cell").sum() == len(cells)


def test_estimation_plot_difference_is_difference_of_donor_means(cells: pd.DataFrame) -> None:
    fig = estimation_plot(cells, value="rheobase_pA", reference="HC", n_resamples=300)
    src = source_data(fig.axes[0])
    plt.close(fig)
    row = src[src.level == "mean_difference"].iloc[0]
    dm = (
        cells.groupby(["group", "donor_id", "mouse_id"])
        .rheobase_pA.mean()
        .groupby(["group", "donor_id"])
        .mean()
    )
    assert row["rheobase_pA"] == pytest.approx(dm["FMS"].mean() - dm["HC"].mean(), rel=1e-12)
    assert row["ci_low"] < row["rheobase_pA"] < row["ci_high"]


def test_time_course_and_fi_curve_mean_and_sem() -> None:
    df = pd.DataFrame(
        {
            "group": ["A"] * 6,
            "mouse_id": ["m1", "m1", "m2", "m2", "m3", "m3"],
            "day": [0, 1] * 3,
            "threshold_g": [1.0, 0.5, 2.0, 1.5, 3.0, 1.0],
        }
    )
    fig = time_course(df, value="threshold_g")
    src = source_data(fig.axes[0]).set_index("day")
    plt.close(fig)
    assert src.loc[1, "mean_threshold_g"] == pytest.approx(1.0)
    assert src.loc[1, "sem_threshold_g"] == pytest.approx(
        np.std([0.5, 1.5, 1.0], ddof=1) / np.sqrt(3)
    )
    fi = pd.DataFrame(
        {"group": "A", "cell_id": ["c1", "c2"], "stim_pA": [100, 100], "firing_rate_hz": [4.0, 6.0]}
    )
    fig, ax = plt.subplots()
    assert fi_curve(fi, ax=ax) is fig  # draws into the given Axes, returns its Figure
    assert source_data(ax)["mean_firing_rate_hz"].iloc[0] == pytest.approx(5.0)
    plt.close(fig)


def test_volcano_categories_and_heatmap_and_traces() -> None:
    de = pd.DataFrame(
        {
            "gene": list("abcd"),
            "log2FoldChange": [2.0, -3.0, 0.2, 2.0],
            "padj": [0.01, 0.001, 0.01, 0.5],
        }
    )
    fig = volcano(de)
    cats = source_data(fig.axes[0]).set_index("gene")["category"].to_dict()
    plt.close(fig)
    # by default the adjusted p alone decides (sign gives the direction): c is up at lfc 0.2
    assert cats == {"a": "up", "b": "down", "c": "up", "d": "ns"}
    fig = volcano(de, lfc_threshold=1.0)
    cats = source_data(fig.axes[0]).set_index("gene")["category"].to_dict()
    plt.close(fig)
    assert cats == {"a": "up", "b": "down", "c": "ns", "d": "ns"}
    m = pd.DataFrame([[1.0, -2.0], [0.5, 3.0]], index=["Scn9a", "Scn10a"], columns=["s1", "s2"])
    fig = heatmap(m, center=0)
    assert source_data(fig.axes[0]).shape == (2, 3)
    plt.close(fig)
    tr = pd.DataFrame({"sweep": [0, 0, 1, 1], "time_ms": [0, 1, 0, 1], "vm_mv": [-65, -60, -65, 0]})
    fig = example_traces(tr, scalebar=(0.5, 10))
    assert len(source_data(fig.axes[0])) == 4
    plt.close(fig)


def test_missing_column_is_a_clear_error(cells: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"superplot: column\(s\) \['nope'\]"):
        superplot(cells, value="nope")


def test_figures_build_cli_writes_all_outputs(tmp_path: Path, cells: pd.DataFrame) -> None:
    cells.to_csv(tmp_path / "cells.csv", index=False)
    spec = """figures:
  - name: fig1
    width: double
    height_mm: 50
    layout: [ab]
    panels:
      a: {type: superplot, table: cells.csv, value: rheobase_pA}
      b: {type: estimation, table: cells.csv, value: rheobase_pA, reference: HC, n_resamples: 200}
"""
    (tmp_path / "figures.yaml").write_text(spec)
    res = CliRunner().invoke(app, ["figures", "build", str(tmp_path / "figures.yaml")])
    assert res.exit_code == 0, res.output
    out = tmp_path / "figures"
    for name in (
        "fig1.pdf",
        "fig1.svg",
        "fig1.png",
        "fig1_panel_a.csv",
        "fig1_panel_b.csv",
        "provenance.json",
    ):
        assert (out / name).is_file(), name
    panel_a = pd.read_csv(out / "fig1_panel_a.csv")
    assert (panel_a.level == "cell").sum() == len(cells)
    prov = json.loads((out / "provenance.json").read_text())
    assert str((tmp_path / "cells.csv").resolve()) in prov["inputs_sha256"]


def test_bad_spec_names_file_and_panel(tmp_path: Path) -> None:
    spec = tmp_path / "f.yaml"
    spec.write_text("figures:\n  - name: x\n    panels:\n      a: {type: pie, table: t.csv}\n")
    res = CliRunner().invoke(app, ["figures", "build", str(spec)])
    assert isinstance(res.exception, InputError)
    assert "panel 'a'" in str(res.exception) and str(spec) in str(res.exception)


def test_figures_build_reads_catalog_tables(sample_study: Path, tmp_path: Path) -> None:
    from fmslab.catalog import open_session
    from fmslab.study.catalog_study import catalog_study

    db = catalog_study(sample_study, export=False).db_path
    beh = pd.DataFrame(
        {
            "group": ["HC", "HC", "FMS", "FMS"],
            "mouse_id": ["M03", "M03", "M01", "M01"],
            "day": [0, 1, 0, 1],
            "assay": ["von_frey"] * 4,
            "measure": ["threshold_g"] * 4,
            "value": [1.0, 1.1, 1.0, 0.5],
        }
    )
    with open_session(db, command="test", parameters={}) as cat:
        cat.write_table("behaviour_mouse_day", beh)
    spec = tmp_path / "f.yaml"
    spec.write_text(
        "figures:\n  - name: b\n    panels:\n"
        "      a: {type: time_course, table: behaviour_mouse_day, x: day, value: value}\n"
    )
    res = CliRunner().invoke(app, ["figures", "build", str(spec), "--study", str(sample_study)])
    assert res.exit_code == 0, res.output
    panel = pd.read_csv(tmp_path / "figures" / "b_panel_a.csv").set_index(["group", "day"])
    assert panel.loc[("FMS", 1), "mean_value"] == pytest.approx(0.5)
    prov = json.loads((tmp_path / "figures" / "provenance.json").read_text())
    assert prov["catalog_tables"] == ["behaviour_mouse_day"]
