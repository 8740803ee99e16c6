"""One NWB file per current-clamp cell: every sweep, its stimulus, the icephys tables, features.

Each sweep of the raw file (read with :func:`fmslab.ephys.io.open_recording`, the reader the
analysis used) becomes a ``CurrentClampSeries`` (the membrane potential exactly as read, float64
mV with ``conversion=1e-3`` to volts) and a ``CurrentClampStimulusSeries`` (the injected current
as fmslab reconstructed it from the protocol: holding current, prepulse and test step or ramp, pA
with ``conversion=1e-12`` to amperes), linked in the intracellular-recordings table. A recorded
current monitor channel of the raw file is ``acquisition/current_monitor_NNN`` (a ``TimeSeries``,
pA with ``conversion=1e-12``, the sweep's start and rate), which the ephys NWB reader uses as the
ABF reader uses the channel (stimulus edges for spike detection). Every sweep is its own
simultaneous recording (one electrode); the sweeps of one stimulus kind form a sequential
recording whose ``stimulus_type`` names the protocol, and each sequential recording is one
repetition. fmslab's per-sweep features go in ``analysis/fmslab_sweep_features`` (with a
reference to the sweep's row of the intracellular-recordings table) and the cell's features in
``analysis/fmslab_cell_features``.

The electrode's ``location`` (and ``slice``) is the tissue named in
``parameters.export.icephys.tissue`` (default: dorsal root ganglion neuron). It is not a term of
the Allen Mouse *Brain* atlas, which has no peripheral ganglia: nwbinspector's atlas check does
not apply (see :data:`fmslab.export.checks.ALLEN_CCF_CHECKS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.ephys.io import Stimulus, open_recording
from fmslab.export.nwb_common import SubjectInfo, frame_to_table, make_nwbfile, write_nwb
from fmslab.export.settings import ExportSettings

DEFAULT_TISSUE = "dorsal root ganglion neuron"
DEFAULT_DEVICE = "patch-clamp amplifier"


def command_pA(stim: Stimulus, n: int, dt_s: float) -> np.ndarray:
    """The injected current (pA) of one sweep from fmslab's stimulus description.

    Holding current everywhere, plus the prepulse over its window, ``pre_stim_pA`` (the current
    just before the test epoch) from the prepulse's end (or the sweep's start) to the test epoch,
    and the test step (or ramp) over ``[stim_start_s, stim_end_s)``; sample ``k`` is at
    ``k * dt_s``.
    """
    i = np.full(n, stim.holding_pA if np.isfinite(stim.holding_pA) else 0.0)

    def window(t0: float, t1: float) -> slice:
        return slice(max(0, int(round(t0 / dt_s))), min(n, int(round(t1 / dt_s))))

    has_prepulse = np.isfinite(stim.prepulse_pA) and np.isfinite(stim.prepulse_start_s)
    if has_prepulse:
        i[window(stim.prepulse_start_s, stim.prepulse_end_s)] += stim.prepulse_pA
    if stim.pre_stim_pA and np.isfinite(stim.pre_stim_pA) and np.isfinite(stim.stim_start_s):
        # the level just before the test epoch (a continuous ramp's sweep starts where the last
        # one ended): from the prepulse's end, or the sweep's start, to the test epoch
        i[window(stim.prepulse_end_s if has_prepulse else 0.0, stim.stim_start_s)] += (
            stim.pre_stim_pA
        )
    if stim.kind in ("step", "pulse") and np.isfinite(stim.stim_pA):
        i[window(stim.stim_start_s, stim.stim_end_s)] += stim.stim_pA
    elif stim.kind == "ramp" and np.isfinite(stim.ramp_slope_pA_per_s):
        w = window(stim.stim_start_s, stim.stim_end_s)
        t = np.arange(w.start, w.stop) * dt_s
        i[w] += stim.ramp_start_pA + stim.ramp_slope_pA_per_s * (t - stim.stim_start_s)
    return i


def file_clock(path: Path) -> datetime | None:
    """When the raw file says it started (ABF header), or None."""
    if path.suffix.lower() != ".abf":
        return None
    import pyabf

    try:
        return pyabf.ABF(str(path), loadData=False).abfDateTime
    except Exception:  # noqa: BLE001 - an unreadable clock only loses the time of day
        return None


def sweep_starts_s(path: Path, durations_s: list[float]) -> list[float]:
    """Start of each sweep from the start of the file: the ABF sweep times, else back to back."""
    if path.suffix.lower() == ".abf":
        import pyabf

        times = list(pyabf.ABF(str(path), loadData=False).sweepTimesSec)
        if len(times) == len(durations_s):
            return [float(t) for t in times]
    return [float(t) for t in np.concatenate([[0.0], np.cumsum(durations_s)[:-1]])]


@dataclass(frozen=True)
class IcephysSession:
    """What one cell's NWB file is made of (ids already as exported)."""

    raw_file: Path
    cell_id: str
    session_id: str
    identifier: str
    session_start: datetime
    subject: SubjectInfo
    protocol: str
    experiment_description: str | None
    sweeps: pd.DataFrame  # exported ephys_sweeps rows of the cell
    cell: pd.DataFrame  # the exported ephys_cells row of the cell


