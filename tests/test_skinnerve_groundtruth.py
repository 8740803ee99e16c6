"""Sorting scored against ground truth that fmslab did not generate: SpikeInterface's templates,
noise and spike injection (one channel; the unit under study plus a larger and a smaller unit;
bursts with amplitude decrement, refractory periods, amplitude drift, 50 Hz hum with harmonics,
baseline drift), scored by SpikeInterface's ``compare_sorter_to_ground_truth`` (0.5 ms).

SNR = band-passed template peak / band-passed noise SD (see docs/skinnerve.md). The floors below
are the lowest per-seed F1 measured over seeds 1-3 (docs/skinnerve.md, table "independent
ground truth", session 5, matching in the wider band, the default: SNR 4 0.68, SNR 5 0.83, SNR 6 0.85)
minus 0.03-0.04 for seed-to-seed spread (SD of F1 across seeds 0.01-0.03): they guard against
regressions. The issue's goals (F1 >= 0.95 at SNR 5, >= 0.85 at SNR 4) are NOT reached and are
not asserted: on this generator they lie above what a matched filter told the true template and
the larger unit's spike times reaches, in the detection band (``oracle_ceiling``: 0.72 / 0.84 /
0.88 at SNR 4 / 5 / 6) and in the wider 100-9000 Hz band that is the matched filter for the
generator's white noise (0.76 / 0.86 / 0.89), which is also tested. Each fmslab score must also
beat the plain 5-MAD threshold detector clearly.
"""

from __future__ import annotations

import pytest

pytest.importorskip("spikeinterface")

from fmslab.skinnerve.analysis import analyze_recording  # noqa: E402
from fmslab.skinnerve.channels import ChannelMap  # noqa: E402
from fmslab.skinnerve.io import MemoryReader, open_recording  # noqa: E402
from fmslab.skinnerve.params import Params  # noqa: E402
from fmslab.skinnerve.validation import (  # noqa: E402
    mad_baseline,
    oracle_ceiling,
    si_recording,
    si_scores,
)

#: the wider matching band the floors below were measured with (the default since session 5)
WIDE = Params(match_band_low_hz=100.0)
assert Params().match_band_low_hz == WIDE.match_band_low_hz


def _score(snr: float, seed: int, duration_s: float = 60.0, params: Params | None = None):
    gt = si_recording(snr, seed, duration_s=duration_s)
    rec = open_recording(
        MemoryReader({"nerve_uV": gt.trace_uv}, gt.fs_hz), ChannelMap(roles={"nerve": "nerve_uV"})
    )
    fr = analyze_recording(rec, params)
    ours = si_scores(gt, fr.spikes).set_index("unit").loc["target"]
    base = si_scores(gt, mad_baseline(gt), units=["target"]).set_index("unit").loc["target"]
    return ours, base, fr


def test_target_unit_at_snr_8_short_recording() -> None:
    ours, base, fr = _score(8.0, seed=5, duration_s=20.0)
    assert ours["f1"] >= 0.85, ours
    assert ours["f1"] >= base["f1"] + 0.1, (ours, base)


#: session 6 (a unit whose isolated spikes' scales are two same-shape populations is split;
#: a smaller same-shape unit's template corrected for its matching window): lowest seed
#: SNR 4 0.684, SNR 5 0.826, SNR 6 0.861, SNR 8 0.892 (docs/skinnerve.md); SNR 8 is new
FLOORS = {4.0: 0.65, 5.0: 0.80, 6.0: 0.83, 8.0: 0.86}


@pytest.mark.slow
@pytest.mark.parametrize("snr", sorted(FLOORS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_target_unit_f1_on_independent_generator(snr: float, seed: int) -> None:
    ours, base, _fr = _score(snr, seed, params=WIDE)
    assert ours["f1"] >= FLOORS[snr], (snr, seed, ours)
    assert ours["f1"] >= base["f1"] + 0.15, (snr, seed, ours, base)


@pytest.mark.slow
@pytest.mark.parametrize("snr", [4.0, 5.0])
def test_goal_lies_above_the_oracle_ceiling(snr: float) -> None:
    """The documented reason the goals are not asserted: even a detector told the unit's true
    template and the larger unit's spike times (and the best threshold) stays below them, in the
    detection band and in the wider band (the matched filter for the generator's white noise),
    where it is higher."""
    goal = {4.0: 0.85, 5.0: 0.95}[snr]
    for seed in (1, 2):
        gt = si_recording(snr, seed)
        narrow = oracle_ceiling(gt)[0]
        wide = oracle_ceiling(gt, band_hz=(100.0, 9000.0))[0]
        assert narrow < wide < goal, (seed, narrow, wide)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snr_4_goal_lies_above_the_oracle_without_bursts_or_a_smaller_unit(seed: int) -> None:
    """The SNR-4 goal is above the ceiling even on the easiest variant of the generator: no
    bursts, no smaller unit (only the larger one, subtracted at its true times), wide band.
    Measured 0.835 / 0.833 / 0.834 (seeds 1-3); the spikes' 15 % amplitude drift and the
    white noise at band-passed SNR 4 are what is left. At SNR 5 the same variant reaches
    0.943-0.962, about the goal; with the generator's bursts 0.904-0.932."""
    gt = si_recording(4.0, seed, n_other=1, burst_p=0.0)
    assert oracle_ceiling(gt, band_hz=(100.0, 9000.0))[0] < 0.85


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("burst_p", "burst_n"), [(0.3, 3), (0.5, 4)])
def test_burst_decrement_is_not_split_off(seed: int, burst_p: float, burst_n: int) -> None:
    """The unit alone, firing bursts 8 ms apart with 15 % decrement per spike (down to 0.61 of
    its size in bursts of 4): its scales look bimodal, but the small ones all follow a spike of
    the unit, so it stays one unit (the issue lists a split-off burst as a failure mode)."""
    gt = si_recording(8.0, seed, n_other=0, burst_p=burst_p, burst_n=burst_n)
    rec = open_recording(
        MemoryReader({"nerve_uV": gt.trace_uv}, gt.fs_hz), ChannelMap(roles={"nerve": "nerve_uV"})
    )
    fr = analyze_recording(rec)
    assert len(fr.units) == 1, fr.units
    assert si_scores(gt, fr.spikes).set_index("unit").loc["target", "f1"] >= 0.95
