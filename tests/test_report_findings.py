"""Sentences of the findings block from statistics rows, checked against hand-written text."""

from __future__ import annotations

import pandas as pd

from fmslab.report.blinding import blinding_statement
from fmslab.report.findings import findings, format_p, meaningful, plain_warnings, sentence

ROW = {
    "source": "catalog:ephys_cells", "outcome": "rheobase_pA", "model": "lmm", "unit": "donor",
    "primary": True, "reference": "HC", "treatment": "FMS", "n_donors_ref": 3, "n_donors_trt": 3,
    "n_mice_ref": 12, "n_mice_trt": 12, "n_obs_ref": 18, "n_obs_trt": 17,
    "estimate_type": "mean_difference", "estimate": -49.2, "ci_low": -86.1, "ci_high": -12.3,
    "ci_method": "Satterthwaite t 95%", "p": 0.0213, "q": 0.04, "warnings": "",
}  # fmt: skip


def test_sentence_reads_like_the_issue_example() -> None:
    assert sentence(ROW) == (
        "Rheobase was 49 pA lower with FMS IgG than with HC IgG (95% CI 12 to 86 pA; mixed model; "
        "3 vs 3 donors, 12 vs 12 mice, 35 cells; p = 0.021)."
    )


def test_interval_spanning_zero_higher_and_rounding() -> None:
    row = {**ROW, "outcome": "rmp_mV", "estimate": 2.781, "ci_low": -1.352, "ci_high": 6.914,
           "p": 0.1015}  # fmt: skip
    assert sentence(row) == (
        "Resting membrane potential was 2.8 mV higher with FMS IgG than with HC IgG (95% CI -1.4 "
        "to 6.9 mV; mixed model; 3 vs 3 donors, 12 vs 12 mice, 35 cells; p = 0.10). "
        "The interval includes no difference."
    )
    # digits follow the interval's half-width (two significant digits of it)
    assert meaningful(-131.25, 251.8) == "-131" and meaningful(0.16017, 0.6674) == "0.16"
    assert format_p(0.00042) == "p < 0.001" and format_p(float("nan")) == "p not available"


def test_day_adjusted_p_and_warnings_in_plain_words() -> None:
    row = {**ROW, "outcome": "threshold_g", "day": 5.0, "estimate": -0.31, "ci_low": -0.52,
           "ci_high": -0.1, "p": 0.012, "p_adj": 0.036, "adjustment": "Holm",
           "n_donors_ref": 2, "n_donors_trt": 2,
           "warnings": "singular fit: 'donor_id' variance estimated at 0 (boundary)"}  # fmt: skip
    text = sentence(row)
    assert text.startswith("50% withdrawal threshold on day 5 was 0.31 g lower with FMS IgG")
    assert "p = 0.012, Holm-adjusted p = 0.036" in text
    plain = plain_warnings(row)
    assert plain[0].startswith("Few donors: 2 FMS and 2 HC.")
    assert "no variation between donors" in plain[1]


def test_findings_take_primary_rows_and_blinding_is_computed() -> None:
    stats = pd.DataFrame([ROW, {**ROW, "model": "welch_donor_means", "primary": False}])
    found = findings(stats)
    assert [f.outcome for f in found] == ["rheobase_pA"]
    tables = {
        "mice": pd.DataFrame({"mouse_id": ["M1", "M2"], "treatment_code": ["T1", "T2"]}),
        "compare_stats": stats,
        "behaviour_mouse_day": pd.DataFrame({"group": ["T1", "T2"], "value": [1.0, 2.0]}),
        "rnaseq_de_results": pd.DataFrame({"contrast": ["group_FMS_vs_HC"], "gene": ["Scn11a"]}),
    }
    text, found_cols = blinding_statement(tables)
    # codes in behaviour's group column are not labels; the DE contrast names the groups
    assert found_cols == {
        "compare_stats": ["reference", "treatment"],
        "rnaseq_de_results": ["contrast"],
    }
    assert "behaviour" not in text
