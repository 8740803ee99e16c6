"""Ground-truth skin-nerve recordings: several units, noise, artefacts, drift and stimuli.

The one skin-nerve simulator of fmslab: ``fmslab skinnerve simulate``, the tests, the benchmarks
and the demo study (:mod:`fmslab.demo.skinnerve`, which chooses the units and the protocol of each
recording and calls :func:`simulate`) all use it.

Like SpikeInterface's ``generate_ground_truth_recording``, but with the stimuli of a skin-nerve
experiment: electrical pulses (each responsive unit fires once at ``distance / CV`` plus jitter),
force-controlled ramp-and-hold steps (rapidly adapting units fire on the ramps, slowly adapting ones
through the hold with adaptation) and cold/heat ramps. All randomness comes from one seed.

:func:`simulate` returns the signals and the truth; :func:`write_csv` writes the plain CSV layout
with its channel map (``RECORDING.yaml``) and the true spike times (``RECORDING_truth_spikes.csv``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import signal

from fmslab.atomic import write_bytes, write_table, write_text


@dataclass(frozen=True)
class UnitSpec:
    """One simulated afferent.

    ``shape``: ``"neg"`` (negative-first biphasic), ``"pos"`` (positive-first), ``"tri"``
    (triphasic); ``width_ms`` the main phase's width; ``amplitude_uv`` its peak.
    ``electrical``: whether the electrical stimulus activates the unit. Mechanical behaviour
    ``mech``: ``"SA"`` (fires through the hold, adapting), ``"RA"`` (fires on
    ramps only) or ``"none"``; ``cold_threshold_c``/``heat_threshold_c``: None = no response.
    """

    name: str
    amplitude_uv: float
    shape: str
    width_ms: float
    cv_m_s: float | None
    spont_rate_hz: float = 0.0
    mech: str = "none"
    mech_threshold_mn: float = 1.0
    mech_gain_hz_per_mn: float = 1.0
    ramp_gain_spikes_per_mn: float = 0.05
    adaptation_tau_s: float = 0.5
    cold_threshold_c: float | None = None
    heat_threshold_c: float | None = None
    thermal_gain_hz_per_c: float = 1.0
    receptor_type: str = ""
    electrical: bool = True  # activated by the electrical stimulus (its receptive field is hit)


DEFAULT_UNITS = (
    UnitSpec("SAM", 80.0, "neg", 0.25, 12.0, 0.0, "SA", 2.0, 1.0, 0.02, 0.4, receptor_type="SAM"),
    UnitSpec("AM", 55.0, "tri", 0.3, 4.0, 0.2, "SA", 20.0, 0.5, 0.01, 1.0, receptor_type="AM"),
    UnitSpec(
        "CMC",
        40.0,
        "pos",
        0.5,
        0.5,
        0.3,
        "SA",
        15.0,
        0.2,
        0.0,
        2.0,
        cold_threshold_c=22.0,
        thermal_gain_hz_per_c=0.8,
        receptor_type="C-MC",
    ),
    UnitSpec(
        "RAM",
        30.0,
        "neg",
        0.4,
        25.0,
        0.0,
        "RA",
        1.0,
        0.0,
        0.08,
        receptor_type="RAM",
        electrical=False,
    ),
    UnitSpec("bg", 22.0, "pos", 0.3, None, 2.0, receptor_type=""),
)


@dataclass(frozen=True)
class Protocol:
    """Timeline of the simulated experiment (seconds, mN, degC)."""

    baseline_s: float = 10.0
    n_electrical: int = 20
    electrical_interval_s: float = 1.0
    pulse_ms: float = 0.5
    forces_mn: tuple[float, ...] = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0)
    ramp_s: float = 0.1
    hold_s: float = 2.0
    step_interval_s: float = 4.0
    cold: bool = True
    heat: bool = True
    bath_c: float = 32.0
    cold_c: float = 12.0
    heat_c: float = 48.0
    thermal_rate_c_per_s: float = 1.0
    thermal_hold_s: float = 3.0
    tail_s: float = 5.0
    gap_after_electrical_s: float = 3.0  # last pulse -> first force step
    gap_before_thermal_s: float = 2.0  # end of the last force step interval -> first ramp
    gap_after_thermal_s: float = 5.0  # after each thermal ramp (back at the bath temperature)
    rewarm_rate_c_per_s: float | None = None  # None: the ramp's own rate
    pulse_v: float = 5.0


@dataclass(frozen=True)
class SimConfig:
    """Signal chain of a simulated recording: sampling rate, noise (uV SD, white, low-passed at
    5 kHz or 0.45 of the sampling rate, whichever is lower), 50 Hz pick-up, baseline drift,
    stimulus artefact, conduction distance (mm) and the units and protocol."""

    fs_hz: float = 20000.0
    noise_uv: float = 10.0
    drift_uv: float = 200.0
    mains_uv: float = 5.0
    artefact_uv: float = 400.0
    conduction_distance_mm: float = 25.0
    latency_jitter_ms: float = 0.05
    refractory_ms: float = 2.0
    force_noise_mn: float = 0.05
    temp_noise_c: float = 0.05
    units: tuple[UnitSpec, ...] = DEFAULT_UNITS
    protocol: Protocol = field(default_factory=Protocol)


@dataclass
class Simulation:
    config: SimConfig
    time_s: np.ndarray
    nerve_uv: np.ndarray
    force_mn: np.ndarray
    temp_c: np.ndarray
    stim_v: np.ndarray
    spikes: pd.DataFrame  # unit, time_s, sample, evoked
    stimuli: pd.DataFrame  # kind, onset_s, offset_s, amplitude
    units: pd.DataFrame  # truth per unit


def _thermal_times_s(p: Protocol, target_c: float) -> tuple[float, float, float]:
    """Durations (s) of the ramp to ``target_c``, the hold and the ramp back."""
    ramp = abs(target_c - p.bath_c) / p.thermal_rate_c_per_s
    back = abs(target_c - p.bath_c) / (p.rewarm_rate_c_per_s or p.thermal_rate_c_per_s)
    return ramp, p.thermal_hold_s, back


def template(spec: UnitSpec, fs_hz: float) -> np.ndarray:
    """Extracellular waveform of a unit, 2 ms long, main peak at 0.6 ms, |peak| = amplitude."""
    t = (np.arange(int(round(2e-3 * fs_hz))) - int(round(0.6e-3 * fs_hz))) / fs_hz * 1e3  # ms
    w = spec.width_ms / 2.355  # FWHM -> sigma
    main = np.exp(-0.5 * (t / w) ** 2)
    after = 0.45 * np.exp(-0.5 * ((t - 2.2 * spec.width_ms) / (1.8 * w)) ** 2)
    if spec.shape == "neg":
        y = -main + after
    elif spec.shape == "pos":
        y = main - after
    elif spec.shape == "tri":
        pre = 0.35 * np.exp(-0.5 * ((t + 1.6 * spec.width_ms) / w) ** 2)
        y = pre - main + after
    else:
        raise ValueError(f"unknown shape {spec.shape}")
    return spec.amplitude_uv * y / np.abs(y).max()


def onset_to_peak_s(spec: UnitSpec, fs_hz: float) -> float:
    """Time from the spike's onset to its main peak (s): the onset is where, walking back from
    the peak, |waveform| falls to 10 % of the peak (linear interpolation), the same rule the
    analysis applies to the raw trace. The electrical latency of a unit is to its onset."""
    y = np.abs(template(spec, fs_hz))
    k = int(round(0.6e-3 * fs_hz))
    level = 0.1 * y[k]
    j = k
    while j > 0 and y[j] > level:
        j -= 1
    frac = (level - y[j]) / (y[j + 1] - y[j]) if y[j + 1] > y[j] else 0.0
    return (k - (j + frac)) / fs_hz


def _protocol_signals(
    cfg: SimConfig, n: int
) -> tuple[np.ndarray, np.ndarray, list[dict], np.ndarray]:
    """Force (mN) and temperature (degC) at full rate, stimulus list, electrical pulse times."""
    p, fs = cfg.protocol, cfg.fs_hz
    force = np.zeros(n)
    temp = np.full(n, p.bath_c)
    stimuli: list[dict] = []
    t = p.baseline_s
    pulses = t + np.arange(p.n_electrical) * p.electrical_interval_s
    for tp in pulses:
        stimuli.append(
            {
                "kind": "electrical",
                "onset_s": tp,
                "offset_s": tp + p.pulse_ms / 1e3,
                "amplitude": p.pulse_v,
            }
        )
    t = pulses[-1] + p.gap_after_electrical_s if len(pulses) else t
    for f in p.forces_mn:
        i0, i1 = int(t * fs), int((t + p.ramp_s) * fs)
        i2, i3 = int((t + p.ramp_s + p.hold_s) * fs), int((t + 2 * p.ramp_s + p.hold_s) * fs)
        force[i0:i1] = np.linspace(0, f, i1 - i0, endpoint=False)
        force[i1:i2] = f
        force[i2:i3] = np.linspace(f, 0, i3 - i2, endpoint=False)
        stimuli.append({"kind": "mechanical", "onset_s": t, "offset_s": i3 / fs, "amplitude": f})
        t += p.step_interval_s
    t += p.gap_before_thermal_s
    for kind, on, target in (("cold", p.cold, p.cold_c), ("heat", p.heat, p.heat_c)):
        if not on:
            continue
        ramp, hold, back = _thermal_times_s(p, target)
        i0, i1 = int(t * fs), int((t + ramp) * fs)
        i2, i3 = int((t + ramp + hold) * fs), int((t + ramp + hold + back) * fs)
        temp[i0:i1] = np.linspace(p.bath_c, target, i1 - i0, endpoint=False)
        temp[i1:i2] = target
        temp[i2:i3] = np.linspace(target, p.bath_c, i3 - i2, endpoint=False)
        stimuli.append({"kind": kind, "onset_s": t, "offset_s": i3 / fs, "amplitude": target})
        t += ramp + hold + back + p.gap_after_thermal_s
    return force, temp, stimuli, pulses


def protocol_duration_s(p: Protocol) -> float:
    """Length (s) of a recording of protocol ``p``."""
    t = p.baseline_s
    if p.n_electrical:
        t += (p.n_electrical - 1) * p.electrical_interval_s + p.gap_after_electrical_s
    t += len(p.forces_mn) * p.step_interval_s + p.gap_before_thermal_s
    for on, target in ((p.cold, p.cold_c), (p.heat, p.heat_c)):
        if on:
            t += sum(_thermal_times_s(p, target)) + p.gap_after_thermal_s
    return t + p.tail_s


def _rate(
    spec: UnitSpec, force: np.ndarray, temp: np.ndarray, fs: float, p: Protocol
) -> np.ndarray:
    """Firing rate (Hz) of a unit over time, at 1 kHz."""
    step = int(fs // 1000)
    f = force[::step]
    tc = temp[::step]
    rate = np.full(f.shape, spec.spont_rate_hz)
    dfdt = np.gradient(f) * 1000.0  # mN/s
    if spec.mech == "SA":
        above = np.clip(f - spec.mech_threshold_mn, 0, None)
        # adaptation: time since the force first exceeded threshold in this step
        on = above > 0
        since = np.zeros_like(f)
        run = 0
        for i in np.flatnonzero(on | np.roll(on, 1)):  # cheap enough at 1 kHz
            run = run + 1 if on[i] else 0
            since[i] = run / 1000.0
        adapt = 0.3 + 0.7 * np.exp(-since / spec.adaptation_tau_s)
        rate += spec.mech_gain_hz_per_mn * above * adapt * on
        rate += spec.ramp_gain_spikes_per_mn * np.clip(dfdt, 0, None) * (f > spec.mech_threshold_mn)
    elif spec.mech == "RA":
        moving = np.abs(dfdt) * (f > spec.mech_threshold_mn * 0.5)
        rate += spec.ramp_gain_spikes_per_mn * moving
    if spec.cold_threshold_c is not None:
        rate += spec.thermal_gain_hz_per_c * np.clip(spec.cold_threshold_c - tc, 0, None)
    if spec.heat_threshold_c is not None:
        rate += spec.thermal_gain_hz_per_c * np.clip(tc - spec.heat_threshold_c, 0, None)
    return rate


def _poisson_times(rate_1khz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Spike times (s) of an inhomogeneous Poisson process given its rate in 1 ms bins."""
    counts = rng.poisson(rate_1khz / 1000.0)
    bins = np.repeat(np.arange(counts.size), counts)
    return (bins + rng.random(bins.size)) / 1000.0


