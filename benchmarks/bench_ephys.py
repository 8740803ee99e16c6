"""Throughput of fmslab vs eFEL vs IPFX on the same current-clamp sweeps; fmslab's 2-core scaling;
and the end-to-end comparison of whole processes.

End to end (fmslab's venv with eFEL 5.7.34 installed; about 5 minutes on 2 cores)::

    PYTHONPATH=src nice -n 10 python benchmarks/bench_ephys.py --end-to-end --copies 24

runs, one after the other on the same 144 files (24 distinct copies of the six reference files,
2880 sweeps): ``fmslab ephys analyze`` with its defaults (figures, all cores, fresh output folder),
the same with ``--no-figures``, and an eFEL batch (:func:`efel_batch`: pyabf reading, 20 features
per sweep, a CSV), each as a whole process, and prints the wall times and ratios.

Per-sweep throughput (eFEL 5.7.34 and IPFX 2.1.2 in their own venv, called as a subprocess)::

    PYTHONPATH=src python benchmarks/bench_ephys.py --other-python /tmp/bench-ephys/bin/python

The sweeps are those of the six reference files in ../shared/data/ephys/abf (120 sweeps, 20 kHz and
10 kHz, 1-3 s each), read once and written to an .npz file that every tool reads, so all three
analyse identical arrays already in memory (file reading is not timed). Each tool computes its
full per-sweep feature set on one core:

* fmslab: :func:`fmslab.ephys.features.sweep_features` (every column of sweeps.csv);
* eFEL: the features of ../shared/data/ephys/reference/efel_features.csv (spike count, AP shape,
  AHP, ISI, adaptation, baseline, steady state, sag, input resistance, time constant); eFEL's
  time-constant features are skipped on the 2 ms-pulse sweeps (File_axon_6) where they crash eFEL;
* IPFX: SpikeFeatureExtractor + SpikeTrainFeatureExtractor (filter None: the files are sampled at
  <= 20 kHz, which its default 10 kHz filter refuses) + sag, baseline, deflection and time
  constant on hyperpolarising steps.

The batch part runs ``fmslab ephys analyze``'s engine (:func:`fmslab.ephys.batch.analyze_paths`,
no figures, no result cache) on copies of the files with 1 and 2 worker processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
#: ../shared next to the checkout, or the data mirror named by FMSLAB_TEST_DATA (a worktree elsewhere)
SHARED = (
    Path(os.environ["FMSLAB_TEST_DATA"]).parent
    if os.environ.get("FMSLAB_TEST_DATA")
    else HERE.parents[2] / "shared"
)
FILES = [
    "171116sh_0018",
    "17o05028_ic_steps",
    "18711001",
    "2020_03_02_0000",
    "File_axon_5",
    "File_axon_6",
]


# ------------------------------------------------------------------------------ sweep export
def export_sweeps(abf_dir: Path, npz: Path) -> int:
    from fmslab.ephys.io import open_recording

    arrays: dict[str, np.ndarray] = {}
    meta = []
    for f in FILES:
        for sw in open_recording(abf_dir / f"{f}.abf"):
            k = len(meta)
            arrays[f"v{k}"] = sw.v_mV
            arrays[f"e{k}"] = sw.edges_s
            st = sw.stimulus
            meta.append(
                [
                    sw.dt_s,
                    st.stim_start_s,
                    st.stim_end_s,
                    st.stim_pA,
                    st.holding_pA,
                    {"step": 0, "pulse": 1, "ramp": 2}.get(st.kind, 3),
                ]
            )
    np.savez(npz, meta=np.array(meta), **arrays)
    return len(meta)


def load_sweeps(npz: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    d = np.load(npz)
    return [(d[f"v{k}"], d[f"e{k}"], row) for k, row in enumerate(d["meta"])]


# ------------------------------------------------------------------------------ the tools
def run_fmslab(sweeps, repeats: int) -> tuple[float, int]:
    from fmslab.ephys.features import sweep_features
    from fmslab.ephys.io import Stimulus, Sweep

    kinds = ["step", "pulse", "ramp", "none"]
    objs = [
        Sweep(
            k,
            v,
            row[0],
            Stimulus(kinds[int(row[5])], row[3], row[1], row[2], row[4], "epochs"),
            edges_s=e,
        )
        for k, (v, e, row) in enumerate(sweeps)
    ]
    n_spikes = sum(int(sweep_features(s)["n_spikes_stim"]) for s in objs)  # warm-up + check
    t0 = time.perf_counter()
    for _ in range(repeats):
        for s in objs:
            sweep_features(s)
    return time.perf_counter() - t0, n_spikes


EFEL_FEATURES = [
    "voltage_base",
    "AP_amplitude",
    "AP_begin_voltage",
    "spike_half_width",
    "AP_duration_half_width",
    "AP_width",
    "Spikecount",
    "Spikecount_stimint",
    "time_to_first_spike",
    "AHP_depth",
    "AHP_depth_abs",
    "ohmic_input_resistance_vb_ssse",
    "sag_ratio1",
    "sag_amplitude",
    "steady_state_voltage_stimend",
    "mean_frequency",
    "adaptation_index2",
    "ISI_CV",
    "AP_rise_rate",
    "AP_fall_rate",
    "peak_voltage",
    "inv_first_ISI",
    "decay_time_constant_after_stim",
    "time_constant",
]
TAU_FEATURES = {"decay_time_constant_after_stim", "time_constant"}


def run_efel(sweeps, repeats: int) -> tuple[float, int]:
    import efel

    efel.reset()
    efel.set_setting("Threshold", -20.0)  # eFEL's default spike threshold
    traces, feats = [], []
    for v, _e, row in sweeps:
        dt_ms = row[0] * 1e3
        tr = {
            "T": np.arange(v.size) * dt_ms,
            "V": v,
            "stim_start": [row[1] * 1e3],
            "stim_end": [row[2] * 1e3],
            "stimulus_current": [row[3] / 1000.0],
        }
        traces.append(tr)
        pulse = row[2] - row[1] < 0.02
        feats.append([f for f in EFEL_FEATURES if not (pulse and f in TAU_FEATURES)])
    n_spikes = 0
    for tr, fl in zip(traces, feats, strict=True):
        r = efel.get_feature_values([tr], fl, raise_warnings=False)[0]
        n_spikes += int(r["Spikecount_stimint"][0]) if r["Spikecount_stimint"] is not None else 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        for tr, fl in zip(traces, feats, strict=True):
            efel.reset()
            efel.set_setting("Threshold", -20.0)
            efel.get_feature_values([tr], fl, raise_warnings=False)
    return time.perf_counter() - t0, n_spikes


def run_ipfx(sweeps, repeats: int) -> tuple[float, int]:
    import warnings

    from ipfx import subthresh_features as sf
    from ipfx.feature_extractor import SpikeFeatureExtractor, SpikeTrainFeatureExtractor

    warnings.filterwarnings("ignore")

    def one(v, row):
        t = np.arange(v.size) * row[0]
        i = np.zeros_like(v)
        start, end = float(row[1]), float(row[2])
        sfx = SpikeFeatureExtractor(start=start, end=end, filter=None)
        spikes = sfx.process(t, v, i)
        stx = SpikeTrainFeatureExtractor(start=start, end=end)
        stx.process(t, v, i, spikes)
        if row[3] < 0 and spikes.empty:
            sf.sag(t, v, i, start, end)
            sf.baseline_voltage(t, v, start)
            sf.voltage_deflection(t, v, i, start, end, "min")
            try:
                sf.time_constant(t, v, i, start, end)
            except Exception:  # noqa: BLE001 - IPFX raises on some fits; still counted as work
                pass
        return len(spikes)

    n_spikes = 0
    for v, _e, row in sweeps:
        try:
            n_spikes += one(v, row)
        except Exception:  # noqa: BLE001
            pass
    t0 = time.perf_counter()
    for _ in range(repeats):
        for v, _e, row in sweeps:
            try:
                one(v, row)
            except Exception:  # noqa: BLE001
                pass
    return time.perf_counter() - t0, n_spikes


TOOLS = {"fmslab": run_fmslab, "efel": run_efel, "ipfx": run_ipfx}

#: the 20 eFEL features of the end-to-end comparison (EFEL_FEATURES without the two time
#: constants, which crash eFEL on 2-ms pulses, and two duplicates of the spike width)
EFEL_BATCH_FEATURES = [
    f for f in EFEL_FEATURES if f not in TAU_FEATURES and f not in ("AP_width", "peak_voltage")
]
assert len(EFEL_BATCH_FEATURES) == 20


def efel_batch(in_dir: Path, out_csv: Path) -> None:
    """What a user does with eFEL: read every ABF with pyabf (Vm = the first mV channel, the step
    window from the command waveform ``sweepC``), compute 20 features per sweep, write a CSV."""
    import csv
    import warnings

    import efel
    import pyabf

    warnings.filterwarnings("ignore")
    efel.set_setting("Threshold", -20.0)
    rows = []
    for path in sorted(in_dir.glob("*.abf")):
        abf = pyabf.ABF(str(path))
        ch = next(i for i, u in enumerate(abf.adcUnits) if u == "mV")
        for s in abf.sweepList:
            abf.setSweep(s, channel=ch)
            t_ms = abf.sweepX * 1e3
            c = abf.sweepC
            change = np.flatnonzero(np.diff(c) != 0)
            start, end = (
                (t_ms[change[0] + 1], t_ms[change[-1] + 1]) if change.size else (0, t_ms[-1])
            )
            amp = float(np.median(c[change[0] + 1 : change[-1]])) if change.size > 1 else 0.0
            trace = {
                "T": t_ms,
                "V": np.array(abf.sweepY, dtype=float),
                "stim_start": [start],
                "stim_end": [end],
                "stimulus_current": [amp / 1000.0],
            }
            res = efel.get_feature_values([trace], EFEL_BATCH_FEATURES, raise_warnings=False)[0]
            rows.append(
                {"file": path.name, "sweep": s}
                | {k: (None if v is None or len(v) == 0 else float(v[0])) for k, v in res.items()}
            )
    with out_csv.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def worker(tool: str, npz: Path, repeats: int) -> None:
    """Entry point of the subprocess in the other venv: prints one JSON line."""
    sweeps = load_sweeps(npz)
    secs, n_spikes = TOOLS[tool](sweeps, repeats)
    print(
        json.dumps(
            {
                "tool": tool,
                "seconds": secs,
                "sweeps": len(sweeps) * repeats,
                "spikes_in_steps": n_spikes,
            }
        )
    )


def one_core(cmd: list[str]) -> dict:
    # pin to one CPU so that numpy/BLAS threads cannot use the other core
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    out = subprocess.run(pin + cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def batch_scaling(abf_dir: Path, copies: int) -> tuple[dict[int, float], int]:
    from fmslab.ephys.batch import analyze_paths

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        paths = []
        for c in range(copies):
            for f in FILES:
                p = src / f"{f}_{c}.abf"
                shutil.copy(abf_dir / f"{f}.abf", p)
                paths.append(p)
        # alternate 1 and 2 workers, 3 rounds, best of each: the machine is shared with other jobs
        times = {1: float("inf"), 2: float("inf")}
        for rnd in range(3):
            for jobs in (1, 2):
                out = Path(tmp) / f"out{jobs}_{rnd}"
                t0 = time.perf_counter()
                res = analyze_paths(
                    paths,
                    out,
                    n_jobs=jobs,
                    progress=False,
                    figures=False,
                    use_cache=False,  # copies share content: a cache would serve them all
                )
                times[jobs] = min(times[jobs], time.perf_counter() - t0)
                assert res.errors.empty and len(res.cells) == len(paths)
    return times, len(paths)


def make_copies(abf_dir: Path, dest: Path, copies: int) -> int:
    """``copies`` copies of the six reference files, each with a distinct 24-byte tail after the
    ABF data (pyabf reads by the header's offsets and ignores it): every copy has its own SHA-256,
    so fmslab's content cache cannot serve one copy's result for another. Returns the sweeps."""
    import pyabf

    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in FILES:
        data = (abf_dir / f"{f}.abf").read_bytes()
        n += pyabf.ABF(str(abf_dir / f"{f}.abf"), loadData=False).sweepCount * copies
        for c in range(copies):
            (dest / f"{f}_c{c:03d}.abf").write_bytes(data + f"fmslab-bench-copy-{c:06d}".encode())
    return n


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the process and its workers) of ``cmd``, s."""
    import resource

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, cpu() - c0


def end_to_end(abf_dir: Path, copies: int) -> dict[str, float]:
    """Whole processes, one run each, same files: ``fmslab ephys analyze`` (default: figures,
    all cores, fresh output folder and cache), the same with ``--no-figures``, and the eFEL batch
    (:func:`efel_batch`, one process)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        n_sweeps = make_copies(abf_dir, src, copies)
        fm = [sys.executable, "-m", "fmslab", "-q", "ephys", "analyze", str(src)]
        load0 = os.getloadavg()[0]
        runs = {
            "fmslab": timed([*fm, "--out", str(Path(tmp) / "o1")]),
            "fmslab_no_figures": timed([*fm, "--out", str(Path(tmp) / "o2"), "--no-figures"]),
            "efel": timed(
                [sys.executable, str(HERE), "--efel-batch", str(src), str(Path(tmp) / "e.csv")]
            ),
        }
        t: dict[str, float] = {k: w for k, (w, _) in runs.items()}
        t |= {f"{k}_cpu": c for k, (_, c) in runs.items()}
        errors = (Path(tmp) / "o1" / "errors.csv").read_text().strip().splitlines()
        assert len(errors) == 1, errors  # header only: every copy analysed
        n_png = len(list((Path(tmp) / "o1" / "figures").glob("*.png")))
        assert n_png == len(FILES) * copies, n_png
    t |= {"files": len(FILES) * copies, "sweeps": n_sweeps, "load_before": load0}
    t["load_after"] = os.getloadavg()[0]
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--other-python",
        default="/tmp/bench-ephys/bin/python",
        help="Python of the venv with efel and ipfx",
    )
    ap.add_argument("--repeats", type=int, default=5, help="passes over the sweeps per tool")
    ap.add_argument("--copies", type=int, default=24, help="copies of each file in the batch test")
    ap.add_argument("--batch-only", action="store_true", help="only the 1- vs 2-worker batch test")
    ap.add_argument(
        "--end-to-end",
        action="store_true",
        help="only the whole-process comparison: fmslab ephys analyze (with and without figures) "
        "vs an eFEL batch of 20 features, same files",
    )
    ap.add_argument("--worker", choices=sorted(TOOLS), help=argparse.SUPPRESS)
    ap.add_argument("--efel-batch", type=Path, nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--npz", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.efel_batch:
        efel_batch(*a.efel_batch)
        return
    if a.worker:
        worker(a.worker, a.npz, a.repeats)
        return
    abf_dir = SHARED / "data" / "ephys" / "abf"
    if a.end_to_end:
        t = end_to_end(abf_dir, a.copies)
        print(
            f"end to end, {t['files']} files, {t['sweeps']} sweeps, {os.cpu_count()} CPUs, load "
            f"average {t['load_before']:.1f} before / {t['load_after']:.1f} after:\n"
            f"  fmslab ephys analyze (figures)  {t['fmslab']:8.1f} s\n"
            f"  fmslab ephys analyze --no-figures {t['fmslab_no_figures']:6.1f} s\n"
            f"  eFEL batch, 20 features          {t['efel']:8.1f} s\n"
            f"  ratio eFEL / fmslab: {t['efel'] / t['fmslab']:.2f} with figures, "
            f"{t['efel'] / t['fmslab_no_figures']:.2f} without (wall time)\n"
            f"  CPU time (all processes): fmslab {t['fmslab_cpu']:.1f} s, --no-figures "
            f"{t['fmslab_no_figures_cpu']:.1f} s, eFEL {t['efel_cpu']:.1f} s; ratio "
            f"{t['efel_cpu'] / t['fmslab_cpu']:.2f} with figures, "
            f"{t['efel_cpu'] / t['fmslab_no_figures_cpu']:.2f} without (eFEL runs on one "
            f"core, fmslab on all: the CPU ratio is the work ratio, the wall ratio what a user waits)"
        )
        return
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if not a.batch_only:
        tools(abf_dir, a)
    times, n_files = batch_scaling(abf_dir, a.copies)
    print(
        f"batch ({n_files} files, no figures): 1 job {times[1]:.2f} s, 2 jobs {times[2]:.2f} s, "
        f"speed-up {times[1] / times[2]:.2f}x; load average after: {os.getloadavg()[0]:.2f}"
    )


def tools(abf_dir: Path, a: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "sweeps.npz"
        n = export_sweeps(abf_dir, npz)
        print(f"{n} sweeps from {len(FILES)} files, {a.repeats} passes per tool, one core each")
        results = {}
        for tool, py in (
            ("fmslab", sys.executable),
            ("efel", a.other_python),
            ("ipfx", a.other_python),
        ):
            cmd = [py, str(HERE), "--worker", tool, "--npz", str(npz), "--repeats", str(a.repeats)]
            try:
                results[tool] = one_core(cmd)
            except subprocess.CalledProcessError as exc:
                print(f"{tool}: failed ({exc.stderr.strip().splitlines()[-1:]})")
    rate = {k: r["sweeps"] / r["seconds"] for k, r in results.items()}
    for k, r in results.items():
        print(
            f"{k:7s} {rate[k]:9.1f} sweeps/s   ({r['seconds']:.2f} s for {r['sweeps']} sweeps; "
            f"{r['spikes_in_steps']} spikes in the stimulus windows)"
        )
    for other in ("efel", "ipfx"):
        if other in rate and "fmslab" in rate:
            print(f"fmslab / {other}: {rate['fmslab'] / rate[other]:.1f}x")


if __name__ == "__main__":
    main()
