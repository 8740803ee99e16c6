"""Coverage-guided fuzzing (atheris / libFuzzer) of fmslab's readers, counting every outcome.

Each target writes the fuzzer's bytes to a file of the reader's type and reads it. An ``InputError``
is the expected refusal ("refused"); a return is "read"; any other exception is "unexpected" and
is tallied by type and the place it came from (with one example). A reader slower than
``--timeout`` seconds on one input is a hang (libFuzzer stops and the target is marked so). The
seed corpus is the repository's sample study, behaviour sheets and a real ABF from ``../shared``.

Run from the repository root (each target in its own process; counts in the JSON summary)::

    PYTHONPATH=src nice -n 10 python benchmarks/fuzz_readers.py --runs 20000 \
        --targets sheet,study,behaviour,counts,skinnerve_csv,abf,spike2,neo --summary /tmp/fuzz.json

``--max-time S`` stops each target after S seconds (libFuzzer's ``-max_total_time``).

``tests/test_fuzz_readers.py`` runs it for 300 inputs per fast target; the counts of the long run
are in ``docs/reliability.md``.
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
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TARGETS = ("sheet", "study", "behaviour", "counts", "skinnerve_csv", "abf", "spike2", "neo")
FORMATS = SHARED / "ephys" / "formats"
#: the ``neo`` target: the first input byte picks the format (mod 3), the rest is the file
NEO_SUFFIXES = (".wcp", ".axgx", ".ibw")
NEO_SEEDS = ("test_002.wcp", "AxoGraph_X_File.axgx", "B6_Ch3_IDRest_181.ibw")
SUFFIX = {
    "sheet": ".csv",
    "study": ".csv",
    "behaviour": ".csv",
    "counts": ".tsv",
    "skinnerve_csv": ".csv",
    "abf": ".abf",
    "spike2": ".smr",
    "neo": "",
}
MAX_LEN = {"abf": 200_000, "spike2": 2_500_000, "neo": 60_000}


def _seeds(target: str, corpus: Path) -> None:
    """Seed files for one target (real inputs the readers accept)."""
    study = REPO / "sample_recordings" / "sample_study"
    beh = REPO / "tests" / "data" / "behaviour"
    if target in ("sheet", "study"):
        for name in ("donors", "mice", "recordings", "unblinding"):
            shutil.copy(study / f"{name}.csv", corpus / f"{name}.csv")
    elif target == "behaviour":
        for p in beh.glob("*.csv"):
            shutil.copy(p, corpus / p.name)
    elif target == "counts":
        rows = ["gene\tS1\tS2\tS3", "Scn9a\t10\t0\t7", "Scn10a\t3\t5\t1", "Trpv1\t0\t0\t2"]
        (corpus / "counts.tsv").write_text("\n".join(rows) + "\n")
    elif target == "skinnerve_csv":
        lines = ["time_s,nerve_uV,stim_V"] + [
            f"{i / 1e4:.4f},{(i * 7) % 13 - 6},0" for i in range(300)
        ]
        (corpus / "u.csv").write_text("\n".join(lines) + "\n")
    elif target == "abf":
        shutil.copy(SHARED / "ephys" / "abf" / "17o05027_ic_ramp.abf", corpus / "seed.abf")
    elif target == "spike2":  # a real Spike2 (32-bit SON) file: 4 channels at 5 kHz, 2.4 MB
        shutil.copy(FORMATS / "biomech0deg.smr", corpus / "seed.smr")
    elif target == "neo":
        for k, name in enumerate(NEO_SEEDS):
            (corpus / name).write_bytes(bytes([k]) + (FORMATS / name).read_bytes())


def _reader(target: str, path: Path, work: Path):
    """The function that reads ``path`` for ``target``."""
    if target == "sheet":
        from fmslab.study.sheets import read_sheet

        return lambda: read_sheet(path)
    if target == "study":
        from fmslab.study.validate import load_validated_study, validate_study

        study = work / "study"
        shutil.copytree(REPO / "sample_recordings" / "sample_study", study,
                        ignore=shutil.ignore_patterns("results"))  # fmt: skip
        sheet = study / "recordings.csv"

        def read():
            shutil.copy(path, sheet)
            validate_study(study)  # must never raise
            return load_validated_study(study)

        return read
    if target == "behaviour":
        from fmslab.behaviour.filaments import load_sets
        from fmslab.behaviour.sheet import read_behaviour_sheet

        sets = load_sets(None)
        return lambda: read_behaviour_sheet(path, sets)
    if target == "counts":
        from fmslab.rnaseq.io import read_counts

        return lambda: read_counts(path)
    if target == "skinnerve_csv":
        from fmslab.skinnerve.io import open_recording

        def read():
            rec = open_recording(path)
            for _ in rec.reader.iter_chunks(rec.reader.names, 100):
                pass

        return read
    if target == "abf":
        from fmslab.ephys.io import open_recording

        def read():
            rec = open_recording(path)
            for s in range(min(rec.n_sweeps, 3)):
                rec.sweep(s)

        return read
    if target == "spike2":
        # the same bytes through both Spike2 readers: ephys (neo Spike2IO, whole segments) and
        # skin-nerve (neo Spike2RawIO, chunked; its first two chunks)
        from fmslab.ephys.io import open_recording as open_ephys
        from fmslab.errors import InputError
        from fmslab.skinnerve.io import open_reader

        def read():
            try:  # the seed has no membrane potential: ephys refuses it, as it should
                rec = open_ephys(path)
                for s in range(min(rec.n_sweeps, 3)):
                    rec.sweep(s)
            except InputError:
                pass
            reader = open_reader(path)  # "read" / "refused" count the skin-nerve reader
            for k, _ in enumerate(reader.iter_chunks(reader.names, 20_000)):
                if k >= 1:
                    break

        return read
    if target == "neo":
        from fmslab.ephys.io import open_recording

        files = {sfx: work / f"input{sfx}" for sfx in NEO_SUFFIXES}

        def read():
            data = path.read_bytes()
            sfx = NEO_SUFFIXES[data[0] % len(NEO_SUFFIXES)] if data else ".wcp"
            files[sfx].write_bytes(data[1:])
            rec = open_recording(files[sfx])
            for s in range(min(rec.n_sweeps, 3)):
                rec.sweep(s)

        return read
    raise SystemExit(f"unknown target {target}")


def _run_one(
    target: str, runs: int, timeout_s: int, summary: Path, seed: int, max_time_s: int = 0
) -> None:
    import atheris

    with atheris.instrument_imports(include=["fmslab"]):
        import fmslab.behaviour.sheet  # noqa: F401
        import fmslab.ephys.io  # noqa: F401
        import fmslab.rnaseq.io  # noqa: F401
        import fmslab.skinnerve.io  # noqa: F401
        import fmslab.study.sheets  # noqa: F401
        import fmslab.study.validate  # noqa: F401
    from fmslab.errors import InputError

    work = Path(tempfile.mkdtemp(prefix=f"fuzz_{target}_"))
    corpus = work / "corpus"
    corpus.mkdir()
    _seeds(target, corpus)
    path = work / f"input{SUFFIX[target] or '.bin'}"
    read = _reader(target, path, work)
    counts: dict = {"runs": 0, "read": 0, "refused": 0, "unexpected": Counter(), "examples": {}}
    t0 = time.monotonic()

    def save() -> None:
        out = {**counts, "unexpected": dict(counts["unexpected"]), "seconds": time.monotonic() - t0}
        summary.write_text(json.dumps(out, indent=1))

    def one_input(data: bytes) -> None:
        path.write_bytes(data)
        try:
            read()
            counts["read"] += 1
        except InputError:
            counts["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - tallied: this is what the fuzzer looks for
            frames = traceback.extract_tb(exc.__traceback__)
            ours = [f for f in frames if "fmslab" in f.filename] or frames
            frame = ours[-1]  # the innermost fmslab line: where the reader let it through
            key = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            counts["unexpected"][key] += 1
            counts["examples"].setdefault(key, f"{str(exc)[:200]} | input {data[:120]!r}")
        counts["runs"] += 1
        if counts["runs"] % 100 == 0 or counts["runs"] >= runs:
            save()

    save()
    max_len = MAX_LEN.get(target, 4096)
    atheris.Setup(
        [sys.argv[0], f"-runs={runs}", f"-timeout={timeout_s}", f"-seed={seed}",
         f"-max_len={max_len}", "-rss_limit_mb=3072", f"-max_total_time={max_time_s}",
         str(corpus)],
        one_input,
    )  # fmt: skip
    atheris.Fuzz()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2000, help="inputs per target")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--summary", type=Path, required=True, help="JSON file of counts per target")
    ap.add_argument("--timeout", type=int, default=20, help="seconds per input before a hang")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--max-time", type=int, default=0, help="seconds per target at most (0: no limit)"
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _run_one(args.one, args.runs, args.timeout, args.summary, args.seed, args.max_time)
        return
    result = {}
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for target in [t for t in args.targets.split(",") if t]:
        part = args.summary.with_suffix(f".{target}.json")
        proc = subprocess.run(
            [sys.executable, __file__, "--one", target, "--runs", str(args.runs),
             "--timeout", str(args.timeout), "--seed", str(args.seed), "--summary", str(part),
             "--max-time", str(args.max_time)],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        counts = json.loads(part.read_text()) if part.is_file() else {"runs": 0, "unexpected": {}}
        counts["exit_code"] = proc.returncode
        if proc.returncode != 0:  # libFuzzer stopped early: a hang (timeout) or a crash
            counts["stopped"] = proc.stderr[-1500:]
        result[target] = counts
        print(f"{target}: {counts['runs']} inputs, read {counts.get('read')}, refused "
              f"{counts.get('refused')}, unexpected {sum(counts['unexpected'].values())}"
              + (f", STOPPED (exit {proc.returncode})" if proc.returncode else ""))  # fmt: skip
    args.summary.write_text(json.dumps(result, indent=1))
    if any(c.get("exit_code") for c in result.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
