"""Many outcomes at once: k groups, planned contrasts, covariates, repeated measures; every route
for every outcome; Holm across planned contrasts, Benjamini-Hochberg across outcomes; one tidy
table."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from fmslab.compare.bootstrap import build_tree, hierarchical_bootstrap
from fmslab.compare.categorical import fisher, gee_logit
from fmslab.compare.design import (
    CONTROL_NAMES,  # noqa: F401 - re-exported (public before)
    Contrast,
    DaySpec,
    build_design,
    check_contrasts,
    check_covariates,
    default_contrasts,
    default_reference,
    parse_contrasts,
)
from fmslab.compare.hierarchy import Hierarchy, check_nesting
from fmslab.compare.lmm import fit_mixed
from fmslab.compare.summary import level_means, mann_whitney, welch
from fmslab.errors import InputError

log = logging.getLogger(__name__)

#: Columns of the tidy statistics table, in order (documented in docs/compare.md).
STATS_COLUMNS = [
    "outcome",
    "kind",
    "test",
    "contrast",
    "day",
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
    "se",
    "ci_low",
    "ci_high",
    "ci_method",
    "statistic",
    "df_num",
    "df",
    "p",
    "p_adj",
    "adjustment",
    "q",
    "covariates",
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


def compare_outcomes(
    df: pd.DataFrame,
    outcomes: list[str],
    *,
    hierarchy: Hierarchy,
    reference: str | None = None,
    contrasts: list | None = None,
    covariates: tuple[str, ...] | list[str] = (),
    day: DaySpec | None = None,
    groups: list[str] | None = None,
    adjust: str = "holm",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    bootstrap_method: str = "BCa",
    seed: int = 0,
    source: str | None = None,
) -> pd.DataFrame:
    """Compare k >= 2 groups on each outcome by every route; return the tidy statistics table.

    Parameters
    ----------
    df
        Outcome table with the group and hierarchy columns (see
        :func:`fmslab.compare.hierarchy.prepare_table`), one row per lowest-level unit (cell,
        unit, dish cell, mouse-day ...).
    outcomes
        Column names; ``column=value`` makes a binary outcome (e.g. ``firing_pattern=repetitive``).
    hierarchy
        Group column and clustering levels (top level = unit of replication, e.g. the donor).
    reference
        Reference group of the default contrasts and of the omnibus test (default: the one named
        like a control -- HC, control, ctrl, healthy, vehicle, saline -- else the first sorted).
    contrasts
        Planned contrasts (:class:`~fmslab.compare.design.Contrast`, ``"A - B"`` strings or
        ``{name, target, reference}`` dicts). Default: every other group vs the reference.
        Estimates are target - reference (odds ratios target / reference).
    covariates
        Columns adjusted for in the mixed model (numeric or categorical, any level).
    day
        Repeated measures (:class:`~fmslab.compare.design.DaySpec`): adds day terms, the group x
        day interaction test and per-day contrasts.
    groups
        Order of the groups (e.g. from ``study.yaml``); others follow in sorted order.
    adjust
        Multiplicity correction across the planned contrasts of one outcome and model (and
        across contrasts x days for per-day contrasts): a ``statsmodels`` ``multipletests``
        method, ``holm`` by default.
    n_resamples, confidence, bootstrap_method, seed
        Bootstrap settings (see :func:`fmslab.compare.bootstrap.hierarchical_bootstrap`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`STATS_COLUMNS` (see docs/compare.md). ``p_adj`` is the planned-contrast
        correction (``adjustment`` names it), ``q`` the Benjamini-Hochberg adjusted p over the
        outcomes within each model, test and contrast. ``primary`` marks the row that answers
        each question with the top level as unit of replication.

    Raises
    ------
    InputError
        Fewer than two groups, a contrast naming an absent group, a constant or
        contrast-confounded covariate, a rank-deficient design, fewer donors than parameters.
    """
    group, levels = hierarchy.group, hierarchy.levels
    check_nesting(df, hierarchy, source=source)
    present = sorted(df[group].dropna().astype(str).unique())
    order = [g for g in (groups or []) if g in present] + [
        g for g in present if g not in (groups or [])
    ]
    if len(order) < 2:
        raise InputError(f"need at least 2 groups in '{group}', found {order}", file=source)
    ref = reference if reference is not None else default_reference(order)
    if ref not in order:
        raise InputError(f"reference group '{ref}' not among {order}", file=source)
    planned = parse_contrasts(contrasts) if contrasts else default_contrasts(order, ref)
    check_contrasts(planned, order, source=source)
    covariates = list(covariates)
    design_notes = check_covariates(df, covariates, group, planned, source=source)
    if day is not None and day.column not in df.columns:
        raise InputError(f"day column '{day.column}' not in the table", file=source)
    # the whole design is checked once on all rows, so that a bad design stops with its reason
    if levels:
        build_design(df.dropna(subset=covariates), group=group, groups=order, reference=ref,
                     covariates=covariates, day=day, top=levels[0], source=source)  # fmt: skip
    rows: list[dict] = []
    for i, spec in enumerate(outcomes):
        outcome = Outcome.parse(spec)
        y, kind = _values(df, outcome, source)
        sub = df.assign(_y=y)
        dropped = int(sub["_y"].isna().sum())
        sub = sub[sub["_y"].notna()]
        common = [f"{dropped} row(s) with missing value dropped"] if dropped else []
        if covariates:
            n_cov = int(sub[covariates].isna().any(axis=1).sum())
            if n_cov:
                common.append(f"{n_cov} row(s) with a missing covariate dropped")
                sub = sub.dropna(subset=covariates)
        base = {"outcome": outcome.name, "kind": kind, "covariates": ", ".join(covariates)}
        routes = _Routes(sub, group, levels, order, ref, planned, covariates, day, confidence,
                         kind, common + design_notes)  # fmt: skip
        rows += routes.model_rows(base)
        for c in planned:
            rows += routes.pair_rows(base, c, n_resamples, bootstrap_method, seed + i)
    table = pd.DataFrame(rows).reindex(columns=STATS_COLUMNS)
    table["primary"] = table["primary"].astype("boolean").fillna(False).astype(bool)
    return _adjust(table, adjust)


def _adjust(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """Planned-contrast correction within outcome x model x test; BH over outcomes."""
    table["p_adj"] = np.nan
    table["adjustment"] = ""
    for (_, _, test), idx in table.groupby(["outcome", "model", "test"]).groups.items():
        p = table.loc[idx, "p"]
        ok = p.notna()
        if not ok.any():
            continue
        if test in ("contrast", "per_day"):
            vals = p[ok].to_numpy(float)
            adj = multipletests(vals, method=method)[1] if len(vals) > 1 else vals
            table.loc[p[ok].index, "p_adj"] = adj
            what = "planned contrasts" if test == "contrast" else "contrasts x days"
            table.loc[p[ok].index, "adjustment"] = (
                f"{method} over {len(vals)} {what}" if len(vals) > 1 else "none (one test)"
            )
        else:
            table.loc[p[ok].index, "p_adj"] = p[ok]
            table.loc[p[ok].index, "adjustment"] = "none (one test)"
    table["q"] = np.nan
    keys = table[["model", "test", "contrast", "day"]].astype(str).agg("|".join, axis=1)
    for _, idx in table.groupby(keys).groups.items():
        p = table.loc[idx, "p"]
        ok = p.notna()
        if ok.any():
            table.loc[p[ok].index, "q"] = multipletests(p[ok].to_numpy(float), method="fdr_bh")[1]
    return table


def _lower_codes(df: pd.DataFrame, levels: tuple[str, ...]) -> tuple[list, list[str], list[str]]:
    """Codes of the deeper levels kept in the model; a level with one row per unit is dropped."""
    codes, names, notes = [], [levels[0]], []
    for depth, level in enumerate(levels[1:], start=2):
        if df.groupby(list(levels[:depth]), sort=False).size().max() <= 1:
            notes.append(
                f"'{level}' has one row per unit: its variance is the residual; component dropped"
            )
            continue
        units = df[list(levels[:depth])].astype(str).agg("/".join, axis=1)
        codes.append(pd.factorize(units)[0])
        names.append(level)
    return codes, names, notes


class _Routes:
    """Every route of one outcome: the mixed model over all groups, then per contrast."""

    def __init__(self, df, group, levels, order, ref, planned, covariates, day, conf, kind, notes):
        self.df, self.group, self.levels, self.conf, self.kind = df, group, levels, conf, kind
        self.order, self.ref, self.planned = order, ref, planned
        self.covariates, self.day, self.notes = covariates, day, list(notes)
        self.fit = self.design = None
        self.fit_notes: list[str] = []
        self.present = sorted(df[group].astype(str).unique())
        if kind == "continuous" and levels and len(self.present) >= 2:
            self._fit()

    def _fit(self) -> None:
        df, levels = self.df, self.levels
        groups = [g for g in self.order if g in self.present]
        ref = self.ref if self.ref in groups else groups[0]
        try:
            self.design = build_design(df, group=self.group, groups=groups, reference=ref,
                                       covariates=self.covariates, day=self.day, top=levels[0])  # fmt: skip
            codes, names, notes = _lower_codes(df, levels)
            one_row = df.groupby(levels[0]).size().max() <= 1
            if one_row:
                notes.append(f"one row per '{levels[0]}': ordinary least squares")
            self.fit = fit_mixed(df["_y"].to_numpy(float), self.design.x, self.design.names,
                                 df[levels[0]].to_numpy(), codes, names, top_random=not one_row)  # fmt: skip
            self.fit_notes = notes + self.fit.warnings
        except (InputError, np.linalg.LinAlgError, ValueError) as exc:
            self.fit_notes = [f"mixed model not fitted: {exc}"]
            self.fit = None

    def _variances(self) -> str:
        return "variances: " + ", ".join(f"{k}={v:.4g}" for k, v in self.fit.variances.items())

    def model_rows(self, base: dict) -> list[dict]:
        """Omnibus (k > 2), group x day and per-day contrasts from the mixed model."""
        if self.fit is None or self.design is None:
            return []
        rows = []
        unit = _short(self.levels[0])
        des = self.design
        head = {**base, "model": "lmm_satterthwaite", "unit": unit, "primary": True,
                "reference": des.reference, "ci_method": "F(Satterthwaite df, as lmerTest)"}  # fmt: skip
        tests = []
        if len(des.groups) > 2:
            tests.append(("omnibus", des.omnibus_rows()))
        if self.day is not None:
            tests.append(("group_x_day", des.interaction_rows()))
        for test, rows_l in tests:
            f = self.fit.ftest(rows_l)
            rows.append({**head, "test": test, "contrast": "", "treatment": ", ".join(
                g for g in des.groups if g != des.reference), **self._counts_all(),
                "estimate_type": "F", "statistic": f.statistic, "df_num": f.df_num,
                "df": f.df_den, "p": f.p,
                "warnings": "; ".join([*self.notes, *self.fit_notes, self._variances()])})  # fmt: skip
        if self.day is not None:
            for c in self.planned:
                if c.target not in des.groups or c.reference not in des.groups:
                    continue
                counts = self._counts(c)
                for d in des.days:
                    r = self.fit.contrast(des.contrast_row(c, d))
                    lo, hi = r.ci(self.conf)
                    rows.append({**head, "test": "per_day", "contrast": c.name, "day": d,
                                 "reference": c.reference, "treatment": c.target, **counts,
                                 "estimate_type": "mean_difference", "estimate": r.estimate,
                                 "se": r.se, "ci_low": lo, "ci_high": hi,
                                 "ci_method": "t(Satterthwaite df, as lmerTest)",
                                 "statistic": r.statistic, "df": r.df, "p": r.p,
                                 "warnings": "; ".join([*self.notes, *self.fit_notes])})  # fmt: skip
        return rows

    def _counts_all(self) -> dict:
        others = [g for g in self.present if g != self.ref]
        return _counts_groups(self.df, self.group, self.levels, [self.ref], others)

    def _counts(self, c: Contrast) -> dict:
        return _counts_groups(self.df, self.group, self.levels, [c.reference], [c.target])

    def pair_rows(self, base: dict, c: Contrast, n_resamples: int, method: str, seed: int):
        """Rows of one planned contrast: mixed model, donor means, bootstrap (or binary routes)."""
        ref, trt = c.reference, c.target
        head = {**base, "test": "contrast", "contrast": c.name, "reference": ref,
                "treatment": trt, **self._counts(c)}  # fmt: skip
        if ref not in self.present or trt not in self.present:
            empty = " and ".join(g for g in (trt, ref) if g not in self.present)
            why = f"no rows with a value of the outcome in group {empty}"
            return [{**head, "model": "none",
                     "warnings": "; ".join([*self.notes, why])}]  # fmt: skip
        pair = self.df[self.df[self.group].isin([ref, trt])]
        group, levels, conf = self.group, self.levels, self.conf
        extra = []
        if self.covariates:
            extra.append("not adjusted for covariates (only the mixed model is)")
        if self.kind == "continuous":
            route_rows = self._lmm_rows(c) if levels else []
            route_rows += _donor_mean_rows(pair, group, levels, ref, trt, conf, extra)
        else:
            route_rows = _binary(pair, group, levels, ref, trt, conf)
            for r in route_rows:
                r.setdefault("warnings", []).extend(extra)
        route_rows += _bootstrap(pair, group, levels, ref, trt, self.kind, n_resamples, conf,
                                 method, seed)  # fmt: skip
        out = []
        for r in route_rows:
            r["warnings"] = "; ".join([*self.notes, *r.get("warnings", [])])
            out.append({**head, **r})
        return out

    def _lmm_rows(self, c: Contrast) -> list[dict]:
        unit = _short(self.levels[0])
        if self.fit is None:
            return [{"model": "lmm", "unit": unit, "primary": True, "warnings": self.fit_notes}]
        des = self.design
        r = self.fit.contrast(des.contrast_row(c))
        n_between = len(des.between)
        df_c = float(self.fit.n_top - n_between)
        warn = [*self.fit_notes, self._variances()]
        ok = df_c >= 1 and np.isfinite(r.se) and r.se > 0
        if df_c < 1:
            warn.append(f"only {self.fit.n_top} '{self.levels[0]}' units: no degrees of freedom")
        lo, hi = r.ci(self.conf, df=df_c) if ok else (np.nan, np.nan)
        t = r.statistic if ok else np.nan
        p = float(2 * stats.t.sf(abs(t), df_c)) if ok else np.nan
        rows = [{"model": "lmm", "unit": unit, "primary": True,
                 "estimate_type": "mean_difference", "estimate": r.estimate, "se": r.se,
                 "ci_low": lo, "ci_high": hi, "ci_method": f"t(df = n_{unit} - {n_between})",
                 "statistic": t, "df": df_c if ok else np.nan, "p": p, "warnings": warn}]  # fmt: skip
        if np.isfinite(r.df):
            lo, hi = r.ci(self.conf)
            rows.append({"model": "lmm_satterthwaite", "unit": unit,
                         "estimate_type": "mean_difference", "estimate": r.estimate, "se": r.se,
                         "ci_low": lo, "ci_high": hi,
                         "ci_method": "t(Satterthwaite df, as lmerTest)", "statistic": r.statistic,
                         "df": r.df, "p": r.p,
                         "warnings": ["same fit as lmm; Satterthwaite df can exceed n_donors - 2 "
                                      "when the donor variance is estimated near 0"]})  # fmt: skip
        return rows


def _counts_groups(
    df: pd.DataFrame, group: str, levels: tuple[str, ...], ref: list[str], trt: list[str]
) -> dict:
    out: dict = {}
    for tag, names in (("ref", ref), ("trt", trt)):
        sub = df[df[group].isin(names)]
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


def _donor_mean_rows(
    df: pd.DataFrame,
    group: str,
    levels: tuple[str, ...],
    ref: str,
    trt: str,
    conf: float,
    extra: list[str],
) -> list[dict]:
    """Welch / Mann-Whitney on means per unit of each level (top level = the answer)."""
    rows: list[dict] = []
    if levels:
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
            rows += _two_sample_rows(a, b, _short(levels[depth - 1]), conf, [*caveat, *extra])
    else:
        a, b = _split(df, group, ref, trt)
        rows += _two_sample_rows(
            a, b, "row", conf, ["no clustering levels given: rows treated as independent", *extra]
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
