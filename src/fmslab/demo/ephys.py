"""Simulated DRG current-clamp recordings (step protocol) written as ABF files, with ground truth.

Each cell is the conductance model of :mod:`fmslab.demo.neuron` with its own parameters; 30 %
are "tonic" (less K conductance: repetitive firing), the rest phasic (1-2 spikes). Patient
IgG lowers the delayed-rectifier and M-type potassium conductances (the K scale is
``exp(-K_EFFECT * potency + donor + mouse + cell random effects)``): less current is needed to
reach threshold, and rheobase falls by ~30 % at potency 1. Recorded traces add channel noise
(an Ornstein-Uhlenbeck current inside the model, so spikes themselves vary), amplifier noise
and 50 Hz pick-up. Cells whose rheobase is near zero fire spontaneously (noise-driven), as
hyperexcitable DRG neurons do; the truth marks them (``spontaneous_firing_true``).

Bad cells, one of each, recorded like the others and listed in ``recordings.csv``:
``depolarised_rmp`` (leaky cell resting near -36 mV), ``baseline_drift`` (+12 mV drift across the
file), ``voltage_clamp`` (a voltage-clamp step file saved into the current-clamp folder) and
``corrupt`` (an ABF whose data section is truncated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from fmslab.demo.abf_writer import Epoch, encode_abf1
from fmslab.demo.design import TISSUE_DAY, DemoConfig, Design, rng_for, study_date
from fmslab.demo.neuron import NeuronParams, resting_potential, rheobase_bisection, simulate

SAMPLE_RATE_HZ = 20000.0
DT_MS = 1000.0 / SAMPLE_RATE_HZ
SWEEP_SAMPLES = 14080  # 0.704 s; divisible by 64 so pyabf's holding preamble is 220 samples
PREAMBLE_SAMPLES = SWEEP_SAMPLES // 64
STEP_START = 2000  # 0.100 s
STEP_SAMPLES = 10000  # 0.500 s
STEP_AMPS_PA = np.arange(-50.0, 401.0, 25.0)
K_EFFECT = 0.35  # log-scale reduction of K conductances per unit donor potency
VM_NOISE_MV = 0.3
HUM_MV = 0.1
CHANNEL_NOISE_PA = 6.0
CHANNEL_NOISE_TAU_MS = 5.0
IM_NOISE_PA = 2.0
CHUNK_CELLS = 32  # cells integrated together (memory ~ 32 x 19 x 14080 x 3 arrays)
BAD_KINDS = ("depolarised_rmp", "baseline_drift", "voltage_clamp", "corrupt")

BASE = {
    "c_pf": 30.0,
    "g_na_ms": 30.0,
    "g_na18_ms": 80.0,
    "g_kdr_ms": 20.0,
    "g_km_ms": 1.0,
    "g_leak_ms": 0.2,
    "e_leak_mv": -45.0,
}


#: Repetitively firing ("tonic") cells have less K conductance; the rest fire 1-2 spikes (phasic).
TONIC_FRACTION = 0.3
TONIC_K = {"g_kdr_ms": 10.0, "g_km_ms": 0.2}


@dataclass(frozen=True)
class EphysOutput:
    files: dict[str, bytes]  # relative path -> file content
    recordings: pd.DataFrame  # rows for recordings.csv
    cells: pd.DataFrame  # ground truth per cell
    sweeps: pd.DataFrame  # ground truth per sweep (spike counts of the simulated traces)


def protocol_epochs() -> list[Epoch]:
    """Epoch table of the step protocol (pA): 0 until 100 ms, the step for 500 ms, then 0."""
    return [
        Epoch(0.0, STEP_START - PREAMBLE_SAMPLES),
        Epoch(
            float(STEP_AMPS_PA[0]), STEP_SAMPLES, level_inc=float(STEP_AMPS_PA[1] - STEP_AMPS_PA[0])
        ),
        Epoch(0.0, SWEEP_SAMPLES - STEP_START - STEP_SAMPLES),
    ]


def cell_parameters(design: Design, cfg: DemoConfig, rng: np.random.Generator) -> pd.DataFrame:
    """One row per cell: ids, true group, qc kind and model parameters."""
    mice = design.tissue_mice()
    donors = design.donors.set_index("donor_id")
    rows = []
    slots = [(m, None) for m in range(len(mice)) for _ in range(cfg.cells_per_mouse)]
    slots += [(i % len(mice), kind) for i, kind in enumerate(BAD_KINDS)]
    counters: dict[str, int] = {}
    for mi, kind in slots:
        mouse = mice.iloc[mi]
        donor = donors.loc[mouse["donor_id"]]
        counters[mouse["mouse_id"]] = counters.get(mouse["mouse_id"], 0) + 1
        firing_type = "tonic" if rng.random() < TONIC_FRACTION else "phasic"
        k_base = TONIC_K if firing_type == "tonic" else BASE
        log_k = (
            -K_EFFECT * donor["potency"]
            + donor["baseline_re"]
            + mouse["mouse_re"]
            + rng.normal(0, 0.12)
        )
        row = {
            "cell_id": f"{mouse['mouse_id']}_c{counters[mouse['mouse_id']]}",
            "mouse_id": mouse["mouse_id"],
            "donor_id": mouse["donor_id"],
            "group": mouse["group"],
            "treatment_code": mouse["treatment_code"],
            "qc_truth": kind or "ok",
            "firing_type": firing_type,
            "c_pf": BASE["c_pf"] * np.exp(rng.normal(0, 0.25)),
            "g_na_ms": BASE["g_na_ms"] * np.exp(rng.normal(0, 0.1)),
            "g_na18_ms": BASE["g_na18_ms"] * np.exp(rng.normal(0, 0.15)),
            "g_kdr_ms": k_base["g_kdr_ms"] * np.exp(log_k),
            "g_km_ms": k_base["g_km_ms"] * np.exp(log_k + rng.normal(0, 0.15)),
            "g_leak_ms": BASE["g_leak_ms"] * np.exp(rng.normal(0, 0.15)),
            "e_leak_mv": BASE["e_leak_mv"] + rng.normal(0, 2.0),
            "k_scale": float(np.exp(log_k)),
        }
        if kind == "depolarised_rmp":
            row["e_leak_mv"], row["g_leak_ms"] = 0.0, 8.0  # seal/membrane leak: rests near -36 mV
        rows.append(row)
    return pd.DataFrame(rows)


def params_of(cells: pd.DataFrame) -> NeuronParams:
    return NeuronParams(
        **{k: cells[k].to_numpy(float) for k in BASE}, shift_na18_mv=np.zeros(len(cells))
    )


def _ou_noise(
    rng: np.random.Generator, shape: tuple[int, int], sd: float, tau_ms: float
) -> np.ndarray:
    a = np.exp(-DT_MS / tau_ms)
    white = rng.normal(0.0, sd * np.sqrt(1 - a * a), size=shape)
    return lfilter([1.0], [1.0, -a], white, axis=1)


def _count(spikes: np.ndarray, lo: int, hi: int) -> int:
    return int(np.count_nonzero((spikes >= lo) & (spikes < hi)))


def simulate_cells(
    cells: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy step-protocol traces of every cell: V (cells, sweeps, samples) mV, I (pA), spikes."""
    n_cells, n_sweeps = len(cells), len(STEP_AMPS_PA)
    p = params_of(cells).take(np.repeat(np.arange(n_cells), n_sweeps))
    stim = np.zeros((n_cells * n_sweeps, SWEEP_SAMPLES))
    stim[:, STEP_START : STEP_START + STEP_SAMPLES] = np.tile(STEP_AMPS_PA, n_cells)[:, None]
    noise = _ou_noise(rng, stim.shape, CHANNEL_NOISE_PA, CHANNEL_NOISE_TAU_MS)
    v, spikes = simulate(p, stim, DT_MS, noise_pa=noise)
    shape = (n_cells, n_sweeps, SWEEP_SAMPLES)
    return v.reshape(shape), stim.reshape(shape), spikes.reshape(n_cells, n_sweeps)


