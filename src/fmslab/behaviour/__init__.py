"""Passive-transfer behaviour: von Frey up-down thresholds, other pain assays, time courses.

Public API (imported on first use, so ``import fmslab.behaviour`` stays cheap):

- :func:`run` (:mod:`fmslab.behaviour.flow`) — the whole flow of a study or a set of sheets:
  score, write tables/figures/provenance, store in the study catalog; returns a
  :class:`BehaviourRun`.
- :func:`analyze_sheets` (:mod:`fmslab.behaviour.pipeline`) — the scoring without IO of results.
- :func:`read_behaviour_sheet` (:mod:`fmslab.behaviour.sheet`) — one sheet, checked.
- :func:`chaplan_threshold`, :func:`sudo_threshold`, :func:`dixon_k`, :func:`dixon_table`
  (:mod:`fmslab.behaviour.updown`); :class:`FilamentSet`, :func:`load_sets`,
  :func:`standard_sets` (:mod:`fmslab.behaviour.filaments`).

Other modules: :mod:`assays`, :mod:`trials` (cut-offs, outliers, mouse-day), :mod:`timecourse`
(% of baseline, AUC, responders), :mod:`stats` (mixed model), :mod:`plotting`.
"""

from __future__ import annotations

from fmslab._lazy import lazy_exports

_LAZY = {
    "run": "fmslab.behaviour.flow",
    "BehaviourRun": "fmslab.behaviour.flow",
    "analyze_sheets": "fmslab.behaviour.pipeline",
    "BehaviourResult": "fmslab.behaviour.pipeline",
    "read_behaviour_sheet": "fmslab.behaviour.sheet",
    "FilamentSet": "fmslab.behaviour.filaments",
    "load_sets": "fmslab.behaviour.filaments",
    "standard_sets": "fmslab.behaviour.filaments",
    "chaplan_threshold": "fmslab.behaviour.updown",
    "dixon_k": "fmslab.behaviour.updown",
    "dixon_table": "fmslab.behaviour.updown",
    "sudo_threshold": "fmslab.behaviour.updown",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
