"""Stimulus artefacts found without a stimulus channel (fmslab.skinnerve.unmarked).

The references: a real Spike2 file whose stimulus event channel is left out of the channel map
(``physiology.smr``, H-reflex stimuli in pairs 1 s apart every 11 s: the stimuli inferred from
the artefacts must be the channel's markers, and the analysis the same as with the channel);
fmslab's simulator with its stimulus channel left out (the planted pulse samples are known); and
event trains with a planted lattice among Poisson events, where the lattice's members are known.
False positives are checked where there is no stimulus at all: SpikeInterface-generated
recordings (bursts, refractory periods, drift, hum) and the simulator with no artefact, whose
driven axons follow the invisible stimuli at a latency with 0.05 ms jitter.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fmslab.skinnerve.analysis import analyze_recording, unmarked_stimuli
from fmslab.skinnerve.channels import ChannelMap, parse_channel_map
from fmslab.skinnerve.io import MemoryReader, open_recording
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.simulate import channel_map_yaml, quick_config, simulate
from fmslab.skinnerve.stream import process
from fmslab.skinnerve.unmarked import (
    Lattice,
    find_lattices,
    interval_histogram,
    stimulus_lattices,
)

FS = 20000.0


def _poisson(rng, rate_hz: float, dur_s: float) -> np.ndarray:
    n = rng.poisson(rate_hz * dur_s)
    return np.sort(rng.integers(0, int(dur_s * FS), n))


def test_interval_histogram_counts_every_forward_pair() -> None:
    rng = np.random.default_rng(0)
    s = np.sort(rng.integers(0, 50_000, 400))
    h = interval_histogram(s, 3000, block=997)  # several blocks
    d = s[None, :] - s[:, None]
    ref = np.bincount(d[(d >= 0) & (d <= 3000) & np.triu(np.ones_like(d, bool), 1)], minlength=3001)
    np.testing.assert_array_equal(h, ref)


@pytest.mark.parametrize("seed", range(5))
def test_planted_lattice_found_among_poisson_events(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dur = 120.0
    period = 40_000  # 2 s
    pulses = 66_000 + period * np.arange(30)
    pulses = np.delete(pulses, 10)  # a missed pulse: chained over 2 periods
    planted = pulses + rng.integers(-1, 2, pulses.size)  # the detector's +-1 sample
    events = np.concatenate([_poisson(rng, 20.0, dur), planted])
    amp = np.concatenate(
        [rng.uniform(8, 15, events.size - planted.size), np.full(planted.size, 30.0)]
    )
    found = stimulus_lattices(find_lattices(events, FS, amplitudes=amp), FS)
    assert len(found) == 1
    lat = found[0]
    assert abs(lat.period_samples - period) <= 1
    np.testing.assert_array_equal(lat.samples, np.sort(planted))


@pytest.mark.parametrize("seed", range(5))
def test_no_lattice_in_poisson_and_regular_trains(seed: int) -> None:
    """A regularly firing unit (10 Hz, interval SD 1 ms: CV 0.01, more regular than any
    sensory afferent) and Poisson units give no lattice over 30 minutes."""
    rng = np.random.default_rng(seed)
    dur = 1800.0
    regular = np.cumsum(rng.normal(0.1, 1e-3, int(dur * 10) - 5)) * FS
    events = np.concatenate([_poisson(rng, 5.0, dur), regular.astype(np.int64)])
    assert find_lattices(events, FS) == []


def _lat(samples, period, amplitude) -> Lattice:
    return Lattice(period, np.asarray(samples, dtype=np.int64), 0, 0.0, 0.0, amplitude)


def test_locked_response_and_ringing_are_not_stimuli() -> None:
    """Paired pulses (1 s apart, every 11 s), each artefact with its ringing after the dead time
    (+1 ms) and an axon at 8 ms: the two artefact lattices are the stimuli."""
    period = 220_000
    first = 50_000 + period * np.arange(10)
    second = first + 20_000
    lattices = [
        _lat(first + 20, period, 12.0),  # ringing
        _lat(first, period, 60.0),
        _lat(second, period, 58.0),
        _lat(second + 160, period, 20.0),  # response
        _lat(first + 160, period, 21.0),
    ]
    kept = stimulus_lattices(lattices, FS)
    assert [int(k.samples[0]) for k in kept] == [50_000, 70_000]


@pytest.fixture(scope="module")
def physiology(test_data):
    return test_data("ephys/formats/physiology.smr")


@pytest.mark.parametrize("channel", ["soleus", "FDI"])
def test_real_file_stimuli_inferred_from_their_artefacts(physiology, channel) -> None:
    marked = open_recording(physiology, ChannelMap(roles={"nerve": channel, "stimulus": "Hreflex"}))
    bare = open_recording(physiology, ChannelMap(roles={"nerve": channel}))
    a, b = analyze_recording(marked), analyze_recording(bare)
    assert b.stream.stimuli_inferred and not a.stream.stimuli_inferred
    assert any("stimulus artefacts found" in w for w in b.warnings)
    # the channel's 20 markers (checked against neo in test_skinnerve_realfiles), to one
    # 0.5-ms sample: the artefact starts in the sample after the marker on this channel
    assert b.stream.stimulus_samples.size == 20
    np.testing.assert_allclose(b.stream.stimulus_samples, a.stream.stimulus_samples, atol=1)
    assert len(b.artefacts) == len(a.artefacts) == 0
    assert len(b.units) == len(a.units)
    if len(a.units):
        np.testing.assert_array_equal(b.units["n_spikes"], a.units["n_spikes"])
        np.testing.assert_allclose(b.units["latency_ms"], a.units["latency_ms"], atol=0.5 + 1e-9)
        assert b.units["electrically_driven"].tolist() == a.units["electrically_driven"].tolist()


def _sim_rec(sim, *, stimulus: bool):
    data = {"nerve_uV": sim.nerve_uv, "force_mN": sim.force_mn, "temp_degC": sim.temp_c}
    cmap, _ = parse_channel_map(channel_map_yaml(sim), source="sim")
    if stimulus:
        data["stim_V"] = sim.stim_v
    else:
        cmap = replace(cmap, roles={k: v for k, v in cmap.roles.items() if k != "stimulus"})
    return open_recording(MemoryReader(data, sim.config.fs_hz, path="sim.csv"), cmap)


def test_simulated_unmarked_artefacts_become_the_stimuli() -> None:
    sim = simulate(quick_config(), seed=11)
    truth = np.round(sim.stimuli.query("kind == 'electrical'")["onset_s"].to_numpy() * FS)
    a = analyze_recording(_sim_rec(sim, stimulus=True))
    b = analyze_recording(_sim_rec(sim, stimulus=False))
    # the raw artefact starts at the pulse: its sample is found exactly (to one sample)
    np.testing.assert_allclose(b.stream.stimulus_samples, truth, atol=1)
    assert len(b.artefacts) == 0
    # every planted driven unit is found with the marked analysis's latency (within 0.1 ms)
    planted = sim.units.dropna(subset=["latency_ms"])
    for _, u in planted.iterrows():
        near_a = a.units.loc[(a.units["latency_ms"] - u["latency_ms"]).abs() < 0.5]
        near_b = b.units.loc[(b.units["latency_ms"] - u["latency_ms"]).abs() < 0.5]
        assert len(near_a) == 1 and len(near_b) == 1, u["name"]
        assert near_b["latency_ms"].iloc[0] == pytest.approx(near_a["latency_ms"].iloc[0], abs=0.1)
        assert near_b["receptor_type"].iloc[0] == near_a["receptor_type"].iloc[0]
    # the stimulus figure shows the inferred pulses (with the analog channel: on its panel)
    assert "electrical pulses (inferred from their artefacts)" in _titles(b)
    assert not any(t.startswith("electrical pulses") for t in _titles(a))


def _titles(fr) -> list[str]:
    from fmslab.skinnerve.plots import stimulus_figure

    return [ax.get_title() for ax in stimulus_figure(fr).axes]


def test_driven_axons_without_an_artefact_are_not_stimuli() -> None:
    """No artefact: three axons follow the pulses (0.05 ms latency jitter). One of them forms a
    lattice at the detector's resolution, but its waveform jitters about the lattice's clock
    times (measured upper bound 0.026 ms >= 0.02), so no stimulus is inferred."""
    sim = simulate(replace(quick_config(), artefact_uv=0.0), seed=11)
    rec = _sim_rec(sim, stimulus=False)
    assert unmarked_stimuli(process(rec), Params()) == []


@pytest.mark.parametrize("snr", [4.0, 6.0, 8.0])
def test_no_stimuli_inferred_on_the_independent_generator(snr: float) -> None:
    pytest.importorskip("spikeinterface")
    from fmslab.skinnerve.validation import si_recording

    gt = si_recording(snr, 1)
    rec = open_recording(
        MemoryReader({"nerve_uV": gt.trace_uv}, gt.fs_hz), ChannelMap(roles={"nerve": "nerve_uV"})
    )
    assert unmarked_stimuli(process(rec), Params()) == []


def test_unmarked_rule_can_be_turned_off(physiology) -> None:
    bare = open_recording(physiology, ChannelMap(roles={"nerve": "FDI"}))
    fr = analyze_recording(bare, Params(unmarked_artefacts=False))
    assert fr.stream.stimulus_samples.size == 0 and not fr.stream.stimuli_inferred
