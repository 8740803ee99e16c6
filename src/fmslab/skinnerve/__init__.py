"""Skin-nerve single-afferent recordings: spikes, conduction velocity, responses.

Public API (imported on first use, so ``import fmslab.skinnerve`` stays cheap):

- :func:`run` (:mod:`fmslab.skinnerve.flow`) — the whole flow of a study or a set of files:
  analyse, write tables/figures/provenance, store in the study catalog; returns a
  :class:`SkinnerveRun`.
- :func:`analyze_file` (:mod:`fmslab.skinnerve.analysis`) — one recording, no IO.
- :class:`Params` (:mod:`fmslab.skinnerve.params`) — analysis parameters.
"""

from __future__ import annotations

from fmslab._lazy import lazy_exports

_LAZY = {
    "run": "fmslab.skinnerve.flow",
    "SkinnerveRun": "fmslab.skinnerve.flow",
    "analyze_file": "fmslab.skinnerve.analysis",
    "Params": "fmslab.skinnerve.params",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
