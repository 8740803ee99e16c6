"""The per-cell PNG drawn on a pixel raster: its trace panel colours the pixels the full trace
would colour (checked against every sample mapped to pixels), ticks are round numbers, the F-I
points sit where the sweep table puts them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fmslab.ephys.analysis import analyze_file_tables
from fmslab.ephys.io import open_recording
from fmslab.ephys.raster import COLORS, PANELS_PX, Panel, cell_png, data_limits, nice_ticks


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        # span 3 in <= 4 steps: raw step 0.75 -> the next round step is 1
        (0.0, 3.0, [0, 1, 2, 3]),
        # -75..65 mV: raw step 35 -> 50
        (-75.0, 65.0, [-50, 0, 50]),
        # 0..1 s: raw 0.25 -> 0.25 itself is a round step
        (0.0, 1.0, [0, 0.25, 0.5, 0.75, 1.0]),
        # -12..310 pA: raw 80.5 -> 100
        (-12.0, 310.0, [0, 100, 200, 300]),
    ],
)
def test_nice_ticks(lo, hi, expected):
    np.testing.assert_allclose(nice_ticks(lo, hi), expected, atol=1e-12)


def _colored(img: np.ndarray, box, rgb) -> np.ndarray:
    """Mask of the pixels inside ``box`` (without its spines) that have colour ``rgb``."""
    left, top, right, bottom = box
    sub = img[top:bottom, left + 1 : right + 1]
    return np.all(sub == np.array(rgb, dtype=np.uint8), axis=-1)


def test_trace_panel_colours_what_the_full_trace_colours(abf_dir, tmp_path):
    """171116sh_0018 sweep 12 (60 000 samples, 7 APs) drawn alone: in every pixel column the
    trace's colour spans the rows between the lowest and highest sample falling in that column
    (every sample mapped with the panel's own scale), within one column of the bin edges and
    one pixel of rounding; the thresholds' black dots may cover some trace pixels."""
    path = abf_dir / "171116sh_0018.abf"
    t = analyze_file_tables(path)
    sw = open_recording(path).sweep(12)
    png = tmp_path / "c.png"
    cell_png(
        png, path.name, [("sweep 12", sw)], t["sweeps"], t["cells"].iloc[0].to_dict(), t["spikes"]
    )
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape == (396, 1320, 3)
    box = PANELS_PX[0]
    p = Panel(box, (0.0, sw.v_mV.size * sw.dt_s), data_limits(sw.v_mV))
    cols = np.rint(p.x_px(sw.t_s)).astype(int) - (box[0] + 1)
    rows = np.rint(p.y_px(sw.v_mV)).astype(int) - box[1]
    n_cols = box[2] - box[0]
    ref_lo = np.full(n_cols, 10**6)
    ref_hi = np.full(n_cols, -1)
    ok = (cols >= 0) & (cols < n_cols)
    np.minimum.at(ref_lo, cols[ok], rows[ok])
    np.maximum.at(ref_hi, cols[ok], rows[ok])
    drawn = _colored(img, box, COLORS[0]) | _colored(img, box, (0, 0, 0))
    checked = 0
    for c in range(1, n_cols - 1):
        if ref_hi[c] < 0:
            continue
        near = drawn[:, c - 1 : c + 2].any(axis=1)
        r = np.flatnonzero(near)
        assert r.size, c
        # covers the column's full extent (to one pixel)
        assert r.min() <= ref_lo[c] + 1 and r.max() >= ref_hi[c] - 1, (c, r.min(), r.max())
        # and colours nothing beyond the neighbouring columns' samples
        own = np.flatnonzero(drawn[:, c])
        if own.size:
            lo_n = ref_lo[max(0, c - 2) : c + 3].min()
            hi_n = ref_hi[max(0, c - 2) : c + 3].max()
            assert own.min() >= lo_n - 2 and own.max() <= hi_n + 2, c
        checked += 1
    assert checked > 0.95 * n_cols


def test_fi_points_where_the_table_puts_them(abf_dir, tmp_path):
    """Each F-I square is centred on (step current, mean firing rate) of the sweep table."""
    path = abf_dir / "171116sh_0018.abf"
    t = analyze_file_tables(path)
    sw = open_recording(path).sweep(12)
    png = tmp_path / "c.png"
    cell_png(png, path.name, [("x", sw)], t["sweeps"], t["cells"].iloc[0].to_dict(), t["spikes"])
    img = np.asarray(Image.open(png).convert("RGB"))
    s = t["sweeps"][t["sweeps"]["stim_kind"] == "step"].dropna(subset=["firing_rate_hz"])
    g = s.groupby("stim_pA")["firing_rate_hz"].mean()
    x, m = g.index.to_numpy(float), g.to_numpy(float)
    p = Panel(PANELS_PX[2], data_limits(x), data_limits(m))
    for cx, cy in zip(np.rint(p.x_px(x)).astype(int), np.rint(p.y_px(m)).astype(int), strict=True):
        patch = img[cy - 1 : cy + 2, cx - 1 : cx + 2]
        assert np.all(patch == np.array(COLORS[0], dtype=np.uint8)), (cx, cy)
    # 16 distinct step currents in this file; a blank panel would fail above
    assert len(g) >= 10


def test_mean_sem_by_equals_pandas():
    """The F-I panel's per-current mean and SEM equal pandas' groupby mean and sem (ddof 1),
    with 0 for a current measured once."""
    import pandas as pd

    from fmslab.ephys.raster import mean_sem_by

    rng = np.random.default_rng(3)
    x = rng.choice([-50.0, 0.0, 25.0, 50.0, 100.0], size=40)
    x[:1] = 300.0  # measured once
    y = rng.normal(10, 4, size=40)
    ux, m, s = mean_sem_by(x, y)
    g = pd.DataFrame({"x": x, "y": y}).groupby("x")["y"].agg(["mean", "sem"])
    np.testing.assert_array_equal(ux, g.index.to_numpy())
    np.testing.assert_allclose(m, g["mean"], rtol=1e-12)
    np.testing.assert_allclose(s, g["sem"].fillna(0.0), rtol=1e-12)
    assert s[-1] == 0.0


def test_png_writer_gives_back_the_raster_pixels(abf_dir, tmp_path):
    """The cell figure of 171116sh_0018 written by fmslab's PNG writer and read back by Pillow
    (which checks every chunk's CRC and the zlib stream) has exactly the pixels of the raster
    and of the same raster saved by Pillow's own encoder; a flipped byte of the data is caught."""
    import io

    from fmslab.ephys.raster import png_bytes

    path = abf_dir / "171116sh_0018.abf"
    t = analyze_file_tables(path)
    sw = open_recording(path).sweep(12)
    r = cell_png(
        tmp_path / "c.png", path.name, [("s", sw)], t["sweeps"], t["cells"].iloc[0].to_dict()
    )
    ours = np.asarray(Image.open(tmp_path / "c.png").convert("RGB"))
    pil = io.BytesIO()
    r.image.save(pil, format="PNG")
    np.testing.assert_array_equal(ours, np.asarray(r.image))
    np.testing.assert_array_equal(ours, np.asarray(Image.open(pil).convert("RGB")))
    data = bytearray(png_bytes(r.image))
    data[60] ^= 0xFF  # inside the IDAT chunk (after the 8-byte signature and 25-byte IHDR)
    with pytest.raises((SyntaxError, OSError, ValueError)):
        Image.open(io.BytesIO(bytes(data))).load()
