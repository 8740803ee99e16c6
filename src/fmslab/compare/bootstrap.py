"""Hierarchical bootstrap confidence intervals for group differences in nested data.

Why a custom resampler: :func:`scipy.stats.bootstrap` draws independent observations of each
sample; it has no notion of clusters, so it cannot resample donors, then mice within each drawn
donor, then cells within each drawn mouse. This module draws those nested resamples itself
(vectorised over the bootstrap replicates, with a fresh inner resample for every slot a cluster is
drawn into) and then hands the bootstrap distribution to :func:`scipy.stats.bootstrap` with
``n_resamples=0`` and ``bootstrap_result=...`` so that scipy's interval methods (``percentile``,
``basic``, ``BCa``) compute the CI. For BCa, scipy's jackknife leaves out one *donor* at a time
(the data scipy sees are donor indices), which is the right jackknife for clustered data.

The estimate is the difference of the *means of donor means* (each donor the mean of its mice,
each mouse the mean of its cells): every donor weighs the same, as in the donor-level summary
route. Hedges' g standardises that difference by the pooled SD of donor means (small-sample
corrected with J = 1 - 3 / (4 (n_a + n_b) - 9)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

Node = Any  # np.ndarray (leaf values) or list[Node]

#: Below this many top-level units per group the bootstrap CI is flagged as too narrow.
FEW_TOP_UNITS = 10


@dataclass
class BootstrapResult:
    """Point estimate, CI and bootstrap distribution of one effect size."""

    estimate: float
    ci_low: float
    ci_high: float
    standard_error: float
    distribution: np.ndarray
    method: str
    warnings: list[str] = field(default_factory=list)


def build_tree(values: pd.Series, df: pd.DataFrame, levels: tuple[str, ...]) -> list[Node]:
    """Nest ``values`` by ``levels``: a list (top level) of lists ... of arrays of rows."""
    if not levels:
        return list(values.to_numpy(float).reshape(-1, 1))
    out = []
    for _, sub in df.groupby(levels[0], sort=True):
        if len(levels) == 1:
            out.append(values.loc[sub.index].to_numpy(float))
        else:
            out.append(build_tree(values.loc[sub.index], sub, levels[1:]))
    return out


def node_mean(node: Node) -> float:
    """Mean of the means of the children (equal weight at every level)."""
    if isinstance(node, np.ndarray):
        return float(node.mean())
    return float(np.mean([node_mean(c) for c in node]))


def _resampled_mean(
    node: Node, n: int, rng: np.random.Generator, flags: tuple[bool, ...]
) -> np.ndarray:
    if isinstance(node, np.ndarray):
        if flags and flags[0] and node.size > 1:
            return node[rng.integers(0, node.size, size=(n, node.size))].mean(axis=1)
        return np.full(n, node.mean())
    return slot_values(node, n, rng, flags).mean(axis=1)


def slot_values(
    children: list[Node], n: int, rng: np.random.Generator, flags: tuple[bool, ...]
) -> np.ndarray:
    """``(n, len(children))`` resampled child means, one column per slot.

    With ``flags[0]`` each slot draws a child with replacement, and every draw gets its own fresh
    inner resample (a donor drawn twice is two independent pseudo-donors). The work is linear in
    the number of draws: all draws of one child are resampled in one vectorised call.
    """
    m = len(children)
    inner = flags[1:]
    if not (flags and flags[0]):
        return np.column_stack([_resampled_mean(c, n, rng, inner) for c in children])
    choice = rng.integers(0, m, size=(n, m))
    out = np.empty((n, m))
    for c, child in enumerate(children):
        mask = choice == c
        k = int(mask.sum())
        if k:
            out[mask] = _resampled_mean(child, k, rng, inner)
    return out


def _hedges_g(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    na, nb = a.shape[axis], b.shape[axis]
    diff = b.mean(axis=axis) - a.mean(axis=axis)
    if na + nb < 3:
        return np.full_like(diff, np.nan)
    ssa = ((a - a.mean(axis=axis, keepdims=True)) ** 2).sum(axis=axis)
    ssb = ((b - b.mean(axis=axis, keepdims=True)) ** 2).sum(axis=axis)
    pooled = (ssa + ssb) / (na + nb - 2)
    j = 1.0 - 3.0 / (4.0 * (na + nb) - 9.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return j * diff / np.sqrt(pooled)


def _mean_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return b.mean(axis=axis) - a.mean(axis=axis)


EFFECTS = {"mean_difference": _mean_diff, "hedges_g": _hedges_g}


def hierarchical_bootstrap(
    reference: list[Node],
    treatment: list[Node],
    *,
    effect: str = "mean_difference",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    method: str = "BCa",
    resample: tuple[bool, ...] | None = None,
    rng: np.random.Generator | int | None = None,
) -> BootstrapResult:
    """Bootstrap CI of treatment - reference for nested data.

    Parameters
    ----------
    reference, treatment
        Trees from :func:`build_tree`: lists of top-level units (donors), each a list of
        second-level units (mice) ... down to arrays of row values (cells).
    effect
        ``"mean_difference"`` or ``"hedges_g"`` (on donor means).
    n_resamples
        Bootstrap replicates.
    confidence
        Confidence level.
    method
        Interval method of :func:`scipy.stats.bootstrap`: ``"BCa"``, ``"percentile"``, ``"basic"``.
        BCa needs 3+ top-level units per group (its jackknife leaves one out); with fewer, the
        percentile interval is used and a warning recorded.
    resample
        Which levels to resample, top down (default: all, i.e. donors, mice, cells).
    rng
        Seed or Generator (results are reproducible with a seed).
    """
    if effect not in EFFECTS:
        raise ValueError(f"unknown effect '{effect}' (known: {', '.join(EFFECTS)})")
    rng = np.random.default_rng(rng)
    depth = _depth(reference)
    flags = tuple(resample) if resample is not None else (True,) * depth
    flags = (flags + (False,) * depth)[:depth]
    func = EFFECTS[effect]
    notes: list[str] = []
    a_slots = slot_values(reference, n_resamples, rng, flags)
    b_slots = slot_values(treatment, n_resamples, rng, flags)
    dist = func(a_slots, b_slots, axis=-1)
    bad = ~np.isfinite(dist)
    if bad.any():
        notes.append(
            f"{int(bad.sum())} of {n_resamples} replicates undefined (zero spread); dropped"
        )
        dist = dist[~bad]
    a_means = np.array([node_mean(c) for c in reference])
    b_means = np.array([node_mean(c) for c in treatment])
    estimate = float(func(a_means, b_means))
    if 2 <= min(len(a_means), len(b_means)) < FEW_TOP_UNITS:
        notes.append(
            f"fewer than {FEW_TOP_UNITS} top-level units per group: bootstrap CIs undercover "
            "(simulated 95 % BCa coverage 88 % at 4 and 91 % at 8 per group; see docs/compare.md)"
        )
    if method.lower() == "bca" and min(len(a_means), len(b_means)) < 3:
        notes.append("fewer than 3 top-level units in a group: percentile interval instead of BCa")
        method = "percentile"

    def statistic(ia: np.ndarray, ib: np.ndarray, axis: int = -1) -> np.ndarray:
        return func(
            a_means[np.asarray(ia, dtype=int)], b_means[np.asarray(ib, dtype=int)], axis=axis
        )

    if min(len(a_means), len(b_means)) < 2:
        notes.append("fewer than 2 top-level units in a group: no bootstrap CI")
        return BootstrapResult(estimate, np.nan, np.nan, np.nan, dist, method, notes)
    if dist.size < 2 or not np.isfinite(estimate):
        notes.append("bootstrap CI not available")
        return BootstrapResult(estimate, np.nan, np.nan, np.nan, dist, method, notes)
    import warnings as _w

    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        res = stats.bootstrap(
            (np.arange(len(a_means)), np.arange(len(b_means))),
            statistic,
            n_resamples=0,
            bootstrap_result=SimpleNamespace(bootstrap_distribution=dist),
            confidence_level=confidence,
            method=method,
            vectorized=True,
        )
    notes += [f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught]
    ci = res.confidence_interval
    se = float(np.std(dist, ddof=1))
    return BootstrapResult(estimate, float(ci.low), float(ci.high), se, dist, method, notes)


def _depth(tree: list[Node]) -> int:
    d, node = 1, tree[0] if tree else np.zeros(1)
    while not isinstance(node, np.ndarray):
        d += 1
        node = node[0]
    return d
