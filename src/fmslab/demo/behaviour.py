"""Simulated behaviour sheets: von Frey up-down sequences and Hargreaves latencies over days.

Each behaviour mouse has a true 50 % mechanical threshold on each test day:
``log10 T(day) = log10 T0 + mouse/donor random effects - VF_EFFECT * potency * f(day) + day noise``
with ``f(day) = (day / 4) * exp(1 - day / 4)`` after the first injection (peak 1 at day 4,
0.55 at day 10, 0.08 at day 21: the transient effect of passive transfer), ``f(0) = 0``.

Responses follow a psychometric model: the withdrawal probability to filament force F is
``Phi((log10 F - log10 T) / SIGMA_LOG10)``. The sequence is produced by actually walking the
up-down rule of Chaplan et al. (1994): start at ``FIRST_FILAMENT_G``; after no withdrawal (O) the
next stronger filament, after a withdrawal (X) the next weaker; once the response first changes,
four more stimuli are given (six responses counted from the pair that straddles the threshold).
When the walk would step beyond the strongest (or weakest) filament the test stops there (the
boundary case of the method; such patterns are recorded as they were observed).

Hargreaves (radiant heat) latencies are a negative control: patient IgG has no planted effect on
heat (as reported for fibromyalgia IgG transfer), three trials per paw, cut-off 20 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from fmslab.demo.design import BEHAVIOUR_DAYS, DemoConfig, Design, rng_for

FILAMENT_SET = "demo_mouse_updown"
FILAMENTS_G = (0.02, 0.04, 0.07, 0.16, 0.4, 0.6, 1.0, 1.4, 2.0)
FIRST_FILAMENT_G = 0.4
SIGMA_LOG10 = 0.15
T0_G = 0.8
VF_EFFECT = 0.45  # log10 units of threshold drop at peak for potency 1 (about 65 % lower)
DAY_SD_LOG10 = 0.04
HARGREAVES_BASE_S = 10.0
HARGREAVES_CUTOFF_S = 20.0
SIDES = ("L", "R")


@dataclass(frozen=True)
class BehaviourOutput:
    sheets: dict[str, pd.DataFrame]  # relative path -> sheet
    filaments: pd.DataFrame  # filament_set, force_g
    recordings: pd.DataFrame
    thresholds: pd.DataFrame  # ground truth per mouse x day


def time_course(day: float) -> float:
    """Relative IgG effect on day ``day`` (0 before the first injection, peak 1 on day 4)."""
    if day <= 0:
        return 0.0
    return float(day / 4.0 * np.exp(1.0 - day / 4.0))


def withdrawal_probability(
    force_g: float, threshold_g: float, sigma_log10: float = SIGMA_LOG10
) -> float:
    """Psychometric function: P(withdrawal) to ``force_g`` for a threshold ``threshold_g``."""
    return float(norm.cdf((np.log10(force_g) - np.log10(threshold_g)) / sigma_log10))


def walk_up_down(
    threshold_g: float,
    rng: np.random.Generator,
    *,
    filaments_g: tuple[float, ...] = FILAMENTS_G,
    first_g: float = FIRST_FILAMENT_G,
    sigma_log10: float = SIGMA_LOG10,
) -> str:
    """Simulate one up-down von Frey test; returns the O/X pattern in testing order."""
    i = filaments_g.index(first_g)
    pattern = ""
    after_change = None  # number of responses still to give after the first change
    while True:
        x = rng.random() < withdrawal_probability(filaments_g[i], threshold_g, sigma_log10)
        pattern += "X" if x else "O"
        if after_change is None and len(pattern) > 1 and pattern[-1] != pattern[-2]:
            after_change = 4
        elif after_change is not None:
            after_change -= 1
        if after_change == 0:
            return pattern
        i += -1 if x else 1
        if i < 0 or i >= len(filaments_g):
            return pattern  # stimulus set exhausted (boundary case)


def generate_behaviour(design: Design, cfg: DemoConfig) -> BehaviourOutput:
    rng = rng_for(cfg.seed, "behaviour")
    mice = design.behaviour_mice()
    donors = design.donors.set_index("donor_id")
    sheets: dict[str, pd.DataFrame] = {}
    rec_rows, truth_rows = [], []
    for _, mouse in mice.iterrows():
        donor = donors.loc[mouse["donor_id"]]
        base_log = np.log10(T0_G) + 2 * donor["baseline_re"] + 2 * mouse["mouse_re"]
        lat_base = HARGREAVES_BASE_S * np.exp(rng.normal(0, 0.1))
        rows = []
        for day in BEHAVIOUR_DAYS:
            log_t = (
                base_log
                - VF_EFFECT * donor["potency"] * time_course(day)
                + rng.normal(0, DAY_SD_LOG10)
            )
            t_g = float(10**log_t)
            lat_true = float(lat_base * np.exp(rng.normal(0, 0.05)))
            truth_rows.append(
                {
                    "mouse_id": mouse["mouse_id"],
                    "day": day,
                    "group": mouse["group"],
                    "donor_id": mouse["donor_id"],
                    "true_threshold_g": t_g,
                    "true_hargreaves_latency_s": lat_true,
                    "effect_fraction": time_course(day),
                }
            )
            for side in SIDES:
                rows.append(
                    {
                        "mouse_id": mouse["mouse_id"],
                        "day": day,
                        "assay": "vonfrey",
                        "side": side,
                        "trial": 1,
                        "pattern": walk_up_down(t_g, rng),
                        "first_filament_g": FIRST_FILAMENT_G,
                        "filament_set": FILAMENT_SET,
                        "latency_s": np.nan,
                        "cutoff_s": np.nan,
                    }
                )
            for side in SIDES:
                for trial in (1, 2, 3):
                    lat = min(lat_true * np.exp(rng.normal(0, 0.15)), HARGREAVES_CUTOFF_S)
                    rows.append(
                        {
                            "mouse_id": mouse["mouse_id"],
                            "day": day,
                            "assay": "hargreaves",
                            "side": side,
                            "trial": trial,
                            "pattern": "",
                            "first_filament_g": np.nan,
                            "filament_set": "",
                            "latency_s": round(float(lat), 2),
                            "cutoff_s": HARGREAVES_CUTOFF_S,
                        }
                    )
        rel = f"behaviour/{mouse['mouse_id']}.csv"
        sheets[rel] = pd.DataFrame(rows)
        rec_rows.append(
            {
                "path": rel,
                "modality": "behaviour",
                "mouse_id": mouse["mouse_id"],
                "date": None,
                "protocol": "von Frey up-down + Hargreaves, days "
                + ",".join(map(str, BEHAVIOUR_DAYS)),
            }
        )
    filaments = pd.DataFrame({"filament_set": FILAMENT_SET, "force_g": list(FILAMENTS_G)})
    return BehaviourOutput(
        sheets=sheets,
        filaments=filaments,
        recordings=pd.DataFrame(rec_rows),
        thresholds=pd.DataFrame(truth_rows),
    )
