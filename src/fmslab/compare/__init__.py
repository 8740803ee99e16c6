"""Patient vs control comparisons that respect the donor > mouse > cell nesting.

Public API (imported on first use, so ``import fmslab.compare`` stays cheap):

- :func:`run` (:mod:`fmslab.compare.flow`) — the whole flow behind ``fmslab compare``: read and
  unblind a table, compare, write ``stats.csv``/``data.csv``/provenance, store in the catalog;
  returns a :class:`CompareRun`. :func:`load_comparison_data` is its reading step.
- :func:`compare_outcomes`, :data:`STATS_COLUMNS` (:mod:`fmslab.compare.engine`) — many outcomes
  at once on a DataFrame, Benjamini-Hochberg, one tidy table.
- :class:`Hierarchy`, :func:`prepare_table` (:mod:`fmslab.compare.hierarchy`) — joins the
  hierarchy and unblinding columns, checks nesting.

Core modules work on DataFrames (no IO): :mod:`~fmslab.compare.mixed` (linear mixed models),
:mod:`~fmslab.compare.summary` (per-mouse / per-donor means, Welch t, Mann-Whitney),
:mod:`~fmslab.compare.bootstrap` (hierarchical bootstrap), :mod:`~fmslab.compare.categorical`
(Fisher's exact, GEE logistic).
"""

from __future__ import annotations

from fmslab._lazy import lazy_exports

_LAZY = {
    "run": "fmslab.compare.flow",
    "CompareRun": "fmslab.compare.flow",
    "ComparisonData": "fmslab.compare.flow",
    "load_comparison_data": "fmslab.compare.flow",
    "STATS_COLUMNS": "fmslab.compare.engine",
    "compare_outcomes": "fmslab.compare.engine",
    "Hierarchy": "fmslab.compare.hierarchy",
    "prepare_table": "fmslab.compare.hierarchy",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