def _refractory(times: np.ndarray, fixed: np.ndarray, refractory_s: float) -> np.ndarray:
    """Drop times within ``refractory_s`` of a kept spike (fixed times always kept)."""
    allt = np.concatenate([fixed, times])
    is_fixed = np.concatenate([np.ones(fixed.size, bool), np.zeros(times.size, bool)])
    order = np.lexsort((~is_fixed, allt))
    allt, is_fixed = allt[order], is_fixed[order]
    keep = np.zeros(allt.size, bool)
    last = -np.inf
    fixed_sorted = np.sort(fixed)
    for i, t in enumerate(allt):
        if is_fixed[i]:
            keep[i] = True
            last = t
            continue
        j = np.searchsorted(fixed_sorted, t)
        near_fixed = j < fixed_sorted.size and fixed_sorted[j] - t < refractory_s
        if t - last >= refractory_s and not near_fixed:
            keep[i] = True
            last = t
    return allt[keep & ~is_fixed]


def simulate(config: SimConfig | None = None, seed: int | np.random.Generator = 0) -> Simulation:
    """Simulate one recording. Deterministic for a given ``config`` and ``seed``.

    Parameters
    ----------
    config
        Units, protocol and signal chain (default: :class:`SimConfig`).
    seed
        An integer seed, or a generator to draw from (a study simulating many recordings from
        one stream); every random draw of the recording comes from it.

    Returns
    -------
    Simulation
        Signals at ``config.fs_hz``; ``spikes`` has one row per true spike: ``unit``, ``time_s``
        (its main peak), ``onset_s`` (its onset, the 10 % rule of :func:`onset_to_peak_s`),
        ``sample`` (of the peak) and ``evoked`` (the spike of an electrical pulse).
    """
    cfg = config or SimConfig()
    rng = np.random.default_rng(seed)
    fs = cfg.fs_hz
    duration = protocol_duration_s(cfg.protocol)
    n = int(duration * fs)
    time_s = np.arange(n) / fs
    force, temp, stimuli, pulses = _protocol_signals(cfg, n)
    stim_v = np.zeros(n)
    for tp in pulses:
        i0 = int(round(tp * fs))
        stim_v[i0 : i0 + max(1, int(round(cfg.protocol.pulse_ms * 1e-3 * fs)))] = (
            cfg.protocol.pulse_v
        )

    # noise: white, low-passed at 5 kHz (amplifier; below Nyquist at low rates), scaled to
    # noise_uv; mains hum; slow drift
    b, a = signal.butter(2, min(5000.0, 0.45 * fs) / (fs / 2))
    noise = signal.lfilter(b, a, rng.standard_normal(n))
    noise *= cfg.noise_uv / noise.std()
    nerve = noise
    nerve += cfg.mains_uv * np.sin(2 * np.pi * 50.0 * time_s + rng.uniform(0, 2 * np.pi))
    knots = np.linspace(0, duration, max(4, int(duration / 5) + 1))
    nerve += np.interp(time_s, knots, rng.normal(0, cfg.drift_uv, knots.size))

    rows, unit_rows = [], []
    for spec in cfg.units:
        wf = template(spec, fs)
        peak = int(round(0.6e-3 * fs))
        evoked = np.array([])
        latency = None
        if spec.cv_m_s is not None and spec.electrical and len(pulses):
            latency = cfg.conduction_distance_mm / spec.cv_m_s / 1e3  # mm / (m/s) -> ms -> s
            # the latency is to the spike's onset; spike times are its main peak
            evoked = (
                pulses
                + latency
                + onset_to_peak_s(spec, fs)
                + rng.normal(0, cfg.latency_jitter_ms / 1e3, len(pulses))
            )
        spont = _poisson_times(_rate(spec, force, temp, fs, cfg.protocol), rng)
        spont = spont[spont < duration - 0.01]
        spont = _refractory(spont, evoked, cfg.refractory_ms / 1e3)
        times = np.sort(np.concatenate([evoked, spont]))
        samples = np.round(times * fs).astype(np.int64)
        for s in samples:
            i0 = s - peak
            lo, hi = max(i0, 0), min(i0 + wf.size, n)
            if hi > lo:
                nerve[lo:hi] += wf[lo - i0 : hi - i0]
        ev = np.isin(times, evoked)
        rows.append(
            pd.DataFrame(
                {
                    "unit": spec.name,
                    "time_s": samples / fs,
                    "onset_s": samples / fs - onset_to_peak_s(spec, fs),
                    "sample": samples,
                    "evoked": ev,
                }
            )
        )
        d = asdict(spec)
        d.update(
            latency_ms=None if latency is None else latency * 1e3,
            n_spikes=len(times),
            snr=spec.amplitude_uv / cfg.noise_uv,
        )
        unit_rows.append(d)
    # stimulus artefacts: a fast biphasic transient at each pulse, decaying within ~0.4 ms
    ta = np.arange(int(0.6e-3 * fs)) / fs
    art = cfg.artefact_uv * np.sin(2 * np.pi * ta / 0.4e-3) * np.exp(-ta / 0.15e-3)
    for tp in pulses:
        i0 = int(round(tp * fs))
        nerve[i0 : i0 + art.size] += art[: max(0, min(art.size, n - i0))]
    force_ch = force + rng.normal(0, cfg.force_noise_mn, n)
    temp_ch = temp + rng.normal(0, cfg.temp_noise_c, n)
    spikes = (
        pd.concat(rows, ignore_index=True).sort_values(["time_s", "unit"], ignore_index=True)
        if rows
        else pd.DataFrame(columns=["unit", "time_s", "onset_s", "sample", "evoked"])
    )
    return Simulation(
        config=cfg,
        time_s=time_s,
        nerve_uv=nerve,
        force_mn=force_ch,
        temp_c=temp_ch,
        stim_v=stim_v,
        spikes=spikes,
        stimuli=pd.DataFrame(stimuli),
        units=pd.DataFrame(unit_rows),
    )


