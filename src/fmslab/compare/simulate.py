"""Simulated k-group passive-transfer designs under the null: the planned-contrast error rate.

Used by ``benchmarks/sim_contrasts.py`` and the slow test of ``tests/test_compare_simulation.py``
to check that the planned-contrast tests of :mod:`fmslab.compare` hold their nominal level.

Each data set has four groups (HC, FMS, RA_FMS, RA_noFMS) with ``n_donors`` donors each (cycled
per group, e.g. 6, 7, 8), ``mice`` mice per donor and ``cells`` cells per mouse; donor SD 1,
mouse SD 0.5, cell SD 1; a donor covariate ``sex`` with a real effect (+0.5 for M) that the model
adjusts for; no group effect. The planned contrasts are RA_FMS - RA_noFMS, RA_FMS - HC and
FMS - HC.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fmslab.compare.design import Contrast, build_design
from fmslab.compare.engine import _lower_codes
from fmslab.compare.lmm import fit_mixed
from fmslab.compare.summary import level_means, welch

GROUPS = ("HC", "FMS", "RA_FMS", "RA_noFMS")
CONTRASTS = (Contrast("RA_FMS", "RA_noFMS"), Contrast("RA_FMS", "HC"), Contrast("FMS", "HC"))


def null_design(
    rng: np.random.Generator, n_donors: Sequence[int], mice: int = 2, cells: int = 4
) -> pd.DataFrame:
    """One data set without group effect (see module docstring)."""
    rows = []
    for gi, g in enumerate(GROUPS):
        for d in range(n_donors[gi % len(n_donors)]):
            sex = "M" if rng.random() < 0.3 else "F"
            u = rng.normal() + (0.5 if sex == "M" else 0.0)
            for m in range(mice):
                v = u + 0.5 * rng.normal()
                for _ in range(cells):
                    rows.append((g, f"{g}{d}", f"{g}{d}m{m}", sex, v + rng.normal()))
    return pd.DataFrame(rows, columns=["group", "donor_id", "mouse_id", "sex", "y"])


def contrast_pvalues(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """p of every planned contrast: mixed model (containment df and Satterthwaite) and Welch on
    donor means (unadjusted for sex)."""
    levels = ("donor_id", "mouse_id")
    if df["sex"].nunique() < 2:
        covs: list[str] = []
    else:
        covs = ["sex"]
    des = build_design(df, group="group", groups=list(GROUPS), reference="HC", covariates=covs,
                       top="donor_id")  # fmt: skip
    codes, names, _ = _lower_codes(df, levels)
    fit = fit_mixed(df["y"].to_numpy(float), des.x, des.names, df["donor_id"].to_numpy(), codes,
                    names)  # fmt: skip
    from scipy import stats

    df_c = fit.n_top - len(des.between)
    out = {"lmm": [], "lmm_satterthwaite": [], "welch_donor_means": []}
    means = level_means(df, "y", group="group", levels=levels, upto=1)
    for c in CONTRASTS:
        r = fit.contrast(des.contrast_row(c))
        out["lmm"].append(float(2 * stats.t.sf(abs(r.statistic), df_c)))
        out["lmm_satterthwaite"].append(r.p)
        a = means.loc[means.group == c.reference, "y"].to_numpy(float)
        b = means.loc[means.group == c.target, "y"].to_numpy(float)
        out["welch_donor_means"].append(welch(a, b).p)
    return {k: np.array(v) for k, v in out.items()}


def false_positive_rates(
    n_sim: int, *, n_donors: Sequence[int] = (6, 7, 8), seed: int = 0, alpha: float = 0.05
) -> pd.DataFrame:
    """Per model: rate of p < alpha over all planned contrasts of ``n_sim`` null data sets, its
    binomial SE (over contrast tests, as if independent) and the family-wise rate after Holm."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(seed)
    ps: dict[str, list[np.ndarray]] = {}
    for _ in range(n_sim):
        for k, v in contrast_pvalues(null_design(rng, n_donors)).items():
            ps.setdefault(k, []).append(v)
    rows = []
    for k, v in ps.items():
        arr = np.array(v)
        rate = float((arr < alpha).mean())
        fwer = float(np.mean([multipletests(p, method="holm")[0].any() for p in arr]))
        rows.append({"model": k, "n_sim": n_sim, "n_tests": arr.size, "rate": rate,
                     "se": float(np.sqrt(alpha * (1 - alpha) / arr.size)),
                     "per_contrast": ", ".join(f"{x:.3f}" for x in (arr < alpha).mean(axis=0)),
                     "holm_familywise": fwer})  # fmt: skip
    return pd.DataFrame(rows)
