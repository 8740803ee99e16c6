"""Behaviour sheets -> trials, mouse-day, time course, statistics; CLI and catalog.

Expected numbers are worked out by hand in the comments from the rules documented in
docs/behaviour.md. Tolerances: plain arithmetic is compared to 1e-9 (float rounding only); hand
values written with 4-5 significant digits use rel 2e-4; the mixed model is compared with the
closed-form split-plot ANOVA solution at rel 1e-3 (REML is found by a numerical optimiser whose
default tolerance leaves ~1e-5 relative error in the variance components).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from fmslab.behaviour.filaments import standard_sets
from fmslab.behaviour.pipeline import analyze_sheets
from fmslab.behaviour.plotting import plot_time_course
from fmslab.behaviour.sheet import read_behaviour_sheet
from fmslab.behaviour.stats import group_day_contrasts
from fmslab.behaviour.timecourse import donor_summary, mouse_summary, percent_of_baseline
from fmslab.errors import InputError

DATA = Path(__file__).parent / "data" / "behaviour"
VF = DATA / "vonfrey_passive_transfer.csv"
OTHER = DATA / "other_assays.csv"
BROKEN = DATA / "broken_no_assay_column.csv"
REL = 2e-4


@pytest.fixture(scope="module")
def result():
    return analyze_sheets([VF, OTHER, BROKEN])


def _md(result, mouse, assay, day):
    md = result.mouse_day
    return md[(md.mouse_id == mouse) & (md.assay == assay) & (md.day == day)].iloc[0]


def test_sheet_errors_name_sheet_and_row(result):
    e = result.errors
    assert any(
        ("broken_no_assay_column.csv" in s) and ("assay" in r)
        for s, r in zip(e.sheet, e.reason, strict=True)
    )
    rows = {(s, r) for s, r in zip(e.sheet, e.row, strict=True) if pd.notna(r)}
    # rows as a spreadsheet shows them (header = row 1)
    for row in (20, 21, 22, 23, 24, 25, 18, 19):
        assert ("vonfrey_passive_transfer.csv", row) in rows
    for row in (44, 45, 46):  # unknown assay, 'n/a' latency, day 'x'
        assert ("other_assays.csv", row) in rows
    assert e.reason.str.contains("M04, tail_flick: no baseline").any()


def test_vonfrey_table_one_row_per_test(result):
    vf = result.vonfrey
    assert len(vf) == 32  # every von Frey row of the sheet, scored or flagged
    for col in ("sheet", "row", "mouse_id", "day", "assay", "side", "trial", "threshold_g", "flag"):
        assert col in vf.columns
    by_row = vf.set_index("row")
    # row 2: hand example of test_behaviour_updown (OOXOXOX from 0.4 g) = 0.73985 g
    assert by_row.at[2, "threshold_g"] == pytest.approx(0.73985, rel=REL)
    # row 7: XXOXOXO from 0.4 g: 0.4 0.16 0.07 0.16 0.07 0.16 0.07 -> Xf = log10(700) = 2.845098,
    # k = +0.458: 10^(2.845098 + 0.458*2/7)/10000 = 10^2.975955/10000 = 0.094614 g
    assert by_row.at[7, "threshold_g"] == pytest.approx(0.094614, rel=REL)
    assert by_row.at[8, "flag"] == "below_range" and by_row.at[8, "threshold_g"] == 0.02
    expected = {
        20: "invalid_pattern",
        21: "unknown_filament",
        22: "walk_off_set",
        23: "incomplete",
        24: "last_filament_mismatch",
        25: "unknown_filament_set",
    }
    for row, flag in expected.items():
        assert by_row.at[row, "flag"] == flag and math.isnan(by_row.at[row, "threshold_g"])
    assert by_row.loc[[18, 19], "flag"].str.contains("duplicate_row").all()
    assert by_row.loc[[18, 19], "threshold_g"].isna().all()


def test_sides_are_averaged_per_mouse_day(result):
    # M01 day -1: left OOXOXOX = 0.739849 g, right OOXXOXO from 0.4 g ends on 0.4 g:
    # 10^(3.602060 + 0.935*2/7)/10000 = 10^3.869203/10000 = 0.739951 g; mean = 0.739900 g
    r = _md(result, "M01", "vonfrey", -1)
    assert r.value == pytest.approx(0.739900, rel=REL) and r.n_sides == 2


def test_cutoff_and_outlier_rules(result):
    t = result.trials.set_index(["sheet", "row"])
    # M01 Hargreaves day -1: 10.0 10.4 9.8 18.0; median 10.2, |dev| 0.2 0.2 0.4 7.8, MAD 0.3;
    # 18.0: 0.6745*7.8/0.3 = 17.5 > 3.5 and 7.8 > 0.2*10.2 -> outlier; 9.8: 0.90 -> not
    assert bool(t.loc[("other_assays.csv", 5), "outlier"])
    assert not t.loc[[("other_assays.csv", r) for r in (2, 3, 4)], "outlier"].any()
    # outliers are kept by default: mean = (10.0+10.4+9.8+18.0)/4 = 12.05
    assert _md(result, "M01", "hargreaves", -1).value == pytest.approx(12.05, abs=1e-9)
    # M03 23.0 s > 20 s cut-off -> censored at 20, flagged
    row = t.loc[("other_assays.csv", 11)]
    assert row.value == 20.0 and "exceeds_cutoff" in row.flag
    # cold plate with a row cut-off of 30 s: 30.0 is at the cut-off
    assert "at_cutoff" in t.loc[("other_assays.csv", 28), "flag"]


def test_exclude_outliers_and_cutoff_override():
    res = analyze_sheets([OTHER], exclude_outliers=True, cutoffs={"hargreaves": 15.0})
    # without the outlier: (10.0+10.4+9.8)/3 = 10.0667
    r = res.mouse_day.query("mouse_id == 'M01' and assay == 'hargreaves' and day == -1").iloc[0]
    assert r.value == pytest.approx(30.2 / 3, abs=1e-9)
    # M03 day -1 with a 15 s cut-off: 10.8, 11.4, 23.0 -> 15.0 (censored);
    # median 11.4, |dev| 0.6 0 3.6, MAD 0.6, z(15) = 0.6745*3.6/0.6 = 4.05 > 3.5 and 3.6 > 2.28 ->
    # outlier,
    # excluded: (10.8 + 11.4)/2 = 11.1
    r = res.mouse_day.query("mouse_id == 'M03' and assay == 'hargreaves' and day == -1").iloc[0]
    assert r.value == pytest.approx(11.1, abs=1e-9)


def test_percent_baseline_auc_and_responders():
    # one mouse, baseline days -3 and -1 (1.0 and 1.2 -> baseline 1.1); 0.55, 0.77, 1.1 on days 3,
    # 7, 14
    # % of baseline: 50, 70, 100. AUC over (-1,100) (3,50) (7,70) (14,100):
    # (100+50)/2*4 + (50+70)/2*4 + (70+100)/2*7 = 300 + 240 + 595 = 1135 %.day
    # change AUC: (0-50)/2*4 + (-50-30)/2*4 + (-30+0)/2*7 = -100 - 160 - 105 = -365 %.day
    # mean post = (50+70+100)/3 = 73.33 % <= 80 % -> responder (threshold assay, 20 % rule)
    md = pd.DataFrame(
        {
            "mouse_id": "A",
            "assay": "vonfrey",
            "measure": "threshold_g",
            "group": "FMS",
            "donor_id": "D1",
            "day": [-3, -1, 3, 7, 14],
            "value": [1.0, 1.2, 0.55, 0.77, 1.1],
        }
    )
    pct = percent_of_baseline(md)
    assert pct["pct_baseline"].tolist() == pytest.approx(
        [1 / 1.1 * 100, 1.2 / 1.1 * 100, 50, 70, 100]
    )
    m = mouse_summary(pct).iloc[0]
    assert m.auc_pct_days == pytest.approx(1135.0, abs=1e-9)
    assert m.auc_change_pct_days == pytest.approx(-365.0, abs=1e-9)
    assert m.mean_post_pct == pytest.approx(220 / 3, abs=1e-9) and m.responder == 1.0
    # the same mouse without baseline days: flagged, no numbers
    nob = mouse_summary(percent_of_baseline(md[md.day > 0])).iloc[0]
    assert "no_baseline" in nob.flag and math.isnan(nob.auc_pct_days)


def test_donor_responder_summary():
    # donors P1, P2 (patients) with mice at 60 % and 70/90 % (donor mean 80 -> responder at the 20
    # % rule);
    # controls C1 with 100/95 % -> not; 8/8-style summary: "2/2 FMS", "0/1 HC"
    mice = pd.DataFrame(
        {
            "mouse_id": list("abcde"),
            "assay": "vonfrey",
            "group": ["FMS"] * 3 + ["HC"] * 2,
            "donor_id": ["P1", "P2", "P2", "C1", "C1"],
            "mean_post_pct": [60.0, 70.0, 90.0, 100.0, 95.0],
            "responder": [1.0, 1.0, 0.0, 0.0, 0.0],
        }
    )
    donors, groups = donor_summary(mice)
    assert donors.set_index("donor_id")["responder"].to_dict() == {"C1": 0.0, "P1": 1.0, "P2": 1.0}
    assert groups.set_index("group")["summary"].to_dict() == {
        "FMS": "2/2 FMS donors responders",
        "HC": "0/1 HC donors responders",
    }


def test_mixed_model_matches_split_plot_anova():
    # 2 groups x 2 mice x 2 days, balanced. Data (day 0, day 1):
    # a1 1.0 0.8 | a2 1.2 1.2 | b1 1.1 0.5 | b2 0.9 0.5
    # cell means A0 1.1, A1 1.0, B0 1.0, B1 0.5.  Mouse means .9 1.2 .8 .7, group means 1.05 .75.
    # SS mouse(group) = 2*(.15^2+.15^2+.05^2+.05^2) = 0.1, df 2 -> MS 0.05.
    # residuals y - mouse mean - cell mean + group mean are all +-0.05: SS 0.02, df 2 -> MS_e 0.01.
    # REML (= ANOVA when positive): s2_e = 0.01, s2_mouse = (0.05-0.01)/2 = 0.02.
    # Var(diff of two cell means on one day) = 2*(s2_mouse+s2_e)/2 = 0.03 -> SE 0.173205.
    # day 1: t = -0.5/0.173205 = -2.88675; day 0: t = -0.57735. Satterthwaite df of the per-day
    # difference, Var = s2_mouse + s2_e = (MS_mouse + MS_e)/2 (T = 2 days), each MS with 2 df:
    # df = (0.05/2 + 0.01/2)^2 / ((0.05/2)^2/2 + (0.01/2)^2/2) = 9e-4 / 3.25e-4 = 2.76923.
    # p = 2 * t_2.76923.sf(2.88675) = 0.069546 (by scipy below; a normal z gave 0.0039).
    # group x day: (-0.5) - (-0.1) = -0.4, Var = 2*s2_e/2 * 2 = 0.02 -> F = 8.0 on (1, 2) df
    # (pure within-mouse contrast: the residual df), p = 0.105573.
    vals = {"a1": (1.0, 0.8), "a2": (1.2, 1.2), "b1": (1.1, 0.5), "b2": (0.9, 0.5)}
    rows = [
        {
            "mouse_id": m,
            "group": "A" if m[0] == "a" else "B",
            "day": d,
            "value": v[d],
            "assay": "vonfrey",
            "measure": "threshold_g",
        }
        for m, v in vals.items()
        for d in (0, 1)
    ]
    st = group_day_contrasts(pd.DataFrame(rows))
    c = st[st.test == "per_day_contrast"].set_index("day")
    assert c.at[1, "difference_b_minus_a"] == pytest.approx(-0.5, rel=1e-6)
    assert c.at[0, "difference_b_minus_a"] == pytest.approx(-0.1, rel=1e-6)
    assert c["se"].tolist() == pytest.approx([0.173205, 0.173205], rel=1e-3)
    assert c.at[1, "df"] == pytest.approx(9e-4 / 3.25e-4, rel=1e-4)
    assert c.at[1, "p_value"] == pytest.approx(2 * stats.t.sf(2.886751, 9e-4 / 3.25e-4), rel=1e-4)
    assert c.at[1, "p_holm"] == pytest.approx(2 * c.at[1, "p_value"], rel=1e-9)
    assert c.at[0, "p_holm"] == pytest.approx(c.at[0, "p_value"], rel=1e-9)
    w = st[st.test == "group_x_day"].iloc[0]
    assert w.F == pytest.approx(8.0, rel=1e-4) and w.df_num == 1
    assert w.df == pytest.approx(2.0, rel=1e-4)
    assert w.p_value == pytest.approx(stats.f.sf(8.0, 1, 2), rel=1e-4)
    assert "mouse random intercept" in w.model


def test_donor_model_matches_nested_anova():
    # Balanced design: G=2 groups x D=3 donors x M=2 mice, T=2 days. Model: donor, mouse(donor) and
    # residual variances. For balanced data REML equals the ANOVA (method of moments) estimates when
    # they are positive, computed here in closed form with numpy, independently of statsmodels:
    #   MS_d = T*M*sum(donor mean - group mean)^2 / (G(D-1))       E = s2e + T s2m + T M s2d
    #   MS_m = T*sum(mouse mean - donor mean)^2 / (G D (M-1))      E = s2e + T s2m
    #   MS_e = sum(y - mouse mean - cell mean + group mean)^2 / (G (T-1)(D M - 1))   E = s2e
    # and the SE of a same-day group difference is sqrt(2 (s2d/D + (s2m + s2e)/(D M))).
    rng = np.random.default_rng(11)
    G, D, M, T = 2, 3, 2, 2
    rows = []
    for g in ("FMS", "HC"):
        for dn in range(D):
            donor_eff = rng.normal(0, 0.4)
            for m in range(M):
                mouse_eff = rng.normal(0, 0.2)
                for day in (0, 7):
                    shift = -0.5 if (g == "FMS" and day == 7) else 0.0
                    v = 1.0 + donor_eff + mouse_eff + shift + rng.normal(0, 0.1)
                    rows.append(
                        {
                            "mouse_id": f"{g}{dn}{m}",
                            "donor_id": f"{g}{dn}",
                            "group": g,
                            "day": day,
                            "value": v,
                            "assay": "vonfrey",
                            "measure": "threshold_g",
                        }
                    )
    d = pd.DataFrame(rows)
    gm = d.groupby("group")["value"].transform("mean")
    dm = d.groupby("donor_id")["value"].transform("mean")
    mm = d.groupby("mouse_id")["value"].transform("mean")
    cm = d.groupby(["group", "day"])["value"].transform("mean")
    ms_d = ((dm - gm) ** 2).sum() / (G * (D - 1))  # each row counts once: T*M rows per donor
    ms_m = ((mm - dm) ** 2).sum() / (G * D * (M - 1))
    ms_e = ((d["value"] - mm - cm + gm) ** 2).sum() / (G * (T - 1) * (D * M - 1))
    s2e = ms_e
    s2m = (ms_m - ms_e) / T
    s2d = (ms_d - ms_m) / (T * M)
    assert min(s2e, s2m, s2d) > 0  # otherwise REML would sit on a boundary and differ
    se = math.sqrt(2 * (s2d / D + (s2m + s2e) / (D * M)))
    st = group_day_contrasts(d)
    c = st[st.test == "per_day_contrast"].set_index("day")
    assert "variance component" in c["model"].iloc[0]
    raw = d.groupby(["group", "day"])["value"].mean()
    assert c.at[7, "difference_b_minus_a"] == pytest.approx(raw["HC", 7] - raw["FMS", 7], abs=1e-6)
    assert c["se"].tolist() == pytest.approx([se, se], rel=1e-3)


def test_blinded_codes_and_study_unblinding(sample_study):
    from fmslab.study import load_study

    blind = analyze_sheets([VF], study=load_study(sample_study, unblinding=None), unblinding=None)
    # the sample study names its key in study.yaml: groups come from it, donors from the key
    assert set(blind.mice["group"]) == {"FMS", "HC"} and "unblinding key" in blind.group_source
    assert set(blind.mice["donor_id"]) == {"D01", "D02"}
    # without any key: the analysis runs on treatment codes
    (sample_study / "study.yaml").write_text(
        (sample_study / "study.yaml").read_text().replace("unblinding: unblinding.csv", "")
    )
    coded = analyze_sheets([VF], study=load_study(sample_study))
    assert set(coded.mice["group"]) == {"T-A", "T-B"} and "blinded" in coded.group_source


def test_xlsx_sheet_reads_like_csv(tmp_path):
    x = tmp_path / "vf.xlsx"
    pd.read_csv(VF, dtype=str).to_excel(x, index=False)
    a = read_behaviour_sheet(VF, standard_sets()).vonfrey
    b = read_behaviour_sheet(x, standard_sets()).vonfrey
    assert np.allclose(a["threshold_g"], b["threshold_g"], equal_nan=True)
    assert (a["flag"] == b["flag"]).all()


def test_figure_is_returned(result):
    fig = plot_time_course(result.mouse_day)
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_visible()]) == 9


def test_empty_input_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no usable behaviour rows"):
        analyze_sheets([BROKEN])


def test_cli_analyze_with_study_catalog(sample_study, tmp_path):
    from typer.testing import CliRunner

    from fmslab.catalog import query
    from fmslab.cli import app

    sheets = tmp_path / "sheets"
    sheets.mkdir()
    for p in (VF, OTHER, BROKEN):
        shutil.copy(p, sheets / p.name)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "-q",
            "behaviour",
            "analyze",
            *map(str, sorted(sheets.iterdir())),
            "--out",
            str(out),
            "--study",
            str(sample_study),
        ],
    )
    # the broken sheet is skipped: outputs of the others are written, the exit code says so
    assert res.exit_code == 1 and "1 skipped: broken_no_assay_column.csv" in str(res.exception)
    for name in (
        "trials.csv",
        "mouse_day.csv",
        "mouse.csv",
        "vonfrey.csv",
        "stats.csv",
        "errors.csv",
        "time_course.pdf",
        "provenance.json",
    ):
        assert (out / name).is_file(), name
    prov = json.loads((out / "provenance.json").read_text())
    assert len(prov["inputs"]) == 4 and prov["dixon_k_table_sha256"].startswith("294e54c4")
    vf = pd.read_csv(out / "vonfrey.csv")
    assert vf.set_index("row").at[2, "threshold_g"] == pytest.approx(0.73985, rel=REL)
    db = sample_study / "results" / "fmslab.duckdb"
    for table in (
        "behaviour_trials",
        "behaviour_mouse_day",
        "behaviour_mouse",
        "vonfrey",
        "behaviour_stats",
    ):
        n = query(db, f"SELECT count(*) AS n FROM {table}")["n"].iloc[0]
        assert n > 0, table
    errs = pd.read_csv(out / "errors.csv")
    assert errs.sheet.str.contains("broken_no_assay_column").any()


def test_cli_uses_study_behaviour_recordings_and_refuses_nothing(sample_study, tmp_path):
    from typer.testing import CliRunner

    from fmslab.cli import app

    shutil.copy(VF, sample_study / VF.name)
    with open(sample_study / "recordings.csv", "a") as fh:
        fh.write(f"{VF.name},behaviour,M01,,,\n")
    out = tmp_path / "out"
    args = ["-q", "behaviour", "analyze", "--out", str(out), "--study", str(sample_study)]
    res = CliRunner().invoke(app, args)
    # 8 of the sheet's rows are deliberately bad: the run says so (exit 1, rows and reasons)...
    assert res.exit_code == 1 and "8 skipped" in str(res.exception)
    assert "vonfrey_passive_transfer.csv row 20: von Frey test not scored" in str(res.exception)
    res = CliRunner().invoke(app, [*args, "--allow-failures"])  # ...unless told to carry on
    assert res.exit_code == 0, res.output
    vf = pd.read_csv(out / "vonfrey.csv")
    assert len(vf) == 32 and "note" in vf.columns  # the sheet's own columns are carried through
    assert vf.set_index("row").at[8, "note"].startswith("withdrew to every filament")
    res = CliRunner().invoke(app, ["-q", "behaviour", "analyze", "--out", str(out)])
    assert res.exit_code != 0


def test_study_run_has_donor_responder_rows(sample_study):
    from fmslab.study import load_study

    res = analyze_sheets([VF], study=load_study(sample_study))
    # mouse_day von Frey (g), hand values from the Chaplan rule (k from Dixon's table, delta 2/7):
    # M01: d-1 mean(0.739849, 0.739951) = 0.739900; d3 0.094614; d7 XOXOXO ends 0.16 g, k +0.5:
    #      10^(3.204120 + 0.142857)/1e4 = 0.222319; d14 0.739951
    #      % baseline 12.787, 30.047, 100.007 -> mean 47.61 % -> responder (<= 80 %)
    # M02: baseline 0.739951; d3 bounded 0.02 (2.703 %), d7 0.094614 (12.787 %), d14 0.739849
    #      (99.986 %) -> mean 38.49 % -> responder. Donor D01 (M01, M02): mean 43.05 % -> yes
    # M03: baseline 0.739849; d3 0.739951, d7 OXOXOX ends 0.6 g, k -0.5:
    #      10^(3.778151 - 0.142857)/1e4
    #      = 0.431811 (58.364 %), d14 0.739849 -> mean (100.014+58.364+100)/3 = 86.13 % -> not
    # M04: baseline OOOXOXOX 1.48457; d3 0.739849 (49.836 %), d7 0.739951 (49.843 %), d14 duplicate
    #      rows left out -> mean 49.84 % -> responder. Donor D02: (86.13+49.84)/2 = 67.98 % -> yes
    mice = res.mice[res.mice.assay == "vonfrey"].set_index("mouse_id")
    expected = {"M01": 47.613, "M02": 38.492, "M03": 86.126, "M04": 49.839}
    for m, pct in expected.items():
        assert mice.at[m, "mean_post_pct"] == pytest.approx(pct, rel=REL), m
    assert mice.at["M04", "missing_days"] == "14"
    rows = res.stats[(res.stats.test == "donor_responders") & (res.stats.assay == "vonfrey")]
    assert sorted(rows["note"]) == ["1/1 FMS donors responders", "1/1 HC donors responders"]


def test_cutoff_precedence_row_over_option():
    from fmslab.behaviour.assays import parse_cutoffs

    cut = parse_cutoffs(["cold_plate=20", "Hargreaves=15"])
    assert cut == {"cold_plate": 20.0, "hargreaves": 15.0}
    with pytest.raises(InputError, match="no cut-off"):
        parse_cutoffs(["vonfrey=2"])
    res = analyze_sheets([OTHER], cutoffs=cut)
    t = res.trials.set_index("row")
    # cold plate rows carry their own 30 s cut-off: 28.0 stays 28.0 although --cutoff says 20
    assert t.at[27, "value"] == 28.0 and t.at[27, "cutoff_source"] == "row"
    # Hargreaves rows take the option: M03's 23.0 s becomes 15.0
    assert t.at[11, "value"] == 15.0 and t.at[11, "cutoff_source"] == "option"


def test_cli_threshold_and_filaments():
    from typer.testing import CliRunner

    from fmslab.cli import app

    # the worked example again (0.73985 g), printed to 4 significant digits
    res = CliRunner().invoke(app, ["behaviour", "threshold", "OOXOXOX", "--first", "0.4"])
    assert res.exit_code == 0 and "threshold_g=0.7398" in res.output
    res = CliRunner().invoke(app, ["behaviour", "threshold", "OXOXX", "--first", "0.4", "--sudo"])
    assert "threshold_g=0.253" in res.output
    res = CliRunner().invoke(app, ["behaviour", "threshold", "OOOO", "--first", "0.4"])
    assert "flag=above_range" in res.output and "bound=lower" in res.output
    res = CliRunner().invoke(app, ["behaviour", "filaments"])
    assert res.exit_code == 0 and "rat_8" in res.output


def test_sheet_without_trial_column_numbers_trials(tmp_path):
    p = tmp_path / "no_trial.csv"
    p.write_text(
        "mouse_id,day,assay,side,latency_s,value\n"
        "M1,0,hargreaves,left,10,\nM1,0,hargreaves,left,12,\nM1,0,hargreaves,left,,14\n"
        "M1,0,grip_strength,both,,120\n"
    )
    data = read_behaviour_sheet(p, standard_sets())
    assert data.problems.empty
    h = data.trials[data.trials.assay == "hargreaves"]
    # three trials numbered in sheet order; the third reads the generic value column
    assert h["trial"].tolist() == [1, 2, 3] and h["raw_value"].tolist() == [10.0, 12.0, 14.0]
    assert data.trials.loc[data.trials.assay == "grip_strength", "raw_value"].item() == 120.0


def test_group_contradictions_are_reported(tmp_path, sample_study):
    from fmslab.study import load_study

    # M01 is T-A = FMS in the sample study's key; the sheet says HC -> reported, no group
    p = tmp_path / "vf.csv"
    text = VF.read_text().splitlines()
    head = text[0] + ",group"
    body = [line + (",HC" if line.startswith("M01,") else ",") for line in text[1:]]
    p.write_text("\n".join([head, *body]) + "\n")
    res = analyze_sheets([p], study=load_study(sample_study))
    assert res.errors.reason.str.contains(
        "M01: sheet group HC contradicts the unblinding key"
    ).any()
    assert res.mice.loc[res.mice.mouse_id == "M01", "group"].isna().all()
    assert set(res.mice.loc[res.mice.mouse_id != "M01", "group"]) == {"FMS", "HC"}


def test_locomotor_rate_and_unequal_sessions(tmp_path):
    p = tmp_path / "loco.csv"
    p.write_text(
        "mouse_id,day,assay,distance_cm,duration_s\nM1,0,locomotor,2400,600\nM1,7,locomotor,1800,300\n"
    )
    res = analyze_sheets([p])
    # 2400 cm in 600 s = 240 cm/min; 1800 cm in 300 s = 360 cm/min
    assert res.trials["distance_cm_per_min"].tolist() == pytest.approx([240.0, 360.0])
    assert res.errors.reason.str.contains("different times").any()


def test_statistics_on_percent_of_baseline(sample_study):
    from fmslab.study import load_study

    res = analyze_sheets([VF], study=load_study(sample_study), stats_on="pct_baseline")
    c = res.stats[(res.stats.assay == "vonfrey") & (res.stats.test == "per_day_contrast")]
    d3 = c.set_index("day").loc[3]
    # FMS mice M01, M02 have every day, so their cell means are the raw means (balanced within the
    # group): day 3 = (100*0.094614/0.739900 + 100*0.02/0.739951)/2 = (12.7874 + 2.70288)/2 = 7.7451
    assert d3.group_a == "FMS" and d3.mean_a == pytest.approx(7.7451, rel=REL)
    assert d3.measure.startswith("pct_baseline")
    with pytest.raises(InputError, match="stats_on"):
        analyze_sheets([VF], stats_on="auc")


def test_unblinding_key_without_study(tmp_path):
    # sheet carries treatment codes; the key maps them to groups and donors
    p = tmp_path / "vf.csv"
    text = VF.read_text().splitlines()
    codes = {"M01": "T-A", "M02": "T-A", "M03": "T-B", "M04": "T-B"}
    body = [line + "," + codes[line.split(",")[0]] for line in text[1:]]
    p.write_text("\n".join([text[0] + ",treatment_code", *body]) + "\n")
    key = tmp_path / "key.csv"
    key.write_text("treatment_code,group,donor_id\nT-A,FMS,D01\nT-B,HC,D02\n")
    res = analyze_sheets([p], unblinding=key)
    m = res.mice.drop_duplicates("mouse_id").set_index("mouse_id")
    assert m["group"].to_dict() == {"M01": "FMS", "M02": "FMS", "M03": "HC", "M04": "HC"}
    assert m["donor_id"].to_dict() == {"M01": "D01", "M02": "D01", "M03": "D02", "M04": "D02"}
    # a code missing from the key is reported, never guessed
    key.write_text("treatment_code,group\nT-A,FMS\n")
    res = analyze_sheets([p], unblinding=key)
    assert res.errors.reason.str.contains("code T-B is not in the unblinding key").any()
    assert res.mice.loc[res.mice.mouse_id.isin(["M03", "M04"]), "group"].isna().all()
