"""Skin-nerve reading and analysis on two real Spike2 files and on planted edge cases.

``physiology.smr`` and ``biomech0deg.smr`` (spike2py test payloads, see tests/external) are human
physiology recordings saved by Spike2: EMG/nerve channels in mV, ' Volt' and 'v', an H-reflex
stimulus event channel (20 markers) and a trigger channel holding a 500 Hz train of 5 markers.
Expected values are neo's own reading of the files (``Spike2RawIO``), an independent reader.
"""

from __future__ import annotations

import numpy as np
import pytest

from fmslab.skinnerve.analysis import analyze_recording
from fmslab.skinnerve.channels import ChannelMap
from fmslab.skinnerve.io import MemoryReader, open_recording
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.stream import process


@pytest.fixture(scope="module")
def physiology(test_data):
    return test_data("ephys/formats/physiology.smr")


@pytest.fixture(scope="module")
def biomech(test_data):
    return test_data("ephys/formats/biomech0deg.smr")


def _neo_events(path, name):
    from neo.rawio import Spike2RawIO

    r = Spike2RawIO(filename=str(path))
    r.parse_header()
    i = [str(n) for n in r.header["event_channels"]["name"]].index(name)
    ts, _d, _l = r.get_event_timestamps(0, 0, i, None, None)
    return r.rescale_event_timestamp(ts, dtype="float64", event_channel_index=i)


@pytest.mark.parametrize(
    ("fname", "expected"),
    [
        # channel -> factor to uV: ' Volt' (Spike2's spelling) and 'v' are volts, 'mV' millivolts
        ("physiology", {"FDI": 1e3, "soleus": 1e3, "RC": 1e6, "abdo": 1e6}),
        ("biomech", {"prox_EMG": 1e6, "dist_EMG": 1e6}),
    ],
)
def test_every_voltage_channel_is_read_in_uv(request, fname, expected) -> None:
    from neo.rawio import Spike2RawIO

    path = request.getfixturevalue(fname)
    raw = Spike2RawIO(filename=str(path))
    raw.parse_header()
    sig = raw.header["signal_channels"]
    for name, factor in expected.items():
        rec = open_recording(path, ChannelMap(roles={"nerve": name}))
        assert rec.factors["nerve"] == factor, name
        _s, block = next(rec.iter_roles(1000, roles=["nerve"]))
        k = [str(n) for n in sig["name"]].index(name)
        sid = str(sig["stream_id"][k])
        s_idx = [str(s) for s in raw.header["signal_streams"]["id"]].index(sid)
        within = [i for i, c in enumerate(sig) if str(c["stream_id"]) == sid].index(k)
        ref = raw.rescale_signal_raw_to_float(
            raw.get_analogsignal_chunk(0, 0, 0, 1010, s_idx, [within]),
            dtype="float64",
            stream_index=s_idx,
            channel_indexes=[within],
        )[:, 0]
        # streams start a fraction of a sample apart: the reader puts every channel on the
        # fastest stream's time base by linear interpolation
        fs = float(sig["sampling_rate"][k])
        t_main = rec.reader._raw.get_signal_t_start(0, 0, rec.reader._main) + np.arange(1000) / fs
        t_own = raw.get_signal_t_start(0, 0, s_idx) + np.arange(1010) / fs
        expect = np.interp(t_main, t_own, ref) * factor
        np.testing.assert_allclose(block["nerve"], expect, rtol=1e-9, atol=1e-6 * factor)


def test_stimulus_events_parsed_by_title_and_number(physiology) -> None:
    truth = _neo_events(physiology, "Hreflex")
    assert truth.size == 20
    by_title = open_recording(
        physiology, ChannelMap(roles={"nerve": "soleus", "stimulus": "Hreflex"})
    )
    # Spike2 numbers channels from 1: the event channel with neo id 14 is channel 15
    by_number = open_recording(physiology, ChannelMap(roles={"nerve": 2, "stimulus": 15}))
    assert by_number.roles == {"nerve": "soleus", "stimulus": "Hreflex"}
    for rec in (by_title, by_number):
        res = process(rec)
        # the events on the 2 kHz time base (the main stream starts at t = 1e-5 s)
        np.testing.assert_allclose(
            res.stimulus_samples / rec.fs_hz, truth, atol=0.5 / rec.fs_hz + 2e-5
        )


def test_event_train_is_not_merged(biomech) -> None:
    truth = _neo_events(biomech, "Trig")
    assert truth.size == 5 and np.allclose(np.diff(truth), 0.002, atol=2e-5)  # 500 Hz
    rec = open_recording(biomech, ChannelMap(roles={"nerve": "prox_EMG", "stimulus": "Trig"}))
    res = process(rec)
    assert res.stimulus_samples.size == 5
    np.testing.assert_allclose(
        np.diff(res.stimulus_samples) / rec.fs_hz, np.diff(truth), atol=2.1e-4
    )


def test_no_artefact_unit_at_the_stimulus_latency(physiology) -> None:
    # soleus with the H-reflex stimulus: the stimulus artefact (first ms, blanked over its measured
    # extent) must not come out as a unit; what is evoked is the reflex 30-45 ms later
    rec = open_recording(physiology, ChannelMap(roles={"nerve": "soleus", "stimulus": "Hreflex"}))
    fr = analyze_recording(rec)
    spans = (fr.stream.blank_spans - fr.stream.stimulus_samples[:, None]) / rec.fs_hz * 1e3
    # measured, so it varies per stimulus, capped at artefact_max_ms (+ one 0.5 ms sample)
    assert np.all(spans[:, 1] <= Params().artefact_max_ms + 0.5 + 1e-9)
    lat = fr.units["latency_ms"].to_numpy()
    driven = fr.units["electrically_driven"].to_numpy(dtype=bool)
    assert driven.any()
    assert np.all(lat[driven] > 20.0), lat


