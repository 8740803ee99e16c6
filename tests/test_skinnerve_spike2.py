"""Spike2 (.smr) input through neo's Spike2RawIO.

No real .smr file is available to the project (neo does not ship its test files), so this test
writes a minimal SON (32-bit .smr, system_id 6) file itself, following the layout neo's
``spike2rawio.py`` reads: 512-byte file header, 140-byte channel headers, linked 20-byte-header data
blocks. It proves that our reader works through Spike2RawIO (int16 and float channels at different
rates, an event channel as stimulus markers), not that every real Spike2 file is read: a file from
a real Spike2 installation should be added when one is available.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from fmslab.skinnerve.io import NeoReader, open_reader

HEADER = np.dtype([
    ("system_id", "i2"), ("copyright", "S10"), ("creator", "S8"), ("us_per_time", "i2"),
    ("time_per_adc", "i2"), ("filestate", "i2"), ("first_data", "i4"), ("channels", "i2"),
    ("chan_size", "i2"), ("extra_data", "i2"), ("buffersize", "i2"), ("os_format", "i2"),
    ("max_ftime", "i4"), ("dtime_base", "f8"), ("datetime_detail", "u1"), ("datetime_year", "i2"),
    ("pad", "S52"), ("comments", "S400"),
])  # fmt: skip
CHAN = np.dtype([
    ("del_size", "i2"), ("next_del_block", "i4"), ("firstblock", "i4"), ("lastblock", "i4"),
    ("blocks", "i2"), ("n_extra", "i2"), ("pre_trig", "i2"), ("free0", "i2"), ("py_sz", "i2"),
    ("max_data", "i2"), ("comment", "S72"), ("max_chan_time", "i4"), ("l_chan_dvd", "i4"),
    ("phy_chan", "i2"), ("title", "S10"), ("ideal_rate", "f4"), ("kind", "u1"), ("unused1", "i1"),
    ("scale", "f4"), ("offset", "f4"), ("unit", "S6"), ("interleave", "i2"),
])  # fmt: skip
BLOCK = np.dtype([("pred_block", "i4"), ("succ_block", "i4"), ("start_time", "i4"),
                  ("end_time", "i4"), ("channel_num", "i2"), ("items", "i2")])  # fmt: skip


def _pascal(s: str) -> bytes:
    return bytes([len(s)]) + s.encode()


def write_son(path: Path, channels: list[dict]) -> None:
    """Write a minimal SON file; one tick = 1 us.

    Channels: ``{title, kind (1 int16 wave, 9 float wave, 3 rising-edge events), data, dvd (ticks
    per sample), unit, scale}``.
    """
    assert CHAN.itemsize == 140 and HEADER.itemsize <= 512
    body = bytearray()
    pos0 = 512 + 140 * len(channels)
    heads = []
    for c_i, ch in enumerate(channels):
        items = ch["data"]
        per_block = 4000
        first = last = -1
        n_blocks = 0
        for b0 in range(0, len(items), per_block):
            part = items[b0 : b0 + per_block]
            here = pos0 + len(body)
            if ch["kind"] == 3:
                start, end = int(part[0]), int(part[-1])
                payload = np.asarray(part, "<i4").tobytes()
            else:
                start = b0 * ch["dvd"]
                end = start + (len(part) - 1) * ch["dvd"]
                payload = np.asarray(part, "<i2" if ch["kind"] == 1 else "<f4").tobytes()
            nxt = here + BLOCK.itemsize + len(payload)
            is_last = b0 + per_block >= len(items)
            hdr = np.array([(last, -1 if is_last else nxt, start, end, c_i + 1, len(part))], BLOCK)
            body += hdr.tobytes() + payload
            first = here if first < 0 else first
            last = here
            n_blocks += 1
        h = np.zeros(1, CHAN)
        h["firstblock"], h["lastblock"], h["blocks"] = first, last, n_blocks
        h["l_chan_dvd"] = ch.get("dvd", 1)
        h["title"] = _pascal(ch["title"])
        h["kind"] = ch["kind"]
        h["scale"] = ch.get("scale", 1.0)
        h["unit"] = _pascal(ch.get("unit", ""))
        h["ideal_rate"] = 1e6 / ch.get("dvd", 1)
        heads.append(h.tobytes())
    hd = np.zeros(1, HEADER)
    hd["system_id"], hd["us_per_time"], hd["time_per_adc"] = 6, 1, 1
    hd["first_data"], hd["channels"], hd["dtime_base"] = pos0, len(channels), 1e-6
    with open(path, "wb") as fh:
        fh.write(hd.tobytes().ljust(512, b"\0"))
        for h in heads:
            fh.write(h)
        fh.write(bytes(body))


@pytest.fixture(scope="module")
def smr(tmp_path_factory):
    from fmslab.skinnerve.simulate import quick_config, simulate

    sim = simulate(quick_config(), seed=5)
    nerve_scale = 2000.0  # value = raw * scale / 6553.6: 0.305 uV per count, +-10 mV range
    raw = np.round(sim.nerve_uv / (nerve_scale / 6553.6)).astype(np.int16)
    temp = sim.temp_c[::200].astype(np.float32)  # 100 Hz
    pulses = sim.stimuli.loc[sim.stimuli["kind"] == "electrical", "onset_s"].to_numpy()
    path = tmp_path_factory.mktemp("smr") / "unit1.smr"
    write_son(path, [
        {"title": "Nerve", "kind": 1, "data": raw, "dvd": 50, "unit": "uV", "scale": nerve_scale},
        {"title": "Temp", "kind": 9, "data": temp, "dvd": 10000, "unit": "C"},
        {"title": "Stim", "kind": 3, "data": np.round(pulses * 1e6).astype(np.int64)},
    ])  # fmt: skip
    return path, sim, raw, nerve_scale, temp, pulses


def test_spike2_channels_and_values(smr) -> None:
    path, sim, raw, nerve_scale, temp, pulses = smr
    reader = open_reader(path)
    assert isinstance(reader, NeoReader)
    assert reader.names == ["Nerve", "Temp"] and reader.units == ["uV", "C"]
    assert reader.fs_hz == pytest.approx(20000.0)
    assert reader.n_samples == raw.size
    got = {"Nerve": [], "Temp": []}
    for _s, block in reader.iter_chunks(["Nerve", "Temp"], 33_333):
        for k in got:
            got[k].append(block[k])
    nerve = np.concatenate(got["Nerve"])
    # int16 counts * scale / 6553.6, exactly as written
    np.testing.assert_allclose(nerve, raw * (nerve_scale / 6553.6), rtol=1e-6)
    t = np.concatenate(got["Temp"])
    # the 100 Hz channel, interpolated onto the 20 kHz base: equal at its own sample instants,
    # in between on the straight line (across our chunk borders too)
    np.testing.assert_allclose(t[::200][: temp.size], temp, atol=1e-5)
    mid = (temp[:-1] + temp[1:]) / 2
    np.testing.assert_allclose(t[100::200][: mid.size], mid, atol=1e-4)
    # event channel: 1 us ticks
    np.testing.assert_allclose(reader.event_times("Stim"), pulses, atol=1e-6)


def test_spike2_analysis_with_event_stimulus(smr) -> None:
    from fmslab.skinnerve.analysis import analyze_file
    from fmslab.skinnerve.channels import channel_map_for

    path, sim, *_ = smr
    path.with_suffix(".yaml").write_text(yaml.safe_dump({
        "channels": {"nerve": "Nerve", "temperature": "Temp", "stimulus": "Stim"},
        "units": {"Temp": "degC"}, "conduction_distance_mm": 25,
    }))  # fmt: skip
    fr = analyze_file(path, channel_map_for(path))
    assert len(fr.stream.stimulus_samples) == 15
    assert list(fr.ramps["kind"]) == ["cold", "heat"]
    sam = fr.units.iloc[0]  # the largest unit is the simulated SAM (80 uV, 12 m/s over 25 mm)
    # latency within 0.1 ms of 2.083 ms -> CV within 5 %
    assert sam["cv_m_s"] == pytest.approx(12.0, rel=0.05)
    assert sam["fibre_class"] == "Abeta"