def write_icephys(session: IcephysSession, out_path: Path, settings: ExportSettings) -> Path:
    """Write the NWB file of one current-clamp cell (see the module docstring)."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import TimeSeries
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    reader = open_recording(session.raw_file)
    info = reader.info()
    sweeps = list(reader)
    tissue = settings.icephys.get("tissue", DEFAULT_TISSUE)
    nwb = make_nwbfile(
        identifier=session.identifier,
        session_id=session.session_id,
        session_description=(
            f"Whole-cell current clamp of {tissue} {session.cell_id}: {len(sweeps)} sweeps, "
            f"protocol '{session.protocol}'"
        ),
        session_start=session.session_start,
        settings=settings,
        experiment_description=session.experiment_description,
        subject=session.subject,
        keywords=("current clamp", "intracellular electrophysiology"),
    )
    device = nwb.create_device(
        name="amplifier", description=settings.icephys.get("device", DEFAULT_DEVICE)
    )
    electrode = nwb.create_icephys_electrode(
        name="electrode",
        description=f"whole-cell patch pipette, current clamp; recorded cell: {tissue}",
        device=device,
        location=tissue,
        slice=tissue,
        cell_id=session.cell_id,
    )
    starts = sweep_starts_s(session.raw_file, [s.duration_s for s in sweeps])
    rows_by_kind: dict[str, list[int]] = {}
    for sw, t0 in zip(sweeps, starts, strict=True):
        rate = 1.0 / sw.dt_s
        stim = CurrentClampStimulusSeries(
            name=f"stimulus_{sw.index:03d}",
            data=H5DataIO(command_pA(sw.stimulus, sw.v_mV.size, sw.dt_s), compression="gzip"),
            unit="amperes",
            conversion=1e-12,
            starting_time=t0,
            rate=rate,
            electrode=electrode,
            gain=1.0,
            sweep_number=np.uint64(sw.index),
            description=(
                f"injected current reconstructed by fmslab from the {sw.stimulus.source} "
                f"({sw.stimulus.kind} {sw.stimulus.stim_pA:g} pA from "
                f"{sw.stimulus.stim_start_s:g} to {sw.stimulus.stim_end_s:g} s); stored in pA"
            ),
        )
        resp = CurrentClampSeries(
            name=f"response_{sw.index:03d}",
            data=H5DataIO(np.asarray(sw.v_mV, dtype=np.float64), compression="gzip"),
            unit="volts",
            conversion=1e-3,
            starting_time=t0,
            rate=rate,
            electrode=electrode,
            sweep_number=np.uint64(sw.index),
            description=(
                f"membrane potential (channel '{info.vm_name}' of the raw file, "
                f"{info.format_version}); stored in mV"
            ),
        )
        if info.current_channel is not None and sw.i_pA is not None:
            nwb.add_acquisition(
                TimeSeries(
                    name=f"current_monitor_{sw.index:03d}",
                    data=H5DataIO(np.asarray(sw.i_pA, dtype=np.float64), compression="gzip"),
                    unit="amperes",
                    conversion=1e-12,
                    starting_time=t0,
                    rate=rate,
                    description=(
                        f"recorded current monitor of sweep {sw.index} (channel "
                        f"{info.current_channel} of the raw file, as read); stored in pA"
                    ),
                )
            )
        row = nwb.add_intracellular_recording(
            electrode=electrode, stimulus=stim, response=resp, id=sw.index
        )
        sim = nwb.add_icephys_simultaneous_recording(recordings=[row])
        rows_by_kind.setdefault(sw.stimulus.kind, []).append(sim)
    for kind, sims in rows_by_kind.items():
        seq = nwb.add_icephys_sequential_recording(
            stimulus_type=f"{kind} ({session.protocol})", simultaneous_recordings=sims
        )
        nwb.add_icephys_repetition(sequential_recordings=[seq])
    _add_features(nwb, session, [s.index for s in sweeps])
    return write_nwb(nwb, out_path)


def _add_features(nwb, session: IcephysSession, sweep_index: list[int]) -> None:
    """The analysis tables: per-sweep features (linked to their recording rows) and the cell's."""
    sw = session.sweeps.drop(columns=[c for c in ("nwb_file",) if c in session.sweeps.columns])
    if len(sw):
        table = frame_to_table(
            sw,
            name="fmslab_sweep_features",
            table="ephys_sweeps",
            description="fmslab's per-sweep current-clamp features of this cell (fmslab ephys analyze)",
        )
        pos = {s: i for i, s in enumerate(sweep_index)}
        table.add_column(
            name="intracellular_recording",
            description="row of the intracellular_recordings table holding this sweep",
            data=[pos[int(s)] for s in sw["sweep"]],
            table=nwb.intracellular_recordings,
        )
        nwb.add_analysis(table)
    cell = session.cell.drop(columns=[c for c in ("nwb_file",) if c in session.cell.columns])
    if len(cell):
        nwb.add_analysis(
            frame_to_table(
                cell,
                name="fmslab_cell_features",
                table="ephys_cells",
                description="fmslab's per-cell current-clamp features (fmslab ephys analyze)",
            )
        )