def test_analog_500hz_train_is_not_merged() -> None:
    fs = 20000.0
    stim = np.zeros(int(fs))
    starts = 2000 + np.arange(5) * 40  # 5 pulses of 0.5 ms, 2 ms apart
    for s in starts:
        stim[s : s + 10] = 5.0
    nerve = np.random.default_rng(0).normal(0, 5.0, stim.size)
    rec = open_recording(
        MemoryReader({"nerve_uV": nerve, "stim_V": stim}, fs),
        ChannelMap(roles={"nerve": "nerve_uV", "stimulus": "stim_V"}),
    )
    np.testing.assert_array_equal(process(rec).stimulus_samples, starts)


def test_noise_only_channel_gives_no_units_and_a_warning() -> None:
    # digitisation noise of a quiet channel: +-0.1 uV in 0.05 uV steps, no spikes at all
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(0, 0.06, 60 * 20000) / 0.05) * 0.05
    rec = open_recording(
        MemoryReader({"nerve_uV": x}, 20000.0), ChannelMap(roles={"nerve": "nerve_uV"})
    )
    fr = analyze_recording(rec)
    assert len(fr.units) == 0
    assert any(w.startswith("no units") for w in fr.warnings)


def test_gaussian_noise_gives_no_units() -> None:
    rng = np.random.default_rng(4)
    rec = open_recording(
        MemoryReader({"nerve_uV": rng.normal(0, 10.0, 60 * 20000)}, 20000.0),
        ChannelMap(roles={"nerve": "nerve_uV"}),
    )
    fr = analyze_recording(rec)
    assert len(fr.units) == 0 and fr.warnings


def test_stages_on_a_real_snippet(physiology) -> None:
    # the named stages of analyze_recording on the real soleus channel (2 kHz EMG): the second
    # (template-matching) pass must keep every unit and find again most first-pass detections of
    # the kept clusters (within 2 samples). Not all: the evoked reflex is a polyphasic EMG burst
    # whose first-pass detections lie 2-5 ms apart, and subtraction re-places some of them; 70 %
    # (measured 75 %) guards against the failure this test found: a cluster whose members
    # cancelled (mean waveform 1.3 SD) was kept, and its 214 spikes vanished in the second pass
    from fmslab.skinnerve.analysis import clean_clusters, first_pass_clusters, match_pass
    from fmslab.skinnerve.spikes import match_spike_times

    rec = open_recording(physiology, ChannelMap(roles={"nerve": "soleus", "stimulus": "Hreflex"}))
    p = Params()
    res = process(rec, p)
    first = first_pass_clusters(res, p)
    clean = clean_clusters(res, first, p)
    assert clean.labels.max() >= 1
    final = match_pass(res, clean, p)
    assert final.labels.max() >= 1
    tol = 2.0 / rec.fs_hz
    kept = clean.times_s[clean.labels > 0]
    found = final.times_s[final.labels > 0]
    assert final.labels.max() == clean.labels.max()
    assert match_spike_times(kept, found, tol) >= 0.7 * kept.size


@pytest.mark.parametrize("channel", ["prox_EMG", "dist_EMG"])
def test_biomech_every_channel_analysed_without_artefact_unit(biomech, channel) -> None:
    # biomech0deg.smr: two 5 kHz EMG channels (unit 'v') and a trigger channel of 5 markers at
    # 500 Hz. Every channel is analysed with the triggers as stimuli: the markers are parsed as
    # neo reads them, and no unit follows the stimuli at an artefact's latency (within the
    # longest measured artefact, artefact_max_ms, plus 1 ms): with 5 stimuli the jitter rule
    # cannot judge (it needs artefact_min_stimuli), so only blanking over the measured extent
    # keeps an artefact out of the units
    truth = _neo_events(biomech, "Trig")
    rec = open_recording(biomech, ChannelMap(roles={"nerve": channel, "stimulus": "Trig"}))
    assert rec.factors["nerve"] == 1e6
    fr = analyze_recording(rec)
    np.testing.assert_allclose(
        fr.stream.stimulus_samples / rec.fs_hz, truth, atol=0.5 / rec.fs_hz + 2e-5
    )
    assert len(fr.units) >= 1  # EMG: motor-unit potentials are sorted, no "no units" warning
    assert not any(w.startswith("no units") for w in fr.warnings)
    driven = fr.units[fr.units["electrically_driven"].astype(bool)]
    assert not (driven["latency_ms"] <= Params().artefact_max_ms + 1.0).any(), driven
    # a motor unit cannot fire twice within the 1.5-ms refractory period, so intervals that
    # short inside a unit are spikes given to the wrong unit (or overlaps). Measured (session 6):
    # 14 (prox) and 15 (dist) over ~1700-1900 sorted spikes; the posterior template choice
    # (match_scale_prior, now opt-in) raised them to 27 and 43 while moving up to half of a unit's
    # spikes to another, so the bound catches an assignment rule that mixes units on real data
    assert int(fr.units["isi_violations"].sum()) <= 20, fr.units[["n_spikes", "isi_violations"]]
