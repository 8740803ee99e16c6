"""Bad input everywhere: property tests (hypothesis) and a short coverage-guided fuzz run (atheris).

Every reader either returns what the file says or refuses it with an ``InputError`` naming the file
(and row/column where known); nothing else escapes, nothing hangs. Where the input is well formed
the properties check the values read back against the values written (an independent oracle: the
csv module wrote them). The long fuzz run and its counts are in ``benchmarks/fuzz_readers.py`` and
``docs/reliability.md``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, SAMPLE_STUDY
from fmslab.errors import InputError, StudyInvalidError

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
FEW = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# cells labs type: ids, numbers, blanks, padding, quotes, separators, non-ASCII letters
cell = st.one_of(
    st.sampled_from(["", " ", "M01", " M01 ", "007", "1.5", "-3", "NaN", "x,y", 'q"q', "Müller"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=8),
)
header = st.lists(
    st.sampled_from(["mouse_id", "donor_id", "path", "modality", "sex", "day", "note", "x y"]),
    min_size=1,
    max_size=5,
    unique=True,
)


def _write(rows: list[list[str]], *, encoding: str, newline: str, sep: str = ",") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=newline).writerows(rows)
    return buf.getvalue().encode(encoding, errors="strict")


@FAST
@given(
    cols=header,
    body=st.lists(st.lists(cell, min_size=0, max_size=6), max_size=6),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_study_sheet_reads_what_was_written_or_refuses(cols, body, encoding, newline):
    from fmslab.study.sheets import read_sheet

    try:
        data = _write([cols, *body], encoding=encoding, newline=newline)
    except UnicodeEncodeError:
        return  # not representable in that encoding: nothing a lab could have saved
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mice.csv"
        path.write_bytes(data)
        try:
            df = read_sheet(path)
        except InputError as exc:
            assert str(path) in str(exc)
            # refused only for a reason: a row wider than the header, or only blank lines
            assert any(any(c.strip() for c in row[len(cols) :]) for row in body), exc
            return
        # the oracle: what the csv module wrote, stripped, blanks as NA, blank rows dropped
        expected = []
        for row in body:
            cells = [(row[i] if i < len(row) else "").strip() for i in range(len(cols))]
            if any(cells):
                expected.append([c if c else None for c in cells])
        got = [[None if pd.isna(v) else v for v in r] for r in df.astype(object).values.tolist()]
        assert list(df.columns) == cols
        assert got == expected


# --- whole studies: the validator lists problems, never raises ---------------------------------

MUTATIONS = ("drop_column", "rename_column", "pad_ids", "duplicate_row", "blank_cell", "garbage",
             "bom_crlf", "latin1", "truncate", "empty", "directory", "dangling_symlink")  # fmt: skip


def _mutate(study: Path, sheet: str, how: str, k: int) -> None:
    path = study / f"{sheet}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    col = df.columns[k % len(df.columns)]
    if how == "drop_column":
        df = df.drop(columns=col)
    elif how == "rename_column":
        df = df.rename(columns={col: col[:-1] + "x"})
    elif how == "pad_ids":
        df[col] = "  " + df[col] + " \t"
    elif how == "duplicate_row":
        df = pd.concat([df, df.iloc[[k % len(df)]]], ignore_index=True)
    elif how == "blank_cell":
        df.loc[k % len(df), col] = ""
    elif how == "garbage":
        df.loc[k % len(df), col] = "?? 12,x"
    if how in ("drop_column", "rename_column", "pad_ids", "duplicate_row", "blank_cell", "garbage"):
        df.to_csv(path, index=False)
    elif how == "bom_crlf":
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    elif how == "latin1":
        path.write_bytes(path.read_bytes().replace(b"\n", " \xe9\n".encode("latin-1"), 1))
    elif how == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[: k % max(1, len(raw))])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "directory":
        path.unlink()
        path.mkdir()
    elif how == "dangling_symlink":
        path.unlink()
        path.symlink_to(study / "nowhere.csv")


@FEW
@given(
    sheet=st.sampled_from(["donors", "mice", "recordings", "unblinding"]),
    how=st.sampled_from(MUTATIONS),
    k=st.integers(0, 400),
)
def test_validator_lists_problems_of_any_broken_sheet(sheet, how, k):
    from fmslab.study.validate import load_validated_study, validate_study

    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "s"
        shutil.copytree(SAMPLE_STUDY, study, ignore=shutil.ignore_patterns("results"))
        _mutate(study, sheet, how, k)
        problems = validate_study(study)  # never raises
        errors = [p for p in problems if p.severity == "error"]
        assert all(p.file and p.reason for p in problems)
        if how in ("pad_ids", "bom_crlf", "latin1"):
            assert errors == [], errors  # formatting only: still the same, valid study
        if how in ("empty", "directory", "dangling_symlink", "duplicate_row"):
            assert errors, how
        try:
            loaded = load_validated_study(study)
        except StudyInvalidError as exc:
            assert errors and exc.problems == errors
            assert str(errors[0]).removeprefix("error: ") in str(exc)
        else:
            assert not errors
            assert set(loaded.mice["mouse_id"]) == {"M01", "M02", "M03", "M04"}


# --- behaviour sheets ---------------------------------------------------------------------------

beh_cell = st.one_of(
    st.sampled_from(
        [
            "",
            "M01",
            "M02",
            "0",
            "3",
            "-1",
            "1.5",
            "vonfrey",
            "von_frey",
            "up-down",
            "hargreaves",
            "acetone",
            "mouse_8",
            "0.4",
            "OXOXOX",
            "OOXOXOX",
            "XXXX",
            "left",
            "7.2",
            "abc",
            "1e3",
            "nan",
        ]
    ),  # fmt: skip
    st.text(max_size=5),
)
beh_cols = st.lists(
    st.sampled_from(
        [
            "mouse_id",
            "day",
            "assay",
            "side",
            "trial",
            "filament_set",
            "first_filament_g",
            "last_filament_g",
            "pattern",
            "latency_s",
            "score",
            "value",
            "cutoff",
            "group",
            "note",
        ]
    ),  # fmt: skip
    min_size=1,
    max_size=9,
    unique=True,
)


@FEW
@given(cols=beh_cols, body=st.lists(st.lists(beh_cell, min_size=9, max_size=9), max_size=8))
def test_behaviour_sheet_scores_or_refuses_rows(cols, body):
    from fmslab.behaviour.filaments import load_sets
    from fmslab.behaviour.sheet import read_behaviour_sheet

    rows = [[r[i] for i in range(len(cols))] for r in body]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vf.csv"
        path.write_bytes(_write([cols, *rows], encoding="utf-8", newline="\n"))
        try:
            data = read_behaviour_sheet(path, load_sets(None))
        except InputError as exc:
            assert str(path) in str(exc)
            return
        n = len(rows)
        # every trial and every problem points at a real sheet row (header is row 1)
        for r in data.trials.get("row", []):
            assert 2 <= r <= n + 1
        for r in data.problems["row"]:
            assert 2 <= r <= n + 1
        assert data.problems["reason"].str.len().gt(0).all()
        if len(data.trials):
            scored = data.trials.dropna(subset=["raw_value"])
            assert (scored["raw_value"] >= 0).all()  # no negative latency/threshold accepted


# --- counts tables -------------------------------------------------------------------------------


@FAST
@given(
    genes=st.lists(
        st.sampled_from(["Scn9a", "Scn10a", "Trpv1", "", "Scn9a ", "Piezo2"]),
        min_size=1,
        max_size=5,
    ),  # fmt: skip
    values=st.lists(
        st.sampled_from(["0", "5", "12", "-1", "2.5", "", "NA", "x", "1e9", "inf"]),
        min_size=1,
        max_size=15,
    ),
    n_samples=st.integers(1, 3),
)
def test_counts_table_is_integers_or_refused(genes, values, n_samples):
    from fmslab.rnaseq.io import read_counts

    rows = [["gene", *[f"S{i}" for i in range(n_samples)]]]
    for j, g in enumerate(genes):
        rows.append([g, *[values[(j * n_samples + i) % len(values)] for i in range(n_samples)]])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counts.tsv"
        path.write_bytes(_write(rows, encoding="utf-8", newline="\n", sep="\t"))
        try:
            counts, _ = read_counts(path)
        except InputError as exc:
            assert str(path) in str(exc)
            return
        assert counts.index.is_unique and (counts.to_numpy() >= 0).all()
        # the oracle: every accepted cell is a whole number as written
        for j, g in enumerate(genes):
            for i in range(n_samples):
                written = rows[j + 1][i + 1]
                assert float(written) == counts.loc[g.strip(), f"S{i}"]


# --- skin-nerve CSV recordings -------------------------------------------------------------------


@FEW
@given(
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4),
)
def test_skinnerve_csv_reads_or_refuses(cut, flips):
    from fmslab.skinnerve.io import open_recording

    lines = ["time_s,nerve_uV,stim_V"] + [f"{i / 1e4:.4f},{(i * 7) % 13 - 6},0" for i in range(400)]
    raw = bytearray(("\n".join(lines) + "\n").encode())
    raw = raw[: max(0, int(len(raw) * cut))] if cut < 0.99 else raw
    for pos, byte in flips:
        if raw:
            raw[int(pos * (len(raw) - 1))] = byte
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "u.csv"
        path.write_bytes(bytes(raw))
        try:
            rec = open_recording(path)
            for _ in rec.reader.iter_chunks(rec.reader.names, 150):
                pass
        except InputError as exc:
            assert str(path) in str(exc)


# --- recordings through the batch: whatever the reader does, the batch goes on -----------------


def _ephys_task(path: Path):
    from fmslab.ephys.batch import Task, analyze_task
    from fmslab.ephys.qc import load_qc
    from fmslab.ephys.spikes import SpikeParams

    return analyze_task(Task(path, SpikeParams().as_dict(), load_qc(None), None, None))


@pytest.fixture(scope="module")
def odd_recordings(tmp_path_factory, abf_dir):
    """Files named like recordings that are not: each must become an error row naming it."""
    d = tmp_path_factory.mktemp("odd")
    good = (abf_dir / "File_axon_5.abf").read_bytes()
    (d / "empty.abf").write_bytes(b"")
    (d / "text.abf").write_text("this is a note, not a recording\n")
    (d / "header_only.abf").write_bytes(good[:512])
    (d / "half.abf").write_bytes(good[: len(good) // 2])
    (d / "folder.abf").mkdir()
    (d / "dangling.abf").symlink_to(d / "nowhere.abf")
    (d / "loop_a.abf").symlink_to(d / "loop_b.abf")
    (d / "loop_b.abf").symlink_to(d / "loop_a.abf")
    flipped = bytearray(good)
    flipped[0:4] = b"XXXX"  # the ABF signature
    (d / "flipped.abf").write_bytes(bytes(flipped))
    return d


def test_every_odd_recording_is_one_error_row_and_the_batch_goes_on(odd_recordings, abf_dir):
    from fmslab.batch import run_batch

    items = sorted(odd_recordings.iterdir()) + [abf_dir / "File_axon_5.abf"]
    out = run_batch(_ephys_task, items, n_jobs=1, progress=False, label=lambda p: p.name)
    assert [name for name, _ in out.results] == ["File_axon_5.abf"]  # the good file still runs
    reasons = {f.item: f.message for f in out.failures}
    assert set(reasons) == {p.name for p in items[:-1]}
    assert all(reasons.values())
    # each says what is wrong (the reader's own words, or the batch guard's OSError text)
    assert re.search("director|folder", reasons["folder.abf"])
    assert re.search("dangling|no such file", reasons["dangling.abf"])
    assert re.search("loop|too many levels of symbolic links", reasons["loop_a.abf"])
    assert all(name in reasons[name] for name in ("empty.abf", "text.abf", "half.abf"))


# --- the short coverage-guided fuzz run ----------------------------------------------------------


def test_atheris_short_run_finds_no_unexpected_exception(tmp_path):
    """A bounded atheris run over the sheet, behaviour, counts and skin-nerve CSV readers."""
    pytest.importorskip("atheris")
    summary = tmp_path / "summary.json"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "fuzz_readers.py"), "--runs", "300",
         "--targets", "sheet,behaviour,counts,skinnerve_csv", "--summary", str(summary)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    import json

    result = json.loads(summary.read_text())
    for target, counts in result.items():
        assert counts["runs"] >= 300, target
        assert counts["unexpected"] == {}, (target, counts["unexpected"])
