"""Dump, or compare exactly, what ``fmslab ephys analyze`` computes for every shared ABF file.

A speed change must not change one output value. Run this on the code before the change
(``dump``), then after it (``compare``)::

    PYTHONPATH=src python benchmarks/ephys_tables_dump.py dump /tmp/ephys_ref.pkl
    PYTHONPATH=src python benchmarks/ephys_tables_dump.py compare /tmp/ephys_ref.pkl

For each file in ``../shared/data/ephys/abf``, ``abf_more`` and ``formats`` it runs the batch worker
(:func:`fmslab.ephys.batch.analyze_task`: the reader, the analysis, the per-cell PNG, no cache)
and keeps the per-sweep, per-spike and per-cell tables, the PNG's bytes and the figure warnings,
or the refusal (error type and message) of a file that is not analysed; for each analysed ABF
file also the spike table of every sweep under four detection settings, with and without added
noise (:func:`spike_tables`: the edge cases of each detection stage). ``compare`` requires
every table to be equal exactly (values, NaN positions, dtypes, column order, index), every PNG
the same image (pixel by pixel) and every refusal message unchanged; it prints each difference and exits 1 when
there is one.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve()
SHARED = (
    Path(os.environ["FMSLAB_TEST_DATA"])
    if os.environ.get("FMSLAB_TEST_DATA")
    else HERE.parents[2] / "shared" / "data"
) / "ephys"
FOLDERS = ("abf", "abf_more", "formats")
#: detection settings of the spike-table check, besides the defaults (edge cases of each stage)
VARIANTS = (
    {},
    {"min_upstroke_V_per_s": 2.0, "min_height_mV": 5.0, "min_peak_mV": -60.0},
    {"max_rise_ms": 20.0, "merge_gap_ms": 1.0, "peak_window_ms": 3.0},
    {"max_fall_ms": 10.0, "charging_guard_ms": 2.0, "ahp_window_ms": 300.0, "fast_ahp_ms": 1.0},
)


def shared_abf_files() -> list[Path]:
    """Every file of the shared folders, sorted by folder and name."""
    files = [p for d in FOLDERS for p in sorted((SHARED / d).iterdir()) if p.is_file()]
    if not files:
        raise SystemExit(f"no ABF files under {SHARED} (is ../shared there?)")
    return files


def dump_one(path: Path, fig_dir: Path) -> dict[str, Any]:
    """The worker's output for one file (or its refusal)."""
    from fmslab.ephys.batch import Task, analyze_task, code_fingerprint
    from fmslab.ephys.qc import load_qc
    from fmslab.ephys.spikes import SpikeParams

    task = Task(path, SpikeParams().as_dict(), load_qc(), None, fig_dir, code_fingerprint())
    try:
        r = analyze_task(task)
    except Exception as exc:  # noqa: BLE001 - a refusal is an output too
        return {"error": f"{type(exc).__name__}: {exc}"}
    png = fig_dir / f"{path.stem}.png"
    return {
        "sweeps": r["sweeps"],
        "cells": r["cells"],
        "spikes": r["spikes"],
        "warnings": r["warnings"],
        "png": png.read_bytes() if png.is_file() else b"",
    }


def spike_tables(path: Path) -> dict[str, Any]:
    """The spike table of every sweep of an analysed file under each of :data:`VARIANTS`, on the
    trace as recorded and with Gaussian noise added (0.3 mV SD, fixed seed: many more rising
    runs, no ties between samples)."""
    import numpy as np

    from fmslab.ephys.io import open_recording
    from fmslab.ephys.spikes import SpikeParams, detect_spikes

    rng = np.random.default_rng(7)
    out: dict[str, Any] = {}
    for sw in open_recording(path):
        if sw.v_mV.size > 2_000_000:
            continue  # the 20-min gap-free file: its default analysis is in the tables
        noisy = sw.v_mV + rng.normal(0.0, 0.3, sw.v_mV.size)
        end = sw.stimulus.stim_end_s
        for k, var in enumerate(VARIANTS):
            for label, v in (("raw", sw.v_mV), ("noisy", noisy)):
                t = detect_spikes(v, sw.dt_s, SpikeParams(**var), sw.edges_s, end)
                out[f"sweep {sw.index} variant {k} {label}"] = pd.DataFrame(t.as_dict())
    return out


def dump_all() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in shared_abf_files():
            key = f"{p.parent.name}/{p.name}"
            out[key] = dump_one(p, Path(tmp))
            if "error" not in out[key] and p.suffix == ".abf":
                out[f"{key} spike tables"] = spike_tables(p)
    return out


def same_pixels(a: bytes, b: bytes) -> bool:
    """Whether two PNG files hold the same image (size, mode and every pixel)."""
    import io

    import numpy as np
    from PIL import Image

    if not a or not b:
        return a == b
    ia, ib = Image.open(io.BytesIO(a)), Image.open(io.BytesIO(b))
    return ia.size == ib.size and np.array_equal(
        np.asarray(ia.convert("RGB")), np.asarray(ib.convert("RGB"))
    )


def differences(ref: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    """Every difference between two dumps, one line each (empty: identical)."""
    diffs = [f"{k}: only in the reference" for k in ref.keys() - new.keys()]
    diffs += [f"{k}: not in the reference" for k in new.keys() - ref.keys()]
    for k in sorted(ref.keys() & new.keys()):
        a, b = ref[k], new[k]
        if set(a) != set(b):
            diffs.append(f"{k}: {sorted(a)} vs {sorted(b)}")
            continue
        for part in sorted(a):
            x, y = a[part], b[part]
            if isinstance(x, dict):  # the spike tables of the detection variants
                for name in sorted(x.keys() | y.keys()):
                    if name not in x or name not in y:
                        diffs.append(f"{k} {name}: missing on one side")
                        continue
                    try:
                        pd.testing.assert_frame_equal(x[name], y[name], check_exact=True)
                    except AssertionError as exc:
                        diffs.append(f"{k} {name}: {str(exc).splitlines()[0:4]}")
            elif isinstance(x, pd.DataFrame):
                try:
                    pd.testing.assert_frame_equal(x, y, check_exact=True)
                except AssertionError as exc:
                    diffs.append(f"{k} {part}: {str(exc).splitlines()[0:4]}")
            elif part == "png":
                if x != y and not same_pixels(x, y):
                    diffs.append(f"{k} png: the figures' pixels differ")
            elif x != y:
                diffs.append(f"{k} {part}: {x!r} vs {y!r}")
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("dump", "compare"))
    ap.add_argument("reference", type=Path, help="pickle written by 'dump', read by 'compare'")
    a = ap.parse_args()
    new = dump_all()
    if a.mode == "dump":
        a.reference.write_bytes(pickle.dumps(new))
        n_err = sum("error" in v for v in new.values())
        print(f"{len(new)} files ({n_err} refused) -> {a.reference}")
        return
    ref = pickle.loads(a.reference.read_bytes())
    diffs = differences(ref, new)
    for d in diffs:
        print(d)
    print(f"{len(new)} files compared: {'identical' if not diffs else f'{len(diffs)} differences'}")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
