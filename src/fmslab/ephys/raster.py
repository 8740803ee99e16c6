"""The per-cell summary PNG drawn directly on a pixel raster (Pillow), without matplotlib.

The figure holds what :func:`fmslab.ephys.plots.plot_cell` draws (example sweeps with their spike
thresholds, the phase plot of the first, the F-I curve, the cell's summary line as title), at
1320 x 396 pixels (12 x 3.6 in at 110 dpi), written as PNG by :func:`png_bytes`. Traces are
min/max envelopes at the panel's pixel width (:func:`fmslab.ephys.plots.envelope` with one bin
per pixel column), so every pixel the full trace would colour is coloured and nothing else; the
phase portrait is drawn through its distinct pixels only. Drawing and PNG encoding take a few
milliseconds per cell where matplotlib's figure took about 0.3 s (tick and text layout);
``--pdf`` still gives matplotlib's vector figure.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from fmslab.ephys.io import Sweep

#: figure size in pixels (the matplotlib figure's 12 x 3.6 in at 110 dpi)
WIDTH_PX, HEIGHT_PX = 1320, 396
#: panel boxes (left, top, right, bottom) in pixels: trace panel twice as wide as the others
PANELS_PX = ((72, 62, 640, 336), (720, 62, 1000, 336), (1080, 62, 1306, 336))
#: matplotlib's default colour cycle (tab10), as RGB
COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189))
BLACK, GREY, WHITE = (0, 0, 0), (90, 90, 90), (255, 255, 255)


@functools.lru_cache(maxsize=4)
def font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (the font matplotlib ships) at ``size_px``; Pillow's own font without it."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        ttf = Path(list(spec.submodule_search_locations)[0]) / "mpl-data/fonts/ttf/DejaVuSans.ttf"
        if ttf.is_file():
            return ImageFont.truetype(str(ttf), size_px)
    return ImageFont.load_default(size_px)


@functools.lru_cache(maxsize=32)
def _vertical_tile(s: str, size_px: int) -> Image.Image:
    """The mask of ``s`` rotated 90 degrees anticlockwise (axis labels repeat in every figure:
    rendered once per process). Pasting never modifies it."""
    f = font(size_px)
    left, top, right, bottom = f.getbbox(s)
    tile = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(tile).text((1 - left, 1 - top), s, fill=255, font=f)
    return tile.rotate(90, expand=True)


def nice_ticks(lo: float, hi: float, max_ticks: int = 5) -> np.ndarray:
    """At most ``max_ticks`` round tick positions (steps of 1, 2, 2.5 or 5 x 10^k) in [lo, hi]."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return np.array([lo]) if np.isfinite(lo) else np.array([])
    raw = (hi - lo) / max(1, max_ticks - 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = first + step * np.arange(int(math.floor((hi - first) / step + 1e-9)) + 1)
    return ticks[ticks <= hi + 1e-9 * step]


def tick_labels(ticks: np.ndarray) -> list[str]:
    """Each tick with as many decimals as the tick spacing needs (``-60``, ``0.5``, ``1.25``)."""
    step = float(np.min(np.diff(ticks))) if ticks.size > 1 else 1.0
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * max(1.0, abs(step)):
        decimals += 1
    out = []
    for x in ticks.tolist():
        text = f"{x:.{decimals}f}"
        out.append("0" if float(text) == 0 else text.replace("-", "\u2212"))
    return out


def data_limits(values: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    """Range of the finite ``values`` widened by ``pad`` of its span each side (a flat or empty
    series gets a span of 1)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo if hi > lo else 1.0
    return lo - pad * span, hi + pad * span


@dataclass(frozen=True)
class Panel:
    """A data rectangle: pixel box (left, top, right, bottom) and the data limits it shows."""

    box: tuple[int, int, int, int]
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def x_px(self, x: np.ndarray) -> np.ndarray:
        left, _, right, _ = self.box
        return left + (np.asarray(x, float) - self.xlim[0]) / np.ptp(self.xlim) * (right - left)

    def y_px(self, y: np.ndarray) -> np.ndarray:
        _, top, _, bottom = self.box
        return bottom - (np.asarray(y, float) - self.ylim[0]) / np.ptp(self.ylim) * (bottom - top)


class Raster:
    """One RGB image with the few drawing operations the cell figure needs."""

    def __init__(self, width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> None:
        self.image = Image.new("RGB", (width_px, height_px), WHITE)
        self.draw = ImageDraw.Draw(self.image)

    def text(self, xy, s: str, size_px: int = 11, anchor: str = "la", fill=BLACK) -> None:
        self.draw.text(xy, s, fill=fill, font=font(size_px), anchor=anchor)

    def vertical_text(self, xy, s: str, size_px: int = 11, fill=BLACK) -> None:
        """``s`` rotated 90 degrees anticlockwise, centred on ``xy``."""
        tile = _vertical_tile(s, size_px)
        x = int(round(xy[0] - tile.width / 2))
        y = int(round(xy[1] - tile.height / 2))
        self.image.paste(Image.new("RGB", tile.size, fill), (x, y), tile)

    def axes(self, p: Panel, xlabel: str, ylabel: str) -> None:
        """Left and bottom spines, outward ticks with labels, axis labels."""
        left, top, right, bottom = p.box
        self.draw.line([(left, top), (left, bottom), (right, bottom)], fill=BLACK, width=1)
        xt = nice_ticks(*p.xlim)
        for label, px in zip(tick_labels(xt), p.x_px(xt), strict=True):
            self.draw.line([(px, bottom), (px, bottom + 4)], fill=BLACK)
            self.text((px, bottom + 6), label, anchor="ma")
        yt = nice_ticks(*p.ylim)
        for label, py in zip(tick_labels(yt), p.y_px(yt), strict=True):
            self.draw.line([(left - 4, py), (left, py)], fill=BLACK)
            self.text((left - 6, py), label, anchor="rm")
        self.text(((left + right) / 2, bottom + 24), xlabel, size_px=12, anchor="ma")
        self.vertical_text((left - 52, (top + bottom) / 2), ylabel, size_px=12)

    def polyline(self, p: Panel, x: np.ndarray, y: np.ndarray, fill, width: int = 1) -> None:
        """The line through the finite points, each run of points on one pixel drawn once."""
        px, py = np.rint(p.x_px(x)), np.rint(p.y_px(y))
        ok = np.isfinite(px) & np.isfinite(py)
        px, py = px[ok].astype(int), py[ok].astype(int)
        if px.size == 0:
            return
        keep = np.r_[True, (np.diff(px) != 0) | (np.diff(py) != 0)]
        pts = np.column_stack([px[keep], py[keep]]).ravel().tolist()
        if len(pts) == 2:
            self.draw.point(pts, fill=fill)
        else:
            self.draw.line(pts, fill=fill, width=width)

    def markers(self, p: Panel, x, y, fill, r_px: float = 1.5, square: bool = False) -> None:
        for cx, cy in zip(p.x_px(x), p.y_px(y), strict=True):
            if np.isfinite(cx) and np.isfinite(cy):
                box = (cx - r_px, cy - r_px, cx + r_px, cy + r_px)
                (self.draw.rectangle if square else self.draw.ellipse)(box, fill=fill)

    def save_png(self, path: str | Path) -> None:
        """The image as a PNG file (:func:`png_bytes`)."""
        Path(path).write_bytes(png_bytes(self.image))


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_bytes(image: Image.Image) -> bytes:
    """An RGB image as PNG: 8-bit truecolour, no interlace, every scanline unfiltered (filter type
    0) and zlib level 1, no metadata. Pillow's encoder took three times as long for the cell
    figure, most of it outside deflate (as long with compression off); the file is ~35 kB
    instead of ~29 kB (mostly white, lines and text) and a PNG reader gives the same pixels."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    w, h = rgb.size
    rows = np.zeros((h, 3 * w + 1), dtype=np.uint8)  # column 0: the filter type of each row
    # the raw bytes, not np.asarray(image) and rows.tobytes(): two copies of the raster fewer
    rows[:, 1:] = np.frombuffer(rgb.tobytes(), dtype=np.uint8).reshape(h, 3 * w)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8 bits, RGB, deflate, no interlace
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows.data, 1)),
            _png_chunk(b"IEND", b""),
        )
    )


