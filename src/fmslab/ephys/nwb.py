"""Current-clamp sweeps from NWB 2 files through pynwb's icephys API.

Sweeps are found, in order of preference, in

1. the ``IntracellularRecordingsTable`` (``nwbfile.intracellular_recordings``): each row pairs a
   response with its stimulus and electrode;
2. the legacy ``SweepTable``: series of one sweep number;
3. otherwise ``CurrentClampSeries`` in ``acquisition`` paired with ``CurrentClampStimulusSeries``
   in ``stimulus`` by sweep number, or by equal starting time and length.

Values are ``data * conversion + offset`` in the series' ``unit`` (NWB's definition), converted to
mV and pA with :mod:`fmslab.units` as ``data * (conversion * scale) + offset * scale`` (one
rounding: data written in mV with ``conversion=1e-3``, as ``fmslab export`` does, reads back
exactly); ``gain`` is amplifier metadata and is reported, not applied.
A plain ``TimeSeries`` in ``acquisition`` in amperes with a response's starting time, rate and
length is that sweep's recorded current monitor (``fmslab export`` writes ``current_monitor_NNN``):
like the ABF reader's recorded current channel it is the sweep's ``i_pA``, whose jumps mark
stimulus edges for spike detection; the stimulus itself still comes from the stimulus series.
Sweeps are ordered by starting time. ``VoltageClampSeries`` responses are refused (voltage clamp);
an ``IZeroClampSeries`` has no injected current (kind "none"). Electrode and subject metadata are
kept in :class:`~fmslab.ephys.io.RecordingInfo` ``notes``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from fmslab.ephys import vmgate
from fmslab.ephys.io import MemoryReader, RecordingInfo, refuse_not_vm, stimuli_from_currents
from fmslab.errors import InputError
from fmslab.units import try_parse_unit

log = logging.getLogger(__name__)


def _values(series, quantity: str, file: str) -> np.ndarray:
    u = try_parse_unit(series.unit)
    if u is None or u.quantity != quantity:
        raise InputError(
            f"series {series.name!r} has unit {series.unit!r}, not a {quantity}", file=file
        )
    data = np.asarray(series.data[:], dtype=np.float64)
    if data.ndim != 1:
        raise InputError(f"series {series.name!r} is not one trace (shape {data.shape})", file=file)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    # one factor (conversion and unit scale multiplied first), so data stored in the canonical
    # unit (mV with conversion 1e-3 to volts, pA with 1e-12) is read back bit for bit
    factor = float(series.conversion) * u.scale
    values = data * factor
    return values + offset * u.scale if offset else values


def _pairs(nwb, file: str) -> tuple[list[tuple[object, object | None]], str]:
    """(response, stimulus) series of every sweep, and where they were found."""
    icr = getattr(nwb, "intracellular_recordings", None)
    if icr is not None and len(icr):
        out = []
        resp = icr["responses"]["response"]
        stim = icr["stimuli"]["stimulus"]
        for k in range(len(icr)):
            r = resp[k]
            s = stim[k]
            out.append((r.timeseries, s.timeseries if s is not None and s.idx_start >= 0 else None))
        return out, "IntracellularRecordingsTable"
    acq = [s for s in nwb.acquisition.values() if _is_patch(s)]
    stims = [s for s in nwb.stimulus.values() if _is_patch(s)]
    by_sweep = {getattr(s, "sweep_number", None): s for s in stims}
    out = []
    for r in acq:
        sn = getattr(r, "sweep_number", None)
        s = by_sweep.get(sn) if sn is not None else None
        if s is None:
            s = next(
                (
                    x
                    for x in stims
                    if x.starting_time == r.starting_time and x.data.shape == r.data.shape
                ),
                None,
            )
        out.append((r, s))
    return out, "acquisition+stimulus"


def _is_patch(series) -> bool:
    return type(series).__name__ in (
        "CurrentClampSeries",
        "IZeroClampSeries",
        "VoltageClampSeries",
        "CurrentClampStimulusSeries",
        "VoltageClampStimulusSeries",
        "PatchClampSeries",
    )


class NwbReader(MemoryReader):
    """All current-clamp sweeps of an NWB file, each with its stimulus (see the module docstring)."""

    def __init__(self, path: str | Path):
        path = Path(path)
        file = path.name
        try:
            from pynwb import NWBHDF5IO
        except ImportError as exc:  # declared dependency; a broken install says so
            raise InputError("NWB files need the pynwb package", file=file) from exc
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
                    nwb = io.read()
                    self._load(nwb, path)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - h5py/hdmf raise many types on bad files
            raise InputError(
                f"pynwb cannot read it ({type(exc).__name__}: {str(exc)[:200]})", file=file
            ) from exc

    def _load(self, nwb, path: Path) -> None:
        file = path.name
        pairs, where = _pairs(nwb, file)
        if not pairs:
            raise InputError("no patch-clamp series (CurrentClampSeries) in the file", file=file)
        kinds = {type(r).__name__ for r, _ in pairs}
        if kinds == {"VoltageClampSeries"}:
            raise InputError(
                "voltage-clamp recording (VoltageClampSeries): current-clamp analysis needs "
                "CurrentClampSeries",
                file=file,
            )
        pairs = [(r, s) for r, s in pairs if type(r).__name__ != "VoltageClampSeries"]
        pairs.sort(key=lambda rs: (float(rs[0].starting_time or 0.0), rs[0].name))
        rates = {float(r.rate) for r, _ in pairs if r.rate is not None}
        if len(rates) != 1:
            raise InputError(
                f"sweeps sampled at different or unknown rates ({sorted(rates)} Hz); fmslab needs "
                f"one regular sampling rate per file",
                file=file,
            )
        dt = 1.0 / rates.pop()
        v_list, i_list = [], []
        no_stim = 0
        for r, s in pairs:
            v_list.append(_values(r, "voltage", file))
            if type(r).__name__ == "IZeroClampSeries":
                i_list.append(np.zeros(v_list[-1].size))
            elif s is None:
                i_list.append(None)
                no_stim += 1
            else:
                i = _values(s, "current", file)
                if i.size != v_list[-1].size:
                    raise InputError(
                        f"stimulus {s.name!r} has {i.size} samples, its response {r.name!r} "
                        f"{v_list[-1].size}",
                        file=file,
                    )
                i_list.append(i)
        stims = stimuli_from_currents(i_list, dt, "nwb_stimulus")
        r0 = pairs[0][0]
        problem = vmgate.vm_problem(v_list, dt, stims)
        if problem is not None:
            raise refuse_not_vm(file, r0.name, str(r0.unit), problem)
        el = getattr(r0, "electrode", None)
        notes = [f"sweeps from {where}"]
        if el is not None:
            details = ", ".join(
                f"{k}={getattr(el, k)}"
                for k in ("description", "location", "slice", "resistance", "seal", "cell_id")
                if getattr(el, k, None) not in (None, "", "{}")
            )
            notes.append(f"electrode {el.name}" + (f": {details}" if details else ""))
        subj = getattr(nwb, "subject", None)
        if subj is not None:
            notes.append(
                "subject: "
                + ", ".join(
                    f"{k}={getattr(subj, k)}"
                    for k in ("subject_id", "species", "sex", "age", "genotype")
                    if getattr(subj, k, None) not in (None, "", "NA")
                )
            )
        gains = sorted({float(s.gain) for _, s in pairs if s is not None and s.gain is not None})
        if gains:
            notes.append(f"stimulus gain (metadata, not applied): {gains}")
        if no_stim:
            notes.append(f"{no_stim} sweep(s) without a stimulus series: current unknown")
        info = RecordingInfo(
            path=path,
            reader="pynwb",
            format_version=f"NWB {getattr(nwb, 'nwb_version', '') or '2'}",
            n_sweeps=len(pairs),
            sample_rate_hz=1.0 / dt,
            vm_channel=0,
            vm_name=str(r0.name),
            vm_units=str(r0.unit),
            current_channel=None,
            stim_source="nwb_stimulus" if no_stim < len(pairs) else "none",
            protocol=str(getattr(r0, "stimulus_description", "") or ""),
            gap_free=False,
            variable_length=len({v.size for v in v_list}) > 1,
            notes=notes,
        )
        # a recorded current monitor replaces the command as the sweep's current (as the ABF
        # reader keeps the recorded channel): its jumps are the stimulus edges the ABF gave
        monitors = [_monitor(nwb, r, file) for r, _ in pairs]
        if any(m is not None for m in monitors):
            notes.append(
                f"recorded current monitor of {sum(m is not None for m in monitors)} sweep(s) "
                "(TimeSeries in amperes beside the response)"
            )
        i_list = [i if m is None else m for i, m in zip(i_list, monitors, strict=True)]
        self.names = [str(r.name) for r, _ in pairs]
        self.units = [str(r.unit) for r, _ in pairs]
        self.electrode = el.name if el is not None else ""
        MemoryReader.__init__(self, path, v_list, dt, stims, i_list, info)


def _monitor(nwb, response, file: str) -> np.ndarray | None:
    """The recorded current of a sweep (pA): the one plain ``TimeSeries`` in ``acquisition`` in
    amperes with the response's starting time, rate and length (e.g. ``fmslab export``'s
    ``current_monitor_NNN``), or None (none, or more than one)."""
    if type(response).__name__ == "IZeroClampSeries":
        return None
    found = []
    for s in nwb.acquisition.values():
        if type(s).__name__ != "TimeSeries" or s.rate is None or response.rate is None:
            continue
        u = try_parse_unit(s.unit)
        if u is None or u.quantity != "current":
            continue
        if (
            float(s.starting_time or 0.0) == float(response.starting_time or 0.0)
            and float(s.rate) == float(response.rate)
            and s.data.shape == response.data.shape
        ):
            found.append(s)
    return _values(found[0], "current", file) if len(found) == 1 else None
