"""Differential expression as R DESeq2's ``DESeq()`` + ``results()`` + ``lfcShrink("normal")``.

:func:`run_de` takes plain DataFrames (genes x samples counts, a sample sheet) and returns a
:class:`DEResult` of plain DataFrames. It chains named stages, each a function with a typed
result; the numerics are in :mod:`fmslab.rnaseq.engine` (no pydeseq2 object is used):

1. :func:`prepare_design` - sample sheet checks, factor levels, model matrix (any formula of
   factors and covariates with interactions, :mod:`.design`), rank check;
2. :func:`estimate_dispersions` - size factors, gene-wise dispersions, parametric trend, prior
   variance (:mod:`.priorvar`), MAP dispersions;
3. :func:`fit_and_refit` - NB GLM fit, Cook's distances, replacement of outlier counts in
   cells with >= 7 samples and refit of those genes (dispersions re-estimated against the same
   trend and prior), as ``DESeq(minReplicatesForReplace = 7)``;
4. :func:`test_contrast` - Wald test of a contrast (two levels of a factor, or a numeric
   combination of coefficients) or the likelihood-ratio test against a reduced formula; genes
   without counts in either level of a two-level contrast get fold change 0, statistic 0 and
   p-value 1, as in ``results()``;
   Cook's filtering (genes with a Cook's distance above the 0.99 quantile of F(p, m - p) in a
   sample of a cell with >= 3 samples get NA p-values); independent filtering and BH;
5. :func:`shrink_normal` - normal-prior shrunken fold changes (:mod:`.shrink`) in the column
   ``log2FoldChange_shrunk`` (designs without interactions, two-level contrasts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fmslab.errors import InputError
from fmslab.rnaseq import engine as eng
from fmslab.rnaseq.design import ModelMatrix, design_variables, model_matrix
from fmslab.rnaseq.io import Contrast
from fmslab.rnaseq.priorvar import prior_variance

log = logging.getLogger(__name__)

RESULT_COLUMNS = ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]
MIN_REPLICATES_FOR_REPLACE = 7


@dataclass
class DEResult:
    """Everything a DE run produces, as plain pandas objects (genes as index)."""

    results: dict[str, pd.DataFrame]
    size_factors: pd.Series
    dispersions: pd.DataFrame
    normalized_counts: pd.DataFrame
    cooks_max: pd.Series
    cooks: pd.DataFrame
    trend: tuple[float, float]
    design_matrix: pd.DataFrame
    prior_disp_var: float
    prior_method: str
    parameters: dict = field(default_factory=dict)


def _design_variables(design: str) -> list[str]:
    return design_variables(design)


# ---------------------------------------------------------------------------------------------
# stage 1: design


@dataclass
class PreparedDesign:
    """Checked sample sheet (factors ordered reference first) and model matrices."""

    meta: pd.DataFrame
    full: ModelMatrix
    reduced: ModelMatrix | None


def prepare_metadata(
    samples: pd.DataFrame, design: str, contrasts: list[Contrast], *, samples_file=None
) -> pd.DataFrame:
    """Check the design against the sheet and order factor levels (reference first).

    Non-numeric columns become factors with levels sorted, the reference of the first contrast
    on the variable placed first; numeric columns stay covariates unless a contrast names them.
    """
    meta = samples.copy()
    variables = design_variables(design)
    for var in variables:
        if var not in meta.columns:
            raise InputError(
                f"design variable '{var}' is not a sample-sheet column", file=samples_file
            )
        if meta[var].isna().any():
            sample = meta.index[meta[var].isna()][0]
            raise InputError(f"sample '{sample}' has no value for '{var}'", file=samples_file)
    refs: dict[str, str] = {}
    for c in contrasts:
        if c.is_numeric:
            continue
        if c.variable not in meta.columns:
            raise InputError(f"contrast {c.id}: no column '{c.variable}'", file=samples_file)
        levels = set(meta[c.variable].astype(str))
        for lev in (c.reference, c.target):
            if lev not in levels:
                raise InputError(
                    f"contrast {c.id}: level '{lev}' not found in '{c.variable}' "
                    f"(levels: {sorted(levels)})",
                    file=samples_file,
                )
        refs.setdefault(c.variable, c.reference)
    for var in variables:
        col = meta[var]
        if pd.to_numeric(col, errors="coerce").notna().all() and var not in refs:
            meta[var] = pd.to_numeric(col)
            continue
        levels = sorted(col.astype(str).unique())
        if var in refs:
            levels.remove(refs[var])
            levels.insert(0, refs[var])
        meta[var] = pd.Categorical(col.astype(str), categories=levels)
    return meta


def _check_rank(mm: ModelMatrix, design: str, samples_file=None) -> None:
    x = mm.matrix
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:
        raise InputError(
            f"design '{design}' is rank deficient (rank {rank} < {x.shape[1]} columns "
            f"{mm.columns}): a variable is confounded with another or a level "
            "combination is empty",
            file=samples_file,
        )
    if x.shape[0] <= x.shape[1]:
        raise InputError(
            f"design '{design}' has no residual degrees of freedom ({x.shape[0]} samples, "
            f"{x.shape[1]} coefficients)",
            file=samples_file,
        )


def prepare_design(
    samples: pd.DataFrame,
    design: str,
    contrasts: list[Contrast],
    *,
    reduced: str | None = None,
    samples_file=None,
) -> PreparedDesign:
    """Stage 1: sample sheet to model matrices (full and, for the LRT, reduced)."""
    meta = prepare_metadata(samples, design, contrasts, samples_file=samples_file)
    full = model_matrix(design, meta)
    _check_rank(full, design, samples_file)
    red = None
    if reduced is not None:
        extra = set(design_variables(reduced)) - set(design_variables(design))
        red = None if extra else model_matrix(reduced, meta)
        if red is None or not set(red.columns) < set(full.columns):
            raise InputError(
                f"reduced design '{reduced}' must drop terms of '{design}' and add none",
                file=samples_file,
            )
    return PreparedDesign(meta, full, red)


# ---------------------------------------------------------------------------------------------
# stage 2: dispersions


@dataclass
class DispersionFit:
    """Size factors and every dispersion quantity of ``estimateDispersions()``."""

    size_factors: np.ndarray
    base_mean: np.ndarray  # all genes
    nonzero: np.ndarray  # genes with any count
    genewise: np.ndarray  # nonzero genes
    fitted: np.ndarray
    map: np.ndarray
    dispersion: np.ndarray
    outlier: np.ndarray
    mu: np.ndarray
    trend: eng.Trend
    prior_var: float
    var_log_disp: float
    prior_method: str


def estimate_dispersions(counts: np.ndarray, x: np.ndarray) -> DispersionFit:
    """Stage 2: size factors, gene-wise estimates, trend, prior variance and MAP dispersions."""
    sf = eng.size_factors(counts)
    base_mean = (counts / sf[None, :]).mean(axis=1)
    nz = counts.sum(axis=1) > 0
    y = counts[nz].astype(float)
    gw = eng.genewise_dispersions(y, sf, x)
    trend = eng.fit_trend(base_mean[nz], gw.dispersion)
    if trend.kind != "parametric":
        log.warning("parametric dispersion trend failed: the mean of the estimates is used")
    fitted = trend(base_mean[nz])
    use = gw.dispersion >= 100 * eng.MIN_DISP
    df = x.shape[0] - x.shape[1]
    pv, var_log, method = prior_variance(np.log(gw.dispersion[use]) - np.log(fitted[use]), df)
    mp = eng.map_dispersions(y, gw.mu, x, gw.dispersion, fitted, pv, var_log)
    return DispersionFit(
        sf,
        base_mean,
        nz,
        gw.dispersion,
        fitted,
        mp.map,
        mp.dispersion,
        mp.outlier,
        gw.mu,
        trend,
        pv,
        var_log,
        method,
    )


# ---------------------------------------------------------------------------------------------
# stage 3: GLM, Cook's, refit


@dataclass
class ModelFit:
    """GLM fits of the nonzero genes after outlier replacement (``counts`` are the counts
    the final fit used)."""

    full: eng.GLMFit
    reduced: eng.GLMFit | None
    counts: np.ndarray
    cooks: np.ndarray
    max_cooks: np.ndarray
    replaced: np.ndarray
    base_mean: np.ndarray  # nonzero genes, from the fitted counts
    disp: DispersionFit


def fit_and_refit(counts: np.ndarray, design: PreparedDesign, disp: DispersionFit) -> ModelFit:
    """Stage 3: fit, Cook's distances, outlier replacement and refit of the replaced genes."""
    x = design.full.matrix
    nz = disp.nonzero
    y = counts[nz].astype(float)
    sf = disp.size_factors
    fit = eng.fit_glm(y, sf, x, disp.dispersion)
    cooks = eng.cooks_distances(y, sf, x, fit)
    new_y, replaced = eng.replace_outliers(
        y, sf, x, cooks, min_replicates=MIN_REPLICATES_FOR_REPLACE
    )
    base_mean = disp.base_mean[nz].copy()
    if replaced.any():
        log.info("%d genes with outlier counts replaced and refitted", int(replaced.sum()))
        _refit_genes(new_y, replaced, x, disp, fit, cooks, base_mean)
    reduced = None
    if design.reduced is not None:
        reduced = eng.fit_glm(new_y, sf, design.reduced.matrix, disp.dispersion)
    return ModelFit(fit, reduced, new_y, cooks, eng.max_cooks(cooks, x), replaced, base_mean, disp)


