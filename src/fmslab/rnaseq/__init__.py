"""Transcriptomics: DESeq2-grade differential expression, QC and candidate ion channels.

Public API (imported on first use, so ``import fmslab.rnaseq`` stays cheap):

- :func:`run`, :func:`run_channels`, :func:`run_singlecell` (:mod:`fmslab.rnaseq.flow`) — the
  whole flows behind ``fmslab rnaseq de|channels|singlecell``; they return :class:`DERun`,
  :class:`ChannelsRun`, :class:`SingleCellRun`.
- :func:`run_de` (:mod:`fmslab.rnaseq.de`) — the DE fit on DataFrames, no IO.
- :class:`Contrast`, :func:`read_counts`, :func:`read_samples` (:mod:`fmslab.rnaseq.io`).

Other modules: :mod:`.engine` (the DESeq2 model vectorised over genes), :mod:`.design`
(formulas to model matrices), :mod:`.priorvar` (dispersion prior variance), :mod:`.shrink`
(normal-prior LFC shrinkage), :mod:`.qc`, :mod:`.channels`, :mod:`.singlecell`, :mod:`.plots`,
:mod:`.outputs`.
"""

from __future__ import annotations

from fmslab._lazy import lazy_exports

_LAZY = {
    "run": "fmslab.rnaseq.flow",
    "run_channels": "fmslab.rnaseq.flow",
    "run_singlecell": "fmslab.rnaseq.flow",
    "DERun": "fmslab.rnaseq.flow",
    "ChannelsRun": "fmslab.rnaseq.flow",
    "SingleCellRun": "fmslab.rnaseq.flow",
    "run_de": "fmslab.rnaseq.de",
    "Contrast": "fmslab.rnaseq.io",
    "read_counts": "fmslab.rnaseq.io",
    "read_samples": "fmslab.rnaseq.io",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
