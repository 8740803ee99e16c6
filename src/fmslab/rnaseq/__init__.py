"""Transcriptomics: DESeq2-grade differential expression, QC and candidate ion channels.

Modules: :mod:`.io` (readers, validation), :mod:`.de` (the DE run as named stages),
:mod:`.engine` (the DESeq2 model vectorised over genes), :mod:`.design` (formulas to model
matrices), :mod:`.priorvar` (dispersion prior variance), :mod:`.shrink` (normal-prior LFC
shrinkage), :mod:`.qc`, :mod:`.channels`, :mod:`.singlecell`, :mod:`.plots`, :mod:`.outputs`.
"""
