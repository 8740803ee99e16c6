"""Passive-transfer behaviour: von Frey up-down thresholds, other pain assays, time courses.

Modules: :mod:`filaments` (filament sets), :mod:`updown` (Chaplan/Dixon and SUDO), :mod:`assays`,
:mod:`sheet` (reading sheets), :mod:`trials` (cut-offs, outliers, mouse-day), :mod:`timecourse`
(% of baseline, AUC, responders), :mod:`stats` (mixed model), :mod:`plotting`, :mod:`pipeline`.
"""

from fmslab.behaviour.filaments import FilamentSet, load_sets, standard_sets
from fmslab.behaviour.updown import chaplan_threshold, dixon_k, dixon_table, sudo_threshold

__all__ = [
    "FilamentSet",
    "chaplan_threshold",
    "dixon_k",
    "dixon_table",
    "load_sets",
    "standard_sets",
    "sudo_threshold",
]
