"""fmslab's slow AHP against eFEL's own slow AHP, spike by spike, on the shared real cells.

The 2-4 mV "disagreement" seen before compared fmslab's slow trough with eFEL's ``AHP_depth_abs``,
which is eFEL's *first* trough after the peak (``min_AHP_indices``: 4-9 ms after it on these
cells, so close to fmslab's fast trough). eFEL's slow AHP is ``AHP_depth_abs_slow``: the minimum
from ``sahp_start`` (5 ms) after the peak to the next peak, the same window as fmslab's slow
trough (5 ms after the peak to the next threshold, at most 100 ms or the step's end).
``tests/data/ephys_efel_ahp.csv`` holds eFEL 5.7.34's per-spike values (written by
``benchmarks/ephys_reference.py``; tests never import eFEL).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmslab.ephys.analysis import analyze_file_tables

DATA = Path(__file__).parent / "data"
#: fmslab's slow-AHP window ends 100 ms after the peak (SpikeParams.ahp_window_ms)
WINDOW_MS = 100.0


@pytest.fixture(scope="module")
def matched(abf_dir) -> pd.DataFrame:
    """eFEL's spikes joined to fmslab's by peak time (within 0.5 ms, same sweep)."""
    ref = pd.read_csv(DATA / "ephys_efel_ahp.csv")
    rows = []
    for name, g in ref.groupby("file"):
        sp = analyze_file_tables(abf_dir / f"{name}.abf")["spikes"]
        for r in g.itertuples():
            s = sp[sp["sweep"] == r.sweep]
            if not len(s):
                continue
            k = int(np.argmin(np.abs(s["peak_t_s"].to_numpy() * 1e3 - r.peak_t_ms)))
            f = s.iloc[k]
            if abs(f["peak_t_s"] * 1e3 - r.peak_t_ms) > 0.5:
                continue
            rows.append(
                {
                    "file": name,
                    "isi_ms": r.next_peak_t_ms - r.peak_t_ms,
                    "efel_slow": r.AHP_depth_abs_slow,
                    "fast": f["ahp_trough_mV"],
                    "slow": f["ahp_slow_trough_mV"],
                }
            )
    return pd.DataFrame(rows)


def test_every_efel_spike_is_matched(matched):
    ref = pd.read_csv(DATA / "ephys_efel_ahp.csv")
    assert len(matched) == len(ref) == 536


def test_slow_trough_equals_efels_slow_ahp(matched):
    """Where both give a slow AHP and the next spike comes within fmslab's 100 ms window (179
    spikes of 171116sh_0018, 17o05028 and 18711001), both take the minimum of the same samples
    from 5 ms after the peak: they agree within 0.1 mV (eFEL reads a 0.1 ms linear interpolation
    of the 0.05-0.1 ms samples, and its 5 ms start falls on that grid: measured max 0.06 mV)."""
    both = matched.dropna(subset=["slow", "efel_slow"])
    within = both[both["isi_ms"] <= WINDOW_MS]
    assert len(within) >= 150
    assert set(within["file"]) >= {"171116sh_0018", "17o05028_ic_steps", "18711001"}
    np.testing.assert_allclose(within["slow"], within["efel_slow"], atol=0.1)


def test_no_slow_ahp_where_efels_is_no_deeper_than_the_fast_trough(matched):
    """fmslab reports no slow AHP when the minimum after 5 ms is not >= 1 mV below the fast
    trough (or V does not recover). On every spike where eFEL gives a slow AHP within the 100 ms
    window and fmslab gives none, eFEL's own value is not 1 mV below fmslab's fast trough: the
    two differ by the rule, not by the measurement."""
    only_efel = matched[matched["slow"].isna() & matched["efel_slow"].notna()]
    within = only_efel[only_efel["isi_ms"] <= WINDOW_MS]
    assert len(within) >= 100
    assert (within["efel_slow"] >= within["fast"] - 1.0).all()


def test_efel_slow_window_runs_across_the_protocol(matched):
    """The documented difference: with the next peak over 100 ms away (e.g. across
    171116sh_0018's hyperpolarising epoch between its two depolarising steps), eFEL's window
    reaches the protocol's -76 mV epoch; fmslab's stops at 100 ms or the step's end."""
    both = matched.dropna(subset=["slow", "efel_slow"])
    far = both[both["isi_ms"] > 700]
    assert len(far) >= 4
    assert (far["efel_slow"] < far["slow"] - 20).all()
