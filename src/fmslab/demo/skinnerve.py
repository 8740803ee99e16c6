"""Simulated ex vivo skin-nerve single-afferent recordings (plain CSV + channel map), with truth.

One recording per unit under study, written by the skin-nerve simulator
(:func:`fmslab.skinnerve.simulate.simulate`, the one simulator of fmslab): a CSV with ``time_s``
and one column per channel (``nerve_uV``, ``force_mN``, ``temp_degC``, ``stim_V``) and beside it a
YAML channel map ``<recording>.yaml`` (``channels:`` roles -> columns, ``units:``,
``conduction_distance_mm``, ``sampling_rate_hz``). This module chooses what the study plants:
the units of each recording (class, conduction velocity, thresholds and gains, changed by the
donor's IgG) and the protocol (:data:`PROTOCOL`).

Protocol (seconds): 0-3.5 spontaneous baseline; three electrical pulses at 3.5, 4.5, 5.5 (latency
-> conduction velocity); four ramp-and-hold force steps from 6, 9.5, 13, 16.5 (ramp 50 ms, hold
2 s); a cold ramp from 20.5 (32 -> 12 degC at 2.5 degC/s, 2 s hold, rewarm in 3 s); 34.5 s in all.

Each recording holds the target unit and one smaller background unit, both with known spike times.
The simulator draws spikes from an inhomogeneous Poisson process with a 2 ms dead time; the rate is
the sum of spontaneous, mechanical (static part adapting, dynamic part following dF/dt above
threshold) and cold (Hz per degC below the unit's cold threshold) terms. Patient IgG (scaled by
donor potency) raises nociceptors' mechanical gain, lowers their mechanical threshold and, in
cold-sensitive C fibres, warms the cold threshold and raises the cold gain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml

from fmslab.demo.design import TISSUE_DAY, DemoConfig, Design, rng_for, study_date
from fmslab.skinnerve.simulate import (
    Protocol,
    SimConfig,
    Simulation,
    UnitSpec,
    channel_map_yaml,
    csv_bytes,
    simulate,
)

#: The demo's protocol (see the module docstring for its timeline).
PROTOCOL = Protocol(
    baseline_s=3.5,
    n_electrical=3,
    electrical_interval_s=1.0,
    pulse_ms=0.5,
    gap_after_electrical_s=0.5,
    forces_mn=(10.0, 25.0, 50.0, 100.0),
    ramp_s=0.05,
    hold_s=2.0,
    step_interval_s=3.5,
    gap_before_thermal_s=0.5,
    cold=True,
    heat=False,
    bath_c=32.0,
    cold_c=12.0,
    thermal_rate_c_per_s=2.5,
    thermal_hold_s=2.0,
    rewarm_rate_c_per_s=20.0 / 3.0,
    gap_after_thermal_s=0.0,
    tail_s=1.0,
)
NOISE_UV = 8.0
DEAD_TIME_MS = 2.0


@dataclass(frozen=True)
class FibreClass:
    """Planted properties of a fibre class (before the donor's IgG effect)."""

    cv_range_m_s: tuple[float, float]
    mech_threshold_mn: float
    mech_gain_hz_per_mn: float  # static (hold) response
    ramp_gain_spikes_per_mn: float  # dynamic (ramp) response
    adaptation_tau_s: float
    cold_sensitive: bool
    nociceptor: bool
    rapidly_adapting: bool = False


CLASSES = {
    "C-M": FibreClass((0.3, 0.9), 15.0, 0.30, 0.005, 3.0, False, True),
    "C-MC": FibreClass((0.3, 0.9), 15.0, 0.25, 0.005, 3.0, True, True),
    "AM": FibreClass((2.0, 8.0), 20.0, 0.40, 0.010, 2.0, False, True),
    "SAM": FibreClass((11.0, 20.0), 3.0, 0.60, 0.030, 1.5, False, False),
    "RAM": FibreClass((11.0, 20.0), 3.0, 0.0, 0.120, 0.05, False, False, True),
}
CLASS_P = {"C-M": 0.3, "C-MC": 0.3, "AM": 0.2, "SAM": 0.1, "RAM": 0.1}  # background units
#: Classes of the units under study, in recording order (mice are ordered by donor, and donor
#: numbers are unrelated to the group): nociceptors dominate, as in IgG-transfer studies.
TARGET_CYCLE = ("C-MC", "C-M", "AM", "C-MC", "SAM", "C-M", "C-MC", "AM", "RAM")
MECH_EFFECT = 0.6  # fractional gain increase of nociceptors per unit potency
MECH_THRESHOLD_EFFECT = 0.3  # fractional threshold decrease per unit potency
COLD_THRESHOLD_EFFECT_C = 3.0  # degC warmer cold threshold per unit potency
COLD_GAIN_EFFECT = 0.5


@dataclass(frozen=True)
class SkinNerveOutput:
    files: dict[str, bytes]
    recordings: pd.DataFrame
    units: pd.DataFrame  # ground truth per unit (target and background)
    spikes: pd.DataFrame  # file, path, unit_id, time_s (onset), peak_time_s, is_target
    responses: pd.DataFrame  # ground truth per stimulus (force step, cold ramp)


def _make_unit(
    unit_id: str, cls: str, potency: float, rng: np.random.Generator, target: bool
) -> UnitSpec:
    """A target unit of class ``cls`` (IgG effect scaled by ``potency``), or a background unit
    (its receptive field elsewhere: 1 Hz spontaneous firing only, not electrically driven)."""
    c = CLASSES[cls]
    boost = potency if c.nociceptor else 0.0
    cv = float(np.exp(rng.uniform(np.log(c.cv_range_m_s[0]), np.log(c.cv_range_m_s[1]))))
    threshold = (
        c.mech_threshold_mn
        * np.exp(rng.normal(0, 0.2))
        * (1 - MECH_THRESHOLD_EFFECT * min(boost, 1.5) / 1.5)
    )
    gain = np.exp(rng.normal(0, 0.2)) * (1 + MECH_EFFECT * boost)
    ramp_gain = np.exp(rng.normal(0, 0.2)) * (1 + MECH_EFFECT * boost)
    cold_threshold = 24.0 + rng.normal(0, 2.0) + COLD_THRESHOLD_EFFECT_C * boost
    cold_gain = np.exp(rng.normal(0, 0.2)) * (1 + COLD_GAIN_EFFECT * boost)
    amplitude = float(rng.uniform(50, 110) if target else rng.uniform(20, 35))
    width = (0.55 if cv < 1 else 0.3 if cv < 10 else 0.2) * float(np.exp(rng.normal(0, 0.1)))
    if not target:
        return UnitSpec(
            unit_id,
            amplitude,
            "pos",
            width,
            cv,
            spont_rate_hz=1.0,
            receptor_type=cls,
            electrical=False,
        )
    return UnitSpec(
        unit_id,
        amplitude,
        "neg",
        width,
        cv,
        spont_rate_hz=(0.05 + 0.1 * boost) if c.nociceptor else 0.0,
        mech="RA" if c.rapidly_adapting else "SA",
        mech_threshold_mn=float(threshold),
        mech_gain_hz_per_mn=float(c.mech_gain_hz_per_mn * gain),
        ramp_gain_spikes_per_mn=float(c.ramp_gain_spikes_per_mn * ramp_gain),
        adaptation_tau_s=c.adaptation_tau_s,
        cold_threshold_c=float(cold_threshold) if c.cold_sensitive else None,
        thermal_gain_hz_per_c=float(cold_gain) if c.cold_sensitive else 0.0,
        receptor_type=cls,
        electrical=True,
    )


def _truth_units(sim: Simulation, target_id: str) -> pd.DataFrame:
    """The planted properties of the recording's units (one row per unit)."""
    u = sim.units
    return pd.DataFrame(
        {
            "unit_id": u["name"],
            "is_target": u["name"] == target_id,
            "fibre_class": u["receptor_type"],
            "cv_m_s": u["cv_m_s"],
            "latency_ms": u["latency_ms"],
            "mech_threshold_mN": np.where(u["mech"] == "none", np.inf, u["mech_threshold_mn"]),
            "mech_gain_hz_per_mN": np.where(u["mech"] == "none", 0.0, u["mech_gain_hz_per_mn"]),
            "ramp_gain_spikes_per_mN": np.where(
                u["mech"] == "none", 0.0, u["ramp_gain_spikes_per_mn"]
            ),
            "adapt_tau_s": u["adaptation_tau_s"],
            "cold_sensitive": u["cold_threshold_c"].notna(),
            "cold_threshold_C": u["cold_threshold_c"].astype(float),
            "cold_gain_hz_per_C": np.where(
                u["cold_threshold_c"].notna(), u["thermal_gain_hz_per_c"], np.nan
            ),
            "spont_rate_hz": u["spont_rate_hz"],
            "amplitude_uV": u["amplitude_uv"],
            "spike_width_ms": u["width_ms"],
            "snr": u["snr"],
            "n_spikes": u["n_spikes"],
        }
    )


def _truth_responses(sim: Simulation, target_id: str) -> list[dict]:
    """True spike counts of the target unit per force step (ramp, hold) and on the cold ramp,
    counted on the spikes' peak times (the time the analysis gives a spike)."""
    p = sim.config.protocol
    ts = sim.spikes.loc[sim.spikes["unit"] == target_id, "time_s"].to_numpy()
    rows = []
    for st in sim.stimuli.itertuples(index=False):
        t0 = st.onset_s
        if st.kind == "mechanical":
            rows.append(
                {
                    "stimulus": "force_step",
                    "force_mN": st.amplitude,
                    "spikes_dynamic_true": np.count_nonzero((ts >= t0) & (ts < t0 + p.ramp_s)),
                    "spikes_static_true": np.count_nonzero(
                        (ts >= t0 + p.ramp_s) & (ts < t0 + p.ramp_s + p.hold_s)
                    ),
                    "start_s": t0,
                }
            )
        elif st.kind == "cold":
            cool_end = t0 + (p.bath_c - p.cold_c) / p.thermal_rate_c_per_s
            in_ramp = ts[(ts >= t0) & (ts < cool_end)]
            first_c = (
                p.bath_c - p.thermal_rate_c_per_s * (in_ramp[0] - t0) if len(in_ramp) else np.nan
            )
            rows.append(
                {
                    "stimulus": "cold_ramp",
                    "spikes_ramp_true": len(in_ramp),
                    "first_spike_temperature_C_true": first_c,
                    "start_s": t0,
                }
            )
    return rows


def generate_skinnerve(
    design: Design, cfg: DemoConfig, *, sink: Callable[[str, bytes], None] | None = None
) -> SkinNerveOutput:
    """Simulate one recording per unit under study of every tissue mouse.

    Parameters
    ----------
    design
        The study design (mice, donors and their potency).
    cfg
        Demo size and seed (``skinnerve_rate_hz``, ``units_per_mouse``).
    sink
        Called with ``(relative path, content)`` for each file as soon as it is made (bounded
        memory); without it the files are kept in ``SkinNerveOutput.files``.
    """
    rng = rng_for(cfg.seed, "skinnerve")
    mice = design.tissue_mice()
    donors = design.donors.set_index("donor_id")
    classes, probs = list(CLASS_P), np.array(list(CLASS_P.values()))
    files: dict[str, bytes] = {}
    rec_rows: list[dict] = []
    unit_frames: list[pd.DataFrame] = []
    spike_frames: list[pd.DataFrame] = []
    resp_rows: list[dict] = []

    def emit(rel: str, content: bytes) -> None:  # keep, or hand over at once (bounded memory)
        if sink is None:
            files[rel] = content
        else:
            sink(rel, content)

    iso = study_date(TISSUE_DAY)
    n_rec = 0
    for _, mouse in mice.iterrows():
        potency = float(donors.loc[mouse["donor_id"], "potency"])
        for u in range(cfg.units_per_mouse):
            uid = stem = f"{mouse['mouse_id']}_u{u + 1}"
            rel = f"skinnerve/{iso}/{stem}.csv"
            distance = round(float(rng.uniform(12, 25)), 1)
            target = _make_unit(uid, TARGET_CYCLE[n_rec % len(TARGET_CYCLE)], potency, rng, True)
            n_rec += 1
            bg_class = str(rng.choice(classes, p=probs))
            background = _make_unit(f"{uid}_bg", bg_class, 0.0, rng, False)
            sim = simulate(
                SimConfig(
                    fs_hz=cfg.skinnerve_rate_hz,
                    noise_uv=NOISE_UV,
                    drift_uv=10.0,
                    mains_uv=3.0,
                    artefact_uv=400.0,
                    conduction_distance_mm=distance,
                    latency_jitter_ms=0.05,
                    refractory_ms=DEAD_TIME_MS,
                    force_noise_mn=0.2,
                    temp_noise_c=0.05,
                    units=(target, background),
                    protocol=PROTOCOL,
                ),
                seed=rng,
            )
            emit(rel, csv_bytes(sim))
            emit(
                f"skinnerve/{iso}/{stem}.yaml",
                yaml.safe_dump(channel_map_yaml(sim), sort_keys=False).encode(),
            )
            where = {"file": f"{stem}.csv", "path": rel}
            units = _truth_units(sim, uid).assign(
                **where,
                conduction_distance_mm=distance,
                mouse_id=mouse["mouse_id"],
                group=mouse["group"],
                donor_id=mouse["donor_id"],
            )
            unit_frames.append(units)
            spike_frames.append(
                pd.DataFrame(
                    {
                        **where,
                        "unit_id": sim.spikes["unit"],
                        "time_s": sim.spikes["onset_s"],
                        "peak_time_s": sim.spikes["time_s"],
                        "is_target": sim.spikes["unit"] == uid,
                    }
                )
            )
            resp_rows += [
                {"file": where["file"], "unit_id": uid, **r} for r in _truth_responses(sim, uid)
            ]
            rec_rows.append(
                {
                    "path": rel,
                    "modality": "skinnerve",
                    "mouse_id": mouse["mouse_id"],
                    "unit_id": uid,
                    "date": iso,
                    "protocol": "electrical+force steps+cold ramp",
                }
            )
    return SkinNerveOutput(
        files=files,
        recordings=pd.DataFrame(rec_rows),
        units=pd.concat(unit_frames, ignore_index=True) if unit_frames else pd.DataFrame(),
        spikes=pd.concat(spike_frames, ignore_index=True) if spike_frames else pd.DataFrame(),
        responses=pd.DataFrame(resp_rows),
    )
