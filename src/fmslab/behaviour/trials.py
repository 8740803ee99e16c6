"""Per-trial processing (cut-offs, outlier flags) and the per-mouse-day summary.

Cut-off rule
    A reading at or above the assay's cut-off (latency in s, Randall-Selitto force in g; default in
    :data:`fmslab.behaviour.assays.ASSAYS`, overridden by ``--cutoff`` and then by a row's
    ``cutoff``) is censored: its value is the cut-off and it is flagged ``at_cutoff``; a reading
    *above* the cut-off cannot have been measured and is also flagged ``exceeds_cutoff`` (value set
    to the cut-off).
Outlier rule (documented in ``docs/behaviour.md``)
    Among the trials of one mouse, day, assay and side (at least 3 usable trials), a trial is
    flagged ``outlier`` when it lies more than 3.5 robust standard deviations from the median of
    those trials (modified z-score of Iglewicz & Hoaglin 1993, |0.6745 (x - median) / MAD| > 3.5)
    *and* more than 20 % of the median away from it (so ties that make MAD zero do not flag trivial
    differences). Outliers are flagged and kept in the mean unless ``exclude_outliers=True``.
Mouse-day value
    Mean of the usable trials of each side, then the mean over sides (each side weighs the same).
    Von Frey thresholds bounded at the end of the filament set (``below_range``/``above_range``)
    are used with their bound value, as Chaplan et al. (1994) did, and counted in ``n_bounded``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OUTLIER_Z = 3.5
OUTLIER_MIN_REL = 0.20
MIN_TRIALS_FOR_OUTLIERS = 3
DAY_KEY = ["mouse_id", "day", "assay"]


def _add_flag(flags: pd.Series, mask: pd.Series, code: str) -> pd.Series:
    new = flags.where(~mask, np.where(flags == "", code, flags + ";" + code))
    return new.astype(str)


def apply_cutoffs(trials: pd.DataFrame, overrides: dict[str, float] | None = None) -> pd.DataFrame:
    """Add ``value`` (censored at the cut-off), ``at_cutoff`` and cut-off flags.

    ``overrides`` maps assay -> cut-off (``--cutoff``) and replaces the default for rows without
    their own ``cutoff`` cell (``cutoff_source`` says which applied: row, option or default).
    """
    out = trials.copy()
    if "cutoff_source" not in out.columns:
        out["cutoff_source"] = "default"
    for assay, cut in (overrides or {}).items():
        sel = (out["assay"] == assay) & (out["cutoff_source"] != "row")
        out.loc[sel, "cutoff"] = cut
        out.loc[sel, "cutoff_source"] = "option"
    raw = out["raw_value"].astype(float)
    cut = out["cutoff"].astype(float)
    above = raw > cut
    at = raw >= cut
    out["value"] = np.where(at, cut, raw)
    out["at_cutoff"] = at.fillna(False)
    out["flag"] = _add_flag(out["flag"].fillna("").astype(str), at & ~above, "at_cutoff")
    out["flag"] = _add_flag(out["flag"], above, "exceeds_cutoff")
    return out


def flag_outliers(trials: pd.DataFrame) -> pd.DataFrame:
    """Add a boolean ``outlier`` column by the rule in the module docstring."""
    out = trials.copy()
    out["outlier"] = False
    usable = out["value"].notna()
    for _, grp in out[usable].groupby(DAY_KEY + ["side"], sort=False):
        if len(grp) < MIN_TRIALS_FOR_OUTLIERS:
            continue
        x = grp["value"].to_numpy(float)
        med = np.median(x)
        mad = np.median(np.abs(x - med))
        dev = np.abs(x - med)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(dev == 0, 0.0, 0.6745 * dev / mad if mad > 0 else np.inf)
        mask = (z > OUTLIER_Z) & (dev > OUTLIER_MIN_REL * abs(med))
        out.loc[grp.index[mask], "outlier"] = True
    out["flag"] = _add_flag(out["flag"], out["outlier"], "outlier")
    return out


def mouse_day_table(trials: pd.DataFrame, *, exclude_outliers: bool = False) -> pd.DataFrame:
    """One row per mouse, day and assay: mean of side means of the usable trials."""
    t = trials.copy()
    t["used"] = t["value"].notna() & ~(t["outlier"] & exclude_outliers)
    bounded = t["flag"].str.contains("below_range|above_range", regex=True)
    t["_bounded"] = bounded & t["used"]
    t["_cut"] = t["at_cutoff"] & t["used"]
    meta = [c for c in ("group", "treatment_code", "donor_id") if c in t.columns]
    rows = []
    for key, grp in t.groupby(DAY_KEY, sort=True):
        used = grp[grp["used"]]
        side_means = used.groupby("side")["value"].mean()
        rec = dict(zip(DAY_KEY, key, strict=True))
        rec.update(
            measure=grp["measure"].iloc[0],
            unit=grp["unit"].iloc[0],
            value=float(side_means.mean()) if len(side_means) else np.nan,
            n_trials=int(len(used)),
            n_sides=int(len(side_means)),
            sides=",".join(side_means.index),
            n_not_scored=int((~grp["used"]).sum()),
            n_outliers=int(grp["outlier"].sum()),
            n_at_cutoff=int(grp["_cut"].sum()),
            n_bounded=int(grp["_bounded"].sum()),
        )
        for c in meta:
            vals = grp[c].dropna().unique()
            rec[c] = vals[0] if len(vals) == 1 else None
        rows.append(rec)
    return pd.DataFrame(rows)
