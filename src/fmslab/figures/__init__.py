"""Journal figures with their source data.

- :mod:`fmslab.figures.style` — house style as a context manager (no global rcParams change).
- :mod:`fmslab.figures.plots` — plot functions: data first, options keyword-only, return the Figure
  (or draw into ``ax=``), never choose a path; each records its source data on the Axes
  (:func:`fmslab.figures.plots.source_data`).
- :mod:`fmslab.figures.compose` — multi-panel figures from a YAML spec (letters, shared legend).
- :mod:`fmslab.figures.export` — writing PDF, SVG, 300-dpi PNG and per-panel source-data CSVs.
"""

from fmslab.figures.plots import (
    estimation_plot,
    example_traces,
    fi_curve,
    heatmap,
    source_data,
    stimulus_response,
    superplot,
    time_course,
    volcano,
)
from fmslab.figures.style import OKABE_ITO, figure_size, house_style

__all__ = [
    "OKABE_ITO",
    "estimation_plot",
    "example_traces",
    "fi_curve",
    "figure_size",
    "heatmap",
    "house_style",
    "source_data",
    "stimulus_response",
    "superplot",
    "time_course",
    "volcano",
]
