"""sweeps.csv and spikes.csv assembled from the rows the workers formatted are the bytes
``pd.concat(parts).to_csv(index=False)`` writes, including when the parts' dtypes differ (then
the CSV is formatted from the concatenated table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmslab.ephys.batch import csv_rows, write_tables_from_parts


def part(n: int, seed: int, *, count_dtype=np.int64, note=None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1e3, n) * rng.choice([1e-9, 1e-3, 1.0, 1e9], n)
    x[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "file": [f'a,b "{seed}".abf'] * n,  # a name CSV must quote
            "sweep": np.arange(n, dtype=np.int64),
            "count": np.arange(n).astype(count_dtype),
            "x_mV": x,
            "ok": rng.random(n) < 0.5,
            "kind": [note if note is not None else ("step" if i % 2 else None) for i in range(n)],
        }
    )


@pytest.mark.parametrize(
    "parts",
    [
        [part(5, 1), part(0, 2), part(7, 3)],  # an empty part among them
        [part(4, 1), part(3, 2, count_dtype=np.float64)],  # int in one file, float in another
        [part(4, 1), part(3, 2, note="ramp")],  # an object column with no None in one part
        [part(6, 4)],
    ],
)
def test_csv_from_parts_is_the_concatenated_tables_csv(tmp_path, parts):
    df = pd.concat(parts, ignore_index=True)
    write_tables_from_parts(df, tmp_path / "t", parts, [csv_rows(p) for p in parts])
    assert (tmp_path / "t.csv").read_bytes() == df.to_csv(index=False).encode()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), df)
