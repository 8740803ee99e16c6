"""Batch runs keep going and report failures; outputs are written atomically; hashes are right."""

from __future__ import annotations

import hashlib
import json
import os

import pandas as pd
import pytest

from fmslab.atomic import write_json, write_table, write_tables, write_with
from fmslab.batch import run_batch
from fmslab.cache import ResultCache, cache_key
from fmslab.provenance import sha256_file, sha256_json


def _square_or_fail(x: int) -> int:
    if x % 3 == 0:
        raise ValueError(f"item {x} is divisible by 3")
    return x * x


_LINE = _square_or_fail.__code__.co_firstlineno + 2


def _input_error(x: int) -> int:
    from fmslab.errors import InputError

    raise InputError("truncated", file="x.abf", sweep=3)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_batch_collects_results_and_failures_in_order(n_jobs):
    out = run_batch(_square_or_fail, range(1, 8), n_jobs=n_jobs, progress=False)
    assert out.results == [("1", 1), ("2", 4), ("4", 16), ("5", 25), ("7", 49)]
    assert [(f.item, f.error_type) for f in out.failures] == [
        ("3", "ValueError"),
        ("6", "ValueError"),
    ]
    frame = out.failures_frame()
    assert list(frame.columns) == ["file", "error_type", "message"]
    # an exception fmslab did not raise on purpose is named, with where it came from
    assert frame["message"].tolist() == [
        f"could not be processed: unexpected ValueError in test_batch_atomic.py:{_LINE} "
        f"(_square_or_fail): item {i} is divisible by 3"
        for i in (3, 6)
    ]


def test_batch_keeps_fmslab_messages_verbatim():
    out = run_batch(_input_error, [1], n_jobs=1, progress=False)
    assert out.failures[0].message == "x.abf, sweep 3: truncated"


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    write_table(pd.DataFrame({"a": [1]}), target)

    def broken(path):
        path.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_with(target, broken)
    assert pd.read_csv(target)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary left behind


def test_write_tables_and_json(tmp_path):
    df = pd.DataFrame({"x": [1.5, 2.5], "s": ["a", "b"]})
    paths = write_tables(df, tmp_path / "sub" / "t")
    assert [p.suffix for p in paths] == [".csv", ".parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(paths[1]), df)
    write_json(tmp_path / "p.json", {"b": 1, "a": [1, 2]})
    assert json.loads((tmp_path / "p.json").read_text()) == {"a": [1, 2], "b": 1}
    with pytest.raises(ValueError, match="unsupported table format"):
        write_table(df, tmp_path / "t.xls")


def test_hashes_against_hashlib(tmp_path):
    data = bytes(range(256)) * 10_000  # 2.5 MB: several read chunks
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    assert sha256_json({"b": 1, "a": 2}) == sha256_json({"a": 2, "b": 1})


@pytest.mark.parametrize("fmt", ["parquet", "pickle"])
def test_result_cache_round_trip(tmp_path, fmt):
    cache = ResultCache(tmp_path, fmt=fmt)
    key = cache_key(input_sha256="abc", parameters={"dvdt": 20}, step="ephys")
    assert key != cache_key(input_sha256="abc", parameters={"dvdt": 10}, step="ephys")
    assert cache.get("ephys", key) is None
    df = pd.DataFrame({"sweep": [0, 1], "n_spikes": [0, 3]})
    cache.put("ephys", key, {"sweeps": df})
    pd.testing.assert_frame_equal(cache.get("ephys", key)["sweeps"], df)
    # a pickled entry is read by a reader of either format (same folder layout and marker)
    pd.testing.assert_frame_equal(ResultCache(tmp_path).get("ephys", key)["sweeps"], df)


def test_outputs_get_the_umask_not_mkstemp_0600(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        a = write_table(pd.DataFrame({"a": [1]}), tmp_path / "a.csv")
        b = write_json(tmp_path / "b.json", {"x": 1})
    finally:
        os.umask(old)
    assert (a.stat().st_mode & 0o777) == 0o640 and (b.stat().st_mode & 0o777) == 0o640
    old = os.umask(0o002)
    try:
        c = write_table(pd.DataFrame({"a": [1]}), tmp_path / "c.parquet")
    finally:
        os.umask(old)
    assert (c.stat().st_mode & 0o777) == 0o664


def test_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    # a pid that is certainly dead: a child that has exited
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(child.stdout)
    stale = tmp_path / f".out.csv.{dead}.abc123.tmp"
    stale.write_text("half")
    alive = tmp_path / f".out.csv.{os.getpid()}.zzz.tmp"  # a live writer's file is kept
    alive.write_text("in progress")
    write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.csv")
    assert not stale.exists() and alive.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "out.csv"]
