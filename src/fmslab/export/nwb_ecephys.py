"""One NWB file per skin-nerve recording: raw nerve signal, stimulus channels, sorted units.

The recording is read with fmslab's skin-nerve reader and the channel map the analysis used
(``RECORDING.yaml`` beside the file), so every channel is in its canonical unit: the nerve signal
becomes an ``ElectricalSeries`` (float64 uV, ``conversion=1e-6`` to volts) on one electrode of the
``nerve`` electrode group; each stimulus channel (force, displacement, pressure, temperature,
electrical stimulus) a ``TimeSeries`` in the file's ``stimulus`` group with its unit (force in
newtons via ``conversion=1e-3`` from mN, displacement in metres from um). The sorted units go in
the ``Units`` table: spike times (from the analysis), the mean waveform of each unit (averaged
from the raw nerve signal, :data:`WAVEFORM_PRE_MS` before to :data:`WAVEFORM_POST_MS` after each
spike time, in volts), and fmslab's unit features as columns (conduction velocity, fibre class,
receptor type, ...). The responses to each stimulus are ``analysis/fmslab_responses``.

The electrode's ``location`` is the tissue named in ``parameters.export.skinnerve.tissue``
(default: saphenous nerve). It is not a term of the Allen Mouse *Brain* atlas, which has no
peripheral nerves: nwbinspector's atlas check does not apply (see
:data:`fmslab.export.checks.ALLEN_CCF_CHECKS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.export.nwb_common import SubjectInfo, frame_to_table, make_nwbfile, write_nwb
from fmslab.export.settings import ExportSettings

DEFAULT_TISSUE = "saphenous nerve"
DEFAULT_DEVICE = "extracellular amplifier (skin-nerve preparation)"
WAVEFORM_PRE_MS = 0.6
WAVEFORM_POST_MS = 1.4
#: canonical unit of each role -> (NWB unit, conversion to it)
NWB_UNIT = {
    "uV": ("volts", 1e-6),
    "mN": ("newtons", 1e-3),
    "um": ("meters", 1e-6),
    "mmHg": ("mmHg", 1.0),
    "degC": ("degrees Celsius", 1.0),
    "V": ("volts", 1.0),
}
CHUNK_SAMPLES = 200_000


@dataclass(frozen=True)
class EcephysSession:
    """What one skin-nerve recording's NWB file is made of (ids already as exported)."""

    raw_file: Path
    recording_id: str
    session_id: str
    identifier: str
    session_start: datetime
    subject: SubjectInfo
    protocol: str
    experiment_description: str | None
    units: pd.DataFrame  # exported skinnerve_units rows of the recording
    spikes: pd.DataFrame  # catalog skinnerve_spikes rows of the recording (unit_id, time_s)
    responses: pd.DataFrame  # exported skinnerve_responses rows of the recording


def read_channels(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str], float, dict]:
    """Every analog role of a recording in canonical units, the units, the rate, event roles."""
    from fmslab.skinnerve.channels import CANONICAL_UNIT, channel_map_for
    from fmslab.skinnerve.io import open_recording

    rec = open_recording(path, channel_map_for(path))
    roles = rec.analog_roles()
    parts: dict[str, list[np.ndarray]] = {r: [] for r in roles}
    for _start, block in rec.iter_roles(CHUNK_SAMPLES, roles):
        for r in roles:
            parts[r].append(np.asarray(block[r], dtype=np.float64))
    data = {r: np.concatenate(v) if v else np.empty(0) for r, v in parts.items()}
    return data, {r: CANONICAL_UNIT[r] for r in roles}, rec.fs_hz, rec.event_roles


def mean_waveform(signal_uv: np.ndarray, times_s: np.ndarray, fs_hz: float) -> np.ndarray:
    """Mean of the raw signal around each spike time (uV); spikes too near an end are left out."""
    pre = int(round(WAVEFORM_PRE_MS * 1e-3 * fs_hz))
    post = int(round(WAVEFORM_POST_MS * 1e-3 * fs_hz))
    idx = np.round(np.asarray(times_s) * fs_hz).astype(np.int64)
    idx = idx[(idx - pre >= 0) & (idx + post <= signal_uv.size)]
    if not idx.size:
        return np.full(pre + post, np.nan)
    snippets = signal_uv[idx[:, None] + np.arange(-pre, post)[None, :]]
    return snippets.mean(axis=0)


