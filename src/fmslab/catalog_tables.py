"""The declared tables of the results catalog: columns, types, primary keys, run scopes.

Every table fmslab stores in a study catalog is declared here. A table is created once from its
declaration; a frame that does not fit (an undeclared column, a value that is not of the column's
type, an empty or duplicated key) is refused with the column and the reason. Column names carry
their unit (``rheobase_pA``, ``latency_ms``); a column without a unit suffix is a count, a ratio, a
label, or a value whose unit is given row by row in a ``unit`` column (behaviour tables).

Tables are grouped in *families*: the tables one kind of run writes (results and errors together).
A run replaces, in one transaction, exactly the rows of its *scope* (the files, sheets or contrasts it
analysed, named by the family's scope columns) in every table of its family.

Changing a declaration changes the catalog's schema: raise :data:`SCHEMA_VERSION` and add a
migration step to :data:`fmslab.catalog.MIGRATIONS`. A new *nullable* column appended to a declared
table needs no migration: a stored table lacking it gets it (with its declared type, NULL in old
rows) the next time a run writes the table (:func:`fmslab.catalog._prepare`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Version of the declared schema; catalogs record theirs in the ``schema_version`` table.
SCHEMA_VERSION = 1

#: DuckDB types a column may have.
TYPES = ("VARCHAR", "DOUBLE", "BIGINT", "BOOLEAN")

_CODES = {"T": "VARCHAR", "F": "DOUBLE", "I": "BIGINT", "B": "BOOLEAN"}


@dataclass(frozen=True)
class TableSpec:
    """One declared catalog table.

    Attributes
    ----------
    name
        Table name.
    columns
        ``(column, DuckDB type)`` in storage order (``run_id`` is added by the catalog).
    key
        Primary-key columns (never NULL, unique); empty for tables without a natural key, which
        are only ever replaced as a whole.
    family
        The kind of run that writes this table.
    scope
        Columns naming a run's scope in the family (empty: a run replaces the whole table).
    open_text
        Whether columns that are not declared may be stored (as text): for tables that carry a
        user's own sheet columns (``cohort``, ``experimenter``...).
    source_columns
        Columns holding the source of a comparison, stored normalised (see
        :func:`fmslab.catalog.normalise_source`).
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...] = ()
    family: str = ""
    scope: tuple[str, ...] = ()
    open_text: bool = False
    source_columns: tuple[str, ...] = ()

    def column_type(self, column: str) -> str | None:
        return next((t for c, t in self.columns if c == column), None)

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


def _cols(text: str) -> tuple[tuple[str, str], ...]:
    """``"file:T sweep:I"`` -> ``(("file", "VARCHAR"), ("sweep", "BIGINT"))``."""
    out = []
    for item in text.split():
        name, code = item.rsplit(":", 1)
        out.append((name, _CODES[code]))
    return tuple(out)


_EPHYS_IDS = "file:T cell_id:T mouse_id:T date:T protocol_sheet:T "
_SKIN_META = (
    " path:T modality:T mouse_id:T cell_id:T recording_unit_id:T sample_id:T date:T protocol:T"
)
_BEH_META = " group:T treatment_code:T donor_id:T"
#: A reviewer's decision (the study's qc_overrides sheet) marked on the rows an analysis keeps:
#: ``excluded`` rows stay visible but are left out of every statistic (fmslab.study.overrides).
_EXCLUSION = " excluded:B exclusion_reason:T"

