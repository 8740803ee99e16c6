"""Column subsets per audience: what a PI and a lab scientist look at first in each table.

Every table keeps all its columns (the "All columns" choice and the CSV); these lists only choose
which are shown by default. Columns a table does not have are ignored.
"""

from __future__ import annotations

AUDIENCES = ("PI summary", "Lab scientist")

SUBSETS: dict[str, dict[str, tuple[str, ...]]] = {
    "compare_stats": {
        "PI summary": ("outcome", "model", "primary", "treatment", "reference", "n_donors_trt",
                       "n_donors_ref", "estimate", "ci_low", "ci_high", "p", "q"),
        "Lab scientist": ("source", "outcome", "model", "unit", "primary", "treatment", "reference",
                          "n_donors_trt", "n_donors_ref", "n_mice_trt", "n_mice_ref", "n_obs_trt",
                          "n_obs_ref", "estimate_type", "estimate", "ci_low", "ci_high", "df", "p",
                          "q", "warnings"),
    },
    "ephys_cells": {
        "PI summary": ("cell_id", "mouse_id", "rheobase_pA", "rmp_mV", "rin_MOhm",
                       "firing_pattern", "qc_pass"),
        "Lab scientist": ("file", "cell_id", "mouse_id", "protocol", "n_sweeps", "rmp_mV",
                          "rin_MOhm", "tau_ms", "capacitance_pF", "rheobase_pA", "rheobase_ramp_pA",
                          "max_firing_rate_hz", "threshold_at_rheobase_mV", "firing_pattern",
                          "qc_pass", "qc_reasons"),
    },
    "ephys_sweeps": {
        "Lab scientist": ("file", "cell_id", "sweep", "stim_kind", "stim_pA", "n_spikes_stim",
                          "firing_rate_hz", "latency_ms", "threshold_mV", "baseline_mV",
                          "qc_pass", "qc_reasons"),
    },
    "ephys_spikes": {
        "Lab scientist": ("file", "sweep", "spike", "threshold_t_s", "threshold_mV", "peak_mV",
                          "half_width_ms", "upstroke_V_per_s"),
    },
    "skinnerve_units": {
        "PI summary": ("file", "unit_id", "receptor_type", "fibre_class", "cv_m_s",
                       "mech_threshold", "spont_rate_hz"),
        "Lab scientist": ("file", "unit_id", "mouse_id", "n_spikes", "snr", "contamination",
                          "isi_violation_fraction", "cv_m_s", "fibre_class", "mech_threshold",
                          "receptor_type", "is_unit_under_study"),
    },
    "skinnerve_responses": {
        "Lab scientist": ("file", "unit_id", "stimulus", "amplitude", "amplitude_unit",
                          "total_spikes", "static_rate_hz", "dynamic_rate_hz", "responded"),
    },
    "behaviour_mouse_day": {
        "Lab scientist": ("mouse_id", "treatment_code", "group", "day", "assay", "value", "unit",
                          "pct_baseline", "n_trials", "n_outliers"),
    },
    "vonfrey": {
        "Lab scientist": ("sheet", "mouse_id", "day", "side", "pattern", "threshold_g", "flag",
                          "detail"),
    },
    "rnaseq_de_results": {
        "PI summary": ("gene", "log2FoldChange", "padj"),
        "Lab scientist": ("contrast", "gene", "baseMean", "log2FoldChange", "lfcSE", "pvalue",
                          "padj", "log2FoldChange_shrunk"),
    },
    "rnaseq_channels": {
        "PI summary": ("rank", "symbol", "family", "log2FoldChange", "padj"),
        "Lab scientist": ("rank", "gene", "symbol", "family", "channel_class", "baseMean",
                          "log2FoldChange", "padj", "score", "evidence"),
    },
}  # fmt: skip


def subsets(name: str, columns: list[str]) -> list[tuple[str, list[str]]]:
    """(audience, columns present) choices for a table, "All columns" last."""
    out = []
    for audience, cols in SUBSETS.get(name, {}).items():
        present = [c for c in cols if c in columns]
        if present and len(present) < len(columns):
            out.append((audience, present))
    return out
