"""Per-cell figures: a failed figure is a warning row and never costs the file's tables;
decimated traces draw what the full trace draws."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd

from fmslab.ephys.batch import analyze_paths
from fmslab.ephys.io import open_recording
from fmslab.ephys.plots import CELL_FIGSIZE, envelope, plot_cell


def test_failed_figure_is_a_warning_and_tables_stay(abf_dir, tmp_path, monkeypatch):
    import fmslab.ephys.raster as raster

    for name in ("File_axon_5.abf", "171116sh_0018.abf"):
        shutil.copy(abf_dir / name, tmp_path / name)

    def broken(path, name, *a, **k):
        if name == "File_axon_5.abf":
            raise IndexError("index 0 is out of bounds")
        return real(path, name, *a, **k)

    real = raster.cell_png
    monkeypatch.setattr(raster, "cell_png", broken)
    out = tmp_path / "out"
    res = analyze_paths(
        sorted(tmp_path.glob("*.abf")), out, n_jobs=1, progress=False, use_cache=False
    )
    assert res.errors.empty
    assert sorted(res.cells["file"]) == ["171116sh_0018.abf", "File_axon_5.abf"]
    assert (res.sweeps["file"] == "File_axon_5.abf").sum() == 9
    w = pd.read_csv(out / "warnings.csv")
    assert list(w.columns) == ["file", "figure", "reason"]
    assert w.to_dict("records") == [
        {
            "file": "File_axon_5.abf",
            "figure": "cell summary",
            "reason": "IndexError: index 0 is out of bounds",
        }
    ]
    assert (out / "figures" / "171116sh_0018.png").is_file()
    assert not (out / "figures" / "File_axon_5.png").exists()


def test_figure_of_a_cell_without_spikes(abf_dir):
    """A sweep with no rising run over 5 V/s (no spike at all) draws; it used to raise
    IndexError (empty float index arrays)."""
    from fmslab.ephys.analysis import analyze_file_tables

    path = abf_dir / "2020_03_02_0000.abf"  # passive cell: no AP in any sweep
    t = analyze_file_tables(path)
    assert t["spikes"].empty
    sw = open_recording(path).sweep(0)
    fig = plot_cell(path.name, [("sweep 0", sw)], t["sweeps"], t["cells"].iloc[0].to_dict())
    assert len(fig.axes) == 3


def test_envelope_keeps_every_extreme(abf_dir):
    """The min/max envelope of a 60 000-sample sweep with 7 APs: 4 000 points, each bin's minimum
    and maximum kept, so the drawn line spans exactly the same values per pixel column."""
    sw = open_recording(abf_dir / "171116sh_0018.abf").sweep(12)
    t, v = envelope(sw.t_s, sw.v_mV, 2000)
    assert v.size <= 4002
    assert v.max() == sw.v_mV.max() and v.min() == sw.v_mV.min()
    k = sw.v_mV.size // 2000
    blocks = sw.v_mV[: k * 2000].reshape(2000, k)
    np.testing.assert_array_equal(np.maximum(v[0:4000:2], v[1:4000:2]), blocks.max(axis=1))
    np.testing.assert_array_equal(np.minimum(v[0:4000:2], v[1:4000:2]), blocks.min(axis=1))
    assert np.all(np.diff(t) >= 0)


def test_reused_canvas_draws_the_same_figure(abf_dir):
    """Drawing a second cell on the cleared Figure of the first gives the image a fresh Figure
    gives (same pixels)."""
    import io

    from matplotlib.figure import Figure
    from PIL import Image

    from fmslab.ephys.analysis import analyze_file_tables

    def png(fig):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=50)
        return np.asarray(Image.open(buf))

    cells = []
    for name in ("File_axon_5.abf", "171116sh_0018.abf"):
        t = analyze_file_tables(abf_dir / name)
        sw = open_recording(abf_dir / name).sweep(int(t["sweeps"]["n_spikes_total"].idxmax()))
        cells.append((name, [("x", sw)], t["sweeps"], t["cells"].iloc[0].to_dict(), t["spikes"]))
    canvas = Figure(figsize=CELL_FIGSIZE)  # as the batch worker's canvas
    n, e, s, c, sp = cells[0]
    plot_cell(n, e, s, c, fig=canvas, spikes=sp)
    n, e, s, c, sp = cells[1]
    reused = png(plot_cell(n, e, s, c, fig=canvas, spikes=sp))
    fresh = png(plot_cell(n, e, s, c, spikes=sp))
    np.testing.assert_array_equal(reused, fresh)
