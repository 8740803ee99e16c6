"""Many outcomes at once: every route for every outcome, Benjamini-Hochberg, one tidy table."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from fmslab.compare.bootstrap import build_tree, hierarchical_bootstrap
from fmslab.compare.categorical import fisher, gee_logit
from fmslab.compare.hierarchy import Hierarchy, check_nesting
from fmslab.compare.mixed import fit_lmm
from fmslab.compare.summary import level_means, mann_whitney, welch
from fmslab.errors import InputError

log = logging.getLogger(__name__)

#: Columns of the tidy statistics table, in order.
STATS_COLUMNS = [
    "outcome",
    "kind",
    "model",
    "unit",
    "primary",
    "reference",
    "treatment",
    "n_donors_ref",
    "n_donors_trt",
    "n_mice_ref",
    "n_mice_trt",
    "n_obs_ref",
    "n_obs_trt",
    "estimate_type",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_method",
    "statistic",
    "df",
    "p",
    "q",
    "warnings",
]


@dataclass(frozen=True)
class Outcome:
    """One outcome: a numeric column, or ``column=value`` for a binary indicator."""

    column: str
    positive: str | None = None

    @property
    def name(self) -> str:
        return self.column if self.positive is None else f"{self.column}={self.positive}"

    @classmethod
    def parse(cls, spec: str) -> Outcome:
        col, sep, value = spec.partition("=")
        return cls(col.strip(), value.strip() if sep else None)


def _values(df: pd.DataFrame, outcome: Outcome, source: str | None) -> tuple[pd.Series, str]:
    if outcome.column not in df.columns:
        raise InputError(f"outcome column '{outcome.column}' not in the table", file=source)
    col = df[outcome.column]
    if outcome.positive is not None:
        y = (col.astype("string") == outcome.positive).astype(float)
        return y.where(col.notna()), "binary"
    if pd.api.types.is_bool_dtype(col):
        return col.astype(float), "binary"
    if not pd.api.types.is_numeric_dtype(col):
        levels = sorted(col.dropna().astype(str).unique())[:6]
        raise InputError(
            f"outcome '{outcome.column}' is not numeric (values {levels}); for a category write "
            f"'{outcome.column}=VALUE'",
            file=source,
        )
    return col.astype(float), "continuous"


#: Group names taken as the reference when none is given (case-insensitive).
CONTROL_NAMES = ("hc", "control", "ctrl", "healthy", "healthy control", "vehicle", "saline")


def default_reference(groups: list[str]) -> str:
    """A control-like group name if there is exactly one, else the first in sorted order."""
    controls = [g for g in groups if g.strip().lower() in CONTROL_NAMES]
    return controls[0] if len(controls) == 1 else sorted(groups)[0]


def compare_outcomes(
    df: pd.DataFrame,
    outcomes: list[str],
    *,
    hierarchy: Hierarchy,
    reference: str | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    bootstrap_method: str = "BCa",
    seed: int = 0,
    source: str | None = None,
) -> pd.DataFrame:
    """Compare two groups on each outcome by every route; return the tidy statistics table.

    Parameters
    ----------
    df
        Outcome table with the group and hierarchy columns (see
        :func:`fmslab.compare.hierarchy.prepare_table`), one row per lowest-level unit.
    outcomes
        Column names; ``column=value`` makes a binary outcome (e.g. ``firing_pattern=repetitive``).
    hierarchy
        Group column and clustering levels (top level = unit of replication, e.g. the donor).
    reference
        Reference group (default: the one named like a control -- HC, control, ctrl, healthy,
        vehicle, saline -- else the first in sorted order). Estimates are treatment - reference
        (odds ratios treatment / reference).
    n_resamples, confidence, bootstrap_method, seed
        Bootstrap settings (see :func:`fmslab.compare.bootstrap.hierarchical_bootstrap`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`STATS_COLUMNS`. ``q`` is the Benjamini-Hochberg adjusted p over the outcomes
        within each model. ``warnings`` lists singular fits, convergence problems, dropped rows and
        pseudo-replication caveats. ``primary`` marks the model that answers the question with the
        top level as unit of replication (mixed model; GEE for binary outcomes).
    """
    group, levels = hierarchy.group, hierarchy.levels
    check_nesting(df, hierarchy, source=source)
    names = sorted(df[group].dropna().astype(str).unique())
    if len(names) != 2:
        raise InputError(f"need exactly 2 groups in '{group}', found {names}", file=source)
    ref = reference if reference is not None else default_reference(names)
    if ref not in names:
        raise InputError(f"reference group '{ref}' not among {names}", file=source)
    trt = next(n for n in names if n != ref)
    rows: list[dict] = []
    for i, spec in enumerate(outcomes):
        outcome = Outcome.parse(spec)
        y, kind = _values(df, outcome, source)
        sub = df.assign(_y=y)
        dropped = int(sub["_y"].isna().sum())
        sub = sub[sub["_y"].notna()]
        base = {"outcome": outcome.name, "kind": kind, "reference": ref, "treatment": trt}
        base.update(_counts(sub, group, levels, ref, trt))
        common = [f"{dropped} row(s) with missing value dropped"] if dropped else []
        if sub[group].nunique() < 2:
            rows.append(
                {**base, "model": "none", "warnings": "; ".join([*common, "one group has no data"])}
            )
            continue
        route_rows = (
            _continuous(sub, group, levels, ref, trt, confidence)
            if kind == "continuous"
            else _binary(sub, group, levels, ref, trt, confidence)
        )
        route_rows += _bootstrap(
            sub, group, levels, ref, trt, kind, n_resamples, confidence, bootstrap_method, seed + i
        )
        for r in route_rows:
            r["warnings"] = "; ".join([*common, *r.get("warnings", [])])
            rows.append({**base, **r})
    table = pd.DataFrame(rows).reindex(columns=STATS_COLUMNS)
    table["primary"] = table["primary"].astype("boolean").fillna(False).astype(bool)
    table["q"] = np.nan
    for _, idx in table.groupby("model").groups.items():
        p = table.loc[idx, "p"]
        ok = p.notna()
        if ok.any():
            table.loc[p[ok].index, "q"] = multipletests(p[ok].to_numpy(float), method="fdr_bh")[1]
    return table


def _counts(df: pd.DataFrame, group: str, levels: tuple[str, ...], ref: str, trt: str) -> dict:
    out: dict = {}
    for tag, name in (("ref", ref), ("trt", trt)):
        sub = df[df[group] == name]
        for key, col in (("donors", "donor_id"), ("mice", "mouse_id")):
            out[f"n_{key}_{tag}"] = int(sub[col].nunique()) if col in levels else np.nan
        out[f"n_obs_{tag}"] = len(sub)
    return out


def _split(
    means: pd.DataFrame, group: str, ref: str, trt: str, col: str = "_y"
) -> tuple[np.ndarray, np.ndarray]:
    return (
        means.loc[means[group] == ref, col].to_numpy(float),
        means.loc[means[group] == trt, col].to_numpy(float),
    )


def _two_sample_rows(
    a: np.ndarray, b: np.ndarray, unit: str, confidence: float, caveat: list[str]
) -> list[dict]:
    w = welch(a, b, confidence=confidence)
    m = mann_whitney(a, b)
    return [
        {
            "model": f"welch_{unit}_means" if unit != "row" else "welch_rows",
            "unit": unit,
            "estimate_type": "mean_difference",
            "estimate": w.estimate,
            "ci_low": w.ci_low,
            "ci_high": w.ci_high,
            "ci_method": "welch_t",
            "statistic": w.statistic,
            "df": w.df,
            "p": w.p,
            "warnings": [*caveat, *w.warnings],
        },
        {
            "model": f"mannwhitney_{unit}_means" if unit != "row" else "mannwhitney_rows",
            "unit": unit,
            "estimate_type": "hodges_lehmann_shift",
            "estimate": m.estimate,
            "statistic": m.statistic,
            "p": m.p,
            "warnings": [*caveat, *m.warnings],
        },
    ]


def _short(col: str) -> str:
    return col[:-3] if col.endswith("_id") else col


def _continuous(
    df: pd.DataFrame, group: str, levels: tuple[str, ...], ref: str, trt: str, conf: float
) -> list[dict]:
    rows: list[dict] = []
    if levels:
        r = fit_lmm(df, "_y", group=group, levels=levels, reference=ref, confidence=conf)
        rows.append(
            {
                "model": "lmm",
                "unit": _short(levels[0]),
                "primary": True,
                "estimate_type": "mean_difference",
                "estimate": r.estimate,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "ci_method": f"t(df = n_{_short(levels[0])} - 2)",
                "statistic": r.statistic,
                "df": r.df,
                "p": r.p,
                "warnings": [
                    *r.warnings,
                    "variances: " + ", ".join(f"{k}={v:.4g}" for k, v in r.variances.items()),
                ],
            }
        )
        if np.isfinite(r.df_satterthwaite):
            half = stats.t.ppf(0.5 + conf / 2, r.df_satterthwaite) * r.se
            rows.append(
                {
                    "model": "lmm_satterthwaite",
                    "unit": _short(levels[0]),
                    "estimate_type": "mean_difference",
                    "estimate": r.estimate,
                    "ci_low": r.estimate - half,
                    "ci_high": r.estimate + half,
                    "ci_method": "t(Satterthwaite df, as lmerTest)",
                    "statistic": r.statistic,
                    "df": r.df_satterthwaite,
                    "p": r.p_satterthwaite,
                    "warnings": [
                        "same fit as lmm; Satterthwaite df can exceed n_donors - 2 when the "
                        "donor variance is estimated near 0"
                    ],
                }
            )
        for depth in range(1, len(levels) + 1):
            means = level_means(df, "_y", group=group, levels=levels, upto=depth)
            a, b = _split(means, group, ref, trt)
            caveat = (
                []
                if depth == 1
                else [
                    f"{_short(levels[depth - 1])} means within one {_short(levels[0])} are not "
                    "independent (pseudo-replicates for this question)"
                ]
            )
            rows += _two_sample_rows(a, b, _short(levels[depth - 1]), conf, caveat)
    else:
        a, b = _split(df, group, ref, trt)
        rows += _two_sample_rows(
            a, b, "row", conf, ["no clustering levels given: rows treated as independent"]
        )
        rows[0]["primary"] = True
    return rows


def _binary(
    df: pd.DataFrame, group: str, levels: tuple[str, ...], ref: str, trt: str, conf: float
) -> list[dict]:
    y = df["_y"].to_numpy(float)
    treated = (df[group] == trt).to_numpy()
    f = fisher(y, treated, confidence=conf)
    caveat = (
        ["rows counted as independent: ignores clustering (pseudo-replication)"] if levels else []
    )
    rows = [
        {
            "model": "fisher_rows",
            "unit": "row",
            "primary": not levels,
            "estimate_type": "odds_ratio",
            "estimate": f.estimate,
            "ci_low": f.ci_low,
            "ci_high": f.ci_high,
            "ci_method": "conditional_mle",
            "p": f.p,
            "warnings": [*caveat, *f.warnings],
        }
    ]
    if levels:
        g = gee_logit(y, treated, df[levels[0]].to_numpy(), confidence=conf)
        rows.append(
            {
                "model": "gee_logit",
                "unit": _short(levels[0]),
                "primary": True,
                "estimate_type": "odds_ratio",
                "estimate": g.estimate,
                "ci_low": g.ci_low,
                "ci_high": g.ci_high,
                "ci_method": "bias_reduced_sandwich_t",
                "statistic": g.statistic,
                "df": g.df,
                "p": g.p,
                "warnings": g.warnings,
            }
        )
        means = level_means(df, "_y", group=group, levels=levels, upto=1)
        a, b = _split(means, group, ref, trt)
        for r in _two_sample_rows(a, b, _short(levels[0]), conf, []):
            r["model"] = r["model"].replace("_means", "_fraction")
            r["estimate_type"] = r["estimate_type"].replace(
                "mean_difference", "fraction_difference"
            )
            rows.append(r)
    return rows


def _bootstrap(
    df: pd.DataFrame,
    group: str,
    levels: tuple[str, ...],
    ref: str,
    trt: str,
    kind: str,
    n_resamples: int,
    conf: float,
    method: str,
    seed: int,
) -> list[dict]:
    ref_df, trt_df = df[df[group] == ref], df[df[group] == trt]
    tree_a = build_tree(ref_df["_y"], ref_df, levels)
    tree_b = build_tree(trt_df["_y"], trt_df, levels)
    effects = ["mean_difference", "hedges_g"] if kind == "continuous" else ["mean_difference"]
    rows = []
    for effect in effects:
        r = hierarchical_bootstrap(
            tree_a,
            tree_b,
            effect=effect,
            n_resamples=n_resamples,
            confidence=conf,
            method=method,
            rng=seed,
        )
        etype = effect if kind == "continuous" else "fraction_difference"
        unit = _short(levels[0]) if levels else "row"
        rows.append(
            {
                "model": f"bootstrap_{effect}",
                "unit": unit,
                "estimate_type": etype,
                "estimate": r.estimate,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "ci_method": f"hierarchical_bootstrap_{r.method}_{n_resamples}",
                "warnings": r.warnings,
            }
        )
    return rows
