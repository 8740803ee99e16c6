"""Current-clamp excitability: reading, spike detection, per-sweep and per-cell features, QC.

Public API (imported on first use, so ``import fmslab.ephys`` stays cheap):

- :func:`run` (:mod:`fmslab.ephys.flow`) — the whole flow of a study or a set of files: analyse,
  write tables/figures/provenance, store in the study catalog; returns an :class:`EphysRun`.
- :func:`analyze_paths` / :class:`BatchResult` (:mod:`fmslab.ephys.batch`) — the batch without
  the study and catalog.
- :func:`open_recording` (:mod:`fmslab.ephys.io`), :func:`load_qc` (:mod:`fmslab.ephys.qc`).
"""

from __future__ import annotations

from fmslab._lazy import lazy_exports

_LAZY = {
    "run": "fmslab.ephys.flow",
    "EphysRun": "fmslab.ephys.flow",
    "read_sheet": "fmslab.ephys.flow",
    "analyze_paths": "fmslab.ephys.batch",
    "BatchResult": "fmslab.ephys.batch",
    "expand_paths": "fmslab.ephys.batch",
    "open_recording": "fmslab.ephys.io",
    "load_qc": "fmslab.ephys.qc",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