def write_ecephys(session: EcephysSession, out_path: Path, settings: ExportSettings) -> Path:
    """Write the NWB file of one skin-nerve recording (see the module docstring)."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import TimeSeries
    from pynwb.ecephys import ElectricalSeries

    data, units, fs, events = read_channels(session.raw_file)
    tissue = settings.skinnerve.get("tissue", DEFAULT_TISSUE)
    nwb = make_nwbfile(
        identifier=session.identifier,
        session_id=session.session_id,
        session_description=(
            f"Skin-nerve recording {session.recording_id} ({tissue}): single afferent units; "
            f"protocol '{session.protocol}'"
        ),
        session_start=session.session_start,
        settings=settings,
        experiment_description=session.experiment_description,
        subject=session.subject,
        keywords=("skin-nerve", "extracellular electrophysiology", "single afferent"),
    )
    device = nwb.create_device(
        name="amplifier", description=settings.skinnerve.get("device", DEFAULT_DEVICE)
    )
    group = nwb.create_electrode_group(
        name="nerve",
        description="recording electrode on the nerve filament (skin-nerve preparation)",
        location=tissue,
        device=device,
    )
    nwb.add_electrode(group=group, location=tissue)
    region = nwb.create_electrode_table_region(region=[0], description="the nerve electrode")
    nwb.add_acquisition(
        ElectricalSeries(
            name="nerve",
            description="raw nerve signal as recorded (canonical uV), stored in uV",
            data=H5DataIO(data["nerve"][:, None], compression="gzip"),
            electrodes=region,
            rate=fs,
            starting_time=0.0,
            conversion=1e-6,
        )
    )
    for role in [r for r in data if r != "nerve"]:
        unit, conv = NWB_UNIT[units[role]]
        nwb.add_stimulus(
            TimeSeries(
                name=role,
                description=f"recorded {role} channel of the stimulator, stored in {units[role]}",
                data=H5DataIO(data[role], compression="gzip"),
                unit=unit,
                conversion=conv,
                rate=fs,
                starting_time=0.0,
            )
        )
    for role, times in events.items():
        t = np.asarray(times, dtype=np.float64)
        if t.size:
            nwb.add_stimulus(
                TimeSeries(
                    name=role,
                    description=f"{role} event times (marker channel); data are 1 at each event",
                    data=np.ones(t.size),
                    unit="n/a",
                    timestamps=t,
                )
            )
    _add_units(nwb, session, data["nerve"], fs, group)
    if len(session.responses):
        nwb.add_analysis(
            frame_to_table(
                session.responses,
                name="fmslab_responses",
                table="skinnerve_responses",
                description="responses of each unit to each stimulus (fmslab skinnerve analyze)",
            )
        )
    return write_nwb(nwb, out_path)


def _add_units(nwb, session: EcephysSession, nerve_uv: np.ndarray, fs: float, group) -> None:
    from pynwb.misc import Units

    from fmslab.export.fields import describe

    units = session.units.drop(
        columns=[c for c in ("nwb_file", "recording_id", "mouse_id") if c in session.units]
    )
    if not len(units):
        return
    table = Units(
        name="units",
        description="sorted single units of the recording (fmslab skinnerve analyze)",
        resolution=1.0 / fs,
        waveform_rate=fs,
        waveform_unit="volts",
    )
    nwb.units = table
    cols = [c for c in units.columns if c != "unit_id"]  # unit_id is the Units table's id
    kinds = {}
    for c in cols:
        f = describe("skinnerve_units", str(c), units[c])
        kinds[c] = f.type
        desc = f.description + (f" [{f.unit}]" if f.unit else "")
        table.add_column(name=str(c), description=desc)
    for _, row in units.iterrows():
        k = int(row["unit_id"])
        t = np.sort(session.spikes.loc[session.spikes["unit_id"] == k, "time_s"].to_numpy(float))
        extra = {}
        for c in cols:
            v = row[c]
            name = str(c)
            if kinds[c] in ("number", "integer"):
                extra[name] = float(v) if pd.notna(v) else float("nan")
            elif kinds[c] == "boolean":
                extra[name] = "" if pd.isna(v) else str(bool(v))
            else:
                extra[name] = "" if pd.isna(v) else str(v)
        table.add_unit(
            id=k,
            spike_times=t,
            waveform_mean=mean_waveform(nerve_uv, t, fs) * 1e-6,
            electrode_group=group,
            electrodes=[0],
            **extra,
        )


def export_ecephys(
    study,
    catalog: dict[str, pd.DataFrame],
    tables,
    ps,
    settings: ExportSettings,
    nwb_root: Path,
    result,
    description: str | None,
) -> None:
    """One NWB file per analysed skin-nerve recording; adds ``nwb_file`` to the units table."""
    from fmslab.errors import InputError
    from fmslab.export.nwb_common import (
        dandi_path,
        dandi_value,
        nwb_identifier,
        session_start,
        subject_info,
    )

    units_raw = catalog.get("skinnerve_units")
    if units_raw is None or not len(units_raw) or "skinnerve_units" not in tables.tables:
        return
    units = tables.tables["skinnerve_units"]
    responses = tables.tables.get("skinnerve_responses", pd.DataFrame(columns=["recording_id"]))
    spikes = catalog.get("skinnerve_spikes", pd.DataFrame(columns=["file", "unit_id", "time_s"]))
    nwb_of: dict[str, str] = {}
    for rec in study.recordings_of("skinnerve").itertuples(index=False):
        raw = Path(rec.abs_path)
        if not (units_raw["file"] == raw.name).any():
            result.skipped.append(f"{rec.path}: no sorted units in the catalog")
            continue
        try:
            rid = ps.pid("unit", rec.unit_id)
            mid = ps.pid("mouse", rec.mouse_id)
            mouse = study.mice[study.mice["mouse_id"] == rec.mouse_id]
            if not len(mouse):
                raise InputError(f"mouse {rec.mouse_id} is not in the mice sheet")
            start, day = session_start(rec.date, None, settings, ps)
            subj = subject_info(mouse.iloc[0], day, settings, ps, exported_id=dandi_value(mid))
            rel = dandi_path(mid, rid, "ecephys")
            session = EcephysSession(
                raw_file=raw,
                recording_id=str(rid),
                session_id=dandi_value(rid),
                identifier=nwb_identifier(study.name, str(rel)),
                session_start=start,
                subject=subj,
                protocol=str(getattr(rec, "protocol", "") or "skin-nerve protocol"),
                experiment_description=description,
                units=units[units["recording_id"] == rid],
                spikes=spikes[spikes["file"] == raw.name],
                responses=responses[responses["recording_id"] == rid].drop(
                    columns=["recording_id"]
                ),
            )
            result.nwb_files.append(write_ecephys(session, nwb_root / rel, settings))
            nwb_of[str(rid)] = f"nwb/{rel.as_posix()}"
        except InputError as exc:
            result.skipped.append(f"{rec.path}: {exc}")
    units["nwb_file"] = units["recording_id"].astype(str).map(nwb_of).astype("string")
