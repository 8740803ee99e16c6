"""Stimulus artefacts recognised by their waveform (identical after every stimulus).

The jitter estimate is checked against planted jitter (waveforms placed at known sub-sample
delays); the whole analysis against a planted recording (a stimulus-locked ringing at 3.5 ms is an
artefact, an axon at 8 ms with 0.1 ms jitter a unit); and the waveform rule on spike times whose
timing noise (50 us, as a detector's at low SNR) defeats the latency-jitter rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from fmslab.skinnerve.analysis import analyze_recording, electrical_response
from fmslab.skinnerve.artefacts import same_shape, waveform_jitter_ms
from fmslab.skinnerve.channels import ChannelMap
from fmslab.skinnerve.io import MemoryReader, open_recording
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.spikes import bandpass_sos, mad_sigma
from fmslab.skinnerve.stream import process

FS = 20000.0
RING_S = 3.5e-3


def _spike(t_s: np.ndarray) -> np.ndarray:
    """A biphasic spike (uV per unit amplitude) at times t_s (s) from its centre."""
    tau = 0.15e-3
    return -(t_s / tau) * np.exp(0.5 - 0.5 * (t_s / tau) ** 2)


def _ringing(t_s: np.ndarray) -> np.ndarray:
    """A damped 2.5 kHz ringing starting at t = 0 (the band-passed tail of a stimulus)."""
    return np.where(t_s >= 0, np.sin(2 * np.pi * 2500 * t_s) * np.exp(-t_s / 0.4e-3), 0.0)


def _trace(n: int, seed: int, stim: np.ndarray, events: list[tuple[float, float, float, str]]):
    """Band-passed unit-SD noise plus, per stimulus, each (amplitude, latency_s, jitter_s, kind)."""
    rng = np.random.default_rng(seed)
    x = signal.sosfiltfilt(bandpass_sos(FS), rng.standard_normal(n))
    x /= mad_sigma(x)
    t = np.arange(n) / FS
    for amp, lat, jit, kind in events:
        f = _spike if kind == "spike" else _ringing
        for s in stim:
            c = s / FS + lat + (rng.normal(0, jit) if jit else 0.0)
            i0, i1 = int((c - 2e-3) * FS), int((c + 3e-3) * FS)
            x[i0:i1] += amp * f(t[i0:i1] - c)
    return x


@pytest.mark.parametrize("jitter_ms", [0.03, 0.05, 0.1, 0.2])
def test_waveform_jitter_estimates_planted_jitter(jitter_ms: float) -> None:
    stim = np.arange(1, 81) * 4000
    x = _trace(340_000, 1, stim, [(8.0, 5e-3, jitter_ms / 1e3, "spike")])
    est, upper, mean_w = waveform_jitter_ms(x, FS, stim, 5.0)
    assert upper >= est
    if jitter_ms <= 0.05:
        # near the 0.02-ms artefact limit (jitter << the spike's 0.15-ms phase): 80 windows at
        # SNR 8 give ~15 % error on the variance (~8 % on J); 25 % fails a rule off by 2x
        assert est == pytest.approx(jitter_ms, rel=0.25)
    else:
        # first-order (slope) estimate: larger shifts and the blurred mean read high (measured
        # 0.12-0.16 for 0.1, 0.32-0.49 for 0.2 over 4 seeds), never low: an axon is not taken
        # for an artefact
        assert jitter_ms * 0.9 <= est <= jitter_ms * 3
    if jitter_ms <= 0.05:  # the stimulus-locked mean is the spike (band-limited by the noise)
        assert same_shape(mean_w, _spike((np.arange(mean_w.size) - mean_w.size // 2) / FS)) > 0.9


def test_identical_waveforms_have_no_jitter() -> None:
    stim = np.arange(1, 81) * 4000
    x = _trace(340_000, 2, stim, [(8.0, 3.5e-3, 0.0, "ring")])
    est, upper, _ = waveform_jitter_ms(x, FS, stim, 3.6)
    assert est < 0.01 and upper < 0.02, (est, upper)  # the estimate's own noise: a few us


def _recording(ring_amp: float):
    n = int(41 * FS)
    stim = (np.arange(1, 41) * FS).astype(np.int64) + 137
    x = 10.0 * _trace(n, 3, stim, [(ring_amp, RING_S, 0.0, "ring"), (9.0, 8e-3, 1e-4, "spike")])
    pulses = np.zeros(n)
    for s in stim:
        pulses[s : s + 4] = 5.0
    rec = open_recording(
        MemoryReader({"nerve_uV": x, "stim_V": pulses}, FS),
        ChannelMap(roles={"nerve": "nerve_uV", "stimulus": "stim_V"}),
    )
    return rec, stim


def test_stimulus_locked_ringing_is_an_artefact_and_the_axon_a_unit() -> None:
    rec, _stim = _recording(7.0)
    fr = analyze_recording(rec)
    assert len(fr.artefacts) == 1, fr.artefacts
    assert 3.0 < fr.artefacts.iloc[0]["latency_ms"] < 4.5
    lat = fr.units["latency_ms"].to_numpy()
    assert np.sum((lat > 7.0) & (lat < 9.0)) == 1, fr.units
    assert not np.any((lat > 3.0) & (lat < 4.5))  # no unit at the artefact's latency


def test_waveform_rule_catches_an_artefact_whose_spike_times_jitter() -> None:
    """Spike times of a ringing that the detector aligns on different extremes from stimulus to
    stimulus (0.1 or 0.5 ms after its onset, one period apart, as band-passed ringing of a stimulus was in the
    issue's real file): the latency rule takes it for an axon, the waveform rule does not; an
    axon (0.1 ms true jitter) timed the same way stays a unit."""
    rec, stim = _recording(16.0)
    p = Params()
    res = process(rec, p)
    stim_s = res.stimulus_samples / FS
    assert stim_s.size == stim.size
    phase = np.where(np.arange(stim_s.size) % 2 == 0, 0.1e-3, 0.5e-3)
    ring_t = stim_s + RING_S + phase
    alone = electrical_response(rec, ring_t, stim_s, p)
    assert alone.driven and not alone.artefact_reason  # the planted failure of the latency rule
    art = electrical_response(rec, ring_t, stim_s, p, res)
    assert art.artefact_reason.startswith("waveform identical"), art
    axon_t = stim_s + 8e-3 + np.random.default_rng(5).normal(0, 1e-4, stim_s.size)
    axon = electrical_response(rec, axon_t, stim_s, p, res)
    assert axon.driven and not axon.artefact_reason


def test_waveform_jitter_resolution_at_low_snr() -> None:
    """The limit of the rule, as documented: at a peak of ~4.5 noise SD and 40 stimuli a
    jitter-free ringing cannot be shown to jitter < 20 us (upper bound above it), so it is left
    to the latency rule, not called an artefact on a coin toss."""
    rec, _stim = _recording(8.0)
    res = process(rec, Params())
    est, upper, _ = waveform_jitter_ms(res.filtered_uv, FS, res.stimulus_samples, 3.6)
    assert est < 0.02 < upper, (est, upper)
