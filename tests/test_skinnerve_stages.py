"""The named stages of the skin-nerve analysis (``analyze_recording``), each on a short real snippet.

The snippet: the first 72 s of the soleus channel of ``physiology.smr`` (spike2py's test payload, a
human H-reflex recording at 2 kHz; see tests/external), with its 12 H-reflex stimuli of that span
as an analog pulse channel. The stimulus times come from neo's reading of the file
(``Spike2RawIO``), a reader independent of fmslab's; the expectations are computed here directly
from the snippet (masks and counts), not by the functions under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmslab.skinnerve.analysis import (
    ElectricalResponse,
    FieldResponses,
    classify_unit,
    electrical_response,
    field_responses,
    find_stimuli,
    mark_unit_under_study,
    sort_units,
    spike_table,
)
from fmslab.skinnerve.channels import ChannelMap
from fmslab.skinnerve.io import MemoryReader, open_recording
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.stream import process

SNIPPET_S = 72.0
DISTANCE_MM = 400.0  # a made-up nerve length: the CV rule is distance / onset latency


def _neo_events_s(path, name: str) -> np.ndarray:
    from neo.rawio import Spike2RawIO

    r = Spike2RawIO(filename=str(path))
    r.parse_header()
    i = [str(n) for n in r.header["event_channels"]["name"]].index(name)
    ts, _d, _l = r.get_event_timestamps(0, 0, i, None, None)
    return r.rescale_event_timestamp(ts, dtype="float64", event_channel_index=i)


@pytest.fixture(scope="module")
def snippet(test_data):
    """(recording of the snippet, its stimulus onsets in s from neo)."""
    path = test_data("ephys/formats/physiology.smr")
    full = open_recording(path, ChannelMap(roles={"nerve": "soleus"}))
    fs = full.fs_hz
    n = int(SNIPPET_S * fs)
    nerve = np.concatenate([b["nerve"] for _s, b in full.iter_roles(1 << 16, roles=["nerve"])])
    events = _neo_events_s(path, "Hreflex")
    # on the snippet's sample grid (the file's main stream starts 1e-5 s after zero)
    onsets = np.round(events[events < SNIPPET_S - 1.0] * fs).astype(int)
    stim = np.zeros(n)
    for k in onsets:
        stim[k : k + 2] = 5.0  # a 1 ms pulse
    rec = open_recording(
        MemoryReader({"nerve_uV": nerve[:n], "stim_V": stim}, fs, path="physiology_soleus.csv"),
        ChannelMap(
            roles={"nerve": "nerve_uV", "stimulus": "stim_V"}, conduction_distance_mm=DISTANCE_MM
        ),
    )
    return rec, onsets / fs


@pytest.fixture(scope="module")
def staged(snippet):
    rec, _ = snippet
    p = Params()
    res = process(rec, p)
    return rec, res, sort_units(res, p), find_stimuli(res, p), p


def test_find_stimuli_pulses_and_baseline(snippet, staged) -> None:
    rec, onsets_s = snippet
    _, res, _, stimuli, p = staged
    assert onsets_s.size == 12
    np.testing.assert_allclose(stimuli.electrical_s, onsets_s, atol=0.5 / rec.fs_hz)
    assert stimuli.mech_role is None and stimuli.steps.empty and stimuli.ramps.empty
    # baseline = the snippet less +-margin around every pulse: a sample mask, built here
    t = np.arange(int(res.duration_s * rec.fs_hz)) / rec.fs_hz
    busy = np.zeros(t.size, bool)
    for s in onsets_s:
        busy |= np.abs(t - s) < p.baseline_margin_s
    in_base = np.zeros(t.size, bool)
    for a, b in stimuli.baseline:
        assert a < b
        in_base |= (t >= a) & (t < b)
    # every sample is in exactly one of the two, but for the one at each interval edge
    assert np.count_nonzero(in_base == busy) <= 2 * len(stimuli.baseline) + 2
    total = sum(b - a for a, b in stimuli.baseline)
    assert total == pytest.approx(np.count_nonzero(~busy) / rec.fs_hz, abs=2 * 12 / rec.fs_hz)


def test_sort_units_and_spike_table(staged) -> None:
    rec, res, units, _, _ = staged
    assert units.n_units >= 1
    assert np.all(np.diff(units.times_s) >= 0)  # time order
    spikes = spike_table("x.csv", units)
    kept = units.labels > 0
    assert len(spikes) == np.count_nonzero(kept)
    assert set(spikes["unit_id"]) == set(range(1, units.n_units + 1))
    # amplitude_uv = per-spike scale x template peak. Reference: the mean band-passed waveform
    # of the unit's spikes, averaged here from the trace over the template's window; its peak
    # must match the median spike amplitude within 25 % (EMG spikes of one unit vary in size
    # and overlap, so the fitted scales spread; a template or scale off by a factor fails).
    x = np.asarray(res.filtered_uv)
    pre = int(round(Params().pre_ms * rec.fs_hz / 1e3))
    post = int(round(Params().post_ms * rec.fs_hz / 1e3))
    for k, g in spikes.groupby("unit_id"):
        i = np.round(g["time_s"].to_numpy() * rec.fs_hz).astype(int)
        i = i[(i >= pre) & (i + post <= x.size)]
        mean_wave = x[i[:, None] + np.arange(-pre, post)[None, :]].mean(axis=0)
        assert np.median(g["amplitude_uv"]) == pytest.approx(np.abs(mean_wave).max(), rel=0.25), k
    # a unit relabelled away disappears from the table and no other spike changes
    fewer = spike_table("x.csv", units.without(1))
    assert 1 not in set(fewer["unit_id"])
    assert len(fewer) == len(spikes) - np.count_nonzero(units.labels == 1)


def test_electrical_response_of_the_reflex(snippet, staged) -> None:
    rec, onsets_s = snippet
    _, _, units, stimuli, p = staged
    found = [electrical_response(rec, units.spikes_s(k), stimuli.electrical_s, p) for k in
             range(1, units.n_units + 1)]  # fmt: skip
    driven = [e for e in found if e.driven]
    assert driven, [e.follow_fraction for e in found]
    for k, e in enumerate(found, start=1):
        t = units.spikes_s(k)
        # follow fraction: stimuli with a spike of the unit within the latency window around
        # the aligned latency, counted here directly
        win = max(p.latency_window_ms, 0.05 * e.latency_peak_ms) / 1e3
        if np.isfinite(e.latency_peak_ms):
            hit = [np.any(np.abs(t - s - e.latency_peak_ms / 1e3) <= win) for s in onsets_s]
            assert e.follow_fraction == pytest.approx(np.mean(hit), abs=1e-12), k
        assert e.n_stimuli == 12 and not e.artefact_reason
    for e in driven:
        # the soleus H-reflex: 30-45 ms after the stimulus (the EMG reflex latency in adults)
        assert 30.0 < e.latency_peak_ms < 45.0
        # onset (raw trace) and aligned extreme (band-passed) of the same evoked spike: within
        # the 5 ms of an EMG spike (either may come first: the filter shifts the extreme)
        assert abs(e.latency_peak_ms - e.latency_ms) < 5.0
        assert e.cv_m_s == pytest.approx(DISTANCE_MM / e.latency_ms, rel=1e-12)


def test_electrical_response_refuses_a_stimulus_locked_artefact(snippet) -> None:
    rec, onsets_s = snippet
    p = Params()
    # "spikes" exactly 1.5 ms after every pulse: no conducting axon is this locked
    locked = electrical_response(rec, onsets_s + 1.5e-3, onsets_s, p)
    assert locked.driven and locked.artefact_reason.startswith("latency jitter")
    assert np.isnan(locked.cv_m_s)
    # the same with an axon's jitter (0.1 ms SD) is a unit
    jitter = np.random.default_rng(0).normal(0, 1e-4, onsets_s.size)
    axon = electrical_response(rec, onsets_s + 5e-3 + jitter, onsets_s, p)
    assert axon.driven and not axon.artefact_reason
    assert axon.latency_sd_ms == pytest.approx(np.std(jitter, ddof=1) * 1e3, rel=1e-9)


def test_field_responses_without_force_or_temperature(staged) -> None:
    rec, res, units, stimuli, p = staged
    for k in range(1, units.n_units + 1):
        t = units.spikes_s(k)
        f = field_responses(t, res, stimuli, p)
        assert f.mechanical.empty and f.thermal.empty
        assert not f.responsive("cold") and np.isnan(f.threshold_c("heat"))
        # spontaneous rate: spikes farther than the margin from every pulse / that time
        away = np.all(np.abs(t[:, None] - stimuli.electrical_s[None, :]) >= p.baseline_margin_s, 1)
        base_s = sum(b - a for a, b in stimuli.baseline)
        assert f.spontaneous["spont_rate_hz"] == pytest.approx(
            np.count_nonzero(away) / base_s, abs=1.0 / base_s
        ), k  # one spike at an interval edge may fall either side


def test_classify_unit_from_cv_and_responses() -> None:
    p = Params()
    empty = FieldResponses(
        spontaneous={"baseline_s": 60.0, "spont_rate_hz": 0.1, "spont_isi_cv": np.nan},
        mechanical=pd.DataFrame(),
        mechanical_summary={"mech_responsive": False, "slowly_adapting": False,
                            "mech_threshold": np.nan},
        thermal=pd.DataFrame(),
    )  # fmt: skip

    def electrical(cv: float) -> ElectricalResponse:
        return ElectricalResponse(10.0, 0.1, 1.0, 10, 10.2, True, cv)

    c = classify_unit(electrical(0.5), empty, None, p)
    assert (c.fibre_class, np.isnan(c.von_frey_threshold_mn)) == ("C", True)
    assert (
        classify_unit(electrical(p.cv_cutoffs.abeta_min_m_s + 1), empty, None, p).fibre_class
        == "Abeta"
    )
    assert classify_unit(electrical(np.nan), empty, None, p).fibre_class == "unknown"


def test_unit_under_study_prefers_driven_then_evoked_then_size() -> None:
    units = pd.DataFrame(
        {
            "unit_id": [1, 2, 3],
            "electrically_driven": [False, True, True],
            "amplitude_uv": [300.0, 50.0, 80.0],
        }
    )
    responses = pd.DataFrame(
        {
            "unit_id": [1, 2, 3, 2],
            "stimulus": ["mechanical", "mechanical", "mechanical", "electrical"],
            "responded": [True, True, True, True],
            "total_spikes": [40, 7, 7, 100],  # electrical spikes are not receptive-field ones
        }
    )
    marked = mark_unit_under_study(units, responses)
    assert marked["evoked_spikes"].tolist() == [40, 7, 7]
    assert marked["is_unit_under_study"].tolist() == [False, False, True]  # tie: the larger
    assert "is_unit_under_study" not in units  # the input is not changed
