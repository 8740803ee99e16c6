"""Transcriptomics: DESeq2-grade differential expression, QC and candidate ion channels.

Modules: :mod:`.io` (readers, validation), :mod:`.de` (pydeseq2 engine with R DESeq2's behaviour),
:mod:`.priorvar` / :mod:`.rrng` / :mod:`.rcompat` (the R-compatibility pieces), :mod:`.qc`,
:mod:`.channels`, :mod:`.singlecell`, :mod:`.plots`, :mod:`.outputs`.
"""
