"""Check an ABF file's header against the file's real size before pyabf reads it.

pyabf sizes its work from the header: it loops over every entry a section claims, builds a list of
every sweep the header counts and per-sweep epoch tables. A damaged header (a sweep count of a
million in a 40 kB file, a section of two billion entries) makes it run for minutes or exhaust
memory. :func:`check_abf_header` reads the few fields that size that work and refuses, with a
specific :class:`~fmslab.errors.InputError`, a header that claims more than the file holds:

* a section (data, synch array, tags, strings, epochs, ...) that ends past the end of the file,
  or claims entries of no bytes or starts in the header block (pyabf loops over every entry);
* a sweep count larger than the samples per channel (every sweep holds at least one sample), or,
  in episodic stimulation, sweeps times samples per sweep that differ from the data's sample count
  (they are equal in all 46 episodic files of the test data); variable-length sweeps without one
  synch-array entry (start, length) per sweep;
* a channel count outside 1-16 (the ABF format has 16 ADC channels);
* a sample interval that is not a finite number between 0.1 µs and 1 s (10 MHz to 1 Hz);
* a data format other than 16-bit integers or 32-bit floats.

Field offsets are those of the published ABF layouts (Axon's ``ABFHEADR.H``): ABF2's header and
section map (each section: block index, bytes per entry, number of entries), ABF1's fixed header.
The work pyabf does on a file that passes is then bounded by the file's size.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

from fmslab.errors import InputError

BLOCK_BYTES = 512
MAX_ADC_CHANNELS = 16
#: sample interval limits, µs: 10 MHz to 1 Hz, beyond any digitiser's range on either side
MIN_INTERVAL_US, MAX_INTERVAL_US = 0.1, 1e6
#: nOperationMode: 1 event-driven variable-length sweeps, 3 gap-free, 5 episodic stimulation
VARIABLE, GAP_FREE, EPISODIC = 1, 3, 5
#: ABF2 section map: name -> byte offset of its (block index, entry bytes, entry count) triple;
#: the sections pyabf 2.3 reads
ABF2_SECTIONS = {
    "protocol": 76,
    "ADC": 92,
    "DAC": 108,
    "epoch": 124,
    "epoch-per-DAC": 156,
    "user list": 172,
    "strings": 220,
    "data": 236,
    "tag": 252,
    "synch array": 316,
}
ABF2_MAP_END = 364
ABF1_HEADER_BYTES = 2048  # the fields checked here lie in the first 2 kB of ABF1's 6 kB header
DATA_BYTES = {0: 2, 1: 4}  # nDataFormat: 0 int16, 1 float32


def _refuse(path: Path, reason: str) -> InputError:
    return InputError(f"damaged ABF header: {reason}", file=path.name)


def _check_interval(path: Path, interval_us: float, field: str) -> None:
    if not (math.isfinite(interval_us) and MIN_INTERVAL_US <= interval_us <= MAX_INTERVAL_US):
        raise _refuse(
            path,
            f"sample interval {field} = {interval_us!r} µs is not between {MIN_INTERVAL_US:g} "
            f"and {MAX_INTERVAL_US:g} µs (10 MHz to 1 Hz)",
        )


def _check_channels(path: Path, n_channels: int) -> None:
    if not 1 <= n_channels <= MAX_ADC_CHANNELS:
        raise _refuse(path, f"{n_channels} ADC channels (an ABF file has 1 to 16)")


def _check_sweeps(
    path: Path,
    n_sweeps: int,
    n_samples: int,
    n_channels: int,
    op_mode: int,
    samples_per_sweep: int,
    n_synch: int,
) -> None:
    if n_sweeps < 0:
        raise _refuse(path, f"negative sweep count {n_sweeps}")
    if op_mode == VARIABLE and n_synch != n_sweeps:
        # the synch array gives each variable-length sweep's start and length
        raise _refuse(path, f"{n_sweeps} variable-length sweeps but {n_synch} synch-array entries")
    if op_mode == EPISODIC and n_sweeps > 0 and n_sweeps * samples_per_sweep != n_samples:
        # episodic stimulation: fixed-length sweeps, each lNumSamplesPerEpisode samples (all
        # channels); the data section holds exactly the sweeps recorded
        raise _refuse(
            path,
            f"{n_sweeps} sweeps of {samples_per_sweep} samples claimed "
            f"({n_sweeps * samples_per_sweep}), but the data section holds {n_samples} samples",
        )
    per_channel = n_samples // n_channels
    if op_mode != GAP_FREE and n_sweeps > max(per_channel, 1):
        raise _refuse(
            path,
            f"{n_sweeps} sweeps claimed, but the data hold only {per_channel} samples per "
            f"channel ({n_samples} samples, {n_channels} channels)",
        )


def _check_abf2(path: Path, head: bytes, size: int) -> None:
    sections = {}
    short = len(head) < ABF2_MAP_END
    # a file shorter than the section map: the missing bytes claim nothing (pyabf reads them as
    # empty and fails), but the entries it does hold must not size a read (an epoch section of
    # 10^8 entries in a 287-byte file made pyabf allocate gigabytes)
    head = head.ljust(ABF2_MAP_END, b"\0")
    for name, off in ABF2_SECTIONS.items():
        block, entry_bytes, count = struct.unpack_from("<IIi", head, off)
        if count < 0:
            raise _refuse(path, f"{name} section claims {count} entries")
        if count and (entry_bytes == 0 or block == 0):
            raise _refuse(
                path,
                f"{name} section claims {count} entries of {entry_bytes} bytes at block {block} "
                f"(entries of no bytes, or a section inside the header block)",
            )
        end = block * BLOCK_BYTES + entry_bytes * count
        if count and end > size:
            raise _refuse(
                path,
                f"{name} section claims {count} entries of {entry_bytes} bytes from byte "
                f"{block * BLOCK_BYTES}, past the end of the {size}-byte file",
            )
        sections[name] = (block, entry_bytes, count)
    if short:
        return  # too short for the other fields: pyabf refuses it
    data_format = struct.unpack_from("<h", head, 30)[0]
    if data_format not in DATA_BYTES:
        raise _refuse(path, f"data format {data_format} (0 = 16-bit integer, 1 = 32-bit float)")
    _, entry_bytes, n_samples = sections["data"]
    if n_samples and entry_bytes != DATA_BYTES[data_format]:
        raise _refuse(
            path,
            f"data entries of {entry_bytes} bytes for data format {data_format} "
            f"({DATA_BYTES[data_format]} bytes)",
        )
    n_channels = sections["ADC"][2]
    _check_channels(path, n_channels)
    proto = sections["protocol"][0] * BLOCK_BYTES
    if proto + 26 > size:
        raise _refuse(path, "the protocol section lies past the end of the file")
    with open(path, "rb") as fh:
        fh.seek(proto)
        block = fh.read(26)
    op_mode, interval_us = struct.unpack_from("<hf", block, 0)
    samples_per_sweep = struct.unpack_from("<i", block, 22)[0]
    _check_interval(path, interval_us, "fADCSequenceInterval")
    n_sweeps = struct.unpack_from("<I", head, 12)[0]
    n_synch = sections["synch array"][2]
    _check_sweeps(path, n_sweeps, n_samples, n_channels, op_mode, samples_per_sweep, n_synch)
    if op_mode != GAP_FREE and n_synch > max(n_sweeps, 1):
        raise _refuse(path, f"{n_synch} synch-array entries for {n_sweeps} sweeps")


def _check_abf1(path: Path, head: bytes, size: int) -> None:
    op_mode, n_samples = struct.unpack_from("<hi", head, 8)
    n_sweeps = struct.unpack_from("<i", head, 16)[0]
    data_block, tag_block, n_tags = struct.unpack_from("<iii", head, 40)
    synch_block, n_synch = struct.unpack_from("<ii", head, 92)
    data_format = struct.unpack_from("<h", head, 100)[0]
    n_channels = struct.unpack_from("<h", head, 120)[0]
    interval_us = struct.unpack_from("<f", head, 122)[0]
    if data_format not in DATA_BYTES:
        raise _refuse(path, f"data format {data_format} (0 = 16-bit integer, 1 = 32-bit float)")
    _check_channels(path, n_channels)
    _check_interval(path, interval_us, "fADCSampleInterval")
    for name, block, count, entry_bytes in (
        ("data", data_block, n_samples, DATA_BYTES[data_format]),
        ("tag", tag_block, n_tags, 64),
        ("synch array", synch_block, n_synch, 8),
    ):
        if count < 0 or block < 0 or (count and block == 0):
            raise _refuse(path, f"{name} section claims {count} entries at block {block}")
        if count and block * BLOCK_BYTES + entry_bytes * count > size:
            raise _refuse(
                path,
                f"{name} section claims {count} entries of {entry_bytes} bytes from byte "
                f"{block * BLOCK_BYTES}, past the end of the {size}-byte file",
            )
    samples_per_sweep = struct.unpack_from("<i", head, 138)[0]
    _check_sweeps(path, n_sweeps, n_samples, n_channels, op_mode, samples_per_sweep, n_synch)
    if op_mode != GAP_FREE and n_synch > max(n_sweeps, 1):
        raise _refuse(path, f"{n_synch} synch-array entries for {n_sweeps} sweeps")


def check_abf_header(path: str | Path) -> None:
    """Refuse an ABF file whose header claims more than the file holds.

    Parameters
    ----------
    path
        An existing regular file (see :func:`fmslab.ephys.io.check_recording_path`).

    Raises
    ------
    InputError
        A header field out of range or pointing past the end of the file; the message names the
        field, its value and the file's size. A file without an ABF signature, or too short for
        the fields after ABF2's section map or for ABF1's header, is left to pyabf, which refuses
        it (once the section entries it holds are checked, nothing in it sizes a long read).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(ABF1_HEADER_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=p.name) from exc
    if head[:4] == b"ABF2":
        _check_abf2(p, head, size)
    elif head[:4] == b"ABF " and len(head) >= ABF1_HEADER_BYTES:
        _check_abf1(p, head, size)
