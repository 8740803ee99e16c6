"""Up-down von Frey: Dixon's table, Chaplan (1994) and SUDO (Bonin 2014) against hand calculations.

Tolerances: hand results below are written to 4-5 significant digits, so they are compared with a
relative tolerance of 2e-4 (the rounding of the written value); k values in Dixon's table have 3
decimals, which the hand calculation uses as printed, so no extra error enters.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fmslab.behaviour.filaments import FilamentSet, load_sets, read_filament_sets, standard_sets
from fmslab.behaviour.updown import chaplan_threshold, dixon_k, dixon_table, sudo_threshold, walk
from fmslab.errors import InputError
from fmslab.provenance import sha256_file

REL = 2e-4


@pytest.fixture(scope="module")
def sets() -> dict[str, FilamentSet]:
    return standard_sets()


def test_dixon_table_is_the_shared_copy_and_symmetric(test_data):
    from importlib.resources import files

    shipped = files("fmslab") / "data" / "behaviour" / "dixon_k_table.csv"
    assert sha256_file(str(shipped)) == sha256_file(test_data("behaviour/dixon_k_table.csv"))
    t = dixon_table()
    assert len(t) == 248 and t["pattern"].is_unique
    # structure: pattern = first_run + last_part, first run of like responses 1-4, tail 1-5
    assert (t["first_run"] + t["last_part"] == t["pattern"]).all()
    assert t["n_first_run"].between(1, 4).all() and t["last_part"].str.len().between(1, 5).all()
    # symmetry: swapping O and X mirrors the sequence about the threshold, so k changes sign
    k = dict(zip(t["pattern"], t["k"], strict=True))
    swap = str.maketrans("OX", "XO")
    for pat, value in k.items():
        assert k[pat.translate(swap)] == pytest.approx(-value, abs=1e-9), pat


def test_dixon_k_known_entries():
    # Values as printed in Dixon (1980) / Chaplan (1994) appendix: OX -0.500, XO +0.500,
    # OOOXOXOX -0.453 (transcribed in ../shared); an unknown or over-long pattern has no k.
    assert dixon_k("OX") == -0.5 and dixon_k("XO") == 0.5
    assert dixon_k("OOOXOXOX") == -0.453
    assert dixon_k("OOOOOX") is None


def test_standard_sets_and_delta(sets):
    m8 = sets["mouse_8"]
    assert m8.force_g == (0.02, 0.04, 0.07, 0.16, 0.4, 0.6, 1.0, 2.0)
    # delta = (log10(10000*2.0) - log10(10000*0.02)) / 7 = (4.30103 - 2.30103) / 7 = 2/7
    assert m8.delta == pytest.approx(2 / 7, rel=1e-12)
    # rat set of Chaplan (1994): 0.4 ... 15 g; delta = (5.17609 - 3.60206)/7 = 0.224862
    # (Chaplan quote 0.224 from the printed markings 3.61-5.18)
    assert sets["rat_8"].delta == pytest.approx(0.224862, rel=REL)
    tab = m8.table()
    assert tab["force_mN"].iloc[-1] == pytest.approx(2.0 * 9.80665)
    assert tab["log10_10000g"].iloc[0] == pytest.approx(math.log10(200))


def test_custom_filament_set(tmp_path):
    p = tmp_path / "kit.csv"
    p.write_text(
        "filament_set,force_g\nmy9,0.6\nmy9,0.008\nmy9,0.02\nmy9,0.04\nmy9,0.07\n"
        "my9,0.16\nmy9,0.4\nmy9,1.0\nmy9,1.4\n"
    )
    s = read_filament_sets(p)["my9"]
    assert s.force_g[0] == 0.008 and s.force_g[-1] == 1.4 and len(s) == 9  # sorted
    bad = tmp_path / "bad.csv"
    bad.write_text("filament_set,force_g\nk,0.4\nk,abc\n")
    with pytest.raises(InputError, match="row 3"):
        read_filament_sets(bad)
    clash = tmp_path / "clash.csv"
    clash.write_text("filament_set,force_g\nmouse_8,0.4\nmouse_8,1\n")
    with pytest.raises(InputError, match="already used"):
        load_sets(clash)


def test_walk():
    # start at index 4; O -> up one, X -> down one
    assert walk("OOXOX", 4, 8) == ([4, 5, 6, 5, 6], None)
    assert walk("XXXXXX", 4, 8)[1] == 5  # the sixth stimulus would be index -1


def test_chaplan_mouse_worked_example(sets):
    # mouse_8 from 0.4 g (index 4), OOXOXOX: filaments 0.4 0.6 1.0 0.6 1.0 0.6 1.0 g.
    # First change at stimulus 3 (X); the six = O(0.6) X O X O X, last filament 1.0 g -> Xf =
    # 4.0000.
    # Dixon pattern OO + XOXOX: k = -0.458.  delta = 2/7 = 0.285714.
    # threshold = 10^(4.0 - 0.458 * 0.285714) / 10000 = 10^3.869143 / 10000 = 0.73985 g
    r = chaplan_threshold("OOXOXOX", 0.4, sets["mouse_8"])
    assert r.flag == "" and r.k == -0.458 and r.dixon_pattern == "OOXOXOX"
    assert r.threshold_g == pytest.approx(0.73985, rel=REL)
    assert r.last_filament_g == 1.0 and r.n_stimuli_used == 7


def test_chaplan_rat_worked_example(sets):
    # Chaplan's rat protocol: start at 2.0 g (index 3 of rat_8), XOXOXO: filaments 2,1,2,1,2,1 g.
    # Change at stimulus 2, six responses end at stimulus 6 on 1.0 g: Xf = 4.0; k(XOXOXO) = +0.500;
    # delta = 0.224862.  threshold = 10^(4 + 0.5*0.224862)/10000 = 10^4.112431/10000 = 1.2955 g
    r = chaplan_threshold("XOXOXO", 2.0, sets["rat_8"])
    assert r.threshold_g == pytest.approx(1.2955, rel=REL)


def test_chaplan_long_lead_in_uses_dixon_four_column(sets):
    # touch_test_20 from 0.008 g: five O (0.008 0.02 0.04 0.07 0.16), X at 0.4, then O O X O:
    # filaments 0.16 0.4 0.6 0.4 -> last 0.4 g, Xf = log10(4000) = 3.602060.
    # Dixon's table distinguishes lead-in runs up to 4: key OOOO + XOOXO, k = +0.381.
    # delta = (log10(3e6) - log10(80))/19 = 4.574031/19 = 0.240738.
    # threshold = 10^(3.602060 + 0.381*0.240738)/10000 = 10^3.693781/10000 = 0.49406 g
    r = chaplan_threshold("OOOOOXOOXO", 0.008, sets["touch_test_20"])
    assert r.dixon_pattern == "OOOOXOOXO" and r.k == 0.381 and r.flag == "lead_in_over_4"
    assert r.threshold_g == pytest.approx(0.49406, rel=REL)


def test_chaplan_boundaries_are_bounded_and_flagged(sets):
    m8 = sets["mouse_8"]
    low = chaplan_threshold("XXXXX", 0.4, m8)  # 0.4 0.16 0.07 0.04 0.02: all withdrawals
    assert (low.flag, low.bound, low.threshold_g) == ("below_range", "upper", 0.02)
    high = chaplan_threshold("OOOO", 0.4, m8)  # 0.4 0.6 1.0 2.0: never a withdrawal
    assert (high.flag, high.bound, high.threshold_g) == ("above_range", "lower", 2.0)


@pytest.mark.parametrize(
    ("pattern", "first", "flag"),
    [
        ("OOAX", 0.4, "invalid_pattern"),
        ("", 0.4, "invalid_pattern"),
        ("OXOXOX", 0.5, "unknown_filament"),
        ("XXXXXX", 0.4, "walk_off_set"),  # sixth stimulus below 0.02 g
        ("OOOOOXOX", 0.4, "walk_off_set"),  # fifth stimulus above 2.0 g
        ("XXX", 0.4, "incomplete"),  # no change, not at the weakest filament
        ("OOXOX", 0.4, "incomplete"),  # 4 of 6 responses after the change
    ],
)
def test_chaplan_unscorable_sequences_have_no_number(sets, pattern, first, flag):
    r = chaplan_threshold(pattern, first, sets["mouse_8"])
    assert r.flag == flag and math.isnan(r.threshold_g)


def test_chaplan_last_filament_check_and_extra_responses(sets):
    m8 = sets["mouse_8"]
    bad = chaplan_threshold("OOXOXOX", 0.4, m8, last_filament_g=0.6)  # walk ends on 1.0 g
    assert bad.flag == "last_filament_mismatch" and math.isnan(bad.threshold_g)
    ok = chaplan_threshold("OOXOXOX", 0.4, m8, last_filament_g=1.0)
    assert ok.flag == ""
    # two responses past the sixth are ignored (and flagged); the value is that of OOXOXOX
    extra = chaplan_threshold("OOXOXOXOX", 0.4, m8)
    assert extra.flag == "extra_responses_ignored"
    assert extra.threshold_g == pytest.approx(0.73985, rel=REL)


def test_sudo_worked_examples(sets):
    m8 = sets["mouse_8"]
    # OXOXX from 0.4 g: 0.4 0.6 0.4 0.6 0.4; fifth (0.4 g = filament 5) withdrew -> 5 - 0.5 = 4.5,
    # halfway (in log force) between 0.16 and 0.4 g = sqrt(0.16*0.4) = sqrt(0.064) = 0.25298 g
    r = sudo_threshold("OXOXX", 0.4, m8)
    assert r.sudo_filament == 4.5 and r.threshold_g == pytest.approx(0.25298, rel=REL)
    # XXOOO: 0.4 0.16 0.07 0.16 0.4; fifth (filament 5) no withdrawal -> 5.5 -> sqrt(0.4*0.6) =
    # 0.48990
    r = sudo_threshold("XXOOO", 0.4, m8)
    assert r.sudo_filament == 5.5 and r.threshold_g == pytest.approx(0.48990, rel=REL)
    # XXXOX: 0.4 0.16 0.07 0.04 0.07; fifth (filament 3) withdrew -> 2.5 -> sqrt(0.04*0.07) =
    # 0.052915
    assert sudo_threshold("XXXOX", 0.4, m8).threshold_g == pytest.approx(0.052915, rel=REL)


def test_sudo_boundary_incomplete_and_extra(sets):
    nine = FilamentSet("nine", (0.008, 0.02, 0.04, 0.07, 0.16, 0.4, 0.6, 1.0, 1.4))
    # from the middle filament (0.16 g, 5 of 9) five O reach the strongest: 9 + 0.5 is beyond the
    # set
    top = sudo_threshold("OOOOO", 0.16, nine)
    assert (top.flag, top.bound, top.threshold_g) == ("above_range", "lower", 1.4)
    bottom = sudo_threshold("XXXXX", 0.16, nine)
    assert (bottom.flag, bottom.bound, bottom.threshold_g) == ("below_range", "upper", 0.008)
    assert sudo_threshold("OXOX", 0.16, nine).flag == "incomplete"
    extra = sudo_threshold("OXOXXO", 0.16, nine)
    assert extra.flag == "extra_responses_ignored"
    # fifth at 0.16 g (filament 5) withdrew -> 4.5 -> sqrt(0.07*0.16) = 0.10583 g
    assert extra.threshold_g == pytest.approx(0.10583, rel=REL)


def test_filament_table_round_trip(sets):
    t = pd.concat([s.table() for s in sets.values()])
    assert set(t["filament_set"]) == {"mouse_8", "rat_8", "touch_test_20"}


def test_start_reconstructed_from_last_filament(sets):
    m8 = sets["mouse_8"]
    # sheet gives only the final filament: OOXOXOX ending on 1.0 g (index 6);
    # steps +1 +1 -1 +1 -1 +1
    # sum +2 -> start index 4 = 0.4 g: the same test as the worked example, 0.73985 g
    r = chaplan_threshold("OOXOXOX", None, m8, last_filament_g=1.0)
    assert r.flag == "" and r.threshold_g == pytest.approx(0.73985, rel=REL)
    # ending on 0.04 g the same pattern would have started at 0.007 g: not in the set
    assert chaplan_threshold("OOXOXOX", None, m8, last_filament_g=0.04).flag == "walk_off_set"
    assert chaplan_threshold("OXOXOX", None, m8).flag == "unknown_filament"


def test_ignored_extra_stimuli_may_leave_the_set(sets):
    # OOOXOXOX from 0.4 g: filaments 0.4 0.6 1.0 2.0 1.0 2.0 1.0 2.0 (indices 4 5 6 7 6 7 6 7): the
    # 8 stimuli Chaplan counts end on 2.0 g. Three extra stimuli O O O would be at 1.0, 2.0 and then
    # index 8 (above the set): ignored and flagged, the test is still scored.
    # Hand value: Xf = log10(20000) = 4.301030, k(OOOXOXOX) = -0.453:
    # 10^(4.301030 - 0.453*2/7)/10000 = 10^4.171601/10000 = 1.48457 g
    r = chaplan_threshold("OOOXOXOXOOO", 0.4, sets["mouse_8"])
    assert r.flag == "extra_responses_ignored"
    assert r.threshold_g == pytest.approx(1.48457, rel=REL)


def test_mirror_symmetry_on_an_even_log_set():
    # On a set whose log forces are evenly spaced (here 10^(-1.5 + 0.25 i) g, i = 0..12) a pattern
    # walked from filament i and its O/X mirror walked from filament n-1-i are reflections of each
    # other about the middle of the set; with k(mirror) = -k (Dixon's table) the two log10
    # thresholds must add up to log_min + log_max = -1.5 + 1.5 = 0 (to float rounding).
    even = FilamentSet("even13", tuple(10 ** (-1.5 + 0.25 * i) for i in range(13)))
    swap = str.maketrans("OX", "XO")
    checked = 0
    for pat in dixon_table()["pattern"]:
        if len(pat) - pat.index("X" if pat[0] == "O" else "O") != 5:
            continue  # only complete six-response patterns are scored
        for start in range(13):
            a = chaplan_threshold(pat, even.force_g[start], even)
            b = chaplan_threshold(pat.translate(swap), even.force_g[12 - start], even)
            if a.flag or b.flag:
                continue
            assert math.log10(a.threshold_g) + math.log10(b.threshold_g) == pytest.approx(
                0, abs=1e-9
            )
            checked += 1
    assert checked > 300
