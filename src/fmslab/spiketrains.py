"""Spike-train measures shared by every modality (one definition each).

- :func:`isi_cv`: coefficient of variation of inter-spike intervals,
  ``CV = s / mean`` with ``s`` the *sample* standard deviation (``ddof=1``, the unbiased variance
  estimator), defined for at least 2 intervals (NaN otherwise). A Poisson train has CV 1, a
  perfectly regular one 0. (``elephant.statistics.cv`` divides by n, not n - 1: 15 % lower at
  4 intervals; fmslab reports the ddof=1 value in ephys and skin-nerve alike.)
"""

from __future__ import annotations

import numpy as np


def isi_cv(isi: np.ndarray) -> float:
    """CV of inter-spike intervals: sample SD (ddof=1) / mean; NaN for fewer than 2 intervals."""
    isi = np.asarray(isi, dtype=np.float64)
    if isi.size < 2 or not isi.mean() > 0:
        return float("nan")
    return float(isi.std(ddof=1) / isi.mean())
