"""One file in, its per-sweep table and per-cell row out (the unit of work of a batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.ephys.cell import cell_features
from fmslab.ephys.features import SWEEP_COLUMNS, sweep_features
from fmslab.ephys.io import open_recording
from fmslab.ephys.qc import cell_qc, load_qc, sweep_qc
from fmslab.ephys.spikes import SpikeParams


def analyze_file(
    path: str | Path,
    params: SpikeParams | None = None,
    qc: dict[str, dict[str, float]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Analyse every sweep of one recording, one sweep in memory at a time.

    Returns
    -------
    sweeps, cell
        ``sweeps``: one row per sweep, columns ``file, sweep`` then :data:`SWEEP_COLUMNS` and QC;
        ``cell``: one row with the per-cell features, reader facts and QC.
    """
    path = Path(path)
    qc = qc or load_qc()
    reader = open_recording(path)
    info = reader.info()
    rows: list[dict[str, Any]] = []
    for sw in reader:
        row: dict[str, Any] = {"file": path.name, "sweep": sw.index}
        row.update(sweep_features(sw, params))
        rows.append(row)
    sweeps = pd.DataFrame(rows, columns=["file", "sweep", *SWEEP_COLUMNS])
    cell = cell_features(sweeps)
    sweeps = sweep_qc(sweeps, float(cell["rmp_mV"]), qc)
    cell.update(cell_qc(cell, sweeps, qc))
    facts = {
        "file": path.name,
        "reader": info.reader,
        "format_version": info.format_version,
        "vm_channel": info.vm_channel,
        "vm_channel_name": info.vm_name,
        "sample_rate_hz": info.sample_rate_hz,
        "stim_source": info.stim_source,
        "gap_free": info.gap_free,
    }
    return sweeps, pd.DataFrame([{**facts, **cell}])
