"""Simulated ex vivo skin-nerve single-afferent recordings (plain CSV + channel map), with truth.

One recording per unit under study, in the layout of issue 8: a CSV with ``time_s`` and one column
per channel (``nerve_uV``, ``force_mN``, ``temperature_C``, ``stimulus_V``) and beside it a YAML
channel map ``<recording>.yaml`` (``channels:`` roles -> columns, ``units:``,
``conduction_distance_mm``, ``sampling_rate_hz``).

Protocol (seconds): 0-3 spontaneous baseline; 3-6 three electrical pulses (latency -> conduction
velocity); 6-20 four ramp-and-hold force steps (ramp 50 ms, hold 2 s); 20-30 a cold ramp (32 ->
12 degC at 2.5 degC/s, hold, rewarm).

Each recording holds the target unit and one smaller background unit, both with known spike times.
Spikes are drawn from an inhomogeneous Poisson process with a 2 ms dead time; the rate is the sum
of spontaneous, mechanical (static part adapting, dynamic part following dF/dt above threshold) and
cold (Hz per degC below the unit's cold threshold) terms. Patient IgG (scaled by donor potency)
raises nociceptors' mechanical gain, lowers their mechanical threshold and, in cold-sensitive C
fibres, warms the cold threshold and raises the cold gain.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml
from scipy.signal import lfilter

from fmslab.demo.design import TISSUE_DAY, DemoConfig, Design, rng_for, study_date

BASELINE_END_S = 3.0
PULSE_TIMES_S = (3.5, 4.5, 5.5)
PULSE_WIDTH_S = 0.0005
STEP_STARTS_S = (6.0, 9.5, 13.0, 16.5)
STEP_FORCES_MN = (10.0, 25.0, 50.0, 100.0)
RAMP_S = 0.05
HOLD_S = 2.0
COLD_START_S, COLD_RATE_C_PER_S, COLD_MIN_C, COLD_HOLD_S, REWARM_S = 20.5, 2.5, 12.0, 2.0, 3.0
BATH_C = 32.0
DURATION_S = 30.0
NOISE_UV = 8.0
DEAD_TIME_S = 0.002
CLASSES = {
    # class: (cv range m/s, mechanical threshold mN, static gain Hz/10 mN,
    #         dynamic gain Hz per 100 mN/s, adaptation tau s, cold-sensitive, nociceptor)
    "C-M": ((0.3, 0.9), 15.0, 3.0, 0.5, 3.0, False, True),
    "C-MC": ((0.3, 0.9), 15.0, 2.5, 0.5, 3.0, True, True),
    "AM": ((2.0, 8.0), 20.0, 4.0, 1.0, 2.0, False, True),
    "SAM": ((11.0, 20.0), 3.0, 6.0, 3.0, 1.5, False, False),
    "RAM": ((11.0, 20.0), 3.0, 0.0, 12.0, 0.05, False, False),
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
    spikes: pd.DataFrame  # file, unit_id, time_s, is_target
    responses: pd.DataFrame  # ground truth per stimulus (force step, cold ramp)


def stimulus_traces(rate_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Time (s), force (mN), temperature (degC) and stimulus (V) of the protocol."""
    t = np.arange(int(round(DURATION_S * rate_hz))) / rate_hz
    force = np.zeros_like(t)
    for t0, f in zip(STEP_STARTS_S, STEP_FORCES_MN, strict=True):
        force += f * np.clip((t - t0) / RAMP_S, 0, 1) * (t < t0 + RAMP_S + HOLD_S)
        down = (t >= t0 + RAMP_S + HOLD_S) & (t < t0 + 2 * RAMP_S + HOLD_S)
        force[down] += f * (1 - (t[down] - t0 - RAMP_S - HOLD_S) / RAMP_S)
    cool_s = (BATH_C - COLD_MIN_C) / COLD_RATE_C_PER_S
    temp = np.full_like(t, BATH_C)
    a, b, c = COLD_START_S, COLD_START_S + cool_s, COLD_START_S + cool_s + COLD_HOLD_S
    temp = np.where((t >= a) & (t < b), BATH_C - COLD_RATE_C_PER_S * (t - a), temp)
    temp = np.where((t >= b) & (t < c), COLD_MIN_C, temp)
    temp = np.where(
        (t >= c) & (t < c + REWARM_S), COLD_MIN_C + (BATH_C - COLD_MIN_C) * (t - c) / REWARM_S, temp
    )
    stim = np.zeros_like(t)
    for tp in PULSE_TIMES_S:
        stim[(t >= tp) & (t < tp + PULSE_WIDTH_S)] = 5.0
    return t, force, temp, stim


