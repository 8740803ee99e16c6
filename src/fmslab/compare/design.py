"""Planned contrasts, covariates and day terms: the fixed-effect design of a comparison.

A comparison has ``k >= 2`` groups (a donor-level factor), optional covariates (numeric or
categorical, at any level: donor age, IgG batch, mouse sex, cell capacitance ...) and optionally a
day column (repeated measures). The design matrix uses treatment coding with the reference group
as intercept (R's default ``contr.treatment``), so group coefficients are group - reference.

Every planned contrast ``target - reference`` is a linear combination of the coefficients: the
difference of the two groups' model means with the covariates held fixed (covariates have no
interaction with group, so they cancel). With a day column the contrast is the difference of the
group means averaged over the observed days with equal weights (what ``emmeans(fit, ~ group)``
gives), and per-day contrasts are the differences at each day.

Designs that cannot answer the question are refused with the reason (:class:`InputError`): a
contrast naming a group that is not in the table, a covariate that is constant (nothing to adjust
for), a covariate that is constant within each of a contrast's two groups but differs between
them (it is confounded with that contrast), a rank-deficient design, or fewer top-level units
(donors) than donor-level parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fmslab.errors import InputError

#: Group names taken as the reference when none is given (case-insensitive).
CONTROL_NAMES = ("hc", "control", "ctrl", "healthy", "healthy control", "vehicle", "saline")

DAY_MODELS = ("factor", "linear", "spline")


def default_reference(groups: Sequence[str]) -> str:
    """A control-like group name if there is exactly one, else the first in sorted order."""
    controls = [g for g in groups if g.strip().lower() in CONTROL_NAMES]
    return controls[0] if len(controls) == 1 else sorted(groups)[0]


@dataclass(frozen=True)
class Contrast:
    """A planned comparison ``target - reference`` between two groups."""

    target: str
    reference: str
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"{self.target} - {self.reference}")

    @classmethod
    def parse(cls, spec: str | dict | Contrast) -> Contrast:
        """``"RA_FMS - RA_noFMS"`` / ``"RA_FMS-RA_noFMS"`` or ``{name, target, reference}``."""
        if isinstance(spec, Contrast):
            return spec
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - {"name", "target", "reference"})
            if unknown or "target" not in spec or "reference" not in spec:
                raise InputError(
                    f"contrast {spec!r}: give target and reference (and optionally name)"
                    + (f"; unknown key(s) {unknown}" if unknown else "")
                )
            return cls(str(spec["target"]), str(spec["reference"]), str(spec.get("name") or ""))
        text = str(spec).strip()
        parts = re.split(r"\s+-\s+", text) if " - " in text else text.split("-")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise InputError(
                f"contrast '{text}' must read TARGET-REFERENCE (e.g. RA_FMS-RA_noFMS); "
                "a group name with '-' needs spaces around the minus: 'A-1 - B'"
            )
        return cls(parts[0].strip(), parts[1].strip())


def parse_contrasts(specs: Iterable[str | dict | Contrast] | None) -> list[Contrast]:
    """Parse a list of contrast specifications; names must be unique."""
    out = [Contrast.parse(s) for s in (specs or [])]
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"contrast name(s) {dup} given twice")
    return out


def default_contrasts(groups: Sequence[str], reference: str) -> list[Contrast]:
    """Every other group against the reference (Dunnett-style ``trt.vs.ctrl``)."""
    return [Contrast(g, reference) for g in groups if g != reference]


@dataclass(frozen=True)
class DaySpec:
    """Repeated measures over a day column.

    ``model``: ``factor`` (one mean per group and day; group x day = all interaction cells),
    ``linear`` (a straight line per group) or ``spline`` (natural cubic spline with ``spline_df``
    degrees of freedom per group, knots at quantiles of the day values as R's ``splines::ns``).
    """

    column: str = "day"
    model: str = "factor"
    spline_df: int = 3

    def __post_init__(self) -> None:
        if self.model not in DAY_MODELS:
            raise InputError(f"day model must be one of {DAY_MODELS}, not '{self.model}'")
        if self.model == "spline" and self.spline_df < 1:
            raise InputError("spline df must be >= 1")


def natural_spline_basis(
    x: np.ndarray, knots: np.ndarray, boundary: tuple[float, float]
) -> np.ndarray:
    """Natural cubic spline basis without the constant, spanning the space of R's ``ns()``.

    Truncated-power form (Hastie, Tibshirani & Friedman, ESL eq. 5.4-5.5) with knots
    ``boundary[0] < knots < boundary[1]``: columns ``x`` and ``d_k - d_{K-1}``. The basis differs
    from R's B-spline form but spans the same functions, so fitted values, group contrasts at a
    day and F tests of spline terms are identical.
    """
    x = np.asarray(x, float)
    xi = np.concatenate([[boundary[0]], np.asarray(knots, float), [boundary[1]]])
    big_k = len(xi)
    scale = boundary[1] - boundary[0] or 1.0
    z = (x - boundary[0]) / scale
    xs = (xi - boundary[0]) / scale

    def d(k: int) -> np.ndarray:
        return (np.clip(z - xs[k], 0, None) ** 3 - np.clip(z - xs[-1], 0, None) ** 3) / (
            xs[-1] - xs[k]
        )

    cols = [z]
    for k in range(big_k - 2):
        cols.append(d(k) - d(big_k - 2))
    return np.column_stack(cols)


@dataclass
class Design:
    """Fixed-effect design of one comparison and the linear functions that answer it."""

    x: np.ndarray
    names: list[str]
    groups: list[str]
    reference: str
    days: list[float]
    day: DaySpec | None
    covariates: list[str]
    between: list[int]
    interaction: list[int]
    _means: dict = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)

    def mean_row(self, group: str, day: float | None = None) -> np.ndarray:
        """Coefficient weights of a group's model mean (at ``day``, or averaged over days)."""
        if self.day is None or day is None:
            if self.day is None:
                return self._means[(group, None)]
            return np.mean([self._means[(group, d)] for d in self.days], axis=0)
        return self._means[(group, float(day))]

    def contrast_row(self, c: Contrast, day: float | None = None) -> np.ndarray:
        return self.mean_row(c.target, day) - self.mean_row(c.reference, day)

    def omnibus_rows(self) -> np.ndarray:
        """``k - 1`` rows: every group vs the reference (averaged over days)."""
        return np.array([self.mean_row(g) - self.mean_row(self.reference) for g in self.groups
                         if g != self.reference])  # fmt: skip

    def interaction_rows(self) -> np.ndarray:
        rows = np.zeros((len(self.interaction), len(self.names)))
        for i, j in enumerate(self.interaction):
            rows[i, j] = 1.0
        return rows


def _covariate_columns(values: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(float)[:, None], [name]
    levels = sorted(values.astype(str).unique())
    cols = [(values.astype(str) == lv).to_numpy(float) for lv in levels[1:]]
    return (np.column_stack(cols) if cols else np.zeros((len(values), 0))), [
        f"{name}[{lv}]" for lv in levels[1:]
    ]


def check_contrasts(
    contrasts: Sequence[Contrast], groups: Sequence[str], *, source: str | None = None
) -> None:
    """Refuse a contrast naming a group that is not in the data, or a group against itself."""
    for c in contrasts:
        for g in (c.target, c.reference):
            if g not in groups:
                raise InputError(
                    f"contrast '{c.name}': group '{g}' is not in the table "
                    f"(groups: {', '.join(groups)})",
                    file=source,
                )
        if c.target == c.reference:
            raise InputError(f"contrast '{c.name}' compares a group with itself", file=source)


def check_covariates(
    df: pd.DataFrame,
    covariates: Sequence[str],
    group: str,
    contrasts: Sequence[Contrast],
    *,
    source: str | None = None,
) -> list[str]:
    """Refuse constant or contrast-confounded covariates; return notes for harmless cases."""
    notes = []
    for cov in covariates:
        if cov not in df.columns:
            raise InputError(f"covariate '{cov}' is not a column of the table", file=source)
        values = df[cov].dropna()
        if values.nunique() < 2:
            shown = values.iloc[0] if len(values) else "empty"
            raise InputError(
                f"covariate '{cov}' is constant ({shown}) in the analysed rows: nothing to "
                "adjust for; drop it",
                file=source,
            )
        for c in contrasts:
            per = {
                g: df.loc[df[group] == g, cov].dropna().astype(str).unique()
                for g in (c.target, c.reference)
            }
            sizes = {g: len(v) for g, v in per.items()}
            if all(n == 1 for n in sizes.values()):
                vt, vr = per[c.target][0], per[c.reference][0]
                if vt != vr:
                    raise InputError(
                        f"covariate '{cov}' is constant within each group of contrast "
                        f"'{c.name}' ({c.target}: {vt}, {c.reference}: {vr}): it is confounded "
                        "with the contrast, which cannot be adjusted for it",
                        file=source,
                    )
                notes.append(
                    f"covariate '{cov}' is {vt} in every row of {c.target} and {c.reference}: "
                    f"its adjustment does not change contrast '{c.name}'"
                )
    return notes


def build_design(
    df: pd.DataFrame,
    *,
    group: str,
    groups: Sequence[str],
    reference: str,
    covariates: Sequence[str] = (),
    day: DaySpec | None = None,
    top: str | None = None,
    source: str | None = None,
) -> Design:
    """Treatment-coded design: intercept, groups, day terms, group x day, covariates.

    ``groups`` fixes the order of the group columns (study order); the reference comes first as
    the intercept. ``top`` (the unit of replication) is used to count donor-level parameters.

    Raises
    ------
    InputError
        Rank-deficient design (naming the term that adds no information), a group x day cell
        without rows in the factor model, fewer top-level units than donor-level parameters.
    """
    n = len(df)
    gvals = df[group].astype(str).to_numpy()
    others = [g for g in groups if g != reference]
    blocks: list[tuple[str, np.ndarray, list[str]]] = [
        ("intercept", np.ones((n, 1)), ["(Intercept)"])
    ]
    gmat = np.column_stack([(gvals == g).astype(float) for g in others])
    blocks.append(("group", gmat, [f"{group}[{g}]" for g in others]))
    days: list[float] = []
    day_fn = None
    if day is not None:
        if day.column not in df.columns:
            raise InputError(f"day column '{day.column}' not in the table", file=source)
        dvals = pd.to_numeric(df[day.column], errors="coerce").to_numpy(float)
        if np.isnan(dvals).any():
            raise InputError(f"day column '{day.column}' has non-numeric values", file=source)
        days = sorted(float(d) for d in np.unique(dvals))
        if len(days) < 2:
            raise InputError(
                f"only one day ({days}) in '{day.column}': no time course", file=source
            )
        if day.model == "factor":

            def day_fn(v: np.ndarray) -> np.ndarray:
                return np.column_stack([(v == d).astype(float) for d in days[1:]])

            dnames = [f"{day.column}[{d:g}]" for d in days[1:]]
        elif day.model == "linear":

            def day_fn(v: np.ndarray) -> np.ndarray:
                return np.asarray(v, float)[:, None]

            dnames = [day.column]
        else:
            if day.spline_df > len(days) - 1:
                raise InputError(
                    f"spline with {day.spline_df} df needs at least {day.spline_df + 1} distinct "
                    f"days (has {len(days)})",
                    file=source,
                )
            probs = np.linspace(0, 1, day.spline_df + 1)[1:-1]
            knots = np.quantile(dvals, probs)  # R quantile type 7, as ns(df=)
            bounds = (float(dvals.min()), float(dvals.max()))

            def day_fn(v: np.ndarray) -> np.ndarray:
                return natural_spline_basis(v, knots, bounds)

            dnames = [f"ns({day.column})[{i + 1}]" for i in range(day.spline_df)]
        dmat = day_fn(dvals)
        blocks.append(("day", dmat, dnames))
        inter = np.column_stack([gmat[:, [i]] * dmat for i in range(len(others))])
        inames = [f"{group}[{g}]:{dn}" for g in others for dn in dnames]
        blocks.append(("group x day", inter, inames))
        if day.model == "factor":
            cells = pd.crosstab(gvals, dvals)
            empty = [(g, d) for g in cells.index for d in cells.columns if cells.loc[g, d] == 0]
            if empty:
                raise InputError(
                    f"no rows for group x day cell(s) {empty[:5]}: the factor day model needs "
                    "every group on every day (use --day-model linear/spline, or filter days)",
                    file=source,
                )
    cov_slices: list[tuple[str, int, int]] = []
    for cov in covariates:
        mat, cnames = _covariate_columns(df[cov], cov)
        blocks.append((f"covariate '{cov}'", mat, cnames))
    full = np.column_stack([m for _, m, _ in blocks])
    full_names = [nm for _, _, cn in blocks for nm in cn]
    between: list[int] = []
    if top is not None:
        members = df.assign(_r=np.arange(n)).groupby(top)["_r"].apply(list)
        for j in range(full.shape[1]):
            if all(np.ptp(full[idx, j]) == 0 for idx in members):
                between.append(j)
        n_top = len(members)
        if n_top < len(between):
            raise InputError(
                f"{n_top} '{top}' units cannot support {len(between)} {top}-level parameters "
                f"({', '.join(full_names[j] for j in between)}): fewer units of replication than "
                "parameters",
                file=source,
            )
    x = np.zeros((n, 0))
    names: list[str] = []
    spans: dict[str, list[int]] = {}
    for label, mat, cnames in blocks:
        start = x.shape[1]
        trial = np.column_stack([x, mat])
        if np.linalg.matrix_rank(trial) < trial.shape[1]:
            raise InputError(
                f"{label} adds no information the design does not already have (collinear with "
                f"{', '.join(names[1:]) or 'the intercept'}): the model cannot be fitted",
                file=source,
            )
        x = trial
        names += cnames
        spans[label] = list(range(start, x.shape[1]))
        if label.startswith("covariate"):
            cov_slices.append((label, start, x.shape[1]))
    # model means: a row of X with covariates at 0 (they cancel in group differences)
    means: dict = {}
    p = x.shape[1]
    for g in groups:
        base = np.zeros(p)
        base[0] = 1.0
        if g != reference:
            base[spans["group"][others.index(g)]] = 1.0
        if day is None:
            means[(g, None)] = base
            continue
        for d in days:
            row = base.copy()
            dv = day_fn(np.array([d]))[0]
            row[spans["day"]] = dv
            if g != reference:
                i = others.index(g)
                nd = len(dv)
                row[spans["group x day"][i * nd : (i + 1) * nd]] = dv
            means[(g, d)] = row
    return Design(
        x=x,
        names=names,
        groups=list(groups),
        reference=reference,
        days=days,
        day=day,
        covariates=list(covariates),
        between=between,
        interaction=spans.get("group x day", []),
        _means=means,
    )