def _trace_panel(r: Raster, box, examples, thresholds) -> None:
    if not examples:
        p = Panel(box, (0.0, 1.0), (0.0, 1.0))
        r.axes(p, "time (s)", "Vm (mV)")
        return
    t_end = max(sw.v_mV.size * sw.dt_s for _, sw in examples)
    vmin = min(float(np.nanmin(sw.v_mV)) for _, sw in examples)
    vmax = max(float(np.nanmax(sw.v_mV)) for _, sw in examples)
    p = Panel(box, (0.0, t_end), data_limits(np.array([vmin, vmax])))
    r.axes(p, "time (s)", "Vm (mV)")
    from fmslab.ephys.plots import envelope, threshold_indices

    n_bins = box[2] - box[0]  # one min/max pair per pixel column of the panel
    x_legend = box[0] + 4
    for k, (label, sw) in enumerate(examples):
        color = COLORS[k % len(COLORS)]
        r.polyline(p, *envelope(sw.t_s, sw.v_mV, n_bins), fill=color)
        idx = threshold_indices(sw, thresholds)
        r.markers(p, idx * sw.dt_s, sw.v_mV[idx], BLACK, r_px=1.5)
        y_legend = box[1] - 14
        r.draw.line([(x_legend, y_legend), (x_legend + 18, y_legend)], fill=color, width=2)
        r.text((x_legend + 22, y_legend), label, size_px=10, anchor="lm")
        x_legend += 30 + int(font(10).getlength(label))


