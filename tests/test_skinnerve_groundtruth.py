"""Sorting scored against ground truth that fmslab did not generate: SpikeInterface's templates,
noise and spike injection (one channel; the unit under study plus a larger and a smaller unit;
bursts with amplitude decrement, refractory periods, amplitude drift, 50 Hz hum with harmonics,
baseline drift), scored by SpikeInterface's ``compare_sorter_to_ground_truth`` (0.5 ms).

SNR = band-passed template peak / band-passed noise SD (see docs/skinnerve.md). The floors below
are the levels measured over seeds 1-3 (docs/skinnerve.md, table "independent ground truth")
minus a margin for seed-to-seed spread (SD of F1 across seeds ~0.03-0.05): they guard against
regressions; the issue's goals (F1 >= 0.95 at SNR 5, >= 0.85 at SNR 4) are NOT reached and are
not asserted. Each fmslab score must also beat the plain 5-MAD threshold detector clearly.
"""

from __future__ import annotations

import pytest

pytest.importorskip("spikeinterface")

from fmslab.skinnerve.analysis import analyze_recording  # noqa: E402
from fmslab.skinnerve.channels import ChannelMap  # noqa: E402
from fmslab.skinnerve.io import MemoryReader, open_recording  # noqa: E402
from fmslab.skinnerve.validation import mad_baseline, si_recording, si_scores  # noqa: E402


def _score(snr: float, seed: int, duration_s: float = 60.0):
    gt = si_recording(snr, seed, duration_s=duration_s)
    rec = open_recording(
        MemoryReader({"nerve_uV": gt.trace_uv}, gt.fs_hz), ChannelMap(roles={"nerve": "nerve_uV"})
    )
    fr = analyze_recording(rec)
    ours = si_scores(gt, fr.spikes).set_index("unit").loc["target"]
    base = si_scores(gt, mad_baseline(gt), units=["target"]).set_index("unit").loc["target"]
    return ours, base, fr


def test_target_unit_at_snr_8_short_recording() -> None:
    ours, base, fr = _score(8.0, seed=5, duration_s=20.0)
    assert ours["f1"] >= 0.85, ours
    assert ours["f1"] >= base["f1"] + 0.1, (ours, base)


FLOORS = {4.0: 0.40, 5.0: 0.65, 6.0: 0.78}


@pytest.mark.slow
@pytest.mark.parametrize("snr", sorted(FLOORS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_target_unit_f1_on_independent_generator(snr: float, seed: int) -> None:
    ours, base, _fr = _score(snr, seed)
    assert ours["f1"] >= FLOORS[snr], (snr, seed, ours)
    assert ours["f1"] >= base["f1"] + 0.15, (snr, seed, ours, base)