def _rate(unit: dict, t: np.ndarray, force: np.ndarray, temp: np.ndarray) -> np.ndarray:
    rate = np.full_like(t, unit["spont_rate_hz"])
    dt = t[1] - t[0]
    above = np.clip(force - unit["mech_threshold_mN"], 0, None)
    # adaptation: static response decays towards 30 % with tau after each step onset
    since = np.full_like(t, np.inf)
    for t0 in STEP_STARTS_S:
        since = np.where(t >= t0, t - t0, since)
    adapt = 0.3 + 0.7 * np.exp(-since / unit["adapt_tau_s"])
    rate += unit["static_gain"] * above / 10.0 * adapt
    dfdt = np.gradient(force, dt)
    rate += (
        unit["dynamic_gain"]
        * np.clip(dfdt, 0, None)
        / 100.0
        * (force > unit["mech_threshold_mN"] * 0.5)
    )
    if unit["cold_sensitive"]:
        rate += unit["cold_gain_hz_per_C"] * np.clip(unit["cold_threshold_C"] - temp, 0, None)
    return rate


def _poisson_spikes(rate: np.ndarray, dt: float, rng: np.random.Generator) -> np.ndarray:
    cand = np.nonzero(rng.random(len(rate)) < rate * dt)[0]
    keep, last = [], -np.inf
    for k in cand:
        if (k - last) * dt >= DEAD_TIME_S:
            keep.append(k)
            last = k
    return np.asarray(keep, dtype=np.int64)


def _waveform(rate_hz: float, amplitude_uv: float, width_ms: float, polarity: float) -> np.ndarray:
    """Biphasic extracellular spike (negative peak then slower positive phase), 3 ms long."""
    t_ms = np.arange(int(3e-3 * rate_hz)) / rate_hz * 1e3
    w = -np.exp(-((t_ms - 0.6) ** 2) / (2 * (0.15 * width_ms) ** 2)) + 0.35 * np.exp(
        -((t_ms - 0.6 - 0.6 * width_ms) ** 2) / (2 * (0.35 * width_ms) ** 2)
    )
    return polarity * amplitude_uv * w / np.abs(w).max()


def _make_unit(
    unit_id: str, cls: str, potency: float, rng: np.random.Generator, target: bool
) -> dict:
    cv_range, thr, g_static, g_dyn, tau, cold, noci = CLASSES[cls]
    boost = potency if noci else 0.0
    cv = float(np.exp(rng.uniform(np.log(cv_range[0]), np.log(cv_range[1]))))
    return {
        "unit_id": unit_id,
        "is_target": target,
        "fibre_class": cls,
        "cv_m_s": cv,
        "mech_threshold_mN": thr
        * np.exp(rng.normal(0, 0.2))
        * (1 - MECH_THRESHOLD_EFFECT * min(boost, 1.5) / 1.5),
        "static_gain": g_static * np.exp(rng.normal(0, 0.2)) * (1 + MECH_EFFECT * boost),
        "dynamic_gain": g_dyn * np.exp(rng.normal(0, 0.2)) * (1 + MECH_EFFECT * boost),
        "adapt_tau_s": tau,
        "cold_sensitive": cold,
        "cold_threshold_C": (24.0 + rng.normal(0, 2.0) + COLD_THRESHOLD_EFFECT_C * boost)
        if cold
        else np.nan,
        "cold_gain_hz_per_C": (1.0 * np.exp(rng.normal(0, 0.2)) * (1 + COLD_GAIN_EFFECT * boost))
        if cold
        else np.nan,
        "spont_rate_hz": (0.05 + 0.1 * boost) if noci else 0.0,
        "amplitude_uV": float(rng.uniform(50, 110) if target else rng.uniform(20, 35)),
        "spike_width_ms": (1.6 if cv < 1 else 0.8 if cv < 10 else 0.5)
        * float(np.exp(rng.normal(0, 0.1))),
        "polarity": 1.0 if target else -1.0,
    }


def _csv_bytes(columns: dict[str, np.ndarray]) -> bytes:
    table = pa.table(columns)
    buf = io.BytesIO()
    buf.write((",".join(columns) + "\n").encode())
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


