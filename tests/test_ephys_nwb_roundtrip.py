"""Real ABF files written to NWB by fmslab's exporter and read back by the NWB reader.

The NWB file holds the injected current only as a waveform (``CurrentClampStimulusSeries``); the
reader must recover from it the stimulus the ABF reader took from the epoch table of the original
file: kind, test-step (or ramp) amplitude and window, holding current, the current before the
step, the prepulse. The reference is the ABF reader on the original file; the waveform itself
is checked against pyabf's command (sweepC) in tests/test_export.py.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from fmslab.ephys.io import Stimulus, open_recording

FIELDS = (
    "kind",
    "stim_pA",
    "stim_start_s",
    "stim_end_s",
    "holding_pA",
    "pre_stim_pA",
    "prepulse_pA",
    "prepulse_start_s",
    "prepulse_end_s",
    "ramp_slope_pA_per_s",
    "ramp_start_pA",
)


def write_nwb(raw, out):
    """``raw`` exported as one icephys NWB file by fmslab's exporter (no feature tables)."""
    from fmslab.export.nwb_common import SubjectInfo
    from fmslab.export.nwb_icephys import IcephysSession, write_icephys
    from fmslab.export.settings import ExportSettings

    session = IcephysSession(
        raw_file=raw,
        cell_id="c1",
        session_id="c1",
        identifier=f"roundtrip-{raw.stem}",
        session_start=datetime(2026, 1, 1, tzinfo=UTC),
        subject=SubjectInfo("m1", "U", None, "P8W", None, "test mouse"),
        protocol="test",
        experiment_description=None,
        sweeps=pd.DataFrame(),
        cell=pd.DataFrame(),
    )
    return write_icephys(session, out, ExportSettings())


def same(a: Stimulus, b: Stimulus, dt_s: float, rel: float = 1e-9) -> list[str]:
    """Fields of two stimuli that differ (times within half a sample, currents within
    ``rel`` relative + 1e-6 pA; NaN equals NaN)."""
    bad = []
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if isinstance(x, str):
            if x != y:
                bad.append(f"{f}: {x} != {y}")
            continue
        if math.isnan(x) and math.isnan(y):
            continue
        tol = 0.5 * dt_s if f.endswith("_s") else rel * abs(x) + 1e-6
        if not abs(x - y) <= tol:
            bad.append(f"{f}: {x} != {y}")
    return bad


@pytest.mark.parametrize(
    "name",
    ["18711001.abf", "171116sh_0018.abf", "File_axon_5.abf", "17o05028_ic_steps.abf"],
)
def test_step_protocols_read_back_as_the_abf_reader_reads_them(abf_dir, tmp_path, name):
    """18711001 sweep 0 is a -100 pA prepulse then a 0 pA test step: read back sweep by sweep,
    its only departure from holding is the prepulse, which was taken for a -100 pA step. The
    family rule (the segment whose level changes across sweeps is the test step) gives the 0 pA
    step and the prepulse separately, as the epoch table does."""
    raw = abf_dir / name
    abf = open_recording(raw)
    nwb = open_recording(write_nwb(raw, tmp_path / "x.nwb"))
    assert nwb.n_sweeps == abf.n_sweeps
    for k in range(abf.n_sweeps):
        a, b = abf.sweep(k), nwb.sweep(k)
        assert b.stimulus.source == "nwb_stimulus"
        assert same(a.stimulus, b.stimulus, a.dt_s) == [], (name, k)
    if name == "18711001.abf":
        st = nwb.sweep(0).stimulus
        assert (st.kind, st.stim_pA, st.prepulse_pA) == ("step", 0.0, -100.0)


def test_nwb_round_trip_gives_the_abf_cell_features(abf_dir, tmp_path):
    """The analysis of the NWB copy of 18711001 equals the ABF's on every per-sweep stimulus
    column and on the cell's rheobase (70 pA), Rin and tau from the prepulse."""
    from fmslab.ephys.analysis import analyze_file

    raw = abf_dir / "18711001.abf"
    sw_a, cell_a = analyze_file(raw)
    sw_n, cell_n = analyze_file(write_nwb(raw, tmp_path / "x.nwb"))
    for col in ("stim_kind", "stim_pA", "prepulse_pA", "pre_stim_pA", "n_spikes_stim"):
        assert sw_a[col].tolist() == sw_n[col].tolist() or np.allclose(sw_a[col], sw_n[col])
    for col in ("rheobase_pA", "rin_MOhm", "tau_ms"):
        assert cell_n[col].iloc[0] == pytest.approx(cell_a[col].iloc[0], rel=1e-6), col
    assert cell_n["rheobase_pA"].iloc[0] == 70.0


@pytest.mark.parametrize("name", ["17o05027_ic_ramp.abf", "171116sh_0016.abf"])
def test_ramp_protocols_read_back_as_ramps(abf_dir, tmp_path, name):
    """The sample study's two ramp recordings: every sweep read back from the NWB command is the
    ABF reader's ramp (start, end, slope, start level), not a step of its median (7.45 pA) or
    "unknown"; the ramp rheobase (current at the first spike's threshold) is the ABF's."""
    from fmslab.ephys.analysis import analyze_file

    raw = abf_dir / name
    abf = open_recording(raw)
    path = write_nwb(raw, tmp_path / "x.nwb")
    nwb = open_recording(path)
    n_ramps = 0
    for k in range(abf.n_sweeps):
        a, b = abf.sweep(k).stimulus, nwb.sweep(k).stimulus
        if a.kind == "ramp" and a.ramp_slope_pA_per_s == 0:
            # a flat "ramp" (sweep 0) writes a flat command: the family's 0 pA ramp
            assert (b.kind, b.stim_pA, b.ramp_slope_pA_per_s) == ("ramp", 0.0, 0.0)
            assert (b.stim_start_s, b.stim_end_s) == pytest.approx((a.stim_start_s, a.stim_end_s))
            continue
        n_ramps += 1
        # a waveform cannot tell the DAC's holding level from the level a continuous ramp's
        # sweep starts at (171116sh_0016: the previous sweep's end): compare absolute currents.
        # The command is written as float64 pA, so the line through it is exact to ~1e-9.
        assert b.kind == "ramp" and b.source == "nwb_stimulus"
        assert (b.stim_start_s, b.stim_end_s) == pytest.approx(
            (a.stim_start_s, a.stim_end_s), abs=0.5 / abf.rate_hz
        )
        assert b.ramp_slope_pA_per_s == pytest.approx(a.ramp_slope_pA_per_s, rel=1e-6)
        for level in ("stim_pA", "ramp_start_pA", "pre_stim_pA"):
            x = a.holding_pA + getattr(a, level)
            assert b.holding_pA + getattr(b, level) == pytest.approx(x, abs=1e-6), (k, level)
    assert n_ramps == abf.n_sweeps - 1
    _, cell_a = analyze_file(raw)
    _, cell_n = analyze_file(path)
    assert cell_a["protocol"].iloc[0] == cell_n["protocol"].iloc[0] == "ramp"
    for col in ("rheobase_ramp_pA", "rmp_mV"):
        assert cell_n[col].iloc[0] == pytest.approx(cell_a[col].iloc[0], rel=1e-6), col
    assert np.isfinite(cell_n["rheobase_ramp_pA"].iloc[0])
