"""Reading skin-nerve recordings in chunks: Spike2 (.smr/.smrx, neo), ABF (pyabf), NWB, CSV.

Every reader yields consecutive blocks of samples (``iter_chunks``) so that a 30-minute recording is
never held in memory whole. :func:`open_recording` binds a reader to a :class:`ChannelMap`: it finds
each role's channel, checks the sampling rate and converts values to canonical units.

Episodic ABF files (several sweeps) are read as one trace with the sweeps end to end
(``segment_starts`` gives the first sample of each sweep); inter-sweep gaps are not represented.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmslab.errors import InputError
from fmslab.skinnerve.channels import (
    CANONICAL_UNIT,
    ChannelMap,
    guess_roles,
    unit_factor,
    unit_from_name,
)

log = logging.getLogger(__name__)

SUFFIXES = {".smr": "spike2", ".smrx": "spike2x", ".abf": "abf", ".csv": "csv", ".nwb": "nwb"}


class Reader:
    """A recording file: channel names, units, sampling rate and chunked access."""

    path: Path
    fs_hz: float
    n_samples: int | None
    names: list[str]
    units: list[str]
    segment_starts: np.ndarray
    #: channel numbers as the acquisition program shows them (Spike2: its channel number, 1-based;
    #: other formats: 1-based position among the analog channels)
    numbers: list[int]

    def event_names(self) -> dict[int, str]:
        """Event/marker channels: number -> name (empty when the format has none)."""
        return {}

    def iter_chunks(
        self, names: list[str], chunk_samples: int
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        raise NotImplementedError

    def event_times(self, name: str) -> np.ndarray | None:
        """Times (s) of an event/marker channel, or None when ``name`` is not one."""
        return None


class AbfReader(Reader):
    """ABF1/ABF2 through pyabf's header; the data section is read chunk by chunk (not loaded)."""

    def __init__(self, path: str | Path) -> None:
        import pyabf

        self.path = Path(path)
        try:
            abf = pyabf.ABF(str(self.path), loadData=False)
        except Exception as exc:  # noqa: BLE001 - pyabf raises bare exceptions on bad files
            raise InputError(f"not a readable ABF file ({exc})", file=self.path) from None
        self.fs_hz = float(abf.dataRate)
        self.names = list(abf.adcNames)
        self.units = list(abf.adcUnits)
        self.numbers = list(range(1, len(self.names) + 1))
        n_ch = abf.channelCount
        dtype = np.int16 if abf._nDataFormat == 0 else np.float32
        self.n_samples = int(abf.dataPointCount // n_ch)
        self._dtype = np.dtype(dtype)
        self._n_ch = n_ch
        self._offset_bytes = int(abf.dataByteStart)
        self._gain = np.asarray(abf._dataGain, dtype=np.float64)
        self._offset = np.asarray(abf._dataOffset, dtype=np.float64)
        self._is_int = dtype == np.int16
        self.segment_starts = np.arange(abf.sweepCount, dtype=np.int64) * int(abf.sweepPointCount)

    def iter_chunks(self, names, chunk_samples):
        idx = [self.names.index(n) for n in names]
        row_bytes = self._dtype.itemsize * self._n_ch
        with open(self.path, "rb") as fh:
            for start in range(0, self.n_samples, chunk_samples):
                stop = min(start + chunk_samples, self.n_samples)
                # read just this chunk (interleaved channels), so memory stays one chunk
                fh.seek(self._offset_bytes + start * row_bytes)
                raw = np.fromfile(fh, dtype=self._dtype, count=(stop - start) * self._n_ch)
                if raw.size < (stop - start) * self._n_ch:
                    raise InputError(
                        f"data section ends early (sample {start + raw.size // self._n_ch})",
                        file=self.path,
                    )
                block = raw.reshape(stop - start, self._n_ch)[:, idx].astype(np.float64)
                out = {}
                for j, (n, i) in enumerate(zip(names, idx, strict=True)):
                    col = block[:, j]
                    out[n] = col * self._gain[i] + self._offset[i] if self._is_int else col
                yield start, out


class NeoReader(Reader):
    """Any neo RawIO (Spike2RawIO for .smr), block 0, its segments end to end.

    Channels sampled at another rate than the fastest stream are linearly interpolated onto its
    sample times, chunk by chunk. Event channels (Spike2 markers) are available by name.
    """

    def __init__(self, path: str | Path, rawio_class: type | None = None) -> None:
        self.path = Path(path)
        if rawio_class is None:
            from neo.rawio import Spike2RawIO

            rawio_class = Spike2RawIO
        try:
            raw = rawio_class(filename=str(self.path))
            raw.parse_header()
        except Exception as exc:  # noqa: BLE001 - neo raises many types on bad files
            raise InputError(
                f"neo cannot read this file ({type(exc).__name__}: {exc})", file=self.path
            ) from None
        self._raw = raw
        sig = raw.header["signal_channels"]
        streams = raw.header["signal_streams"]
        if len(sig) == 0:
            raise InputError("the file has no analog channels", file=self.path)
        self.names = [str(n) for n in sig["name"]]
        self.units = [str(u) for u in sig["units"]]
        self.numbers = [_channel_number(i, k) for k, i in enumerate(sig["id"])]
        stream_ids = [str(s) for s in streams["id"]]
        self._chan = {}  # name -> (stream_index, channel index within stream, fs)
        for k, ch in enumerate(sig):
            sid = str(ch["stream_id"])
            within = [i for i, c in enumerate(sig) if str(c["stream_id"]) == sid]
            self._chan[self.names[k]] = (
                stream_ids.index(sid),
                within.index(k),
                float(ch["sampling_rate"]),
            )
        fastest = max(self._chan.values(), key=lambda v: v[2])
        self._main = fastest[0]
        self.fs_hz = fastest[2]
        self._n_seg = raw.segment_count(0)
        self._sizes = [int(raw.get_signal_size(0, s, self._main)) for s in range(self._n_seg)]
        self.segment_starts = np.concatenate([[0], np.cumsum(self._sizes)[:-1]]).astype(np.int64)
        self.n_samples = int(sum(self._sizes))
        ev = raw.header["event_channels"]
        self._events = {str(n): i for i, n in enumerate(ev["name"])} if len(ev) else {}
        self._event_numbers = (
            {
                _channel_number(c, k): str(n)
                for k, (n, c) in enumerate(zip(ev["name"], ev["id"], strict=True))
            }
            if len(ev)
            else {}
        )

    def event_names(self):
        return dict(self._event_numbers)

    def _read(self, seg: int, name: str, i0: int, i1: int) -> np.ndarray:
        s_idx, c_idx, _fs = self._chan[name]
        raw = self._raw.get_analogsignal_chunk(
            0, seg, i0, i1, stream_index=s_idx, channel_indexes=[c_idx]
        )
        return self._raw.rescale_signal_raw_to_float(
            raw, dtype="float64", stream_index=s_idx, channel_indexes=[c_idx]
        )[:, 0]

    def iter_chunks(self, names, chunk_samples):
        for seg in range(self._n_seg):
            t0_main = float(self._raw.get_signal_t_start(0, seg, self._main))
            offset = int(self.segment_starts[seg])
            for start in range(0, self._sizes[seg], chunk_samples):
                stop = min(start + chunk_samples, self._sizes[seg])
                out = {}
                for n in names:
                    s_idx, _c, fs = self._chan[n]
                    if s_idx == self._main:
                        out[n] = self._read(seg, n, start, stop)
                        continue
                    # another rate: read the covering samples, interpolate onto the main time base
                    t = t0_main + np.arange(start, stop) / self.fs_hz
                    t0 = float(self._raw.get_signal_t_start(0, seg, s_idx))
                    size = int(self._raw.get_signal_size(0, seg, s_idx))
                    j0 = max(0, int(np.floor((t[0] - t0) * fs)) - 1)
                    j1 = min(size, int(np.ceil((t[-1] - t0) * fs)) + 2)
                    y = self._read(seg, n, j0, j1)
                    out[n] = np.interp(t, t0 + np.arange(j0, j1) / fs, y)
                yield offset + start, out

    def event_times(self, name):
        if name not in self._events:
            return None
        i = self._events[name]
        times = []
        for seg in range(self._n_seg):
            ts, _dur, _labels = self._raw.get_event_timestamps(0, seg, i, None, None)
            t = self._raw.rescale_event_timestamp(ts, dtype="float64", event_channel_index=i)
            t0 = float(self._raw.get_signal_t_start(0, seg, self._main))
            times.append(np.asarray(t) - t0 + self.segment_starts[seg] / self.fs_hz)
        return np.concatenate(times) if times else np.array([])


def _channel_number(channel_id: object, position: int) -> int:
    """1-based channel number from neo's 0-based channel id (Spike2 numbers channels from 1)."""
    try:
        return int(str(channel_id)) + 1
    except ValueError:
        return position + 1


class NwbReader(Reader):
    """NWB 2 (pynwb): every ``ElectricalSeries`` column and other regularly sampled ``TimeSeries``
    of ``acquisition`` is a channel; ``AnnotationSeries`` and ``TimeIntervals`` are event channels.

    Values are ``data * conversion + offset`` in the series' ``unit`` (NWB stores volts for
    ``ElectricalSeries``). Channels at another rate than the fastest are interpolated onto its time
    base, chunk by chunk. An ``ElectricalSeries`` column is named ``SERIES`` (one column) or
    ``SERIES[i]``.
    """

    def __init__(self, path: str | Path) -> None:
        import pynwb

        self.path = Path(path)
        try:
            self._io = pynwb.NWBHDF5IO(str(self.path), "r", load_namespaces=True)
            nwb = self._io.read()
        except Exception as exc:  # noqa: BLE001 - h5py/hdmf raise many types
            raise InputError(
                f"not a readable NWB file ({type(exc).__name__}: {exc})", file=path
            ) from None
        self._cols: dict[str, tuple[Any, int | None, float, float, float, float]] = {}
        self.names, self.units = [], []
        self._events: dict[str, np.ndarray] = {}
        for name, obj in sorted(nwb.acquisition.items()):
            kind = type(obj).__name__
            if kind == "AnnotationSeries":
                self._events[name] = np.asarray(obj.timestamps[:], dtype=np.float64)
                continue
            if not isinstance(obj, pynwb.TimeSeries) or obj.data is None:
                continue
            rate = obj.rate
            t0 = float(obj.starting_time or 0.0)
            if rate is None and obj.timestamps is not None and len(obj.timestamps) > 2:
                ts = np.asarray(obj.timestamps[: min(len(obj.timestamps), 100_000)])
                d = np.diff(ts)
                if np.ptp(d) > 1e-3 * np.median(d):
                    raise InputError(
                        f"TimeSeries '{name}' is not uniformly sampled", file=path, column=name
                    )
                rate, t0 = 1.0 / float(np.median(d)), float(ts[0])
            if rate is None:
                continue
            conv, off = float(obj.conversion), float(getattr(obj, "offset", 0.0) or 0.0)
            shape = obj.data.shape
            ncol = 1 if len(shape) == 1 else int(shape[1])
            for j in range(ncol):
                label = name if ncol == 1 else f"{name}[{j}]"
                self._cols[label] = (obj.data, None if len(shape) == 1 else j, rate, t0, conv, off)
                self.names.append(label)
                self.units.append(str(obj.unit))
        if nwb.intervals:
            for name, table in nwb.intervals.items():
                self._events[name] = np.asarray(table["start_time"][:], dtype=np.float64)
        if not self.names:
            raise InputError("the NWB file has no regularly sampled acquisition series", file=path)
        self.numbers = list(range(1, len(self.names) + 1))
        self._main = max(self.names, key=lambda n: self._cols[n][2])
        data, _j, rate, t0, _c, _o = self._cols[self._main]
        self.fs_hz = float(rate)
        self._t0 = t0
        self.n_samples = int(data.shape[0])
        self.segment_starts = np.array([0], dtype=np.int64)

    def _read(self, name: str, i0: int, i1: int) -> np.ndarray:
        data, j, _r, _t0, conv, off = self._cols[name]
        x = data[i0:i1] if j is None else data[i0:i1, j]
        return np.asarray(x, dtype=np.float64) * conv + off

    def iter_chunks(self, names, chunk_samples):
        for start in range(0, self.n_samples, chunk_samples):
            stop = min(start + chunk_samples, self.n_samples)
            out = {}
            for n in names:
                data, _j, rate, t0, _c, _o = self._cols[n]
                if n == self._main or (rate == self.fs_hz and t0 == self._t0):
                    out[n] = self._read(n, start, stop)
                    continue
                t = self._t0 + np.arange(start, stop) / self.fs_hz
                j0 = max(0, int(np.floor((t[0] - t0) * rate)) - 1)
                j1 = min(int(data.shape[0]), int(np.ceil((t[-1] - t0) * rate)) + 2)
                out[n] = np.interp(t, t0 + np.arange(j0, j1) / rate, self._read(n, j0, j1))
            yield start, out

    def event_names(self):
        return {i + 1: n for i, n in enumerate(sorted(self._events))}

    def event_times(self, name):
        if name not in self._events:
            return None
        return self._events[name] - self._t0


class CsvReader(Reader):
    """CSV: a header row, first column ``time_s``, one column per channel; read in row chunks."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            head = pd.read_csv(self.path, nrows=2000)
        except FileNotFoundError:
            raise InputError("file not found", file=self.path) from None
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"not a readable CSV file ({exc})", file=self.path) from None
        cols = [str(c) for c in head.columns]
        if not cols or cols[0] != "time_s":
            raise InputError(
                f"the first column must be 'time_s' (found {cols[:1]})", file=self.path, row=1
            )
        if len(head) < 3:
            raise InputError("fewer than 3 samples", file=self.path)
        t_num = pd.to_numeric(head["time_s"], errors="coerce")
        if t_num.isna().any():
            row = int(np.flatnonzero(t_num.isna().to_numpy())[0]) + 2
            raise InputError(
                f"time_s '{head['time_s'].iloc[row - 2]}' is not a number",
                file=self.path,
                row=row,
                column="time_s",
            )
        t = t_num.to_numpy(dtype=float)
        dt = float(np.median(np.diff(t)))
        if not dt > 0:
            raise InputError("time_s does not increase", file=self.path, column="time_s")
        self.fs_hz = 1.0 / dt
        self._dt = dt
        self._t0 = float(t[0])
        self.names = cols[1:]
        self.numbers = list(range(1, len(self.names) + 1))
        self.units = [unit_from_name(n) or "" for n in self.names]
        self.n_samples = None
        self.segment_starts = np.array([0], dtype=np.int64)

    def iter_chunks(self, names, chunk_samples):
        start = 0
        reader = pd.read_csv(
            self.path, usecols=["time_s", *names], chunksize=chunk_samples, dtype=np.float64
        )
        try:
            for df in reader:
                t = df["time_s"].to_numpy()
                expected = self._t0 + (start + np.arange(len(t))) * self._dt
                bad = np.flatnonzero(np.abs(t - expected) > 0.25 * self._dt)
                if bad.size:
                    row = start + int(bad[0]) + 2  # 1-based, after the header
                    raise InputError(
                        f"time_s is not uniformly sampled at {self.fs_hz:g} Hz "
                        f"(expected {expected[bad[0]]:.6f} s, found {t[bad[0]]:.6f} s)",
                        file=self.path,
                        row=row,
                        column="time_s",
                    )
                out = {n: df[n].to_numpy() for n in names}
                for n, v in out.items():
                    if np.isnan(v).any():
                        row = start + int(np.flatnonzero(np.isnan(v))[0]) + 2
                        raise InputError(
                            "missing or non-numeric value", file=self.path, row=row, column=n
                        )
                yield start, out
                start += len(t)
        except ValueError as exc:
            raise InputError(f"non-numeric data ({exc})", file=self.path) from None


class MemoryReader(Reader):
    """Arrays already in memory, served in chunks (simulations, tests, benchmarks)."""

    def __init__(
        self,
        data: dict[str, np.ndarray],
        fs_hz: float,
        units: dict[str, str] | None = None,
        path: str | Path = "<memory>",
    ) -> None:
        self.path = Path(path)
        self._data = data
        self.fs_hz = float(fs_hz)
        self.names = list(data)
        self.numbers = list(range(1, len(self.names) + 1))
        self.units = [(units or {}).get(n) or unit_from_name(n) or "" for n in self.names]
        self.n_samples = int(len(next(iter(data.values()))))
        self.segment_starts = np.array([0], dtype=np.int64)

    def iter_chunks(self, names, chunk_samples):
        for start in range(0, self.n_samples, chunk_samples):
            yield (
                start,
                {
                    n: np.asarray(self._data[n][start : start + chunk_samples], dtype=np.float64)
                    for n in names
                },
            )


def open_reader(path: str | Path) -> Reader:
    """The reader for a file, chosen by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind == "abf":
        return AbfReader(path)
    if kind == "spike2":
        return NeoReader(path)
    if kind == "spike2x":
        # Spike2 9+ (64-bit SON): neo reads it only through CED's sonpy, which CED publishes for
        # Windows alone; the 32-bit .smr reader cannot parse it
        try:
            import sonpy  # noqa: F401
            from neo.rawio import CedRawIO
        except ImportError:
            raise InputError(
                "Spike2 .smrx (64-bit SON) needs CED's sonpy library, which is not installed "
                "(CED publishes it for Windows only); in Spike2 use File > Save As with the "
                "'32-bit .smr' type, or export to NWB",
                file=path,
            ) from None
        return NeoReader(path, rawio_class=CedRawIO)
    if kind == "nwb":
        return NwbReader(path)
    if kind == "csv":
        return CsvReader(path)
    raise InputError(f"unsupported file type '{path.suffix}' (use {sorted(SUFFIXES)})", file=path)


@dataclass
class Recording:
    """A reader bound to a channel map: roles, canonical-unit factors, stimulus events."""

    reader: Reader
    roles: dict[str, str]
    factors: dict[str, float]
    conduction_distance_mm: float | None
    event_roles: dict[str, np.ndarray]

    @property
    def path(self) -> Path:
        return self.reader.path

    @property
    def fs_hz(self) -> float:
        return self.reader.fs_hz

    def analog_roles(self) -> list[str]:
        return [r for r in self.roles if r not in self.event_roles]

    def iter_roles(
        self, chunk_samples: int, roles: list[str] | None = None
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Consecutive blocks ``(first_sample, {role: values in canonical units})``."""
        roles = self.analog_roles() if roles is None else roles
        names = [self.roles[r] for r in roles]
        for start, block in self.reader.iter_chunks(names, chunk_samples):
            yield start, {r: block[self.roles[r]] * self.factors[r] for r in roles}


def _resolve_channel(reader: Reader, spec: str | int) -> str:
    """A channel map entry -> channel name: a title as written, else a channel number
    (``14`` or ``"#14"``: Spike2's channel number; other formats: 1-based position)."""
    spec_s = str(spec).strip()
    if spec_s in reader.names or reader.event_times(spec_s) is not None:
        return spec_s
    m = re.fullmatch(r"#?(\d+)", spec_s)
    if m:
        k = int(m.group(1))
        if k in reader.numbers:
            return reader.names[reader.numbers.index(k)]
        events = reader.event_names()
        if k in events:
            return events[k]
    return spec_s


def open_recording(path: str | Path | Reader, cmap: ChannelMap | None = None) -> Recording:
    """Open a recording and resolve its channel roles.

    Raises
    ------
    InputError
        Missing channel (names the channel and lists those present), unknown unit, sampling rate
        different from the map's ``sampling_rate_hz``.
    """
    reader = path if isinstance(path, Reader) else open_reader(path)
    if cmap is None:
        roles = guess_roles(reader.names, reader.units)
        if "nerve" not in roles:
            raise InputError("no channel could be taken as the nerve recording", file=reader.path)
        declared: dict[str, str] = {}
        distance = None
        log.info("%s: roles guessed from names/units: %s", reader.path, roles)
    else:
        roles = dict(cmap.roles)
        declared = cmap.units
        distance = cmap.conduction_distance_mm
        if cmap.sampling_rate_hz is not None:
            if abs(reader.fs_hz - cmap.sampling_rate_hz) > 1e-3 * cmap.sampling_rate_hz:
                raise InputError(
                    f"sampling rate is {reader.fs_hz:g} Hz but the channel map "
                    f"({cmap.source}) says {cmap.sampling_rate_hz:g} Hz",
                    file=reader.path,
                )
    factors: dict[str, float] = {}
    events: dict[str, np.ndarray] = {}
    resolved: dict[str, str] = {}
    for role, spec in roles.items():
        name = _resolve_channel(reader, spec)
        resolved[role] = name
        if name not in reader.names:
            ev = reader.event_times(name)
            if ev is not None and role == "stimulus":
                events[role] = np.sort(np.asarray(ev, dtype=np.float64))
                continue
            listed = [f"{k}: {n}" for k, n in zip(reader.numbers, reader.names, strict=True)]
            listed += [f"{k}: {n} (events)" for k, n in reader.event_names().items()]
            raise InputError(
                f"{role} channel '{spec}' is not in the file (channels: {listed})",
                file=reader.path,
                column=str(spec),
            )
        file_unit = reader.units[reader.names.index(name)]
        unit = declared.get(name) or declared.get(str(spec)) or file_unit or unit_from_name(name)
        factors[role] = unit_factor(role, unit, file=reader.path, channel=name)
    roles = resolved
    return Recording(
        reader=reader,
        roles=roles,
        factors=factors,
        conduction_distance_mm=distance,
        event_roles=events,
    )


__all__ = [
    "CANONICAL_UNIT",
    "Recording",
    "open_recording",
    "open_reader",
    "AbfReader",
    "NeoReader",
    "CsvReader",
]