#: The CSV layout of a simulated recording: column, channel role, unit, decimals written. The
#: rounding steps (0.01 uV, mN, degC) lie far below the simulated noise (SD >= 1 uV, 0.05 mN,
#: 0.05 degC: rounding adds an SD of step / sqrt(12) = 0.003) and keep the files small.
CSV_COLUMNS = (
    ("time_s", None, "s", 6),
    ("nerve_uV", "nerve", "uV", 2),
    ("force_mN", "force", "mN", 2),
    ("temp_degC", "temperature", "degC", 2),
    ("stim_V", "stimulus", "V", 1),
)


def channel_map_yaml(sim: Simulation) -> dict:
    """The channel map (``RECORDING.yaml``) of :func:`csv_bytes`'s layout."""
    return {
        "channels": {role: col for col, role, _, _ in CSV_COLUMNS if role},
        "units": {col: unit for col, role, unit, _ in CSV_COLUMNS if role},
        "conduction_distance_mm": sim.config.conduction_distance_mm,
        "sampling_rate_hz": sim.config.fs_hz,
    }


def csv_bytes(sim: Simulation) -> bytes:
    """The recording in the CSV layout (:data:`CSV_COLUMNS`), header line first."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    signals = (sim.time_s, sim.nerve_uv, sim.force_mn, sim.temp_c, sim.stim_v)
    table = pa.table(
        {col: np.round(x, dec) for (col, _, _, dec), x in zip(CSV_COLUMNS, signals, strict=True)}
    )
    buf = io.BytesIO()
    buf.write((",".join(table.column_names) + "\n").encode())
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


def write_csv(sim: Simulation, path: str | Path) -> Path:
    """Write ``path`` (CSV layout), ``path.yaml`` (channel map) and the truth beside it."""
    path = Path(path)
    write_bytes(path, csv_bytes(sim))
    write_text(path.with_suffix(".yaml"), yaml.safe_dump(channel_map_yaml(sim), sort_keys=False))
    write_table(sim.spikes, path.with_name(path.stem + "_truth_spikes.csv"))
    write_table(sim.units, path.with_name(path.stem + "_truth_units.csv"))
    write_table(sim.stimuli, path.with_name(path.stem + "_truth_stimuli.csv"))
    return path


def write_abf(sim: Simulation, path: str | Path) -> Path:
    """Write the nerve channel alone as an ABF1 file (pyabf's writer handles one channel)."""
    import pyabf.abfWriter

    path = Path(path)
    pyabf.abfWriter.writeABF1(
        sim.nerve_uv[np.newaxis, :].astype(np.float32), str(path), sim.config.fs_hz, units="uV"
    )
    return path


def quick_config(noise_uv: float = 10.0, *, thermal: bool = True) -> SimConfig:
    """A short (about a minute) protocol for tests and examples: same units, fewer stimuli."""
    proto = Protocol(
        baseline_s=5.0,
        n_electrical=15,
        electrical_interval_s=0.5,
        forces_mn=(0.5, 5.0, 25.0, 100.0),
        hold_s=1.5,
        step_interval_s=3.0,
        cold=thermal,
        heat=thermal,
        cold_c=16.0,
        heat_c=46.0,
        thermal_rate_c_per_s=2.0,
        thermal_hold_s=2.0,
        tail_s=2.0,
    )
    return SimConfig(noise_uv=noise_uv, protocol=proto)
