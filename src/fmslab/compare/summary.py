"""Summary-statistics route: average to one value per mouse or per donor, then a two-sample test.

Averaging first and testing the averages is the classical remedy for pseudo-replication (Lazic
2010): with the donor as unit of replication, the donor means are independent and Welch's t test
(:func:`scipy.stats.ttest_ind`, ``equal_var=False``) and the Mann-Whitney U test
(:func:`scipy.stats.mannwhitneyu`) apply as they stand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats


def level_means(
    df: pd.DataFrame, outcome: str, *, group: str, levels: tuple[str, ...], upto: int
) -> pd.DataFrame:
    """One row per unit of ``levels[upto - 1]``: the mean of its children's means.

    ``upto=2`` with levels ``(donor_id, mouse_id)`` gives per-mouse means (mean of cells);
    ``upto=1`` gives per-donor means (mean of its mouse means, every mouse weighing the same).
    """
    keys = [group, *levels]
    current = df[[*keys, outcome]]
    for depth in range(len(levels), upto - 1, -1):
        current = (
            current.groupby(keys[: depth + 1], sort=True, observed=True)[outcome]
            .mean()
            .reset_index()
        )
    return current


@dataclass
class TwoSample:
    """Result of one two-sample test (treatment - reference)."""

    estimate: float
    ci_low: float = np.nan
    ci_high: float = np.nan
    statistic: float = np.nan
    df: float = np.nan
    p: float = np.nan
    warnings: list[str] = field(default_factory=list)


def welch(a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95) -> TwoSample:
    """Welch's t test of mean(b) - mean(a) with its Welch-Satterthwaite CI."""
    out = TwoSample(estimate=float(np.mean(b) - np.mean(a)) if len(a) and len(b) else np.nan)
    if min(len(a), len(b)) < 2:
        out.warnings.append("fewer than 2 units in a group: no test")
        return out
    if np.var(a) == 0 and np.var(b) == 0:
        out.warnings.append("no spread within either group: no test")
        return out
    res = stats.ttest_ind(b, a, equal_var=False)
    ci = res.confidence_interval(confidence_level=confidence)
    out.ci_low, out.ci_high = float(ci.low), float(ci.high)
    out.statistic, out.df, out.p = float(res.statistic), float(res.df), float(res.pvalue)
    return out


def mann_whitney(a: np.ndarray, b: np.ndarray) -> TwoSample:
    """Two-sided Mann-Whitney U test; estimate = Hodges-Lehmann shift (median of b_j - a_i)."""
    if min(len(a), len(b)) < 1:
        return TwoSample(np.nan, warnings=["empty group: no test"])
    shift = float(np.median(np.subtract.outer(b, a)))
    out = TwoSample(estimate=shift)
    if min(len(a), len(b)) < 2:
        out.warnings.append("fewer than 2 units in a group: no test")
        return out
    res = stats.mannwhitneyu(b, a, alternative="two-sided")
    out.statistic, out.p = float(res.statistic), float(res.pvalue)
    if min(len(a), len(b)) <= 3:
        out.warnings.append(
            f"n = {len(a)} vs {len(b)}: the smallest attainable two-sided p is "
            f"{2 / _comb(len(a) + len(b), len(a)):.3g}"
        )
    return out


def _comb(n: int, k: int) -> float:
    from math import comb

    return float(comb(n, k))