def _refit_genes(y, replaced, x, disp: DispersionFit, fit: eng.GLMFit, cooks, base_mean):
    """Re-estimate dispersions (same trend and prior) and refit the replaced genes, in place."""
    sf = disp.size_factors
    yr = y[replaced]
    bm = (yr / sf[None, :]).mean(axis=1)
    gw = eng.genewise_dispersions(yr, sf, x)
    fitted = disp.trend(bm)
    mp = eng.map_dispersions(yr, gw.mu, x, gw.dispersion, fitted, disp.prior_var, disp.var_log_disp)
    for arr, new in (
        (disp.genewise, gw.dispersion),
        (disp.fitted, fitted),
        (disp.map, mp.map),
        (disp.dispersion, mp.dispersion),
        (disp.outlier, mp.outlier),
    ):
        arr[replaced] = new
    base_mean[replaced] = bm
    refit = eng.fit_glm(yr, sf, x, mp.dispersion)
    for name in ("beta", "cov", "mu", "hat", "deviance", "iterations", "converged"):
        getattr(fit, name)[replaced] = getattr(refit, name)
    cooks[replaced] = eng.cooks_distances(yr, sf, x, refit)


# ---------------------------------------------------------------------------------------------
# stage 4: tests


def contrast_vector(contrast: Contrast, mm: ModelMatrix) -> np.ndarray:
    """Coefficient weights of a contrast (``results(contrast = ...)``).

    Two levels of a factor: ``e_target - e_reference`` over the factor's main-effect columns
    (the reference level has none): in a design with interactions this is the effect at the
    reference levels of the other factors. Numeric contrasts name coefficients directly.
    """
    c = np.zeros(mm.n_coef)
    if contrast.is_numeric:
        for name, weight in contrast.weights:
            if name not in mm.columns:
                raise InputError(
                    f"contrast {contrast.id}: no coefficient '{name}' (coefficients: {mm.columns})"
                )
            c[mm.columns.index(name)] += weight
        return c
    var = contrast.variable
    if var not in mm.factors:
        raise InputError(f"contrast {contrast.id}: '{var}' is not a factor of the design")
    base = mm.factors[var][0]
    for level, sign in ((contrast.target, 1.0), (contrast.reference, -1.0)):
        if level != base:
            c[mm.columns.index(f"{var}_{level}_vs_{base}".replace(" ", "."))] += sign
    return c


