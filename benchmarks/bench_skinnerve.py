"""Skin-nerve benchmarks: sorting accuracy vs ground truth, and speed/memory on 30 min at 20 kHz.

Run (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_skinnerve.py accuracy   # precision/recall table
    PYTHONPATH=src python benchmarks/bench_skinnerve.py speed      # 30-min recording
    PYTHONPATH=src python benchmarks/bench_skinnerve.py independent  # SpikeInterface ground truth

``independent`` generates one-channel recordings with SpikeInterface
(:func:`fmslab.skinnerve.validation.si_recording`: unit under study at band-passed SNR 4, 5, 6, 8,
a 1.8x larger and a 0.5x smaller unit, bursts, refractory periods, amplitude drift, hum, drift;
60 s each, seeds 1-3) and scores fmslab and the plain 5-MAD threshold detector on the unit under
study with SpikeInterface's comparison (0.5 ms).

``accuracy`` simulates the default protocol (151 s, five units) at several noise levels and seeds,
analyses each with default parameters and prints per-unit precision / recall (mean over seeds).
``speed`` writes a 30-minute, 20 kHz single-channel ABF1 recording (pyabf's writer) with the
default units firing, then runs the whole per-file step on it in a fresh process, on one core
(``OMP/OPENBLAS/MKL_NUM_THREADS=1``): ``skinnerve.batch.analyze_item`` = reading, both detection
passes, sorting, all tables and every figure saved as PNG. It records the wall and CPU time (on a
shared machine the CPU time of the one-core process is the comparable number), the same without
figures (``analyze_file`` alone, a second run) and the peak RSS (VmHWM) of the process after
imports and after the end-to-end run. ``--minutes`` changes the length (run 10 and
30 to see that memory does not grow with it).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd


def accuracy(noise_levels: list[float], seeds: list[int]) -> pd.DataFrame:
    from fmslab.skinnerve.analysis import analyze_recording
    from fmslab.skinnerve.channels import parse_channel_map
    from fmslab.skinnerve.evaluate import score_units
    from fmslab.skinnerve.io import MemoryReader, open_recording
    from fmslab.skinnerve.simulate import SimConfig, channel_map_yaml, simulate

    rows = []
    for noise in noise_levels:
        for seed in seeds:
            sim = simulate(replace(SimConfig(), noise_uv=noise), seed=seed)
            data = {
                "nerve_uV": sim.nerve_uv,
                "force_mN": sim.force_mn,
                "temp_degC": sim.temp_c,
                "stim_V": sim.stim_v,
            }
            cmap, _ = parse_channel_map(channel_map_yaml(sim), source="sim")
            fr = analyze_recording(open_recording(MemoryReader(data, sim.config.fs_hz), cmap))
            sc = score_units(sim.spikes, fr.spikes)
            units = fr.units.set_index("unit_id")
            sc["snr_nominal"] = sim.units.set_index("name").loc[sc["unit"], "snr"].to_numpy()
            sc["snr_measured"] = [
                units.loc[k, "snr"] if k in units.index else np.nan for k in sc["matched_unit_id"]
            ]
            sc["type_true"] = (
                sim.units.set_index("name").loc[sc["unit"], "receptor_type"].to_numpy()
            )
            sc["type_found"] = [
                units.loc[k, "receptor_type"] if k in units.index else ""
                for k in sc["matched_unit_id"]
            ]
            sc["cv_true"] = sim.units.set_index("name").loc[sc["unit"], "cv_m_s"].to_numpy()
            sc["cv_found"] = [
                units.loc[k, "cv_m_s"] if k in units.index else np.nan
                for k in sc["matched_unit_id"]
            ]
            sc["noise_uv"] = noise
            sc["seed"] = seed
            rows.append(sc)
            print(f"noise {noise} seed {seed}: done", file=sys.stderr)
    return pd.concat(rows, ignore_index=True)


def independent(snrs: list[float], seeds: list[int]) -> pd.DataFrame:
    from fmslab.skinnerve.analysis import analyze_recording
    from fmslab.skinnerve.channels import ChannelMap
    from fmslab.skinnerve.io import MemoryReader, open_recording
    from fmslab.skinnerve.validation import (
        mad_baseline,
        oracle_ceiling,
        si_recording,
        si_scores,
        stage_recall,
    )

    rows = []
    for snr in snrs:
        for seed in seeds:
            gt = si_recording(snr, seed)
            rec = open_recording(
                MemoryReader({"nerve_uV": gt.trace_uv}, gt.fs_hz),
                ChannelMap(roles={"nerve": "nerve_uV"}),
            )
            fr = analyze_recording(rec)
            ours = si_scores(gt, fr.spikes).set_index("unit")
            base = si_scores(gt, mad_baseline(gt), units=["target"]).set_index("unit")
            row = {"snr_bp": snr, "seed": seed, "n_units": len(fr.units)}
            for k in ("precision", "recall", "f1"):
                row[f"fmslab_{k}"] = ours.loc["target", k]
                row[f"mad5_{k}"] = base.loc["target", k]
            row["larger_unit_f1"] = ours.loc["other1", "f1"]
            first = fr.stream.spike_samples / gt.fs_hz
            row.update(stage_recall(gt, first, fr.spikes))
            row["ceiling_f1"] = oracle_ceiling(gt)[0]
            row["ceiling_wide_f1"] = oracle_ceiling(gt, band_hz=(100.0, 9000.0))[0]
            rows.append(row)
            print(f"snr {snr} seed {seed}: done", file=sys.stderr)
    return pd.DataFrame(rows)


def speed(minutes: float = 30.0, fs: float = 20000.0) -> dict[str, float]:
    from fmslab.skinnerve.simulate import DEFAULT_UNITS, template

    rng = np.random.default_rng(0)
    n = int(minutes * 60 * fs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.abf"
        t0 = time.perf_counter()
        x = rng.normal(0, 10.0, n).astype(np.float32)
        for spec in DEFAULT_UNITS:  # every unit fires as a Poisson process at 3 Hz
            wf = template(spec, fs).astype(np.float32)
            k = rng.poisson(3.0 * n / fs)
            s = np.sort(rng.integers(100, n - 100, k))
            for i in s:
                x[i : i + wf.size] += wf
        import pyabf.abfWriter

        pyabf.abfWriter.writeABF1(x[np.newaxis, :], str(path), fs, units="pA")
        del x
        gen_s = time.perf_counter() - t0
        # analyse in a fresh process so that its peak RSS is the analysis' alone
        import json
        import os
        import subprocess

        env = {**os.environ, **{k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                  "MKL_NUM_THREADS")}}  # fmt: skip
        child = subprocess.run(
            [sys.executable, __file__, "_analyze", str(path)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        stats = json.loads(child.stdout.strip().splitlines()[-1])
        size_mb = path.stat().st_size / 1e6
    return {
        "recording_min": minutes,
        "fs_hz": fs,
        "file_mb": size_mb,
        "generate_s": gen_s,
        **stats,
        "realtime_factor_cpu": minutes * 60 / stats["analyze_cpu_s"],
    }


def _vm_hwm_mb() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it does not carry over the
    parent's peak across fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1e3
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _analyze_child(path: str) -> None:
    import json

    import elephant.statistics  # noqa: F401 - imports counted in the baseline RSS
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure  # noqa: F401
    import neo  # noqa: F401

    from fmslab.skinnerve.analysis import analyze_file
    from fmslab.skinnerve.batch import analyze_item
    from fmslab.skinnerve.params import Params

    rss0 = _vm_hwm_mb()
    with tempfile.TemporaryDirectory() as out:
        t0, c0 = time.perf_counter(), time.process_time()
        tables = analyze_item((path, None, Params().to_dict(), out, Path(path).name))
        run_s, run_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        rss1 = _vm_hwm_mb()
        n_figs = len(list((Path(out) / "figures").glob("*.png")))
    t0, c0 = time.perf_counter(), time.process_time()
    analyze_file(path)
    analysis_s, analysis_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    out = {
        "analyze_s": run_s,
        "analyze_cpu_s": run_cpu_s,
        "analysis_without_figures_s": analysis_s,
        "analysis_without_figures_cpu_s": analysis_cpu_s,
        "n_figures": n_figs,
        "n_spikes": len(tables["spikes"]),
        "n_units": len(tables["units"]),
        "rss_after_imports_mb": rss0,
        "peak_rss_mb": rss1,
    }
    print(json.dumps(out))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "_analyze":
        _analyze_child(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["accuracy", "speed", "independent"])
    ap.add_argument("--noise", type=float, nargs="+", default=[5.0, 10.0, 15.0, 20.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--out", type=Path, default=None, help="CSV for the accuracy rows")
    a = ap.parse_args()
    if a.what == "accuracy":
        df = accuracy(a.noise, a.seeds)
        if a.out:
            df.to_csv(a.out, index=False)
        summary = (
            df.groupby(["noise_uv", "unit"], sort=False)
            .agg(
                snr_nominal=("snr_nominal", "first"),
                snr_measured=("snr_measured", "mean"),
                detection_recall=("detection_recall", "mean"),
                recall=("recall", "mean"),
                precision=("precision", "mean"),
                type_ok=(
                    "type_found",
                    lambda s: f"{(s == df.loc[s.index, 'type_true']).sum()}/{len(s)}",
                ),
            )
            .reset_index()
        )
        print(
            summary.to_markdown(index=False, floatfmt=".2f")
            if _has_tabulate()
            else summary.round(2).to_string()
        )
    elif a.what == "independent":
        df = independent([4.0, 5.0, 6.0, 8.0], a.seeds)
        if a.out:
            df.to_csv(a.out, index=False)
        print(df.groupby("snr_bp").mean(numeric_only=True).drop(columns="seed").round(3))
    else:
        for k, v in speed(a.minutes).items():
            print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
