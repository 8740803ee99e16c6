"""Write multi-channel episodic ABF1 files with an epoch table, readable by pyabf.

pyabf ships a writer, ``pyabf.abfWriter.writeABF1(sweepData, filename, sampleRateHz, units)``,
but it writes one channel, no command channel and no epoch table; its four header blocks end
before the ABF1 "extended" header fields (epochs at byte 2308), so those are read from the data
section; and it packs every sample in a Python loop. This writer writes the ABF1 file format's
header fields at their documented byte offsets (the ones pyabf's ABF1 reader reads) and adds: several ADC channels
(interleaved samples), per-channel units, names and scaling, a DAC epoch table (so
``abf.sweepC`` reconstructs the command), the recording date and a 6144-byte header (the ABF 1.8
header size) so that the extended fields are real, and a synch array (sweep starts and
lengths) after the data, which neo's AxonIO needs to split sweeps.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from fmslab.atomic import write_bytes

BLOCK_BYTES = 512
HEADER_BLOCKS = 12  # 6144 bytes: covers every field pyabf reads from an ABF1 header
ADC_RESOLUTION = 32768
ADC_RANGE_V = 10.0
EPOCH_STEP = 1  # nEpochType: 0 off, 1 step, 2 ramp


@dataclass(frozen=True)
class Epoch:
    """One row of the DAC epoch table (levels in the DAC's units, durations in samples)."""

    level: float
    duration_samples: int
    level_inc: float = 0.0
    duration_inc_samples: int = 0
    kind: int = EPOCH_STEP


def _pad(text: str, size: int) -> bytes:
    raw = text.encode("ascii", "replace")[:size]
    return raw + b" " * (size - len(raw))


def encode_abf1(
    data: np.ndarray,
    sample_rate_hz: float,
    *,
    units: list[str],
    names: list[str],
    lsb: list[float],
    dac_units: str = "pA",
    dac_name: str = "Cmd 0",
    epochs: list[Epoch] | None = None,
    start: datetime | None = None,
    comment: str = "",
) -> bytes:
    """Bytes of an ABF1 file.

    Parameters
    ----------
    data
        Shape ``(n_sweeps, n_channels, n_samples)`` in the channels' units.
    sample_rate_hz
        Per-channel sampling rate.
    units, names
        Per-channel ADC units (e.g. ``"mV"``) and names (<= 10 characters).
    lsb
        Per-channel resolution (value of one ADC step). Values are rounded to it; the range is
        +/- 32767 * lsb and values outside raise ``ValueError``.
    epochs
        DAC 0 epoch table (at most 10). The first ``n_samples // 64`` samples of each sweep are the
        holding level (Clampex/pyabf convention); ABF1 stores no separate holding level, so pyabf
        takes epoch A's level as the holding level: make epoch A start at the holding level.
    """
    data = np.asarray(data, dtype=float)
    n_sweeps, n_channels, n_samples = data.shape
    if not (len(units) == len(names) == len(lsb) == n_channels):
        raise ValueError("units, names and lsb need one entry per channel")
    epochs = epochs or []
    if len(epochs) > 10:
        raise ValueError("ABF1 holds at most 10 epochs per DAC")
    counts = np.rint(data / np.asarray(lsb, float)[None, :, None])
    if np.abs(counts).max(initial=0) > 32767:
        raise ValueError("data exceed the ADC range; use a larger lsb")
    interleaved = counts.astype("<i2").transpose(0, 2, 1).reshape(-1)  # sweep, sample, channel
    header = bytearray(HEADER_BLOCKS * BLOCK_BYTES)
    pack = struct.pack_into
    pack("<4s", header, 0, b"ABF ")
    pack("<f", header, 4, 1.3)  # fFileVersionNumber (no user-list section, as pyabf's writer)
    pack("<h", header, 8, 5)  # nOperationMode: episodic stimulation
    pack("<i", header, 10, interleaved.size)  # lActualAcqLength (all channels)
    pack("<i", header, 16, n_sweeps)  # lActualEpisodes
    if start is not None:
        pack("<i", header, 20, int(start.strftime("%Y%m%d")))
        pack("<i", header, 24, start.hour * 3600 + start.minute * 60 + start.second)
    pack("<i", header, 40, HEADER_BLOCKS)  # lDataSectionPtr
    pack("<h", header, 100, 0)  # nDataFormat: int16
    pack("<h", header, 120, n_channels)
    pack("<f", header, 122, 1e6 / (sample_rate_hz * n_channels))  # fADCSampleInterval (us)
    pack("<i", header, 138, n_samples * n_channels)  # lNumSamplesPerEpisode
    pack("<i", header, 146, 1)  # lEpisodesPerRun
    pack("<f", header, 244, ADC_RANGE_V)
    pack("<f", header, 248, ADC_RANGE_V)  # fDACRange
    pack("<i", header, 252, ADC_RESOLUTION)
    pack("<i", header, 256, ADC_RESOLUTION)  # lDACResolution
    pack("<16s", header, 294, _pad("fmslab demo", 16))
    for ch in range(16):
        pack("<h", header, 378 + 2 * ch, ch)  # nADCPtoLChannelMap
        pack("<h", header, 410 + 2 * ch, ch if ch < n_channels else -1)  # nADCSamplingSeq
        pack("<f", header, 730 + 4 * ch, 1.0)  # fADCProgrammableGain
        pack("<f", header, 1050 + 4 * ch, 1.0)  # fSignalGain
        pack("<f", header, 922 + 4 * ch, 1.0)  # fInstrumentScaleFactor (overwritten below)
    for ch in range(n_channels):
        pack("<10s", header, 442 + 10 * ch, _pad(names[ch], 10))
        pack("<8s", header, 602 + 8 * ch, _pad(units[ch], 8))
        # pyabf: value = int16 * ADCRange / (resolution * scale)  ->  scale = range / (res * lsb)
        pack("<f", header, 922 + 4 * ch, ADC_RANGE_V / (ADC_RESOLUTION * lsb[ch]))
    pack("<10s", header, 1306, _pad(dac_name, 10))
    pack("<8s", header, 1346, _pad(dac_units, 8))
    for d in range(4):
        pack("<f", header, 2074 + 4 * d, 1.0)  # fDACCalibrationFactor
    if epochs:
        pack("<h", header, 2296, 1)  # nWaveformEnable[0]
        pack("<h", header, 2300, 1)  # nWaveformSource[0]: epoch table
        pack("<h", header, 2304, 1)  # nInterEpisodeLevel[0]: return to holding after the epochs
        for i, ep in enumerate(epochs):
            pack("<h", header, 2308 + 2 * i, ep.kind)
            pack("<f", header, 2348 + 4 * i, ep.level)
            pack("<f", header, 2428 + 4 * i, ep.level_inc)
            pack("<i", header, 2508 + 4 * i, ep.duration_samples)
            pack("<i", header, 2588 + 4 * i, ep.duration_inc_samples)
    pack("<128s", header, 5154, _pad(comment, 128))
    pad = (-interleaved.nbytes) % BLOCK_BYTES
    # synch array (one (start, length) int32 pair per sweep, start in samples, length over all
    # channels), after the data: neo's AxonIO splits episodes with it, Clampfit writes it too
    synch_block = HEADER_BLOCKS + (interleaved.nbytes + pad) // BLOCK_BYTES
    pack("<i", header, 92, synch_block)  # lSynchArrayPtr
    pack("<i", header, 96, n_sweeps)  # lSynchArraySize
    synch = np.empty((n_sweeps, 2), "<i4")
    synch[:, 0] = np.arange(n_sweeps) * n_samples
    synch[:, 1] = n_samples * n_channels
    synch_pad = (-synch.nbytes) % BLOCK_BYTES
    return b"".join(
        [bytes(header), interleaved.tobytes(), b"\0" * pad, synch.tobytes(), b"\0" * synch_pad]
    )


def write_abf1(path: str | Path, data: np.ndarray, sample_rate_hz: float, **kwargs) -> Path:
    """Write :func:`encode_abf1` output atomically to ``path``."""
    return write_bytes(path, encode_abf1(data, sample_rate_hz, **kwargs))
