"""Association of the donors' clinical scores with their transfer effects.

For each outcome and each numeric clinical column of the donors sheet, Spearman's rank
correlation between the score and the donor's signed standardised shrunken effect
(:func:`fmslab.donors.profile.standardised`; positive = hypersensitive), over the patient donors
(the non-reference groups: across all donors the correlation would mostly restate the group
difference, since the scores separate patients from controls). The p value is a permutation test
of the scores against the effects: exact (all permutations) up to 8 donors, else
``n_permutations`` random ones (p = (1 + #{|rho*| >= |rho|}) / (1 + n)).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

#: Donor-sheet columns that are identifiers or design, not clinical scores.
NOT_SCORES = (
    "donor_id", "group", "treatment_code", "potency", "baseline_re", "igg_batch", "sex", "age",
    "transfers",
)  # fmt: skip
#: Fewer patient donors than this: the association is reported with a warning.
FEW_DONORS = 6


def score_columns(donors: pd.DataFrame) -> list[str]:
    """Numeric columns of a donors sheet that are not identifiers or design (:data:`NOT_SCORES`).

    A text column (a sheet column the study schema does not declare is read as text) counts as
    numeric when every filled cell is a number (:func:`numeric_scores` converts it)."""
    return [
        c
        for c in donors.columns
        if c not in NOT_SCORES and (
            pd.api.types.is_numeric_dtype(donors[c]) or _all_numbers(donors[c])
        )
    ]  # fmt: skip


def _all_numbers(values: pd.Series) -> bool:
    filled = values.dropna()
    filled = filled[filled.astype(str).str.strip() != ""]
    if not len(filled) or pd.api.types.is_bool_dtype(values):
        return False
    return bool(pd.to_numeric(filled, errors="coerce").notna().all())


def numeric_scores(donors: pd.DataFrame) -> pd.DataFrame:
    """The donors sheet with its score columns (:func:`score_columns`) as floats."""
    out = donors.copy()
    for c in score_columns(donors):
        out[c] = pd.to_numeric(out[c].replace("", np.nan), errors="coerce").astype(float)
    return out


def permutation_spearman(
    x: np.ndarray, y: np.ndarray, *, n_permutations: int = 10000, seed: int = 0
) -> tuple[float, float, int]:
    """Spearman's rho of ``x`` and ``y`` and its two-sided permutation p value.

    Returns
    -------
    (rho, p, permutations)
        ``permutations``: how many permutations were evaluated (all of them up to 8 values).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rho = float(np.corrcoef(rx, ry)[0, 1])
    n = len(x)
    if n <= 8:
        perms = np.array(list(itertools.permutations(range(n))))
        null = np.array([np.corrcoef(rx, ry[p])[0, 1] for p in perms])
        p = float(np.mean(np.abs(null) >= abs(rho) - 1e-12))
        return rho, p, math.factorial(n)
    rng = np.random.default_rng(seed)
    null = np.array([np.corrcoef(rx, rng.permutation(ry))[0, 1] for _ in range(n_permutations)])
    p = float((1 + np.sum(np.abs(null) >= abs(rho) - 1e-12)) / (1 + n_permutations))
    return rho, p, n_permutations


def clinical_association(
    effects: pd.DataFrame,
    donors: pd.DataFrame,
    *,
    scores: list[str] | None = None,
    n_permutations: int = 10000,
    seed: int = 0,
) -> pd.DataFrame:
    """Spearman correlation (permutation p) of each clinical score with each outcome's effect.

    Parameters
    ----------
    effects
        Called effect table (:func:`fmslab.donors.responders.call_responders`).
    donors
        The study's donors sheet (``donor_id`` plus clinical columns).
    scores
        Clinical columns; default every numeric column not in :data:`NOT_SCORES`.

    Returns
    -------
    pandas.DataFrame
        ``outcome, score, n_donors, spearman_rho, p_permutation, permutations, warning``.
    """
    from fmslab.donors.profile import standardised

    eff = effects.assign(z=standardised(effects))
    eff = eff[eff["group"] != eff["reference"]]
    sheet = donors.assign(donor_id=donors["donor_id"].astype(str)).drop_duplicates("donor_id")
    if scores is None:
        scores = score_columns(sheet)
    rows = []
    for outcome, sub in eff.groupby("outcome", sort=False):
        joined = sub.merge(sheet, on="donor_id", how="left")
        for score in scores:
            ok = joined[["z", score]].dropna()
            n = len(ok)
            rho = p = np.nan
            perms = 0
            warning = ""
            if n >= 3 and ok[score].nunique() > 1 and ok["z"].nunique() > 1:
                rho, p, perms = permutation_spearman(
                    ok[score].to_numpy(), ok["z"].to_numpy(), n_permutations=n_permutations,
                    seed=seed,
                )  # fmt: skip
            else:
                warning = "too few donors or no spread: not estimated"
            if n < FEW_DONORS and not warning:
                warning = f"only {n} patient donors: the smallest attainable p is large"
            rows.append(
                {
                    "outcome": outcome,
                    "score": score,
                    "n_donors": n,
                    "spearman_rho": rho,
                    "p_permutation": p,
                    "permutations": perms,
                    "warning": warning,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "outcome", "score", "n_donors", "spearman_rho", "p_permutation", "permutations",
            "warning",
        ],
    )  # fmt: skip
