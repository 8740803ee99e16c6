"""Analysis parameters of the skin-nerve pipeline (one place, recorded in provenance)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from fmslab.errors import InputError


@dataclass(frozen=True)
class CvCutoffs:
    """Conduction-velocity class boundaries (m/s); mouse defaults (e.g. Koltzenburg et al. 1997)."""

    abeta_min_m_s: float = 10.0
    adelta_min_m_s: float = 1.0


@dataclass(frozen=True)
class Params:
    # reading / filtering
    chunk_s: float = 10.0
    pad_s: float = 0.05
    band_low_hz: float = 300.0
    band_high_hz: float = 3000.0
    filter_order: int = 3
    aux_rate_hz: float = 1000.0
    # detection
    threshold_sd: float = 4.5
    fixed_noise_uv: float | None = None  # None: per-chunk MAD estimate
    polarity: str = "both"
    dead_ms: float = 0.8
    opposite_phase_ms: float = 1.5  # an opposite-sign crossing this close is the same spike
    pre_ms: float = 1.0
    post_ms: float = 1.5
    # mains hum: notch 50/60 Hz lines found in the first hum_probe_s of the raw nerve
    notch_hum: bool = True
    hum_ratio: float = 10.0
    hum_probe_s: float = 60.0
    # second detection pass: template matching (matched filter + subtraction)
    match: bool = True
    match_threshold_sd: float = 4.5  # first matching round
    # the matching pass on a wider band than detection (100-9000 Hz): the matched filter
    # of a spike in white noise uses all of its spectrum (measured: matched-filter SNR +10 % over
    # 300-3000 Hz, F1 0.70/0.84/0.86 at SNR 4/5/6 on the independent generator instead of
    # 0.64/0.80/0.86). The default since session 5: its earlier shift of a demo unit's latency
    # (1.9 ms) was a matching bug (a small template accepted on the flank of a large spike in
    # the same round, matching.match_templates), fixed. None: match on the detection band.
    match_band_low_hz: float | None = 100.0
    match_band_high_hz: float = 9000.0  # capped at 0.45 x the sampling rate
    # second round: per-unit threshold in [min, match_threshold_sd] minimising expected misses +
    # noise false alarms (matching.unit_thresholds); min >= match_threshold_sd turns it off
    match_threshold_min_sd: float = 3.0
    match_iterations: int = 3  # matching rounds, templates re-estimated from the matches
    match_track_drift: bool = True  # later rounds scale templates per chunk (slow drift)
    match_amp_min: float = 0.6
    match_amp_max: float = 2.0
    match_rounds: int = 3
    # a unit whose matched-spike scales are two same-shape populations (a smaller unit of the
    # same shape matched by its template) is split in two (matching.split_by_scale)
    match_split_scale: bool = True
    split_min_spikes: int = 30
    split_max_ratio: float = 0.75  # the smaller population at most this size of the larger
    split_min_noise_sd: float = 2.0  # ... and this many score-noise SDs (1/z) smaller
    # choice among templates by posterior with each unit's own size spread and spike share
    # (matching.choice_score) instead of the smallest residual
    match_scale_prior: bool = False  # opt-in: measured worse on real EMG files (docs)
    scale_sd_min: float = 0.05
    # noise clusters: dropped when not above threshold + margin and not more frequent than the
    # crossings the noise alone makes
    noise_cluster_margin_sd: float = 1.5
    # over-split clusters: merged when their shapes correlate this well and their spikes never
    # violate each other's refractory period more than chance allows
    merge_shape_corr: float = 0.9
    merge_same_corr: float = 0.95
    # stimulus artefacts: measured on the raw trace around each stimulus
    blank_pre_ms: float = 0.1  # used when no artefact is seen
    blank_post_ms: float = 0.6  # used when no artefact is seen
    artefact_sd: float = 5.0
    artefact_search_ms: float = 1.0
    artefact_quiet_ms: float = 0.3
    artefact_max_ms: float = 5.0
    artefact_max_jitter_ms: float = 0.02  # an evoked "unit" this locked is an artefact
    artefact_min_stimuli: int = 10  # ... judged only when it follows at least this many stimuli
    artefact_shape_corr: float = 0.75  # its spikes' mean vs the stimulus-locked average (a ringing
    # aligned on different extremes averages to a mixture: r 0.80 measured)
    stimulus_min_interval_ms: float = 0.0
    # artefacts without a stimulus channel (fmslab.skinnerve.unmarked): first-pass events of at
    # least unmarked_min_sd noise SDs that repeat at a fixed period (intervals within
    # unmarked_tolerance_ms, chains of unmarked_min_members) are taken as stimuli
    unmarked_artefacts: bool = True
    unmarked_min_sd: float = 8.0
    unmarked_min_members: int = 6
    unmarked_min_period_s: float = 0.01
    unmarked_max_period_s: float = 30.0
    unmarked_tolerance_ms: float = 0.1
    unmarked_alpha: float = 1e-3
    stimulus_min_v: float = 0.05
    # sorting
    max_clusters: int = 8
    merge_rel: float = 0.3
    max_shift_ms: float = 1.2
    merge_window_ms: float = 0.5
    min_spikes: int = 5
    seed: int = 0
    refractory_ms: float = 1.5
    # electrical latency
    max_latency_ms: float = 200.0
    latency_bin_ms: float = 0.2
    latency_window_ms: float = 1.0
    min_follow_fraction: float = 0.3
    cv_cutoffs: CvCutoffs = field(default_factory=CvCutoffs)
    # mechanical steps
    mech_min_step: dict[str, float] = field(
        default_factory=lambda: {"force": 0.3, "displacement": 0.1, "pressure": 0.3}
    )
    mech_min_duration_ms: float = 20.0
    plateau_fraction: float = 0.9
    # thermal ramps
    thermal_min_change_c: float = 2.0
    # spontaneous activity: time farther than this from any stimulus
    baseline_margin_s: float = 2.0
    # a step/ramp is responded when P(N >= n | spontaneous rate) < response_alpha / n_stimuli
    response_alpha: float = 0.01
    ramp_min_s: float = 1.0  # a rise slower than this is a ramp (threshold at its first spike)
    # receptor-type rule
    static_rate_min_hz: float = 1.0
    dhair_max_threshold_mn: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Params:
        """Parameters from a mapping (e.g. the ``skinnerve:`` section of study.yaml)."""
        if not d:
            return cls()
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown skinnerve parameter(s) {unknown}")
        d = dict(d)
        if isinstance(d.get("cv_cutoffs"), dict):
            d["cv_cutoffs"] = CvCutoffs(**d["cv_cutoffs"])
        return replace(cls(), **d)
