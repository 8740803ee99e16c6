"""The demo's up-down von Frey sequences obey the rule they were walked with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmslab.demo.behaviour import (
    FILAMENTS_G,
    FIRST_FILAMENT_G,
    VF_EFFECT,
    generate_behaviour,
    time_course,
    walk_up_down,
)
from fmslab.demo.design import DemoConfig, build_design


def check_up_down(pattern: str, filaments=FILAMENTS_G, first=FIRST_FILAMENT_G) -> None:
    """Independent statement of Chaplan's rule: O -> next stronger, X -> next weaker; after the
    first change of response exactly four more stimuli, unless the set is exhausted first."""
    assert pattern and set(pattern) <= {"O", "X"}, pattern
    i = filaments.index(first)
    change = next((k for k in range(1, len(pattern)) if pattern[k] != pattern[k - 1]), None)
    for k, r in enumerate(pattern):
        assert 0 <= i < len(filaments)
        last = k == len(pattern) - 1
        i += 1 if r == "O" else -1
        if last:
            exhausted = i < 0 or i >= len(filaments)
            if change is None:
                assert exhausted, f"{pattern}: stopped before a change without exhausting the set"
            else:
                assert len(pattern) - 1 - change == 4 or exhausted, pattern


def test_hand_worked_sequences():
    rng = np.random.default_rng(0)
    sharp = 1e-9  # deterministic responder: withdraws exactly when force > threshold
    # threshold 0.5 g, start 0.4: O(0.4) X(0.6) O(0.4) X(0.6) O(0.4) X(0.6) -> change at #2, 4 more
    assert walk_up_down(0.5, rng, sigma_log10=sharp) == "OXOXOX"
    # threshold 1.2 g: O(0.4) O(0.6) O(1.0) X(1.4) O(1.0) X(1.4) O(1.0) X(1.4)
    assert walk_up_down(1.2, rng, sigma_log10=sharp) == "OOOXOXOX"
    # above the strongest filament: O at 0.4, 0.6, 1.0, 1.4, 2.0 and the set is exhausted
    assert walk_up_down(5.0, rng, sigma_log10=sharp) == "OOOOO"
    # below the weakest: X at 0.4, 0.16, 0.07, 0.04, 0.02
    assert walk_up_down(0.01, rng, sigma_log10=sharp) == "XXXXX"


@pytest.mark.parametrize("threshold_g", [0.05, 0.3, 0.8, 1.8])
def test_random_walks_obey_the_rule(threshold_g):
    rng = np.random.default_rng(7)
    for _ in range(200):
        check_up_down(walk_up_down(threshold_g, rng))


def test_generated_sheets_follow_the_rule_and_the_planted_time_course():
    cfg = DemoConfig.make(seed=5, n_donors_per_group=2)
    design = build_design(cfg)
    out = generate_behaviour(design, cfg)
    sheet = pd.concat(out.sheets.values(), ignore_index=True)
    vf = sheet[sheet["assay"] == "vonfrey"]
    for pattern in vf["pattern"]:
        check_up_down(pattern)
    assert set(vf["first_filament_g"]) == {FIRST_FILAMENT_G}
    harg = sheet[sheet["assay"] == "hargreaves"]
    assert harg["latency_s"].between(0, 20).all()
    truth = out.thresholds
    # day 0 is the baseline (no effect); the effect peaks at day 4 and has faded by day 21
    assert time_course(0) == 0 and time_course(4) == pytest.approx(1.0)
    assert time_course(21) < 0.1
    potency = design.mice.set_index("mouse_id")["donor_id"].map(
        design.donors.set_index("donor_id")["potency"]
    )
    wide = truth.pivot(index="mouse_id", columns="day", values="true_threshold_g")
    drop_log10 = np.log10(wide[5] / wide[0])
    expected = -VF_EFFECT * potency.loc[wide.index] * time_course(5)
    # day-to-day noise is N(0, 0.04) log10 on each day -> difference sd 0.057; allow 4 sd
    assert np.all(np.abs(drop_log10 - expected) < 4 * 0.04 * np.sqrt(2))
    groups = truth.groupby("mouse_id")["group"].first().loc[wide.index]
    assert (drop_log10[groups == "FMS"] < -0.2).all()  # every patient mouse clearly sensitised


def test_generated_patterns_are_dixon_sequences(test_data):
    # Every complete sequence must be one Dixon (1980) tabulated (O-first rows; X-first ones by the
    # O/X symmetry), so the threshold analysis can look it up; the rest must be boundary cases.
    table = pd.read_csv(test_data("behaviour/dixon_k_table.csv"))
    known = set(table["pattern"])
    swap = str.maketrans("OX", "XO")
    cfg = DemoConfig.make(seed=2)
    sheets = generate_behaviour(build_design(cfg), cfg).sheets.values()
    patterns = pd.concat(sheets)["pattern"].dropna()
    patterns = patterns[patterns != ""]
    in_table = patterns.map(lambda p: p in known or p.translate(swap) in known)
    boundary = patterns.map(lambda p: len(set(p)) == 1)
    assert (in_table | boundary).all(), patterns[~(in_table | boundary)].tolist()
    assert in_table.mean() > 0.9
