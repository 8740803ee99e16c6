"""One file in, its per-sweep, per-spike and per-cell tables out (the unit of work of a batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmslab.ephys.cell import cell_features
from fmslab.ephys.features import SWEEP_COLUMNS, analyze_sweep
from fmslab.ephys.io import AbfReader, MemoryReader, open_recording
from fmslab.ephys.qc import cell_qc, load_qc, sweep_qc
from fmslab.ephys.spikes import SpikeParams

#: per-spike table columns (after ``file, sweep, spike``)
SPIKE_TABLE_COLUMNS = (
    "threshold_t_s",
    "peak_t_s",
    "threshold_mV",
    "peak_mV",
    "amplitude_mV",
    "half_width_ms",
    "upstroke_V_per_s",
    "downstroke_V_per_s",
    "ahp_trough_mV",
    "ahp_depth_mV",
    "ahp_time_ms",
    "ahp_slow_trough_mV",
    "ahp_slow_depth_mV",
    "ahp_slow_time_ms",
)


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
    t = analyze_file_tables(path, params, qc)
    return t["sweeps"], t["cells"]


def analyze_file_tables(
    path: str | Path,
    params: SpikeParams | None = None,
    qc: dict[str, dict[str, float]] | None = None,
) -> dict[str, pd.DataFrame]:
    """As :func:`analyze_file`, plus ``spikes``: one row per detected spike (``file, sweep, spike``
    then :data:`SPIKE_TABLE_COLUMNS`, times from the sweep start)."""
    return analyze_reader(open_recording(path), params, qc)


def analyze_reader(
    reader: AbfReader | MemoryReader,
    params: SpikeParams | None = None,
    qc: dict[str, dict[str, float]] | None = None,
) -> dict[str, pd.DataFrame]:
    """:func:`analyze_file_tables` on an open reader (the batch keeps it for the figures)."""
    path = Path(reader.path)
    qc = qc or load_qc()
    info = reader.info()
    rows: list[dict[str, Any]] = []
    spike_parts: list[dict[str, np.ndarray]] = []
    problems: list[str] = []
    for sw in reader:
        if sw.stimulus.kind == "unknown" and sw.stimulus.reason:
            problems.append(sw.stimulus.reason)
        res = analyze_sweep(sw, params)
        rows.append({"file": path.name, "sweep": sw.index, **res.features})
        k = len(res.spikes)
        if k:
            spike_parts.append(
                {"sweep": np.full(k, sw.index), "spike": np.arange(k)}
                | {c: res.spikes[c] for c in SPIKE_TABLE_COLUMNS}
            )
    sweeps = pd.DataFrame(rows, columns=["file", "sweep", *SWEEP_COLUMNS])
    # one table built from all sweeps' arrays (a frame per sweep costs more than its spikes)
    spikes = pd.DataFrame(
        {
            "file": path.name,
            **{
                c: np.concatenate([p[c] for p in spike_parts]) if spike_parts else []
                for c in ("sweep", "spike", *SPIKE_TABLE_COLUMNS)
            },
        },
        columns=["file", "sweep", "spike", *SPIKE_TABLE_COLUMNS],
    )
    cell = cell_features(sweeps)
    sweeps = sweep_qc(sweeps, float(cell["rmp_mV"]), qc)
    cell.update(cell_qc(cell, sweeps, qc, problems))
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
    return {"sweeps": sweeps, "cells": pd.DataFrame([{**facts, **cell}]), "spikes": spikes}
