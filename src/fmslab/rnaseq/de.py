"""Differential expression on pydeseq2, with R DESeq2's behaviour where the two differ.

:func:`run_de` is the only entry point. It takes plain DataFrames and returns a :class:`DEResult`
of plain DataFrames; pydeseq2's ``DeseqDataSet`` stays inside this module.

Pipeline (``r_compatible=True``, the default), following ``DESeq()`` of R DESeq2 1.38:

1. median-of-ratios size factors (pydeseq2);
2. gene-wise dispersions (pydeseq2 L-BFGS-B), then R's acceptance rule
   (:func:`.rcompat.r_genewise_acceptance`);
3. parametric trend on genes with dispersion > 100 * minDisp (:func:`.rcompat.r_parametric_trend`);
4. prior variance: ``max(MAD^2 - trigamma(df/2), 0.25)`` with > 3 residual df, R's Monte-Carlo
   match with <= 3 (:func:`.priorvar.monte_carlo_prior_var`);
5. MAP dispersions, Wald test, Cook's distances and refit (pydeseq2, which implements R's rules);
6. per contrast: Wald test, Cook's filtering, independent filtering, BH (``DeseqStats``), and
   optionally normal-prior LFC shrinkage (column ``log2FoldChange_shrunk``, :mod:`.shrink`).

With ``r_compatible=False`` steps 2-4 are pydeseq2's own (``DeseqDataSet.deseq2()``).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import polygamma

from fmslab.errors import InputError
from fmslab.rnaseq.io import Contrast
from fmslab.rnaseq.priorvar import DEFAULT_SEED, MIN_PRIOR_VAR, monte_carlo_prior_var
from fmslab.rnaseq.rcompat import (
    r_genewise_dispersions,
    r_map_dispersions,
    r_parametric_trend,
)
from fmslab.rnaseq.shrink import shrink_lfc, weighted_upper_quantile_variance

log = logging.getLogger(__name__)

RESULT_COLUMNS = ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]
MIN_DISP = 1e-8


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
    import re

    rhs = design.split("~", 1)[-1]
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", rhs)
    return [n for n in dict.fromkeys(names) if n not in {"C", "Treatment", "reference"}]


def prepare_metadata(
    samples: pd.DataFrame, design: str, contrasts: list[Contrast], *, samples_file=None
) -> pd.DataFrame:
    """Check the design against the sheet and order factor levels (reference first)."""
    if "~" not in design:
        raise InputError(f"design '{design}' must be a formula such as '~ sex + condition'")
    meta = samples.copy()
    for var in _design_variables(design):
        if var not in meta.columns:
            raise InputError(
                f"design variable '{var}' is not a sample-sheet column", file=samples_file
            )
        if meta[var].isna().any():
            sample = meta.index[meta[var].isna()][0]
            raise InputError(f"sample '{sample}' has no value for '{var}'", file=samples_file)
    refs = {}
    for c in contrasts:
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
    for var in _design_variables(design):
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


def _check_rank(design_matrix: pd.DataFrame, design: str, samples_file=None) -> None:
    x = design_matrix.to_numpy(dtype=float)
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:
        raise InputError(
            f"design '{design}' is rank deficient (rank {rank} < {x.shape[1]} columns "
            f"{list(design_matrix.columns)}): a variable is confounded with another or a level "
            "combination is empty",
            file=samples_file,
        )
    if x.shape[0] <= x.shape[1]:
        raise InputError(
            f"design '{design}' has no residual degrees of freedom ({x.shape[0]} samples, "
            f"{x.shape[1]} coefficients)",
            file=samples_file,
        )


def estimate_prior_var(
    genewise: np.ndarray, fitted: np.ndarray, df: int, *, r_compatible: bool, seed: int
) -> tuple[float, float, str]:
    """Return ``(prior_var, squared_logres, method)`` from dispersions of non-zero genes."""
    from pydeseq2.utils import mean_absolute_deviation

    use = genewise >= 100 * MIN_DISP
    resid = np.log(genewise[use]) - np.log(fitted[use])
    sq = float(mean_absolute_deviation(resid) ** 2)
    if r_compatible and df <= 3:
        return monte_carlo_prior_var(resid, df, seed=seed), sq, "monte_carlo_kl"
    return float(max(sq - polygamma(1, df / 2), MIN_PRIOR_VAR)), sq, "mad"


def run_de(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    design: str,
    contrasts: list[Contrast],
    *,
    r_compatible: bool = True,
    shrink: bool = True,
    alpha: float = 0.05,
    n_cpus: int = 1,
    seed: int = DEFAULT_SEED,
    samples_file=None,
) -> DEResult:
    """Fit the design once and test every contrast.

    Parameters
    ----------
    counts
        genes x samples raw integer counts (see :func:`fmslab.rnaseq.io.validate_counts`).
    samples
        Sample sheet indexed by sample id; must hold every count column.
    design
        Formula, e.g. ``"~ sex + time"``.
    contrasts
        Comparisons to test.
    r_compatible
        Reproduce R DESeq2 where pydeseq2 differs (module docstring).
    shrink
        Add ``log2FoldChange_shrunk``: normal-prior shrinkage (:mod:`fmslab.rnaseq.shrink`),
        available for every contrast.
    alpha
        FDR level used by independent filtering.
    n_cpus
        Processes for pydeseq2's per-gene fits.
    seed
        Seed of the Monte-Carlo prior variance.
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    if not contrasts:
        raise InputError("at least one contrast is needed")
    missing = [s for s in counts.columns if s not in samples.index]
    if missing:
        raise InputError(
            f"sample '{missing[0]}' of the count matrix is not in the sample sheet",
            file=samples_file,
        )
    meta = prepare_metadata(
        samples.loc[list(counts.columns)], design, contrasts, samples_file=samples_file
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dds = DeseqDataSet(counts=counts.T, metadata=meta, design=design, quiet=True, n_cpus=n_cpus)
    design_matrix = dds.obsm["design_matrix"].copy()
    _check_rank(design_matrix, design, samples_file)
    n_samples, n_coef = design_matrix.shape
    df = n_samples - n_coef

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dds.fit_size_factors()
        if r_compatible:
            _r_dispersions(dds, design_matrix, df, seed)
        else:
            dds.fit_genewise_dispersions()
            dds.fit_dispersion_trend()
            dds.fit_dispersion_prior()
            dds.uns["prior_method"] = "pydeseq2_mad"
            dds.fit_MAP_dispersions()
        prior = float(dds.uns["prior_disp_var"])
        method = dds.uns["prior_method"]
        log.info("dispersion prior variance %.4f (%s, %d residual df)", prior, method, df)
        dds.fit_LFC()
        dds.calculate_cooks()
        if dds.refit_cooks:
            dds.refit()
        dds.cooks_outlier()

        shrunk = _shrunk_betas(dds, design_matrix) if shrink else None
        results = {}
        for c in contrasts:
            st = DeseqStats(
                dds,
                contrast=[c.variable, c.target, c.reference],
                alpha=alpha,
                quiet=True,
                n_cpus=n_cpus,
            )
            st.summary()
            res = st.results_df[RESULT_COLUMNS].copy()
            if shrunk is not None:
                res["log2FoldChange_shrunk"] = shrunk @ st.contrast_vector / np.log(2)
            res.index.name = "gene"
            results[c.id] = res

    cooks = dds.layers["cooks"] if "cooks" in dds.layers else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns of all-zero genes
        cooks_max = pd.Series(
            np.nanmax(cooks, axis=0) if cooks is not None else np.nan, index=dds.var_names
        )
    disp = dds.var[
        ["genewise_dispersions", "fitted_dispersions", "MAP_dispersions", "dispersions"]
    ].copy()
    disp.columns = ["dispGeneEst", "dispFit", "dispMAP", "dispersion"]
    normed = pd.DataFrame(dds.layers["normed_counts"].T, index=dds.var_names, columns=dds.obs_names)
    return DEResult(
        results=results,
        size_factors=pd.Series(
            dds.obs["size_factors"].to_numpy(), index=dds.obs_names, name="size_factor"
        ),
        dispersions=disp,
        normalized_counts=normed,
        cooks_max=cooks_max.rename("maxCooks"),
        cooks=pd.DataFrame(
            cooks.T if cooks is not None else np.nan, index=dds.var_names, columns=dds.obs_names
        ),
        trend=_trend(dds),
        design_matrix=design_matrix,
        prior_disp_var=prior,
        prior_method=method,
        parameters={
            "design": design,
            "alpha": alpha,
            "r_compatible": r_compatible,
            "shrink": shrink,
            "seed": seed,
            "residual_df": df,
        },
    )


def _initial_mu(dds, design_matrix: pd.DataFrame) -> np.ndarray:
    """Means used for the gene-wise fit, chosen as R and pydeseq2 do (linear model when the
    design has as many distinct rows as columns, else an NB GLM with the rough dispersions)."""
    nz = dds.non_zero_idx
    x = design_matrix.to_numpy(dtype=float)
    sf = dds.obs["size_factors"].to_numpy()
    if len(design_matrix.value_counts()) == design_matrix.shape[1]:
        return dds.inference.lin_reg_mu(
            counts=dds.X[:, nz], size_factors=sf, design_matrix=x, min_mu=dds.min_mu
        )
    _, mu, _, _ = dds.inference.irls(
        counts=dds.X[:, nz],
        size_factors=sf,
        design_matrix=x,
        disp=dds.var.loc[dds.var["non_zero"], "_MoM_dispersions"].to_numpy(),
        min_mu=dds.min_mu,
        beta_tol=dds.beta_tol,
    )
    return mu


def _r_dispersions(dds, design_matrix: pd.DataFrame, df: int, seed: int) -> None:
    """Gene-wise, trend, prior and MAP dispersions as R DESeq2 1.38, stored where pydeseq2's
    later steps (``fit_LFC``, ``calculate_cooks``, ``refit``, ``DeseqStats``) read them."""
    dds.var["non_zero"] = ~(dds.X == 0).all(axis=0)
    dds.non_zero_idx = np.arange(dds.n_vars)[dds.var["non_zero"]]
    dds.non_zero_genes = dds.var_names[dds.var["non_zero"]]
    dds._fit_MoM_dispersions()
    nz = dds.var["non_zero"].to_numpy()
    mu = _initial_mu(dds, design_matrix)
    dds.layers["_mu_hat"] = np.full((dds.n_obs, dds.n_vars), np.nan)
    dds.layers["_mu_hat"][:, nz] = mu
    x = design_matrix.to_numpy(dtype=float)
    counts = dds.X[:, nz].astype(float)
    max_disp = float(dds.max_disp)
    genewise, conv = r_genewise_dispersions(
        counts,
        mu,
        x,
        dds.var["_MoM_dispersions"].to_numpy()[nz],
        min_disp=MIN_DISP,
        max_disp=max_disp,
    )
    _put(dds, "genewise_dispersions", genewise, nz)
    dds.var["_genewise_converged"] = pd.array([pd.NA] * dds.n_vars, dtype="boolean")
    dds.var.loc[nz, "_genewise_converged"] = conv
    means = dds.var["_normed_means"].to_numpy()[nz]
    try:
        a0, a1 = r_parametric_trend(means, genewise, min_disp=MIN_DISP)
        dds.uns["trend_coeffs"] = pd.Series([a0, a1], index=["a0", "a1"])
        dds.uns["disp_function_type"] = "parametric"
        fitted = a0 + a1 / means
    except RuntimeError as exc:
        log.warning("parametric trend failed (%s): mean trend used, as R's fallback", exc)
        use = genewise > 10 * MIN_DISP
        from scipy.stats import trim_mean

        dds.uns["mean_disp"] = float(trim_mean(genewise[use], 0.001))
        dds.uns["disp_function_type"] = "mean"
        fitted = np.full(len(means), dds.uns["mean_disp"])
    _put(dds, "fitted_dispersions", fitted, nz)
    prior, sq, method = estimate_prior_var(genewise, fitted, df, r_compatible=True, seed=seed)
    dds.uns["_squared_logres"] = sq
    dds.uns["prior_disp_var"] = np.array(prior)
    dds.uns["prior_method"] = method
    out = r_map_dispersions(
        counts, mu, x, genewise, fitted, prior, sq, min_disp=MIN_DISP, max_disp=max_disp
    )
    _put(dds, "MAP_dispersions", out["map"], nz)
    _put(dds, "dispersions", out["final"], nz)
    dds.var["_MAP_converged"] = pd.array([pd.NA] * dds.n_vars, dtype="boolean")
    dds.var.loc[nz, "_MAP_converged"] = out["converged"]
    dds.var["_outlier_genes"] = False
    dds.var.loc[nz, "_outlier_genes"] = out["outlier"]


def _put(dds, column: str, values: np.ndarray, nz: np.ndarray) -> None:
    dds.var[column] = np.nan
    dds.var.loc[nz, column] = values


def _shrunk_betas(dds, design_matrix: pd.DataFrame) -> np.ndarray:
    """Normal-prior shrunk coefficients (natural log), genes x coefficients; NaN for all-zero
    genes. See :mod:`fmslab.rnaseq.shrink`."""
    nz = dds.var["non_zero"].to_numpy()
    lfc = dds.varm["LFC"]
    lfc = lfc.to_numpy() if hasattr(lfc, "to_numpy") else np.asarray(lfc)
    base_mean = dds.var["_normed_means"].to_numpy()[nz]
    weights = 1.0 / (1.0 / base_mean + dds.var["fitted_dispersions"].to_numpy()[nz])
    prior = np.full(lfc.shape[1], np.inf)
    for j, name in enumerate(design_matrix.columns):
        if name != "Intercept":
            prior[j] = weighted_upper_quantile_variance(lfc[nz, j] / np.log(2), weights)
    beta, _ = shrink_lfc(
        dds.X[:, nz],
        dds.obs["size_factors"].to_numpy(),
        design_matrix.to_numpy(dtype=float),
        lfc[nz],
        dds.var["dispersions"].to_numpy()[nz],
        prior,
    )
    out = np.full(lfc.shape, np.nan)
    out[nz] = beta
    return out


def _trend(dds) -> tuple[float, float]:
    if dds.uns.get("disp_function_type") == "parametric":
        coeffs = dds.uns["trend_coeffs"]
        return float(coeffs["a0"]), float(coeffs["a1"])
    return float(dds.uns["mean_disp"]), 0.0
