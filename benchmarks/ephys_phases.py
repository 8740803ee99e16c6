"""CPU time of each phase of ``fmslab ephys analyze``'s per-file work, on the end-to-end file set.

    PYTHONPATH=src nice -n 5 python benchmarks/ephys_phases.py [--copies 4]

Makes the benchmark's distinct copies of the six reference files (:func:`bench_ephys.make_copies`)
and runs, in this process and one file at a time, what the batch worker does, timing each phase
with the process's CPU clock (``time.process_time``: the load of other jobs on the machine does
not count): hashing, opening the file (header, data, stimulus table, Vm gate), the per-sweep
analysis (reading each sweep, spike detection and shape, sweep features), the tables (per-cell
features, QC, DataFrames), the cache entry, the figure, and the main process's table writing.
Prints milliseconds per file for each phase. For the call tree use pyinstrument on the command
itself (``pyinstrument -m fmslab -q ephys analyze DIR --out OUT --jobs 1``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=4, help="copies of each of the six files")
    a = ap.parse_args()

    t0 = time.process_time()
    import numpy as np
    import pandas as pd
    from bench_ephys import SHARED, make_copies

    from fmslab.atomic import write_tables
    from fmslab.cache import ResultCache
    from fmslab.ephys.analysis import SPIKE_TABLE_COLUMNS
    from fmslab.ephys.batch import _figures, preload
    from fmslab.ephys.cell import cell_features
    from fmslab.ephys.features import SWEEP_COLUMNS, analyze_sweep
    from fmslab.ephys.io import open_recording
    from fmslab.ephys.qc import cell_qc, load_qc, sweep_qc
    from fmslab.ephys.spikes import SpikeParams
    from fmslab.provenance import sha256_file

    preload(figures=True)
    import_s = time.process_time() - t0
    ms: dict[str, float] = defaultdict(float)
    qc = load_qc()
    params = SpikeParams()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        make_copies(SHARED / "data" / "ephys" / "abf", src, a.copies)
        files = sorted(src.glob("*.abf"))
        fig_dir = Path(tmp) / "fig"
        fig_dir.mkdir()
        cache = ResultCache(Path(tmp) / "cache", fmt="pickle")
        all_sweeps, all_cells, all_spikes = [], [], []

        def tick(name: str, since: float) -> float:
            now = time.process_time()
            ms[name] += (now - since) * 1e3
            return now

        for k, path in enumerate(files):
            c = time.process_time()
            sha256_file(path)
            c = tick("hash", c)
            reader = open_recording(path)
            c = tick("open (header, data, stimuli, Vm gate)", c)
            rows, parts = [], []
            for sw in reader:
                c = tick("read sweeps", c)
                res = analyze_sweep(sw, params)
                c = tick("spikes + sweep features", c)
                rows.append({"file": path.name, "sweep": sw.index, **res.features})
                if len(res.spikes):
                    parts.append(
                        {"sweep": np.full(len(res.spikes), sw.index)}
                        | {col: res.spikes[col] for col in SPIKE_TABLE_COLUMNS}
                    )
                c = tick("tables", c)
            sweeps = pd.DataFrame(rows, columns=["file", "sweep", *SWEEP_COLUMNS])
            spikes = pd.DataFrame(
                {
                    col: np.concatenate([p[col] for p in parts]) if parts else []
                    for col in ("sweep", *SPIKE_TABLE_COLUMNS)
                }
            )
            cell = cell_features(sweeps)
            sweeps = sweep_qc(sweeps, float(cell["rmp_mV"]), qc)
            cell.update(cell_qc(cell, sweeps, qc, []))
            cells = pd.DataFrame([cell])
            c = tick("tables", c)
            cache.put("x", f"k{k}", {"sweeps": sweeps, "cells": cells, "spikes": spikes})
            c = tick("cache entry", c)
            _figures(reader, sweeps, cells.iloc[0].to_dict(), fig_dir, spikes)
            c = tick("figure (PNG)", c)
            all_sweeps.append(sweeps)
            all_cells.append(cells)
            all_spikes.append(spikes)
        c = time.process_time()
        out = Path(tmp) / "out"
        out.mkdir()
        for name, parts_ in (("sweeps", all_sweeps), ("cells", all_cells), ("spikes", all_spikes)):
            write_tables(pd.concat(parts_, ignore_index=True), out / name)
        tick("main: concat + CSV/Parquet writing (whole run)", c)
    n = len(files)
    print(f"{n} files; imports + preload {import_s * 1e3:.0f} ms CPU (once per run)")
    total = 0.0
    for name, v in ms.items():
        per = v / n if not name.startswith("main") else v
        unit = "ms per file" if not name.startswith("main") else "ms per run"
        print(f"  {name:48s} {per:8.1f} {unit}")
        total += v / n if not name.startswith("main") else 0.0
    print(f"  {'per-file total':48s} {total:8.1f} ms per file")


if __name__ == "__main__":
    main()
