"""FAIR export of a study: NWB, h5ad, a Frictionless data package and RO-Crate metadata.

Entry point: :func:`fmslab.export.run` (``fmslab export STUDY --out DIR``); see docs/export.md.
"""

from fmslab.export.run import ExportResult, run

__all__ = ["ExportResult", "run"]
