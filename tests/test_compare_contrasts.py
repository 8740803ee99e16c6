"""`fmslab compare` with k groups: planned contrasts, covariates, repeated measures, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from fmslab.cli import app
from fmslab.compare import Hierarchy, compare_outcomes
from fmslab.compare.design import Contrast, natural_spline_basis, parse_contrasts
from fmslab.errors import InputError

runner = CliRunner()
DATA = Path(__file__).resolve().parent / "data" / "compare"


def _ref(dataset: str, test: str, contrast: str, quantity: str) -> float:
    ref = pd.read_csv(DATA / "designs_reference.csv")
    ref["contrast"] = ref["contrast"].fillna("")
    r = ref[(ref.dataset == dataset) & (ref.test == test) & (ref.contrast == contrast)]
    return float(r[r.quantity == quantity].value.iloc[0])


def test_cli_contrast_and_covariates_give_the_r_numbers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, [
        "compare", str(DATA / "design_k4.csv"), "-o", "rheobase_pA", "--out", str(out),
        "--contrast", "RA_FMS-RA_noFMS", "--contrast", "FMS - HC", "--covariate", "age",
        "--covariate", "sex", "--covariate", "igg_batch", "--covariate", "capacitance_pF",
        "--reference", "HC", "--n-boot", "50",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    st = pd.read_csv(out / "stats.csv")
    sat = st[(st.test == "contrast") & (st.model == "lmm_satterthwaite")].set_index("contrast")
    assert sorted(sat.index) == ["FMS - HC", "RA_FMS - RA_noFMS"]
    for c in sat.index:  # R emmeans on the same model (see test_compare_designs.py)
        assert sat.loc[c, "estimate"] == pytest.approx(_ref("k4", "contrast", c, "estimate"), 1e-6)
        assert sat.loc[c, "df"] == pytest.approx(_ref("k4", "contrast", c, "df"), abs=1e-3)
        assert sat.loc[c, "covariates"] == "age, sex, igg_batch, capacitance_pF"
    # Holm over the 2 planned contrasts: smaller p doubled, larger max(p, that)
    p = sat["p"].sort_values()
    assert sat.loc[p.index[0], "p_adj"] == pytest.approx(min(1, 2 * p.iloc[0]))
    assert sat.loc[p.index[1], "p_adj"] == pytest.approx(max(p.iloc[1], 2 * p.iloc[0]))
    om = st[st.test == "omnibus"].iloc[0]
    assert om["df_num"] == 3 and om["statistic"] == pytest.approx(
        _ref("k4", "omnibus", "", "F"), rel=1e-5
    )
    # donor-mean routes compare only the two groups of the contrast, and say they are unadjusted
    w = st[(st.model == "welch_donor_means") & (st.contrast == "RA_FMS - RA_noFMS")].iloc[0]
    assert w["n_donors_trt"] == 7 and w["n_donors_ref"] == 4
    assert "not adjusted for covariates" in w["warnings"]
    assert st["unit"].notna().all()


def test_study_yaml_contrasts_are_used(tmp_path: Path, sample_study: Path) -> None:
    cfg_path = sample_study / "study.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["contrasts"] = [{"name": "patients vs controls", "target": "FMS", "reference": "HC"}]
    cfg["groups"] = {"order": ["HC", "FMS"]}
    cfg_path.write_text(yaml.safe_dump(cfg))
    table = tmp_path / "cells.csv"
    rng = np.random.default_rng(3)
    pd.DataFrame({
        "group": ["HC"] * 6 + ["FMS"] * 6, "donor_id": [f"D{i // 2}" for i in range(12)],
        "mouse_id": [f"M{i}" for i in range(12)], "y": rng.normal(size=12),
    }).to_csv(table, index=False)  # fmt: skip
    res = runner.invoke(app, ["compare", str(table), "-o", "y", "--study", str(sample_study),
                              "--out", str(tmp_path / "o"), "--n-boot", "20"])  # fmt: skip
    assert res.exit_code == 0, res.output
    st = pd.read_csv(tmp_path / "o" / "stats.csv")
    assert set(st["contrast"].dropna()) == {"patients vs controls"}


def _k4_table(tmp_path: Path, **changes) -> Path:
    df = pd.read_csv(DATA / "design_k4.csv")
    for col, fn in changes.items():
        df[col] = fn(df)
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("args", "change", "message"),
    [
        (["--contrast", "RA_FMS-AS_FMS"], {}, "group 'AS_FMS' is not in the table"),
        (
            ["--contrast", "RA_FMS-RA_noFMS", "--covariate", "sex2"],
            {"sex2": lambda d: np.where(d.group == "RA_FMS", "F",
                                        np.where(d.group == "RA_noFMS", "M", d.sex))},
            "confounded with the contrast",
        ),
        (["--covariate", "site"], {"site": lambda d: "Bonn"}, "covariate 'site' is constant"),
        (["--covariate", "nope"], {}, "covariate(s) ['nope'] not in the table"),
    ],
)  # fmt: skip
def test_bad_designs_are_refused_with_the_reason(tmp_path, args, change, message) -> None:
    table = _k4_table(tmp_path, **change)
    res = runner.invoke(app, ["compare", str(table), "-o", "rheobase_pA", "--out",
                              str(tmp_path / "o"), "--n-boot", "20", *args])  # fmt: skip
    # CliRunner sees the exception; `fmslab` itself prints it as one line and exits with 2
    assert res.exit_code == 1 and isinstance(res.exception, InputError), res.output
    assert message in str(res.exception)
    assert not (tmp_path / "o" / "stats.csv").exists()


def test_fewer_donors_than_parameters_is_refused() -> None:
    # 4 groups x 2 donors = 8 donors; intercept + 3 groups + age + FIQR + batch (3 columns) = 9
    # donor-level parameters
    rows = []
    for i, g in enumerate(["HC", "FMS", "RA_FMS", "RA_noFMS"] * 2):
        for c in range(3):
            rows.append(
                (
                    g,
                    f"D{i}",
                    30 + 3 * i,
                    10.0 * (i % 3) + i,
                    f"B{(i % 4 + i // 4) % 4}",
                    c + 0.1 * i,
                )
            )
    df = pd.DataFrame(rows, columns=["group", "donor_id", "age", "FIQR", "batch", "y"])
    with pytest.raises(InputError, match="8 'donor_id' units cannot support 9"):
        compare_outcomes(df, ["y"], hierarchy=Hierarchy(levels=("donor_id",)),
                         covariates=["age", "FIQR", "batch"], n_resamples=10)  # fmt: skip


def test_contrast_parsing() -> None:
    assert Contrast.parse("RA_FMS-RA_noFMS") == Contrast("RA_FMS", "RA_noFMS")
    assert Contrast.parse("A-1 - B").target == "A-1"
    assert Contrast.parse({"name": "x", "target": "A", "reference": "B"}).name == "x"
    with pytest.raises(InputError, match="TARGET-REFERENCE"):
        Contrast.parse("A-B-C")
    with pytest.raises(InputError, match="given twice"):
        parse_contrasts(["A-B", "A - B"])


def test_natural_spline_spans_r_ns() -> None:
    # R 4.2: splines::ns(c(0, 1, 3, 5, 7, 14), knots = c(1, 5), Boundary.knots = c(0, 14)) has
    # these columns (printed with 7 significant digits); our truncated-power basis must span the same space:
    # regressing R's columns on ours (plus a constant) leaves no residual.
    r_ns = np.array([
        [0.0, 0.0, 0.0],
        [-0.13552524, 0.3662045, -0.21639359],
        [-0.03090892, 0.6252499, -0.36247283],
        [0.28918272, 0.5128891, -0.24712680],
        [0.44726122, 0.4024213, -0.05908422],
        [-0.15940054, 0.3896458, 0.76975477],
    ])  # fmt: skip
    x = np.array([0.0, 1, 3, 5, 7, 14])
    ours = np.column_stack([np.ones(6), natural_spline_basis(x, np.array([1.0, 5.0]), (0.0, 14.0))])
    coef, *_ = np.linalg.lstsq(ours, r_ns, rcond=None)
    assert np.abs(ours @ coef - r_ns).max() < 1e-6  # R printed to 7 digits


def test_analytic_reml_hessian_matches_finite_differences() -> None:
    from fmslab.compare.design import build_design
    from fmslab.compare.engine import _lower_codes
    from fmslab.compare.lmm import fit_mixed, reml_deviance

    df = pd.read_csv(DATA / "design_invitro.csv")
    des = build_design(df, group="group", groups=["HC", "FMS", "RA_FMS"], reference="HC",
                       covariates=["igg_batch"], top="donor_id")  # fmt: skip
    codes, names, _ = _lower_codes(df, ("donor_id", "dish_id"))
    fit = fit_mixed(df["rheobase_pA"].to_numpy(float), des.x, des.names,
                    df["donor_id"].to_numpy(), codes, names)  # fmt: skip
    fit.satterthwaite(des.contrast_row(Contrast("FMS", "HC")))  # computes the analytic Hessian
    s = fit.var_vector
    h = 1e-4 * s
    n = len(s)
    fd = np.zeros((n, n))
    for i in range(n):
        for j in range(n):

            def dev(a: float, b: float, i: int = i, j: int = j) -> float:
                t = s.copy()
                t[i] += a
                t[j] += b
                return reml_deviance(fit.data, t, blockwise=True)

            fd[i, j] = (dev(h[i], h[j]) - dev(h[i], -h[j]) - dev(-h[i], h[j])
                        + dev(-h[i], -h[j])) / (4 * h[i] * h[j])  # fmt: skip
    # central differences with a 1e-4 relative step: measured agreement 1.3e-5 (truncation error
    # of the differences; the analytic form is exact)
    assert np.allclose(2 * np.linalg.inv(fd), fit._cov_s, rtol=1e-4)