def test_contrast(
    model: ModelFit, design: PreparedDesign, contrast: Contrast, alpha: float
) -> pd.DataFrame:
    """Stage 4: the results() table of one contrast (all genes; NaN for all-zero genes)."""
    mm = design.full
    c = contrast_vector(contrast, mm)
    if model.reduced is not None:
        df = mm.n_coef - design.reduced.n_coef
        res = eng.lrt_test(model.full, model.reduced, df, c)
    else:
        res = eng.wald_test(model.full, c)
    lfc, stat, pvalue = res.log2_fold_change.copy(), res.stat.copy(), res.pvalue.copy()
    if not contrast.is_numeric:
        # as results(): no counts in either group -> fold change 0, statistic 0, p-value 1
        groups = (
            design.meta[contrast.variable].astype(str).isin([contrast.target, contrast.reference])
        )
        empty = model.counts[:, groups.to_numpy()].sum(axis=1) == 0
        lfc[empty], stat[empty], pvalue[empty] = 0.0, 0.0, 1.0
    cutoff = eng.cooks_cutoff(*mm.matrix.shape)
    pvalue[model.max_cooks > cutoff] = np.nan
    nz = model.disp.nonzero
    n = len(nz)
    base_mean = model.disp.base_mean.copy()
    base_mean[nz] = model.base_mean
    cols = {"baseMean": base_mean}
    for name, arr in (
        ("log2FoldChange", lfc),
        ("lfcSE", res.lfc_se),
        ("stat", stat),
        ("pvalue", pvalue),
    ):
        full = np.full(n, np.nan)
        full[nz] = arr
        cols[name] = full
    filt = eng.independent_filtering(base_mean, cols["pvalue"], alpha)
    cols["padj"] = filt.padj
    table = pd.DataFrame(cols)
    table.attrs["filterThreshold"] = filt.threshold
    return table


# ---------------------------------------------------------------------------------------------
# stage 5: shrinkage


