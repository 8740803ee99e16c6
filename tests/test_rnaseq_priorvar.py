"""Dispersion prior variance (fmslab.rnaseq.priorvar) against R DESeq2 1.38.3.

Each reference design's table holds R's own gene-wise and fitted dispersions and its
``dispPriorVar``; from R's residuals the prior must be R's value exactly (the simulated part is
tabulated from R, the rest is deterministic arithmetic on the same numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import polygamma

from fmslab.rnaseq.priorvar import FINE_GRID, hist_density, mad, prior_variance

REF = Path(__file__).parent / "data" / "rnaseq"


def _residuals(name: str) -> tuple[np.ndarray, dict]:
    import pandas as pd

    cfg = json.loads((REF / name / "config.json").read_text())
    g = pd.read_csv(REF / name / "genes.csv.gz")
    use = g["dispGeneEst"] >= 1e-6
    return np.log(g.loc[use, "dispGeneEst"] / g.loc[use, "dispFit"]).to_numpy(), cfg


@pytest.mark.parametrize("name", ["small", "three6"])
def test_simulated_prior_equals_r(name):
    # 3 residual df: the simulation branch. R's value is a point of the 1000-point grid, so
    # equality (to float rounding of the JSON) is the only honest tolerance.
    resid, cfg = _residuals(name)
    value, var_log, method = prior_variance(resid, 3)
    assert method == "simulation"
    assert value == pytest.approx(cfg["dispPriorVar"], abs=1e-9)
    assert np.min(np.abs(FINE_GRID - value)) < 1e-12
    # varLogDispEsts: R's mad() of the same residuals; 10 significant digits in the tables
    assert var_log == pytest.approx(cfg["varLogDispEsts"], rel=1e-6)


@pytest.mark.parametrize("name", ["full", "lowcount", "n50"])
def test_moment_prior_equals_r(name):
    resid, cfg = _residuals(name)
    df = cfg["n_samples"] - len(cfg["resultsNames"])
    value, var_log, method = prior_variance(resid, df)
    assert method == "mad"
    assert var_log == pytest.approx(cfg["varLogDispEsts"], rel=1e-6)
    expected = max(cfg["varLogDispEsts"] - polygamma(1, df / 2), 0.25)
    assert value == pytest.approx(expected, rel=1e-6)
    assert value == pytest.approx(cfg["dispPriorVar"], rel=1e-6)


def test_histogram_is_right_closed():
    # Hand calculation: -9.5 belongs to the first bin (-10, -9.5], 0.25 to (0, 0.5]; values
    # outside (-10, 10) are dropped. Density = count / (n * 0.5).
    d = hist_density(np.array([-9.5, 0.25, 0.5, 12.0, -10.0]))
    assert d[0] == pytest.approx(1 / 1.5)
    assert d[20] == pytest.approx(2 / 1.5)
    assert d.sum() * 0.5 == pytest.approx(1.0)


def test_mad_matches_r_definition():
    # R: mad(c(1, 2, 3, 4, 100)) = 1.4826 * median(|x - 3|) = 1.4826
    assert mad(np.array([1, 2, 3, 4, 100.0])) == pytest.approx(1.4826)
