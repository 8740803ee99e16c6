"""House style: journal widths, embedded TrueType fonts, Okabe-Ito colours.

Everything is applied through :func:`house_style`, a context manager around
:func:`matplotlib.rc_context`: importing fmslab never changes matplotlib's global settings.

- Widths: 85 mm (single column) and 180 mm (double column), the common limits of Nature, Cell,
  J Neurosci and PNAS.
- Fonts: TrueType (Type 42) in PDF and PS so text stays text and the font is embedded (journals
  reject Type 3 fonts); in SVG text is kept as ``<text>`` (``svg.fonttype: none``) so it stays
  editable. Sans-serif 7 pt (5-8 pt is the usual journal range).
- Colours: Okabe & Ito (2008) palette, distinguishable with the common colour-vision deficiencies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
from cycler import cycler

MM_PER_INCH = 25.4
WIDTHS_MM = {"single": 85.0, "double": 180.0}

#: Okabe-Ito colour-blind-safe palette (black last: used for means and annotations).
OKABE_ITO = [
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
]
#: Default fonts, first available wins (Arial/Helvetica are what journals ask for).
FONTS = ["Arial", "Helvetica", "Liberation Sans", "DejaVu Sans"]


def style_params(
    *, font: str | list[str] | None = None, font_size_pt: float = 7.0
) -> dict[str, Any]:
    """The rcParams of the house style."""
    fonts = [font] if isinstance(font, str) else (font or FONTS)
    return {
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "none",
        "svg.hashsalt": "fmslab",  # deterministic SVG ids
        "font.family": "sans-serif",
        "font.sans-serif": fonts,
        "font.size": font_size_pt,
        "axes.titlesize": font_size_pt,
        "axes.labelsize": font_size_pt,
        "xtick.labelsize": font_size_pt - 1,
        "ytick.labelsize": font_size_pt - 1,
        "legend.fontsize": font_size_pt - 1,
        "legend.frameon": False,
        "axes.linewidth": 0.6,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.major.size": 2.5,
        "ytick.major.size": 2.5,
        "lines.linewidth": 1.0,
        "lines.markersize": 3.0,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=OKABE_ITO),
        "image.cmap": "cividis",
        "figure.dpi": 100,
        "savefig.dpi": 300,
        "savefig.bbox": None,
        "figure.constrained_layout.use": False,
    }


@contextmanager
def house_style(
    *, font: str | list[str] | None = None, font_size_pt: float = 7.0
) -> Iterator[None]:
    """Apply the house style inside a ``with`` block only."""
    with mpl.rc_context(style_params(font=font, font_size_pt=font_size_pt)):
        yield


def figure_size(
    width: str | float = "single", height_mm: float | None = None
) -> tuple[float, float]:
    """Figure size in inches for a journal width (``"single"``, ``"double"`` or mm)."""
    if isinstance(width, str) and width not in WIDTHS_MM:
        raise ValueError(f"unknown width '{width}' (single, double or a number of mm)")
    width_mm = WIDTHS_MM[width] if isinstance(width, str) else float(width)
    height_mm = height_mm if height_mm is not None else width_mm * 0.75
    return width_mm / MM_PER_INCH, height_mm / MM_PER_INCH


def group_colors(groups: list[str]) -> dict[str, str]:
    """Stable colour per group (sorted order), from the Okabe-Ito palette (yellow skipped)."""
    palette = [c for c in OKABE_ITO if c != "#F0E442"]
    return {g: palette[i % len(palette)] for i, g in enumerate(groups)}
