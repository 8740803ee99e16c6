"""`fmslab donors` on the demo study: tables, catalog, pseudonymised ids, planted direction."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fmslab.cli import app


@pytest.fixture(scope="module")
def donors_run(demo_study: Path, tmp_path_factory: pytest.TempPathFactory):
    from fmslab.donors import run

    root = tmp_path_factory.mktemp("donors")
    study = root / "study"
    shutil.copytree(demo_study / "study", study)  # the demo is shared: write into a copy
    (study / "results" / "fmslab.duckdb.lock").unlink(missing_ok=True)
    done = run(
        study, out=root / "out", unblinding=demo_study / "keys" / "unblinding.csv", n_boot=200
    )
    return demo_study, study, done


def test_tables_written_and_catalogued(donors_run):
    from fmslab.catalog import query

    _demo, study, done = donors_run
    names = ("donor_effects.csv", "donor_profile.csv", "donor_concordance.csv")
    for name in names + ("donor_clinical.csv", "donor_prediction.csv"):
        assert (done.out / name).is_file()
    assert (done.out / "donor_heatmap.png").stat().st_size > 1000
    stored = query(study / "results" / "fmslab.duckdb", "SELECT * FROM donor_effects")
    assert len(stored) == len(done.effects)
    assert set(stored["outcome"]) == set(done.effects["outcome"])
    # two patient donors: the predictive model is not fitted, and says why
    assert done.prediction["warnings"].str.contains("too few").all()
    # every outcome the comparisons use and the demo produces
    assert {"rheobase_pA", "mech_threshold", "mean_post_pct"} <= set(done.effects["outcome"])
    # the covariate models and the time course are declared catalog tables, equal to the CSVs
    db = study / "results" / "fmslab.duckdb"
    lmm = query(db, "SELECT * FROM donor_clinical_lmm ORDER BY source_table, outcome, score")
    csv = pd.read_csv(done.out / "donor_clinical_lmm.csv")
    assert len(lmm) == len(csv) == len(done.clinical_lmm) > 0
    pairs = set(zip(done.effects["source_table"], done.effects["outcome"], strict=True))
    assert set(zip(lmm["source_table"], lmm["outcome"], strict=True)) == pairs
    tc = query(db, "SELECT * FROM donor_time_course")
    assert len(tc) == len(done.time_course)
    assert set(tc["assay"]) == {"vonfrey", "hargreaves"}
    assert set(tc["source_table"]) == {"behaviour_mouse_day"} and set(tc["outcome"]) == {"value"}


def test_donor_ids_are_the_pseudonyms_and_groups_the_key(donors_run):
    demo, _study, done = donors_run
    truth = pd.read_csv(demo / "ground_truth" / "donors.csv").set_index("donor_id")
    eff = done.effects
    assert set(eff["donor_id"]) == set(truth.index)
    assert (eff["group"] == truth.loc[eff["donor_id"], "group"].to_numpy()).all()
    assert not eff.isin(list(truth["treatment_code"])).any().any()
    assert len(done.profile) == len(truth)


def test_planted_hypersensitivity_direction(donors_run):
    """The demo plants lower von Frey thresholds for patient IgG (potency ~1): both patient
    donors' shrunken and raw effects on mean_post_pct are negative; control donors' shrunken
    effects are near 0 relative to the patients'."""
    _demo, _study, done = donors_run
    vf = done.effects[done.effects["outcome"] == "mean_post_pct"].set_index("donor_id")
    fms = vf[vf["group"] == "FMS"]
    hc = vf[vf["group"] == "HC"]
    assert (fms["effect_shrunken"] < 0).all() and (fms["effect_raw"] < 0).all()
    assert hc["effect_shrunken"].abs().max() < fms["effect_shrunken"].abs().min()
    # every call carries its probability and rule
    assert done.effects["p_transfer"].between(0, 1).all()
    assert done.effects["rule"].str.contains("nominal false-call rate").all()
    assert np.isfinite(done.effects["pred_se"]).all()


