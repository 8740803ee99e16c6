"""Donor-level evidence: which donor's IgG transfers, how strongly, across outcomes.

Public API (imported on first use):

- :func:`run` (:mod:`fmslab.donors.flow`) — the flow behind ``fmslab donors``.
- :func:`donor_effects` (:mod:`fmslab.donors.effects`) — shrunken (mixed model) and unshrunken
  (hierarchical bootstrap) effect of each donor relative to the control group.
- :func:`call_responders` (:mod:`fmslab.donors.responders`) — declared responder rule.
- :func:`donor_profile`, :func:`concordance`, :func:`plot_profile_heatmap`
  (:mod:`fmslab.donors.profile`).
"""

from __future__ import annotations

from fmslab._lazy import lazy_exports

_LAZY = {
    "run": "fmslab.donors.flow",
    "DonorsRun": "fmslab.donors.flow",
    "OutcomeSet": "fmslab.donors.flow",
    "donor_effects": "fmslab.donors.effects",
    "fit_donor_model": "fmslab.donors.effects",
    "call_responders": "fmslab.donors.responders",
    "donor_profile": "fmslab.donors.profile",
    "concordance": "fmslab.donors.profile",
    "plot_profile_heatmap": "fmslab.donors.profile",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