def export_icephys(
    study,
    catalog: dict[str, pd.DataFrame],
    tables,
    ps,
    settings: ExportSettings,
    nwb_root: Path,
    result,
    description: str | None,
) -> None:
    """One NWB file per analysed current-clamp cell of ``study``; adds ``nwb_file`` to the cells.

    A recording that the analysis refused (no row in the catalog's ``ephys_cells``) or that cannot
    be written is listed in ``result.skipped`` with the reason; the others go on.
    """
    from fmslab.errors import InputError
    from fmslab.export.nwb_common import (
        dandi_path,
        dandi_value,
        nwb_identifier,
        session_start,
        subject_info,
    )

    cells_raw = catalog.get("ephys_cells")
    if cells_raw is None or not len(cells_raw) or "ephys_cells" not in tables.tables:
        return
    cells = tables.tables["ephys_cells"]
    sweeps = tables.tables.get("ephys_sweeps", pd.DataFrame(columns=["cell_id", "sweep"]))
    nwb_of: dict[str, str] = {}
    for rec in study.recordings_of("ephys_cc").itertuples(index=False):
        raw = Path(rec.abs_path)
        if not (cells_raw["file"] == raw.name).any():
            result.skipped.append(f"{rec.path}: no analysed cell in the catalog (refused by ephys)")
            continue
        try:
            cid = ps.pid("cell", rec.cell_id)
            mid = ps.pid("mouse", rec.mouse_id)
            mouse = study.mice[study.mice["mouse_id"] == rec.mouse_id]
            if not len(mouse):
                raise InputError(f"mouse {rec.mouse_id} is not in the mice sheet")
            start, day = session_start(rec.date, file_clock(raw), settings, ps)
            subj = subject_info(mouse.iloc[0], day, settings, ps, exported_id=dandi_value(mid))
            rel = dandi_path(mid, cid, "icephys")
            session = IcephysSession(
                raw_file=raw,
                cell_id=str(cid),
                session_id=dandi_value(cid),
                identifier=nwb_identifier(study.name, str(rel)),
                session_start=start,
                subject=subj,
                protocol=str(getattr(rec, "protocol", "") or "current-clamp protocol"),
                experiment_description=description,
                sweeps=sweeps[sweeps["cell_id"] == cid],
                cell=cells[cells["cell_id"] == cid],
            )
            result.nwb_files.append(write_icephys(session, nwb_root / rel, settings))
            nwb_of[str(cid)] = f"nwb/{rel.as_posix()}"
        except InputError as exc:
            result.skipped.append(f"{rec.path}: {exc}")
    cells["nwb_file"] = cells["cell_id"].astype(str).map(nwb_of).astype("string")
