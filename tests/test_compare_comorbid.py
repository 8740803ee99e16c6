"""`fmslab demo --design comorbid` end to end (slow): FMS, HC, RA_FMS and RA_noFMS donors through
every modality; each planned contrast's estimate and CI is scored against the planted effect.

Planted (fmslab.demo.design): FMS and RA_FMS donors have a potency (log-normal around 1) that
scales every IgG effect; HC and RA_noFMS have potency 0. The planted effect of a contrast is the
noise-free difference the simulators wrote to ground_truth/ (true rheobase of each cell, true
threshold of each mouse-day), averaged as the donor-level analysis averages (cells -> mouse ->
donor -> group), so it is independent of the analyses. Between two groups without potency
(RA_noFMS - HC) it is exactly 0 by construction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fmslab.cli import app
from fmslab.compare import run

pytestmark = pytest.mark.slow  # generates and analyses a 12-donor study (~2-3 min CPU)

SEED = 1
CONTRASTS = {  # name -> (target, reference), as written to the comorbid study.yaml
    "RA_FMS vs RA_noFMS": ("RA_FMS", "RA_noFMS"),
    "RA_FMS vs HC": ("RA_FMS", "HC"),
    "FMS vs HC": ("FMS", "HC"),
    "RA_noFMS vs HC": ("RA_noFMS", "HC"),
}
TRANSFER = {"FMS", "RA_FMS"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("comorbid") / "demo"
    res = CliRunner().invoke(app, ["-q", "demo", "--out", str(out), "--small", "--design",
                                   "comorbid", "--n-donors-per-group", "3", "--seed", str(SEED),
                                   "--jobs", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def _truth_contrasts(truth: pd.DataFrame, value: str, levels: list[str]) -> dict[str, float]:
    means = truth.groupby(["group", *levels])[value].mean()
    for _ in levels[1:]:
        means = means.groupby(level=list(range(means.index.nlevels - 1))).mean()
    by_group = means.groupby(level=0).mean()
    return {n: float(by_group[t] - by_group[r]) for n, (t, r) in CONTRASTS.items()}


def _score(stats: pd.DataFrame, outcome: str, truth: dict[str, float], lower_is_effect: bool):
    rows = stats[(stats.test == "contrast") & (stats.model == "lmm") & (stats.outcome == outcome)]
    rows = rows.set_index("contrast")
    assert set(rows.index) == set(CONTRASTS), rows.index.tolist()
    for name, (t, r) in CONTRASTS.items():
        row = rows.loc[name]
        assert row["ci_low"] <= truth[name] <= row["ci_high"], (outcome, name, row, truth[name])
        if (t in TRANSFER) != (r in TRANSFER):  # a planted effect: the estimate has its sign
            sign = -1 if (t in TRANSFER) == lower_is_effect else 1
            assert np.sign(row["estimate"]) == sign, (outcome, name, row["estimate"])
        else:
            assert truth[name] == pytest.approx(0.0, abs=1e-9) or name != "RA_noFMS vs HC"
            assert row["ci_low"] <= 0.0 <= row["ci_high"], (outcome, name, row)
    return rows


def test_every_step_ran(demo):
    steps = pd.read_csv(demo / "study" / "results" / "demo_steps.csv")
    assert steps["ok"].all(), steps[~steps["ok"]].to_string()


def test_ephys_rheobase_contrasts_recover_the_planted_effect(demo):
    stats = pd.read_csv(demo / "study" / "results" / "compare" / "ephys_cells" / "stats.csv")
    truth = pd.read_csv(demo / "ground_truth" / "ephys_cells.csv")
    truth = truth[truth["qc_truth"] == "ok"]
    planted = _truth_contrasts(truth, "true_rheobase_pA", ["donor_id", "mouse_id"])
    planted["RA_noFMS vs HC"] = 0.0  # same distribution by construction (potency 0 in both)
    rows = _score(stats, "rheobase_pA", planted, lower_is_effect=True)
    om = stats[(stats.test == "omnibus") & (stats.outcome == "rheobase_pA")].iloc[0]
    assert om["df_num"] == 3 and om["p"] < 0.05
    assert (rows["adjustment"] == "holm over 4 planned contrasts").all()


def test_behaviour_peak_day_contrasts_recover_the_planted_effect(demo):
    res = demo / "study" / "results" / "compare" / "behaviour_vonfrey_day5" / "stats.csv"
    stats = pd.read_csv(res)
    truth = pd.read_csv(demo / "ground_truth" / "behaviour_thresholds.csv")
    planted = _truth_contrasts(truth[truth["day"] == 5], "true_threshold_g", ["donor_id"])
    planted["RA_noFMS vs HC"] = 0.0
    _score(stats, "value", planted, lower_is_effect=True)


def test_behaviour_time_course_per_day_contrasts(demo, tmp_path):
    done = run("behaviour_mouse_day", ["value"], out=tmp_path / "tc", study=demo / "study",
               unblinding=demo / "keys" / "unblinding.csv", levels=["donor"],
               where="assay == 'vonfrey'", day="day", n_boot=50)  # fmt: skip
    st = done.stats
    truth = pd.read_csv(demo / "ground_truth" / "behaviour_thresholds.csv")
    per_day = st[st.test == "per_day"]
    assert len(per_day) == len(CONTRASTS) * truth["day"].nunique()
    missed = []
    for row in per_day.itertuples():
        t, r = CONTRASTS[row.contrast]
        sub = truth[truth["day"] == row.day]
        planted = _truth_contrasts(sub, "true_threshold_g", ["donor_id"])[row.contrast]
        if t not in TRANSFER and r not in TRANSFER:
            planted = 0.0
        if not row.ci_low <= planted <= row.ci_high:
            missed.append((row.contrast, row.day, planted, row.ci_low, row.ci_high))
    # 32 per-day 95 % CIs: at most ~5 % may miss by chance; 3 or more would be P < 0.08
    assert len(missed) <= 2, missed
    gxd = st[st.test == "group_x_day"].iloc[0]
    assert gxd["p"] < 0.05  # the planted effect rises and recovers: group x day
