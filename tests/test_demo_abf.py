"""The demo's ABF writer: files read back by pyabf and, independently, by neo."""

from __future__ import annotations

from datetime import datetime

import neo
import numpy as np
import pyabf
import pytest

from fmslab.demo.abf_writer import Epoch, write_abf1


@pytest.fixture
def written(tmp_path):
    rng = np.random.default_rng(3)
    n_sweeps, n = 5, 6400
    data = np.empty((n_sweeps, 2, n))
    data[:, 0] = -65 + rng.normal(0, 3, (n_sweeps, n))
    amps = -50.0 + 25.0 * np.arange(n_sweeps)
    data[:, 1] = 0.0
    data[:, 1, 1000:4000] = amps[:, None]
    epochs = [Epoch(0.0, 1000 - n // 64), Epoch(-50.0, 3000, level_inc=25.0), Epoch(0.0, 2400)]
    path = tmp_path / "x.abf"
    write_abf1(
        path,
        data,
        20000.0,
        units=["mV", "pA"],
        names=["Vm", "Im"],
        lsb=[0.01, 0.1],
        epochs=epochs,
        start=datetime(2026, 3, 8, 10, 30, 5),
    )
    return path, data, amps


def test_pyabf_reads_values_rate_sweeps_units_and_command(written):
    path, data, amps = written
    abf = pyabf.ABF(str(path))
    assert abf.abfVersion["major"] == 1
    assert abf.sweepCount == 5 and abf.channelCount == 2 and abf.dataRate == 20000
    assert abf.sweepPointCount == data.shape[2]
    assert abf.adcUnits == ["mV", "pA"] and abf.adcNames == ["Vm", "Im"]
    assert abf.abfDateTime == datetime(2026, 3, 8, 10, 30, 5)
    for s in range(5):
        for ch, lsb in ((0, 0.01), (1, 0.1)):
            abf.setSweep(s, channel=ch)
            # int16 storage rounds to the channel's resolution: error <= lsb / 2 (+ float32 slack)
            assert np.max(np.abs(abf.sweepY - data[s, ch])) <= lsb / 2 + 1e-4
        abf.setSweep(s, channel=0)
        # the epoch table rebuilds the command: 0 pA, then the step from sample 1000 to 3999
        expected = np.zeros(data.shape[2])
        expected[1000:4000] = amps[s]
        np.testing.assert_array_equal(abf.sweepC, expected)


def test_neo_reads_the_same_signal(written):
    # neo's AxonIO is an independent ABF1 reader (its own header parsing and scaling).
    path, data, _ = written
    block = neo.io.AxonIO(filename=str(path)).read_block(signal_group_mode="split-all")
    assert len(block.segments) == 5
    sig = block.segments[3].analogsignals[0]
    assert float(sig.sampling_rate.rescale("Hz").magnitude) == pytest.approx(20000.0)
    assert str(sig.units.dimensionality) == "mV"
    assert np.max(np.abs(np.asarray(sig.magnitude).ravel() - data[3, 0])) <= 0.005 + 1e-4


def test_out_of_range_data_are_refused(tmp_path):
    data = np.full((1, 1, 100), 400.0)  # 40000 counts at 0.01 mV
    with pytest.raises(ValueError, match="ADC range"):
        write_abf1(tmp_path / "y.abf", data, 10000.0, units=["mV"], names=["Vm"], lsb=[0.01])