def shrink_normal(
    model: ModelFit, design: PreparedDesign, contrasts: list[Contrast]
) -> dict[str, np.ndarray]:
    """Stage 5: normal-prior shrunken log2 fold changes per two-level contrast (nonzero genes);
    contrasts it does not apply to (numeric, interaction designs) are left out."""
    from fmslab.rnaseq.shrink import expanded_contrast, fit_normal_prior

    if any(len(t) > 1 for t in design.full.terms):
        return {}
    shrunk = fit_normal_prior(model, design)
    out = {}
    for c in contrasts:
        if c.is_numeric:
            continue
        vec = expanded_contrast(c, shrunk.columns)
        groups = design.meta[c.variable].astype(str).isin([c.target, c.reference])
        empty = model.counts[:, groups.to_numpy()].sum(axis=1) == 0
        out[c.id] = np.where(empty, 0.0, shrunk.beta @ vec / np.log(2))
    return out


# ---------------------------------------------------------------------------------------------


def run_de(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    design: str,
    contrasts: list[Contrast],
    *,
    reduced: str | None = None,
    shrink: bool = True,
    alpha: float = 0.05,
    samples_file=None,
) -> DEResult:
    """Fit the design once and test every contrast (R DESeq2 1.38 defaults).

    Parameters
    ----------
    counts
        genes x samples raw integer counts (see :func:`fmslab.rnaseq.io.validate_counts`).
    samples
        Sample sheet indexed by sample id; must hold every count column.
    design
        Formula, e.g. ``"~ sex + time"`` or ``"~ sex + time + sex:time"``.
    contrasts
        Comparisons to report (:class:`fmslab.rnaseq.io.Contrast`).
    reduced
        Reduced formula: p-values from the likelihood-ratio test of ``design`` against it
        (``DESeq(test = "LRT", reduced = ...)``); fold changes stay the contrast's.
    shrink
        Add ``log2FoldChange_shrunk`` (normal prior, ``lfcShrink(type = "normal")``) for
        two-level contrasts of designs without interactions.
    alpha
        FDR level of independent filtering.
    """
    if not contrasts:
        raise InputError("at least one contrast is needed")
    missing = [s for s in counts.columns if s not in samples.index]
    if missing:
        raise InputError(
            f"sample '{missing[0]}' of the count matrix is not in the sample sheet",
            file=samples_file,
        )
    prepared = prepare_design(
        samples.loc[list(counts.columns)],
        design,
        contrasts,
        reduced=reduced,
        samples_file=samples_file,
    )
    y = counts.to_numpy(dtype=float)
    x = prepared.full.matrix
    disp = estimate_dispersions(y, x)
    log.info(
        "dispersion prior variance %.4f (%s, %d residual df)",
        disp.prior_var,
        disp.prior_method,
        x.shape[0] - x.shape[1],
    )
    model = fit_and_refit(y, prepared, disp)
    shrunk = shrink_normal(model, prepared, contrasts) if shrink else {}
    genes = counts.index
    nz = disp.nonzero
    results = {}
    for c in contrasts:
        table = test_contrast(model, prepared, c, alpha)
        table.index = genes
        table.index.name = "gene"
        if shrink:
            col = np.full(len(genes), np.nan)
            if c.id in shrunk:
                col[nz] = shrunk[c.id]
            table["log2FoldChange_shrunk"] = col
        results[c.id] = table

    def per_gene(values: np.ndarray) -> np.ndarray:
        out = np.full(len(genes), np.nan)
        out[nz] = values
        return out

    dispersions = pd.DataFrame(
        {
            "dispGeneEst": per_gene(disp.genewise),
            "dispFit": per_gene(disp.fitted),
            "dispMAP": per_gene(disp.map),
            "dispersion": per_gene(disp.dispersion),
        },
        index=genes,
    )
    cooks = np.full((len(genes), y.shape[1]), np.nan)
    cooks[nz] = model.cooks
    sf = pd.Series(disp.size_factors, index=counts.columns, name="size_factor")
    return DEResult(
        results=results,
        size_factors=sf,
        dispersions=dispersions,
        normalized_counts=counts / disp.size_factors[None, :],
        cooks_max=pd.Series(per_gene(model.max_cooks), index=genes, name="maxCooks"),
        cooks=pd.DataFrame(cooks, index=genes, columns=counts.columns),
        trend=(disp.trend.asympt_disp, disp.trend.extra_pois),
        design_matrix=prepared.full.frame(),
        prior_disp_var=disp.prior_var,
        prior_method=disp.prior_method,
        parameters={
            "design": design,
            "reduced": reduced,
            "alpha": alpha,
            "shrink": shrink,
            "residual_df": x.shape[0] - x.shape[1],
            "replaced_genes": int(model.replaced.sum()),
        },
    )
