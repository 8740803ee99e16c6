"""Damaged files of the formats read through neo: read or refused naming the file, never a traceback.

Property tests (hypothesis) over real files of ``../shared/data/ephys/formats``: a Spike2 file
(through both readers that take Spike2: ephys, whole segments, and skin-nerve, chunked) and
WinWCP, AxoGraph and Igor files (ephys), truncated and with bytes overwritten. A short
coverage-guided run of the same targets (``benchmarks/fuzz_readers.py``: ``spike2``, ``neo``)
must find no unexpected exception and no hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from fmslab.errors import InputError

FEW = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
NEO_FILES = ("test_002.wcp", "AxoGraph_X_File.axgx", "B6_Ch3_IDRest_181.ibw")


def _damage(raw: bytes, cut: float, flips: list[tuple[float, int]], span: int) -> bytes:
    """``raw`` cut to a fraction ``cut`` (kept whole above 0.99) with bytes overwritten in its
    first ``span`` bytes (headers and channel tables, where a damaged field sizes the reading)."""
    out = bytearray(raw if cut >= 0.99 else raw[: int(len(raw) * cut)])
    for pos, byte in flips:
        if out:
            out[int(pos * (min(len(out), span) - 1))] = byte
    return bytes(out)


damage = {
    "cut": st.one_of(st.just(1.0), st.floats(0.0, 1.0)),
    "flips": st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6),
}


@FEW
@given(**damage)
def test_damaged_spike2_file_is_read_or_refused_by_both_readers(test_data, cut, flips):
    from fmslab.ephys.io import open_recording
    from fmslab.skinnerve.io import open_reader

    raw = test_data("ephys/formats/biomech0deg.smr").read_bytes()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "rec.smr"
        path.write_bytes(_damage(raw, cut, flips, span=8192))
        try:
            rec = open_recording(path)
            for s in range(min(rec.n_sweeps, 3)):
                rec.sweep(s)
        except InputError as exc:
            assert "rec.smr" in str(exc)
        try:
            reader = open_reader(path)
            for k, _ in enumerate(reader.iter_chunks(reader.names, 20_000)):
                if k >= 1:
                    break
        except InputError as exc:
            assert "rec.smr" in str(exc)


@FEW
@given(name=st.sampled_from(NEO_FILES), **damage)
def test_damaged_neo_format_file_is_read_or_refused(test_data, name, cut, flips):
    from fmslab.ephys.io import open_recording

    raw = test_data(f"ephys/formats/{name}").read_bytes()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / f"rec{Path(name).suffix}"
        path.write_bytes(_damage(raw, cut, flips, span=len(raw)))
        try:
            rec = open_recording(path)
            for s in range(min(rec.n_sweeps, 3)):
                rec.sweep(s)
        except InputError as exc:
            assert path.name in str(exc)


def test_atheris_short_run_over_neo_formats(tmp_path):
    """A bounded atheris run of the ``neo`` and ``spike2`` targets (seeded with the real files)."""
    pytest.importorskip("atheris")
    data = REPO.parent / "shared" / "data" / "ephys" / "formats"
    if not (data / "biomech0deg.smr").is_file():
        pytest.skip("the fuzz seeds come from ../shared/data/ephys/formats beside the checkout")
    summary = tmp_path / "summary.json"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "fuzz_readers.py"), "--runs", "60",
         "--targets", "neo,spike2", "--summary", str(summary)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(summary.read_text())
    for target in ("neo", "spike2"):
        counts = result[target]
        assert counts["runs"] >= 60, target
        assert counts["unexpected"] == {}, (target, counts["unexpected"])
        assert counts["read"] + counts["refused"] == counts["runs"], target


def test_the_fuzzers_slow_igor_wave_is_refused_from_its_header():
    """libFuzzer's timeout input (tests/data/fuzz): a real Igor wave with one byte flipped so that
    its units string claims 16777216 bytes; igor2 spent seconds (growing with the claim) on it."""
    from fmslab.ephys.io import open_recording

    path = Path(__file__).parent / "data" / "fuzz" / "ibw_units_size_slow.ibw"
    with pytest.raises(InputError, match="dataEUnitsSize = 16777216") as err:
        open_recording(path)
    assert "more than the 48877-byte file" in str(err.value)


def test_real_igor_waves_pass_the_header_check(test_data):
    from fmslab.ephys.ibw_header import check_ibw_header

    waves = sorted(test_data("ephys/formats").glob("*.ibw"))
    assert len(waves) == 4
    for p in waves:
        check_ibw_header(p)


@pytest.mark.parametrize("wave_type", [0x00, 0x11, 0x12], ids=["text", "complex-int16", "weird"])
def test_an_igor_wave_of_text_or_complex_values_is_refused(test_data, tmp_path, wave_type):
    """The neo fuzz target's ValueError/TypeError: the wave header's type field (WaveHeader5, byte
    80 of the file) rewritten to a text or complex type; fmslab converted the values to float."""
    import struct

    from fmslab.ephys.io import open_recording

    raw = bytearray(test_data("ephys/formats/B6_Ch3_IDRest_181.ibw").read_bytes())
    assert struct.unpack_from(">h", raw, 80)[0] == 2  # NT_FP32: the real wave is 32-bit floats
    struct.pack_into(">h", raw, 80, wave_type)
    path = tmp_path / "wave.ibw"
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="not real numbers") as err:
        open_recording(path)
    assert str(err.value).startswith("wave.ibw, sweep 0: channel")
