"""ABF headers that claim more than the file holds are refused before pyabf sizes its work by them.

Regression for the fuzzer's hang: a mutated ABF whose sweep count read 2**20 kept the reader busy
for more than a minute (pyabf builds a list and an epoch table for every claimed sweep). The
mutations here rewrite one header field of a real file (offsets from Axon's ``ABFHEADR.H``); each
must be refused with a message naming the field's value. The real files must all pass the check,
and the two code paths rewritten to stay linear in the sweep count (ABF1 epoch tables,
variable-length sweeps) must give exactly what pyabf's ``setSweep`` gives.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from fmslab.ephys.abf_header import check_abf_header
from fmslab.ephys.io import CURRENT_UNITS_TO_PA, AbfReader, _norm_units, open_recording
from fmslab.errors import InputError

ABF2_FILE = "17o05027_ic_ramp.abf"  # 2 sweeps x 20000 samples, 1 channel, 87552 bytes
ABF1_FILE = "File_axon_3.abf"  # ABF1: 5 sweeps x 41288 samples (2 channels)


def _protocol(b: bytes) -> int:
    return struct.unpack_from("<I", b, 76)[0] * 512


#: (file, field, byte offset (or a function of the header), struct format, value, message)
MUTATIONS = [
    # the fuzzer's hang: a sweep count of 2**20 in an 87 kB file
    (ABF2_FILE, "lActualEpisodes", 12, "<I", 2**20, "1048576 sweeps of 20000 samples claimed"),
    (ABF2_FILE, "lActualEpisodes", 12, "<I", 3, "but the data section holds 40000 samples"),
    (ABF2_FILE, "data entries", 244, "<i", 2**31 - 1, "data section claims 2147483647 entries"),
    (ABF2_FILE, "data entries", 244, "<i", -1, "data section claims -1 entries"),
    (ABF2_FILE, "data block", 236, "<I", 10_000, "past the end of the 87552-byte file"),
    (ABF2_FILE, "ADC entries", 100, "<i", 0, "0 ADC channels"),
    (ABF2_FILE, "synch entries", 324, "<i", 2**20, "synch array section claims 1048576"),
    (ABF2_FILE, "tag entries", 260, "<i", 2**30, "tag section claims 1073741824 entries"),
    (ABF2_FILE, "strings entries", 228, "<i", 2**24, "strings section claims 16777216"),
    (ABF2_FILE, "sample interval", lambda b: _protocol(b) + 2, "<f", 0.0, "sample interval"),
    (ABF2_FILE, "sample interval", lambda b: _protocol(b) + 2, "<f", float("nan"), "nan µs"),
    (ABF2_FILE, "data format", 30, "<h", 7, "data format 7"),
    (ABF1_FILE, "lActualEpisodes", 16, "<i", 65535, "65535 sweeps of 41288 samples"),
    (ABF1_FILE, "lActualEpisodes", 16, "<i", -5, "negative sweep count -5"),
    (ABF1_FILE, "lActualAcqLength", 10, "<i", 2**31 - 1, "data section claims 2147483647"),
    (ABF1_FILE, "nADCNumChannels", 120, "<h", 300, "300 ADC channels"),
    (ABF1_FILE, "fADCSampleInterval", 122, "<f", float("inf"), "inf µs"),
    (ABF1_FILE, "lNumTagEntries", 48, "<i", 2**28, "tag section claims 268435456 entries"),
]


@pytest.mark.parametrize(
    "name, field, offset, fmt, value, message",
    MUTATIONS,
    ids=[f"{m[0].split('.')[0]}-{m[1]}={m[4]}" for m in MUTATIONS],
)
def test_a_header_claiming_more_than_the_file_is_refused(
    abf_dir, tmp_path, name, field, offset, fmt, value, message
):
    raw = bytearray((abf_dir / name).read_bytes())
    struct.pack_into(fmt, raw, offset(raw) if callable(offset) else offset, value)
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="damaged ABF header") as err:
        open_recording(path)
    assert message in str(err.value)
    assert str(err.value).startswith(name)


def test_the_fuzzers_287_byte_abf_is_refused_before_pyabf_allocates():
    """libFuzzer's out-of-memory input (tests/data/fuzz): shorter than ABF2's section map, with an
    epoch section of 100663346 entries that made pyabf allocate more than 3 GB."""
    path = Path(__file__).parent / "data" / "fuzz" / "abf_epoch_section_oom.abf"
    assert path.stat().st_size == 287
    with pytest.raises(InputError, match="epoch section claims 100663346 entries"):
        open_recording(path)


def test_every_real_abf_passes_the_header_check(abf_dir, test_data):
    files = sorted(abf_dir.glob("*.abf")) + sorted(test_data("ephys/abf_more").glob("*.abf"))
    assert len(files) >= 50
    for p in files:
        check_abf_header(p)  # raises on a refusal: none of the 51 real files is damaged


def _pyabf(path: Path):
    import pyabf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyabf.ABF(str(path))


def test_abf1_epoch_table_built_once_matches_setsweep(abf_dir):
    """The ABF1 epochs of every sweep equal those of pyabf's ``setSweep`` (which rebuilds the
    table of all sweeps for each sweep)."""
    path = abf_dir / ABF1_FILE
    reader = AbfReader(path)
    assert reader.is_abf1 and reader.dac is not None and reader.n_sweeps == 5
    scale = CURRENT_UNITS_TO_PA[_norm_units(reader.dac_units[0])]
    ref = _pyabf(path)
    for s in range(reader.n_sweeps):
        ref.setSweep(s, channel=0)
        ep = ref.sweepEpochs
        got, holding = reader._epochs_abf1(s)
        expected = [
            (int(a), int(b), float(lv) * scale)
            for a, b, lv in zip(ep.p1s[1:], ep.p2s[1:], ep.levels[1:], strict=True)
            if b > a
        ]
        assert expected and [g[:3] for g in got] == expected
        assert holding == float(ep.levels[0]) * scale


def test_variable_length_sweeps_match_setsweep(abf_dir):
    """Variable-length sweeps sliced from the synch array equal pyabf's ``setSweep`` sweeps."""
    path = abf_dir / "2020_06_16_0000.abf"  # event-driven: 3 sweeps of different lengths
    reader = object.__new__(AbfReader)  # the file is voltage clamp: bypass the Vm gate
    reader._abf = _pyabf(path)
    reader.variable_length = True
    lengths = reader._variable_lengths()
    assert lengths is not None and len(set(lengths.tolist())) == 3
    ref = _pyabf(path)
    for s in range(3):
        ref.setSweep(s, channel=0)
        assert np.array_equal(reader._raw(s, 0), np.asarray(ref.sweepY, dtype=np.float64))
