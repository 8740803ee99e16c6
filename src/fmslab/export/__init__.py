"""FAIR export of a study: NWB, h5ad, a Frictionless data package and RO-Crate metadata.

Public API (imported on first use, so ``import fmslab.export`` stays cheap):

- :func:`run` (:mod:`fmslab.export.flow`) — ``fmslab export STUDY --out DIR``: the whole export;
  returns an :class:`ExportResult`. See docs/export.md.
- :func:`check_export`, :func:`dandi_problems`, :func:`datapackage_problems`, :func:`inspect_nwb`
  (:mod:`fmslab.export.checks`) — the validators a data hub runs, applied to an export.
"""

from __future__ import annotations

from fmslab._lazy import lazy_exports

_LAZY = {
    "run": "fmslab.export.flow",
    "ExportResult": "fmslab.export.flow",
    "dandi_problems": "fmslab.export.checks",
    "datapackage_problems": "fmslab.export.checks",
    "inspect_nwb": "fmslab.export.checks",
    "check_export": "fmslab.export.checks",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
