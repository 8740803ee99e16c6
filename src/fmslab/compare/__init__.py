"""Patient vs control comparisons that respect the donor > mouse > cell nesting.

Core functions work on DataFrames (no IO):

- :mod:`fmslab.compare.hierarchy` — joins hierarchy/unblinding columns, checks nesting, counts n.
- :mod:`fmslab.compare.mixed` — linear mixed models (statsmodels MixedLM).
- :mod:`fmslab.compare.summary` — per-mouse / per-donor means with Welch t and Mann-Whitney.
- :mod:`fmslab.compare.bootstrap` — hierarchical bootstrap CIs of mean difference and Hedges' g.
- :mod:`fmslab.compare.categorical` — binary outcomes: Fisher's exact, GEE logistic by donor.
- :mod:`fmslab.compare.engine` — many outcomes at once, Benjamini-Hochberg, one tidy table.
"""

from fmslab.compare.engine import STATS_COLUMNS, compare_outcomes
from fmslab.compare.hierarchy import Hierarchy, prepare_table

__all__ = ["STATS_COLUMNS", "Hierarchy", "compare_outcomes", "prepare_table"]