def _record(
    v: np.ndarray, stim: np.ndarray, rng: np.random.Generator, drift_mv: float = 0.0
) -> np.ndarray:
    """Amplifier view of one cell: (sweeps, 2 channels, samples) with Vm (mV) and Im (pA)."""
    n_sweeps = v.shape[0]
    t = np.arange(SWEEP_SAMPLES) / SAMPLE_RATE_HZ
    phase = rng.uniform(0, 2 * np.pi)
    out = np.empty((n_sweeps, 2, SWEEP_SAMPLES))
    for s in range(n_sweeps):
        t_abs = t + s * SWEEP_SAMPLES / SAMPLE_RATE_HZ
        drift = (
            drift_mv * (s * SWEEP_SAMPLES + np.arange(SWEEP_SAMPLES)) / (n_sweeps * SWEEP_SAMPLES)
        )
        out[s, 0] = (
            v[s]
            + rng.normal(0, VM_NOISE_MV, SWEEP_SAMPLES)
            + HUM_MV * np.sin(2 * np.pi * 50 * t_abs + phase)
            + drift
        )
        out[s, 1] = stim[s] + rng.normal(0, IM_NOISE_PA, SWEEP_SAMPLES)
    return out


def voltage_clamp_file(rng: np.random.Generator, start: datetime) -> bytes:
    """Voltage-clamp steps (-90..+30 mV from -70 mV): leak, capacitive and Na-like currents."""
    steps_mv = np.arange(-90.0, 31.0, 10.0)
    n = SWEEP_SAMPLES
    t_ms = np.arange(n) * DT_MS
    data = np.empty((len(steps_mv), 2, n))
    on, off = STEP_START, STEP_START + STEP_SAMPLES
    for s, vc in enumerate(steps_mv):
        cmd = np.full(n, -70.0)
        cmd[on:off] = vc
        i = 3.0 * (cmd + 65.0)  # 3 nS leak, pA
        after_on = np.clip(t_ms - t_ms[on], 0, None) * (np.arange(n) >= on)
        i[on:] += 30.0 * (vc + 70.0) * np.exp(-after_on[on:] / 0.3)  # capacitive transient
        i[off:] += -30.0 * (vc + 70.0) * np.exp(-(t_ms[off:] - t_ms[off]) / 0.3)
        if vc > -40:
            g = 40.0 / (1 + np.exp(-(vc + 25) / 5))  # nS
            act = (1 - np.exp(-after_on / 0.3)) * np.exp(-after_on / 1.5) * (np.arange(n) >= on)
            i += g * act * (vc - 55.0)
        data[s, 0] = i + rng.normal(0, 5.0, n)
        data[s, 1] = cmd + rng.normal(0, 0.05, n)
    epochs = [
        Epoch(-70.0, STEP_START - PREAMBLE_SAMPLES),
        Epoch(-90.0, STEP_SAMPLES, level_inc=10.0),
        Epoch(-70.0, SWEEP_SAMPLES - STEP_START - STEP_SAMPLES),
    ]
    return encode_abf1(
        data,
        SAMPLE_RATE_HZ,
        units=["pA", "mV"],
        names=["Im", "Vcmd"],
        lsb=[0.2, 0.01],
        dac_units="mV",
        epochs=epochs,
        start=start,
        comment="voltage clamp steps",
    )


