"""Design formulas to model matrices with R's treatment coding and DESeq2's coefficient names.

Supported right-hand sides: main effects of factors and numeric covariates joined by ``+``,
interactions ``a:b`` (and ``a*b`` = ``a + b + a:b``) whose main effects are in the formula; an
intercept is always included (as DESeq2 designs have). Factor levels are ordered reference first.

Columns are named as R DESeq2's ``resultsNames()``: ``Intercept``, ``time_Day8_vs_Day0`` for a
factor level, the covariate name for a numeric variable, ``sexMale.timeDay8`` for an interaction
(R's ``model.matrix`` name with ``:`` replaced by ``.``). Column order is R's: main effects in
formula order, then interactions by order; in an interaction column block the first factor's
levels vary fastest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd

from fmslab.errors import InputError

NAME = r"[A-Za-z_][A-Za-z0-9_.]*"


@dataclass(frozen=True)
class ModelMatrix:
    """A design matrix with its coefficient names and the factors it was built from."""

    matrix: np.ndarray
    columns: list[str]
    samples: list[str]
    factors: dict[str, list[str]] = field(default_factory=dict)
    terms: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def n_coef(self) -> int:
        return self.matrix.shape[1]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.matrix, index=self.samples, columns=self.columns)


def parse_terms(formula: str) -> list[tuple[str, ...]]:
    """Terms of a formula's right-hand side, main effects first (R's term order)."""
    if "~" not in formula:
        raise InputError(f"design '{formula}' must be a formula such as '~ sex + condition'")
    rhs = formula.split("~", 1)[1].strip()
    if not rhs:
        raise InputError(f"design '{formula}' has no terms")
    terms: list[tuple[str, ...]] = []
    for part in (p.strip() for p in rhs.split("+")):
        if part in ("", "1"):
            continue
        if part == "0" or part.startswith("-"):
            raise InputError(f"design '{formula}': DESeq2 designs keep the intercept")
        if "*" in part:
            names = [n.strip() for n in part.split("*")]
            for k in range(1, len(names) + 1):
                for combo in _combinations(names, k):
                    terms.append(combo)
            continue
        names = tuple(n.strip() for n in part.split(":"))
        for n in names:
            if not re.fullmatch(NAME, n):
                raise InputError(f"design '{formula}': term '{part}' is not a variable name")
        terms.append(names)
    unique = list(dict.fromkeys(terms))
    unique.sort(key=len)
    mains = {t[0] for t in unique if len(t) == 1}
    for t in unique:
        if len(t) > 1 and not set(t) <= mains:
            raise InputError(
                f"design '{formula}': interaction {':'.join(t)} needs its main effects in the "
                "formula"
            )
    return unique


def _combinations(names: list[str], k: int) -> list[tuple[str, ...]]:
    from itertools import combinations

    return [tuple(c) for c in combinations(names, k)]


def design_variables(formula: str) -> list[str]:
    """The sample-sheet columns a formula uses, in order of appearance."""
    return list(dict.fromkeys(n for t in parse_terms(formula) for n in t))


def model_matrix(formula: str, meta: pd.DataFrame) -> ModelMatrix:
    """Build the treatment-coded model matrix of ``formula`` on the sample sheet ``meta``.

    Categorical columns of ``meta`` are factors with their category order (reference first);
    other columns must be numeric.
    """
    terms = parse_terms(formula)
    factors: dict[str, list[str]] = {}
    numeric: dict[str, np.ndarray] = {}
    for var in design_variables(formula):
        if var not in meta.columns:
            raise InputError(f"design variable '{var}' is not a sample-sheet column")
        col = meta[var]
        if isinstance(col.dtype, pd.CategoricalDtype):
            factors[var] = [str(c) for c in col.cat.categories]
        else:
            numeric[var] = pd.to_numeric(col).to_numpy(dtype=float)
    n = len(meta)
    cols = [np.ones(n)]
    names = ["Intercept"]
    for term in terms:
        blocks = []
        for var in term:
            if var in factors:
                values = meta[var].astype(str).to_numpy()
                levels = factors[var][1:]
                blocks.append([(lev, (values == lev).astype(float)) for lev in levels])
            else:
                blocks.append([(None, numeric[var])])
        # R: first variable varies fastest
        for combo in product(*reversed(blocks)):
            combo = tuple(reversed(combo))
            vec = np.ones(n)
            for _, v in combo:
                vec = vec * v
            cols.append(vec)
            names.append(_column_name(term, [lev for lev, _ in combo], factors))
    return ModelMatrix(
        matrix=np.column_stack(cols),
        columns=names,
        samples=list(meta.index.astype(str)),
        factors=factors,
        terms=terms,
    )


def _column_name(term: tuple[str, ...], levels: list[str | None], factors) -> str:
    if len(term) == 1:
        var, lev = term[0], levels[0]
        if lev is None:
            return var
        return f"{var}_{lev}_vs_{factors[var][0]}".replace(" ", ".")
    parts = [var if lev is None else f"{var}{lev}" for var, lev in zip(term, levels, strict=True)]
    return ".".join(parts).replace(" ", ".")


def expanded_matrix(mm: ModelMatrix, meta: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """DESeq2's *expanded* model matrix: intercept, an indicator for every level of every
    factor main effect, numeric covariates as they are (designs without interactions)."""
    if any(len(t) > 1 for t in mm.terms):
        raise InputError("normal-prior shrinkage is not defined for designs with interactions")
    cols = [np.ones(len(meta))]
    names = ["Intercept"]
    for (var,) in mm.terms:
        if var in mm.factors:
            values = meta[var].astype(str).to_numpy()
            for lev in mm.factors[var]:
                cols.append((values == lev).astype(float))
                names.append(f"{var}{lev}")
        else:
            cols.append(pd.to_numeric(meta[var]).to_numpy(dtype=float))
            names.append(var)
    return np.column_stack(cols), names
