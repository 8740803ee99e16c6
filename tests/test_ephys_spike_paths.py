"""Spike detection has two implementations of its stages: one run (spike) at a time, and on
arrays of all rising runs (spikes) of a sweep, used above ``FEW_RUNS``. Both must find the same
spikes with the same shapes, to the last bit, on real sweeps as recorded and with added noise
(many more rising runs, thresholds reaching back past the previous spike, candidates at
stimulus edges)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fmslab.ephys import spikes
from fmslab.ephys.io import open_recording

FILES = ("171116sh_0018", "File_axon_6", "17o05028_ic_steps", "171116sh_0016")
SETTINGS = (
    spikes.SpikeParams(),
    spikes.SpikeParams(min_upstroke_V_per_s=2.0, min_height_mV=5.0, min_peak_mV=-60.0),
    spikes.SpikeParams(max_rise_ms=20.0, merge_gap_ms=1.0, max_fall_ms=10.0),
)


def _tables(monkeypatch, few: int, traces) -> list[dict[str, np.ndarray]]:
    monkeypatch.setattr(spikes, "FEW_RUNS", few)
    return [spikes.detect_spikes(v, dt, p, edges, end).as_dict() for v, dt, p, edges, end in traces]


@pytest.mark.parametrize("name", FILES)
def test_array_and_one_by_one_stages_agree(abf_dir, monkeypatch, name):
    rng = np.random.default_rng(3)
    traces = []
    for sw in open_recording(abf_dir / f"{name}.abf"):
        for v in (sw.v_mV, sw.v_mV + rng.normal(0.0, 0.3, sw.v_mV.size)):
            for p in SETTINGS:
                traces.append((v, sw.dt_s, p, sw.edges_s, sw.stimulus.stim_end_s))
    one = _tables(monkeypatch, 10**9, traces)  # every sweep one run at a time
    arr = _tables(monkeypatch, -1, traces)  # every sweep on arrays
    n_spikes = sum(t["peak_index"].size for t in one)
    assert n_spikes > 30  # the comparison covers many spikes, not empty tables
    for a, b in zip(one, arr, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
            assert a[k].dtype.kind == b[k].dtype.kind, k


def test_segment_extremes_match_numpy_on_ties_and_nan():
    x = np.array([3.0, 1.0, 1.0, 2.0, np.nan, 0.0, 5.0, 5.0, -1.0, -1.0])
    starts = np.array([0, 2, 3, 5, 8, 0])
    ends = np.array([3, 2, 5, 7, 9, 9])
    for j, (a, b) in enumerate(zip(starts, ends, strict=True)):
        seg = x[a : b + 1]
        assert spikes.segment_argmin(x, starts, ends)[j] == a + np.argmin(seg)
        assert spikes.segment_argmax(x, starts, ends)[j] == a + np.argmax(seg)
        np.testing.assert_equal(spikes.segment_min(x, starts, ends)[j], seg.min())
        np.testing.assert_equal(spikes.segment_max(x, starts, ends)[j], seg.max())


def test_settings_are_frozen():
    # the comparison above relies on SpikeParams being immutable (shared between traces)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SETTINGS[0].min_height_mV = 1.0  # type: ignore[misc]