def generate_ephys(
    design: Design, cfg: DemoConfig, *, sink: Callable[[str, bytes], None] | None = None
) -> EphysOutput:
    """All current-clamp files of the study plus their ground truth.

    Cells are simulated in fixed chunks of ``CHUNK_CELLS`` (memory stays bounded for large
    studies; the chunking does not depend on the machine, so files stay reproducible). With
    ``sink``, each file is handed to ``sink(relative_path, content)`` as soon as it is made instead
    of being kept in ``EphysOutput.files``.
    """
    rng = rng_for(cfg.seed, "ephys")
    cells = cell_parameters(design, cfg, rng)
    tissue = design.tissue_mice()["mouse_id"].tolist()
    files: dict[str, bytes] = {}
    rec_rows, sweep_rows = [], []
    per_day: dict[str, int] = {}
    truth = cells.copy()
    truth["true_rheobase_pA"] = np.nan
    truth["true_rmp_mV"] = np.nan
    for first in range(0, len(cells), CHUNK_CELLS):
        chunk = cells.iloc[first : first + CHUNK_CELLS]
        modelled = chunk["qc_truth"] != "voltage_clamp"
        sim_cells = chunk[modelled].reset_index(drop=True)
        sim_index = {cid: i for i, cid in enumerate(sim_cells["cell_id"])}
        if len(sim_cells):
            params = params_of(sim_cells)
            v, stim, spikes = simulate_cells(sim_cells, rng)
            rheobase = rheobase_bisection(
                params,
                dt_ms=DT_MS,
                pre_samples=STEP_START,
                step_samples=STEP_SAMPLES,
                post_samples=SWEEP_SAMPLES - STEP_START - STEP_SAMPLES,
            )
            rmp = resting_potential(params)
        for ci, cell in chunk.iterrows():
            day = TISSUE_DAY + 1 + tissue.index(cell["mouse_id"]) // 2  # two mice a day
            iso = study_date(day)
            per_day[iso] = per_day.get(iso, 0) + 1
            name = f"{iso.replace('-', '_')}_{per_day[iso] - 1:04d}.abf"
            rel = f"ephys/{iso}/{name}"
            start = datetime.fromisoformat(iso).replace(
                hour=10 + per_day[iso] // 6, minute=(7 * per_day[iso]) % 60
            )
            kind = cell["qc_truth"]
            if kind == "voltage_clamp":
                content = voltage_clamp_file(rng, start)
            else:
                k = sim_index[cell["cell_id"]]
                truth.loc[ci, "true_rheobase_pA"] = rheobase[k]
                truth.loc[ci, "true_rmp_mV"] = rmp[k]
                drift = 12.0 if kind == "baseline_drift" else 0.0
                rec = _record(v[k], stim[k], rng, drift_mv=drift)
                content = encode_abf1(
                    rec,
                    SAMPLE_RATE_HZ,
                    units=["mV", "pA"],
                    names=["Vm", "Im"],
                    lsb=[0.01, 0.1],
                    dac_units="pA",
                    epochs=protocol_epochs(),
                    start=start,
                    comment="IC steps -50..400 pA",
                )
                if kind == "corrupt":  # transfer interrupted: data section cut short
                    content = content[: len(content) // 3]
                for s, amp in enumerate(STEP_AMPS_PA):
                    sp = spikes[k, s]
                    sweep_rows.append(
                        {
                            "file": name,
                            "path": rel,
                            "cell_id": cell["cell_id"],
                            "sweep": s,
                            "stim_pA": amp,
                            "n_spikes_stim_true": _count(sp, STEP_START, STEP_START + STEP_SAMPLES),
                            "n_spikes_total_true": len(sp),
                            "n_spikes_pre_true": _count(sp, 0, STEP_START),
                            "first_spike_time_s_true": (sp[0] / SAMPLE_RATE_HZ)
                            if len(sp)
                            else np.nan,
                        }
                    )
            if sink is None:
                files[rel] = content
            else:
                sink(rel, content)
            truth.loc[ci, "file"] = name
            truth.loc[ci, "path"] = rel
            rec_rows.append(
                {
                    "path": rel,
                    "modality": "ephys_cc",
                    "mouse_id": cell["mouse_id"],
                    "cell_id": cell["cell_id"],
                    "date": iso,
                    "protocol": "IC steps",
                }
            )
    truth["expected_step_rheobase_pA"] = [
        float(STEP_AMPS_PA[STEP_AMPS_PA >= r][0])
        if np.isfinite(r) and (STEP_AMPS_PA >= r).any()
        else np.nan
        for r in truth["true_rheobase_pA"]
    ]
    sweeps = pd.DataFrame(sweep_rows)
    first = sweeps[sweeps["n_spikes_stim_true"] > 0].groupby("cell_id")["stim_pA"].min()
    truth["observed_step_rheobase_pA_true"] = truth["cell_id"].map(first)
    # spontaneous: spikes before the step, or with no depolarising current at all
    spont = (sweeps["n_spikes_pre_true"] > 0) | (
        (sweeps["stim_pA"] <= 0) & (sweeps["n_spikes_total_true"] > 0)
    )
    spont_cells = set(sweeps.loc[spont, "cell_id"])
    truth["spontaneous_firing_true"] = [
        (cid in spont_cells) if kind != "voltage_clamp" else np.nan
        for cid, kind in zip(truth["cell_id"], truth["qc_truth"], strict=True)
    ]
    return EphysOutput(files=files, recordings=pd.DataFrame(rec_rows), cells=truth, sweeps=sweeps)
