"""Simulated clinical scores of the demo donors, related to their planted potency with noise.

Generating rule (documented in docs/demo.md and written to ``ground_truth/clinical_rule.json``).
For the donors of a *patient* group (every group of the design except the control group), a
latent standardised severity per score ``k``::

    t_d   = (potency_d - mean_P(potency)) / sd_P(potency)        (over the patient donors P)
    z_dk  = r * t_d + sqrt(1 - r^2) * e_dk,      e_dk ~ N(0, 1) independent

so that within the patient donors each score correlates with the potency at about ``r``
(``DemoConfig.clinical_signal``; ``r = 0``: the scores are pure noise). Each score is then
``clip(round(mean_k + sd_k * z_dk), low_k, high_k)`` with the patient means and SDs of
:data:`SCORES`. Control (HC) donors get ``clip(round(hc_mean_k + hc_sd_k * e_dk))`` (healthy
values, unrelated to anything). Patient donors whose IgG does not transfer (potency 0,
``DemoConfig.nontransfer_fraction``) are patients like the others, with ``t_d`` low.

The draws come from their own random stream (``rng_for(seed, "clinical")``), so adding or
changing scores never changes another simulated file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: score -> (patient mean, patient sd, control mean, control sd, low, high, decimals)
SCORES: dict[str, tuple[float, float, float, float, float, float, int]] = {
    "FIQR": (55.0, 15.0, 8.0, 5.0, 0.0, 100.0, 1),
    "pain_score": (60.0, 15.0, 5.0, 5.0, 0.0, 100.0, 0),
    "wpi": (11.0, 3.0, 1.0, 1.0, 0.0, 19.0, 0),
    "sss": (8.0, 2.0, 1.0, 1.0, 0.0, 12.0, 0),
    "tender_points": (14.0, 2.5, 2.0, 1.5, 0.0, 18.0, 0),
}


def clinical_scores(
    donors: pd.DataFrame, *, control: str, signal: float, rng: np.random.Generator
) -> pd.DataFrame:
    """One column per score of :data:`SCORES`, one row per donor (same order as ``donors``).

    Parameters
    ----------
    donors
        Design donors: ``group`` and ``potency``.
    control
        The control group (healthy values).
    signal
        Correlation ``r`` in ``[0, 1]`` of each patient score's latent with the potency.
    rng
        The clinical random stream.
    """
    if not 0.0 <= signal <= 1.0:
        raise ValueError(f"clinical_signal must be in [0, 1], not {signal}")
    patient = (donors["group"] != control).to_numpy()
    potency = donors["potency"].to_numpy(float)
    t = np.zeros(len(donors))
    if patient.sum() >= 2 and np.std(potency[patient]) > 0:
        pp = potency[patient]
        t[patient] = (pp - pp.mean()) / pp.std(ddof=1)
    out = {}
    for name, (mean, sd, hc_mean, hc_sd, low, high, decimals) in SCORES.items():
        e = rng.normal(0.0, 1.0, len(donors))
        z = signal * t + np.sqrt(1.0 - signal**2) * e
        value = np.where(patient, mean + sd * z, hc_mean + hc_sd * e)
        out[name] = np.clip(np.round(value, decimals), low, high) + 0.0  # no -0.0
        if decimals == 0:
            out[name] = out[name].astype(int)
    return pd.DataFrame(out, index=donors.index)


def rule_description(signal: float, nontransfer_fraction: float) -> dict:
    """The generating rule in words and numbers (``ground_truth/clinical_rule.json``)."""
    return {
        "rule": (
            "patient donors: score_k = clip(round(mean_k + sd_k * (r * t + sqrt(1 - r^2) * e_k))), "
            "t = potency standardised over the patient donors, e_k ~ N(0, 1); control donors: "
            "clip(round(hc_mean_k + hc_sd_k * e_k))"
        ),
        "r": signal,
        "nontransfer_fraction": nontransfer_fraction,
        "scores": {
            k: dict(
                zip(("mean", "sd", "hc_mean", "hc_sd", "low", "high", "decimals"), v, strict=True)
            )
            for k, v in SCORES.items()
        },
    }
