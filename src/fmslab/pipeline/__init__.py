"""Glue between a study and the Snakemake workflow in ``pipelines/`` (issue 6).

:func:`fmslab.pipeline.worklist.work_list` turns a study into the workflow's work list (recording
days, behaviour sheets, RNA-seq contrasts); :mod:`fmslab.pipeline.steps` holds the few small steps
that are not an analysis of their own (exporting a filtered catalog table for ``fmslab compare``,
the unblinded RNA-seq sample sheet, a default figure spec). ``python -m fmslab.pipeline`` exposes
those steps to the workflow's shell rules.
"""

from fmslab.pipeline.worklist import WorkList, work_list

__all__ = ["WorkList", "work_list"]