def test_cli(donors_run, tmp_path):
    demo, study, _done = donors_run
    out = tmp_path / "cli"
    args = ["donors", str(study), "--out", str(out), "--n-boot", "50"]
    args += ["--unblinding", str(demo / "keys" / "unblinding.csv"), "--mic", "mean_post_pct=10"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    eff = pd.read_csv(out / "donor_effects.csv")
    assert (eff.loc[eff["outcome"] == "mean_post_pct", "mic"] == 10).all()


def test_study_without_analyses_is_refused(sample_study, tmp_path):
    from fmslab.donors import run
    from fmslab.errors import InputError

    with pytest.raises(InputError, match="no outcome could be analysed per donor"):
        run(sample_study, out=tmp_path / "out")


def test_report_has_a_donors_section(donors_run, tmp_path):
    from fmslab.report import build_report

    _demo, study, _done = donors_run
    html = build_report(study, tmp_path / "report").index.read_text()
    assert '<section id="donors">' in html
    assert 'id="tbl-donor_effects"' in html
    assert 'id="tbl-donor_clinical_lmm"' in html  # the covariate models
    assert "p_transfer" in html


def test_time_course_and_one_page_per_donor(donors_run):
    """The time course per donor of every behaviour assay (behaviour_mouse_day, ``value``): von
    Frey threshold_g and Hargreaves latency_s, every demo day, every donor. Von Frey:
    the planted drop (0.45 log10 units x potency ~1 at day 4) puts both patient donors' predicted
    thresholds below the control mean on days 3 and 5, each further from it than at baseline
    (day 0, nothing planted; with 2 control donors of one mouse the band is too narrow to test
    inclusion)."""
    from fmslab.demo.design import BEHAVIOUR_DAYS

    _demo, _study, done = donors_run
    tc = done.time_course
    units = tc.groupby("assay")["unit"].first().to_dict()
    assert units == {"vonfrey": "g", "hargreaves": "s"}, units
    for _assay, sub in tc.groupby("assay"):
        assert sorted(sub["day"].unique()) == [float(d) for d in BEHAVIOUR_DAYS]
        assert set(sub["donor_id"]) == set(done.effects["donor_id"])
    tc = tc[tc["assay"] == "vonfrey"]
    fms = tc[tc["group"] == "FMS"]
    peak = fms[fms["day"].isin([3.0, 5.0])]
    assert (peak["predicted"] < peak["control_mean"]).all()
    for _donor, sub in fms.groupby("donor_id"):
        gap = (sub["predicted"] - sub["control_mean"]).abs().set_axis(sub["day"])
        assert gap.loc[0.0] < min(gap.loc[3.0], gap.loc[5.0]), gap
    pages = sorted(p.stem for p in (done.out / "donor_cards").glob("*.png"))
    assert pages == sorted(done.effects["donor_id"].unique())
    assert (done.out / "donor_time_course.csv").is_file()


def test_new_donor_needs_two_donors_per_class(donors_run, tmp_path):
    """The small demo has two patient donors: no outcome has 2 transferring and 2
    non-transferring ones, so the new-donor prediction is refused with the reason; an unknown
    score is refused by name."""
    demo, study, _done = donors_run
    base = ["donors", str(study), "--n-boot", "20", "--unblinding",
            str(demo / "keys" / "unblinding.csv")]  # fmt: skip
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a"), "--new-donor",
                                      "FIQR=70", "--new-donor", "wpi=12"])  # fmt: skip
    assert result.exit_code != 0
    assert "transfer cannot be predicted" in f"{result.output} {result.exception}"
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b"), "--new-donor",
                                      "height=180"])  # fmt: skip
    assert result.exit_code != 0 and "['height']" in f"{result.output} {result.exception}"
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "c"), "--new-donor", "FIQR"])
    assert result.exit_code != 0 and "SCORE=VALUE" in f"{result.output} {result.exception}"