_SPECS = (
    # --- study catalog: the sheets, replaced whole -------------------------------------------
    TableSpec(
        "donors",
        _cols(
            "donor_id:T group:T igg_batch:T sex:T age:F FIQR:F pain_score:F wpi:F sss:F "
            "tender_points:F diagnosis:T"
        ),
        key=("donor_id",),
        family="study",
        open_text=True,
    ),
    TableSpec(
        "mice",
        _cols("mouse_id:T sex:T strain:T donor_id:T treatment_code:T dose_mg:F injection_days:T"),
        key=("mouse_id",),
        family="study",
        open_text=True,
    ),
    TableSpec(
        "recordings",
        _cols("path:T modality:T mouse_id:T cell_id:T unit_id:T sample_id:T date:T sha256:T"),
        key=("path",),
        family="study",
        open_text=True,
    ),
    TableSpec(
        "validation",
        _cols("severity:T file:T row:I column:T reason:T"),
        family="study",
    ),
    TableSpec(
        "qc_overrides",
        _cols("level:T id:T file:T action:T reason:T reviewer:T date:T"),
        family="study",
    ),
    # --- ephys analyze: one file is one scope ---------------------------------------------------
    TableSpec(
        "ephys_sweeps",
        _cols(
            _EPHYS_IDS + "sweep:I stim_kind:T stim_source:T stim_pA:F stim_start_s:F "
            "stim_end_s:F holding_pA:F pre_stim_pA:F duration_s:F sample_rate_hz:F "
            "n_spikes_stim:I n_spikes_total:I n_spikes_pre:I firing_rate_hz:F latency_ms:F "
            "threshold_mV:F peak_mV:F amplitude_mV:F half_width_ms:F upstroke_V_per_s:F "
            "downstroke_V_per_s:F ahp_depth_mV:F ahp_trough_mV:F ahp_time_ms:F "
            "threshold_mean_mV:F amplitude_mean_mV:F half_width_mean_ms:F isi_mean_ms:F "
            "isi_cv:F adaptation_index:F first_isi_ms:F last_spike_ms:F baseline_mV:F "
            "baseline_sd_mV:F steady_state_mV:F deflection_mV:F peak_deflection_mV:F "
            "sag_ratio:F tau_ms:F ramp_current_at_first_spike_pA:F prepulse_pA:F "
            "prepulse_deflection_mV:F prepulse_tau_ms:F ahp_slow_depth_mV:F ahp_slow_trough_mV:F ahp_slow_time_ms:F "
            "qc_reasons:T qc_pass:B"
        ),
        key=("file", "sweep"),
        family="ephys",
        scope=("file",),
    ),
    TableSpec(
        "ephys_cells",
        _cols(
            _EPHYS_IDS + "reader:T format_version:T vm_channel:I vm_channel_name:T "
            "sample_rate_hz:F stim_source:T gap_free:B protocol:T n_sweeps:I rmp_mV:F "
            "rin_MOhm:F rin_method:T tau_ms:F tau_method:T capacitance_pF:F rheobase_pA:F "
            "rheobase_ramp_pA:F fi_slope_Hz_per_pA:F max_firing_rate_hz:F max_spikes:I "
            "spikes_at_2x_rheobase:F stim_2x_rheobase_pA:F threshold_at_rheobase_mV:F "
            "ap_peak_at_rheobase_mV:F half_width_at_rheobase_ms:F ahp_depth_at_rheobase_mV:F "
            "firing_pattern:T spontaneous_rate_hz:F spontaneous_firing:B pre_step_rate_hz:F qc_pass:B "
            "qc_reasons:T" + _EXCLUSION
        ),
        key=("file",),
        family="ephys",
        scope=("file",),
    ),
    TableSpec(
        "ephys_spikes",
        _cols(
            _EPHYS_IDS + "sweep:I spike:I threshold_t_s:F peak_t_s:F threshold_mV:F peak_mV:F "
            "amplitude_mV:F half_width_ms:F upstroke_V_per_s:F downstroke_V_per_s:F "
            "ahp_trough_mV:F ahp_depth_mV:F ahp_time_ms:F ahp_slow_trough_mV:F ahp_slow_depth_mV:F "
            "ahp_slow_time_ms:F"
        ),
        key=("file", "sweep", "spike"),
        family="ephys",
        scope=("file",),
    ),
    TableSpec(
        "ephys_errors",
        _cols("file:T error_type:T message:T"),
        key=("file",),
        family="ephys",
        scope=("file",),
    ),
    # --- skinnerve analyze: one file is one scope -------------------------------------------
    TableSpec(
        "skinnerve_units",
        _cols(
            "file:T unit_id:I n_spikes:I amplitude_uv:F snr:F isi_violations:I "
            "isi_violation_fraction:F contamination:F contamination_local:F latency_ms:F "
            "latency_sd_ms:F latency_peak_ms:F follow_fraction:F n_stimuli:I electrically_driven:B cv_m_s:F "
            "fibre_class:T baseline_s:F spont_rate_hz:F spont_isi_cv:F rate_hz:F isi_cv:F "
            "mech_responsive:B mech_threshold:F sr_slope_spikes_per_unit:F sr_r:F "
            "static_rate_max_hz:F static_fraction:F adaptation_ratio:F slowly_adapting:B "
            "mech_unit:T von_frey_threshold_mn:F cold_responsive:B cold_threshold_c:F "
            "heat_responsive:B heat_threshold_c:F receptor_type:T evoked_spikes:I "
            "is_unit_under_study:B figure:T accepted:B review:T" + _SKIN_META + _EXCLUSION
        ),
        key=("file", "unit_id"),
        family="skinnerve",
        scope=("file",),
        open_text=True,
    ),
    TableSpec(
        "skinnerve_responses",
        _cols(
            "file:T unit_id:I stimulus:T index:I onset_s:F offset_s:F amplitude:F "
            "dynamic_spikes:F static_spikes:F total_spikes:I dynamic_rate_hz:F static_rate_hz:F "
            "latency_ms:F adaptation_ratio:F responded:B amplitude_unit:T threshold_c:F "
            "first_spike_c:F kind:T threshold:F" + _SKIN_META + _EXCLUSION
        ),
        key=("file", "unit_id", "stimulus", "index"),
        family="skinnerve",
        scope=("file",),
        open_text=True,
    ),
    TableSpec(
        "skinnerve_spikes",
        _cols("file:T unit_id:I time_s:F amplitude_uv:F" + _SKIN_META),
        key=("file", "unit_id", "time_s"),
        family="skinnerve",
        scope=("file",),
        open_text=True,
    ),
    TableSpec(
        "skinnerve_errors",
        _cols("file:T error_type:T message:T"),
        key=("file",),
        family="skinnerve",
        scope=("file",),
    ),
    # --- behaviour analyze: the sheets are scored together, tables replaced whole -------------
    TableSpec(
        "behaviour_trials",
        _cols(
            "sheet:T row:I mouse_id:T day:F assay:T side:T trial:I cutoff_s:T measure:T unit:T "
            "raw_value:F cutoff:F flag:T cutoff_source:T duration_s:F distance_cm_per_min:F value:F "
            "at_cutoff:B outlier:B" + _BEH_META + _EXCLUSION
        ),
        key=("sheet", "row"),
        family="behaviour",
        open_text=True,
    ),
    TableSpec(
        "behaviour_mouse_day",
        _cols(
            "mouse_id:T day:F assay:T measure:T unit:T value:F n_trials:I n_sides:I sides:T "
            "n_not_scored:I n_outliers:I n_at_cutoff:I n_bounded:I is_baseline:B baseline:F "
            "pct_baseline:F" + _BEH_META + _EXCLUSION
        ),
        key=("mouse_id", "day", "assay", "measure"),
        family="behaviour",
    ),
    TableSpec(
        "behaviour_mouse",
        _cols(
            "mouse_id:T assay:T measure:T baseline:F n_days:I n_post_days:I first_day:F "
            "last_day:F auc_pct_days:F auc_change_pct_days:F mean_post_pct:F direction:T "
            "responder:F missing_days:T flag:T" + _BEH_META + _EXCLUSION
        ),
        key=("mouse_id", "assay", "measure"),
        family="behaviour",
    ),
    TableSpec(
        "vonfrey",
        _cols(
            "sheet:T row:I mouse_id:T day:F assay:T side:T trial:I cutoff_s:T filament_set:T "
            "pattern:T first_filament_g:F last_filament_g_sheet:F method:T threshold_g:F flag:T "
            "detail:T bound:T k:F xf_log:F delta_log:F last_filament_g:F n_stimuli_used:I "
            "dixon_pattern:T sudo_filament:F" + _BEH_META + _EXCLUSION
        ),
        key=("sheet", "row"),
        family="behaviour",
        open_text=True,
    ),
    TableSpec(
        "behaviour_stats",
        _cols(
            "assay:T measure:T test:T day:F group_a:T group_b:T mean_a:F mean_b:F "
            "difference_b_minus_a:F se:F z:F t:F F:F chi2:F df_num:F df:F p_value:F p_holm:F ci_low:F "
            "ci_high:F contrast:T "
            "n_mice_a:I n_mice_b:I model:T converged:B note:T n_donors:I n_responders:I "
            "n_donors_unclassified:I responder_change_pct:F"
        ),
        family="behaviour",
    ),
    TableSpec(
        "behaviour_errors",
        _cols("sheet:T row:I column:T reason:T"),
        family="behaviour",
    ),
    # --- compare: one (source, outcome) is one scope ------------------------------------------
    TableSpec(
        "compare_stats",
        _cols(
            "source:T outcome:T kind:T test:T contrast:T day:F model:T unit:T primary:B "
            "reference:T treatment:T n_donors_ref:I n_donors_trt:I n_mice_ref:F n_mice_trt:F "
            "n_obs_ref:I n_obs_trt:I estimate_type:T estimate:F se:F ci_low:F ci_high:F "
            "ci_method:T statistic:F df_num:F df:F p:F p_adj:F adjustment:T q:F covariates:T "
            "warnings:T"
        ),
        # rows are (model, test, contrast, day) within an outcome; day and contrast may be empty,
        # so there is no primary key: a run replaces its (source, outcome) pairs whole
        family="compare",
        scope=("source", "outcome"),
        source_columns=("source",),
    ),
    # --- donors (fmslab donors): one (source_table, outcome) is one scope -----------------------
    TableSpec(
        "donor_effects",
        _cols(
            "source_table:T outcome:T donor_id:T group:T reference:T unit:T n_mice:I n_obs:I "
            "effect_shrunken:F pred_se:F pred_low:F pred_high:F pred_df:F fixed_effect:F "
            "random_effect:F effect_raw:F boot_low:F boot_high:F boot_se:F sd_total:F "
            "var_donor:F confidence:F warnings:T direction:I mic:F p_transfer:F call:T rule:T "
            "controls_called:I n_controls:I"
        ),
        # effects, intervals, sd_total and mic are in the outcome's unit (the unit column);
        # var_donor in its square
        key=("source_table", "outcome", "donor_id"),
        family="donors",
        scope=("source_table", "outcome"),
    ),
    TableSpec(
        "donor_clinical_lmm",
        _cols(
            "source_table:T outcome:T score:T n_donors:I n_mice:I n_obs:I slope:F slope_se:F "
            "slope_df:F slope_low:F slope_high:F t:F p:F var_donor:F var_mouse:F var_residual:F "
            "warnings:T"
        ),
        # a clinical score as a donor-level covariate over the patient donors
        # (fmslab.donors.covariate): slope in the outcome's unit per unit of the score; the
        # variances in the outcome's unit squared
        key=("source_table", "outcome", "score"),
        family="donors",
        scope=("source_table", "outcome"),
    ),
    TableSpec(
        "donor_time_course",
        _cols(
            "source_table:T outcome:T assay:T measure:T unit:T day:F donor_id:T group:T "
            "n_mice:I predicted:F pred_low:F pred_high:F control_mean:F control_low:F "
            "control_high:F warnings:T"
        ),
        # per series (assay), day and donor: predicted mouse mean and the control band
        # (fmslab.donors.timecourse), in the unit column's unit
        key=("source_table", "outcome", "assay", "day", "donor_id"),
        family="donor_time_course",  # one repeated table's outcome, every series together
        scope=("source_table", "outcome"),
    ),
    TableSpec(
        "donor_predictions",
        _cols(
            "outcome:T donor_id:T label:I p_loo:F auc_loo:F auc_low:F auc_high:F p_permutation:F"
        ),
        # leave-one-donor-out probability of transfer from the clinical scores (fmslab donors)
        key=("outcome", "donor_id"),
        family="donor_predictions",  # its own family: replaced by outcome, not (table, outcome)
        scope=("outcome",),
    ),
    # --- rnaseq: one contrast is one scope ----------------------------------------------------
    TableSpec(
        "rnaseq_de_results",
        _cols(
            "contrast:T gene:T baseMean:F log2FoldChange:F lfcSE:F stat:F pvalue:F padj:F "
            "log2FoldChange_shrunk:F"
        ),
        key=("contrast", "gene"),
        family="rnaseq_de",
        scope=("contrast",),
    ),
    TableSpec(
        "rnaseq_channels",
        _cols(
            "contrast:T rank:I gene:T baseMean:F log2FoldChange:F lfcSE:F stat:F pvalue:F padj:F "
            "log2FoldChange_shrunk:F symbol:T family:T channel_class:T source:T "
            "gtopdb_target_id:T evidence:F effect:F expression:F score:F lfc_used:T"
        ),
        key=("contrast", "gene"),
        family="rnaseq_channels",
        scope=("contrast",),
    ),
)

#: Every declared table by name.
TABLES: dict[str, TableSpec] = {s.name: s for s in _SPECS}

#: The tables of each family, in declaration order.
FAMILIES: dict[str, tuple[str, ...]] = {}
for _s in _SPECS:
    FAMILIES[_s.family] = (*FAMILIES.get(_s.family, ()), _s.name)
del _s


def spec(name: str) -> TableSpec | None:
    """The declaration of table ``name`` (None: not a declared table)."""
    return TABLES.get(name)
