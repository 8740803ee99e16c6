"""Writing figures (PDF, SVG, 300-dpi PNG) and their per-panel source data, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from fmslab.atomic import write_table, write_with
from fmslab.figures.style import house_style

#: Metadata that would make files differ between runs (dates, versions) is left out.
_METADATA = {
    "pdf": {"CreationDate": None, "Producer": None},
    "svg": {"Date": None},
    "png": {"Software": None},
}


def save_figure(
    fig: Figure,
    stem: str | Path,
    *,
    formats: tuple[str, ...] = ("pdf", "svg", "png"),
    dpi: int = 300,
) -> list[Path]:
    """Save ``fig`` as ``STEM.pdf``, ``STEM.svg`` and ``STEM.png`` (``dpi`` for raster output).

    Saved inside the house style so that TrueType fonts are embedded (``pdf.fonttype`` 42) and SVG
    text stays text, whatever the caller's rcParams.
    """
    stem = Path(stem)
    written = []
    with house_style():
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            meta = _METADATA.get(fmt, {})
            write_with(path, lambda p, f=fmt, m=meta: fig.savefig(p, format=f, dpi=dpi, metadata=m))
            written.append(path)
    return written


def save_source_data(panels: dict[str, pd.DataFrame], stem: str | Path) -> list[Path]:
    """One CSV per panel: ``STEM_panel_<letter>.csv``."""
    stem = Path(stem)
    return [
        write_table(df, stem.with_name(f"{stem.name}_panel_{k}.csv")) for k, df in panels.items()
    ]


def save_module_figure(
    fig: Figure, path: str | Path, *, png_dpi: int = 150, formats: tuple[str, ...] = ("pdf", "png")
) -> list[Path]:
    """Save an analysis (module) figure as ``PATH.pdf`` and ``PATH.png`` for the report.

    ``path`` may carry a suffix (``time_course.pdf``); it is replaced by each format's. Saved inside
    the house style (TrueType fonts, no dates in the metadata); the PNG at ``png_dpi``.
    """
    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix.lower() in (".pdf", ".png", ".svg") else stem
    written = []
    for fmt in formats:
        written += save_figure(fig, stem, formats=(fmt,), dpi=png_dpi if fmt == "png" else 300)
    return written