def generate_skinnerve(
    design: Design, cfg: DemoConfig, *, sink: Callable[[str, bytes], None] | None = None
) -> SkinNerveOutput:
    rng = rng_for(cfg.seed, "skinnerve")
    rate = cfg.skinnerve_rate_hz
    dt = 1.0 / rate
    t, force, temp, stim = stimulus_traces(rate)
    mice = design.tissue_mice()
    donors = design.donors.set_index("donor_id")
    classes, probs = list(CLASS_P), np.array(list(CLASS_P.values()))
    files, rec_rows, unit_rows, spike_rows, resp_rows = {}, [], [], [], []

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
            uid = f"{mouse['mouse_id']}_u{u + 1}"
            stem = f"{mouse['mouse_id']}_u{u + 1}"
            rel = f"skinnerve/{iso}/{stem}.csv"
            distance = round(float(rng.uniform(12, 25)), 1)
            target = _make_unit(uid, TARGET_CYCLE[n_rec % len(TARGET_CYCLE)], potency, rng, True)
            n_rec += 1
            background = _make_unit(f"{uid}_bg", str(rng.choice(classes, p=probs)), 0.0, rng, False)
            background["spont_rate_hz"] = 1.0
            background["mech_threshold_mN"] = np.inf  # receptive field elsewhere: only spontaneous
            background["cold_sensitive"] = False
            background["cold_threshold_C"] = background["cold_gain_hz_per_C"] = np.nan
            nerve = lfilter([0.5, 0.5], [1.0], rng.normal(0, NOISE_UV * np.sqrt(2), len(t)))
            nerve += 3.0 * np.sin(2 * np.pi * 50 * t + rng.uniform(0, 6.3))
            nerve += 10.0 * np.sin(
                2 * np.pi * 0.15 * t + rng.uniform(0, 6.3)
            )  # slow baseline drift
            for unit in (target, background):
                times = _poisson_spikes(_rate(unit, t, force, temp), dt, rng)
                if unit["is_target"]:
                    latency_s = distance * 1e-3 / unit["cv_m_s"]
                    evoked = [
                        int(round((tp + latency_s + rng.normal(0, 5e-5)) * rate))
                        for tp in PULSE_TIMES_S
                    ]
                    times = np.unique(np.concatenate([times, evoked]))
                    times = times[np.concatenate([[True], np.diff(times) * dt >= DEAD_TIME_S])]
                    unit["latency_ms"] = latency_s * 1e3
                w = _waveform(rate, unit["amplitude_uV"], unit["spike_width_ms"], unit["polarity"])
                train = np.zeros(len(t))
                train[times[times < len(t)]] = 1.0
                nerve += np.convolve(train, w)[: len(t)]
                peak_offset = int(np.argmax(np.abs(w)))
                for k in times:
                    spike_rows.append(
                        {
                            "file": f"{stem}.csv",
                            "path": rel,
                            "unit_id": unit["unit_id"],
                            "time_s": k * dt,
                            "peak_time_s": (k + peak_offset) * dt,
                            "is_target": unit["is_target"],
                        }
                    )
                unit.update(
                    {
                        "file": f"{stem}.csv",
                        "path": rel,
                        "conduction_distance_mm": distance,
                        "snr": unit["amplitude_uV"] / NOISE_UV,
                        "n_spikes": len(times),
                        "mouse_id": mouse["mouse_id"],
                        "group": mouse["group"],
                        "donor_id": mouse["donor_id"],
                    }
                )
                unit_rows.append(unit)
                if unit["is_target"]:
                    ts = times * dt
                    for t0, f in zip(STEP_STARTS_S, STEP_FORCES_MN, strict=True):
                        dyn = np.count_nonzero((ts >= t0) & (ts < t0 + RAMP_S))
                        sta = np.count_nonzero((ts >= t0 + RAMP_S) & (ts < t0 + RAMP_S + HOLD_S))
                        resp_rows.append(
                            {
                                "file": f"{stem}.csv",
                                "unit_id": uid,
                                "stimulus": "force_step",
                                "force_mN": f,
                                "spikes_dynamic_true": dyn,
                                "spikes_static_true": sta,
                                "start_s": t0,
                            }
                        )
                    cool_end = COLD_START_S + (BATH_C - COLD_MIN_C) / COLD_RATE_C_PER_S
                    in_ramp = ts[(ts >= COLD_START_S) & (ts < cool_end)]
                    first_c = (
                        BATH_C - COLD_RATE_C_PER_S * (in_ramp[0] - COLD_START_S)
                        if len(in_ramp)
                        else np.nan
                    )
                    resp_rows.append(
                        {
                            "file": f"{stem}.csv",
                            "unit_id": uid,
                            "stimulus": "cold_ramp",
                            "spikes_ramp_true": len(in_ramp),
                            "first_spike_temperature_C_true": first_c,
                            "start_s": COLD_START_S,
                        }
                    )
            for tp in PULSE_TIMES_S:  # stimulus artefact
                k0 = int(round(tp * rate))
                tail = np.arange(int(3e-3 * rate))
                nerve[k0 : k0 + len(tail)] += 400.0 * np.exp(-tail * dt / 2e-4)
            noisy_force = force + rng.normal(0, 0.2, len(t))
            noisy_temp = temp + rng.normal(0, 0.05, len(t))
            emit(
                rel,
                _csv_bytes(
                    {
                        "time_s": np.round(t, 6),
                        "nerve_uV": np.round(nerve, 2),
                        "force_mN": np.round(noisy_force, 2),
                        "temperature_C": np.round(noisy_temp, 2),
                        "stimulus_V": np.round(stim, 1),
                    }
                ),
            )
            channel_map = {
                "channels": {
                    "nerve": "nerve_uV",
                    "force": "force_mN",
                    "temperature": "temperature_C",
                    "stimulus": "stimulus_V",
                },
                "units": {
                    "nerve_uV": "uV",
                    "force_mN": "mN",
                    "temperature_C": "degC",
                    "stimulus_V": "V",
                },
                "conduction_distance_mm": distance,
                "sampling_rate_hz": rate,
            }
            emit(
                f"skinnerve/{iso}/{stem}.yaml",
                yaml.safe_dump(channel_map, sort_keys=False).encode(),
            )
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
    units = pd.DataFrame(unit_rows).drop(columns=["polarity"])
    return SkinNerveOutput(
        files=files,
        recordings=pd.DataFrame(rec_rows),
        units=units,
        spikes=pd.DataFrame(spike_rows),
        responses=pd.DataFrame(resp_rows),
    )