def _phase_panel(r: Raster, box, sw: Sweep | None) -> None:
    from fmslab.ephys.plots import phase_points

    x, y = phase_points(sw) if sw is not None else (np.array([]), np.array([]))
    p = Panel(box, data_limits(x), data_limits(y))
    r.axes(p, "Vm (mV)", "dV/dt (V/s)")
    r.polyline(p, x, y, fill=COLORS[0])


def mean_sem_by(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``x`` (sorted), the mean of ``y`` at each and its standard error (SD with
    ddof 1 / sqrt(n); 0 where there is one value)."""
    ux, inv = np.unique(x, return_inverse=True)
    n = np.bincount(inv, minlength=ux.size).astype(float)
    mean = np.bincount(inv, weights=y, minlength=ux.size) / n
    ss = np.bincount(inv, weights=(y - mean[inv]) ** 2, minlength=ux.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        sem = np.where(n > 1, np.sqrt(ss / np.maximum(n - 1, 1)) / np.sqrt(n), 0.0)
    return ux, mean, sem


def _fi_panel(r: Raster, box, sweeps: pd.DataFrame) -> None:
    kinds = sweeps["stim_kind"].to_numpy()
    kind = "step" if (kinds == "step").any() else "ramp"
    cur = sweeps["stim_pA"].to_numpy(float)[kinds == kind]
    rate = sweeps["firing_rate_hz"].to_numpy(float)[kinds == kind]
    ok = np.isfinite(cur) & np.isfinite(rate)
    xlabel = "Step current (pA)" if kind == "step" else "Ramp end current (pA)"
    if not ok.any():
        p = Panel(box, (0.0, 1.0), (0.0, 1.0))
        r.axes(p, "Injected current (pA)", "Firing rate (Hz)")
        r.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), "no step or ramp sweeps", 11, "mm")
        return
    x, m, sem = mean_sem_by(cur[ok], rate[ok])
    p = Panel(box, data_limits(x), data_limits(np.r_[m - sem, m + sem]))
    r.axes(p, xlabel, "Firing rate (Hz)")
    for xi, lo, hi in zip(p.x_px(x), p.y_px(m - sem), p.y_px(m + sem), strict=True):
        if hi != lo:
            r.draw.line([(xi, lo), (xi, hi)], fill=COLORS[0])
    r.polyline(p, x, m, fill=COLORS[0])
    r.markers(p, x, m, COLORS[0], r_px=2.5, square=True)


def cell_png(
    path: str | Path,
    name: str,
    examples: list[tuple[str, Sweep]],
    sweeps: pd.DataFrame,
    cell: dict,
    spikes: pd.DataFrame | None = None,
) -> Raster:
    """Draw one cell's summary figure and write it to ``path`` (a PNG); returns the raster.

    ``examples``: (label, sweep) pairs to draw, the first also as phase plot; ``sweeps``: the
    file's sweep table (F-I curve); ``cell``: its cell row (title); ``spikes``: the file's spike
    table (``sweep``, ``threshold_t_s``) to mark thresholds (None: detected here).
    """
    from fmslab.ephys.plots import cell_title, thresholds_by_sweep

    r = Raster()
    r.text((WIDTH_PX / 2, 6), cell_title(name, cell), size_px=12, anchor="ma")
    _trace_panel(r, PANELS_PX[0], examples, thresholds_by_sweep(spikes))
    _phase_panel(r, PANELS_PX[1], examples[0][1] if examples else None)
    _fi_panel(r, PANELS_PX[2], sweeps)
    r.save_png(path)
    return r
