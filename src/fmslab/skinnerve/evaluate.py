"""Scoring detection and sorting against simulated ground truth: precision/recall per unit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fmslab.skinnerve.spikes import match_spike_times


def score_units(truth: pd.DataFrame, found: pd.DataFrame, tol_s: float = 0.5e-3) -> pd.DataFrame:
    """Per true unit: the detected unit sharing most spikes, its precision and recall.

    ``truth``: columns ``unit, time_s``; ``found``: columns ``unit_id, time_s`` (sorted units > 0).
    ``detection_recall`` counts a true spike as found when any detected spike (any unit) lies
    within ``tol_s``: it separates detection losses from sorting losses.
    """
    all_found = np.sort(found["time_s"].to_numpy())
    rows = []
    for name, g in truth.groupby("unit", sort=False):
        t = np.sort(g["time_s"].to_numpy())
        best, best_m, best_n = None, 0, 0
        for k, h in found.groupby("unit_id"):
            m = match_spike_times(t, h["time_s"].to_numpy(), tol_s)
            if m > best_m:
                best, best_m, best_n = k, m, len(h)
        rows.append(
            {
                "unit": name,
                "n_true": len(t),
                "matched_unit_id": best,
                "recall": best_m / len(t) if len(t) else np.nan,
                "precision": best_m / best_n if best_n else np.nan,
                "detection_recall": match_spike_times(t, all_found, tol_s) / len(t)
                if len(t)
                else np.nan,
            }
        )
    return pd.DataFrame(rows)
