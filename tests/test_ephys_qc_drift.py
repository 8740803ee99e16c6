"""Cell QC catches a slow baseline drift that the per-sweep criterion cannot see."""

import math

import pandas as pd

from fmslab.ephys.qc import baseline_change_mV, cell_qc, load_qc, sweep_qc


def _drifting(n: int = 19, total_mV: float = 12.0) -> pd.DataFrame:
    # a linear drift of total_mV across n sweeps, no injected baseline current
    return pd.DataFrame(
        {
            "baseline_mV": [-65.0 + total_mV * s / n for s in range(n)],
            "baseline_sd_mV": 0.3,
            "pre_stim_pA": 0.0,
        }
    )


def test_baseline_change_by_hand():
    sweeps = _drifting()
    # by hand: median of sweeps 16-18 is sweep 17, of sweeps 0-2 is sweep 1 -> 12 * (17 - 1) / 19
    assert math.isclose(baseline_change_mV(sweeps), 12 * 16 / 19, rel_tol=1e-12)
    # too few sweeps to compare ends
    assert math.isnan(baseline_change_mV(sweeps.head(5)))
    # sweeps with injected baseline current (ramps carried over) do not count
    ramp = sweeps.assign(pre_stim_pA=[0.0] * 10 + [50.0] * 9)
    assert math.isclose(baseline_change_mV(ramp), 12 * (8 - 1) / 19, rel_tol=1e-12)


def test_slow_drift_fails_the_cell_but_not_most_sweeps():
    cfg = load_qc()
    sweeps = sweep_qc(_drifting(), rmp_mV=-59.0, cfg=cfg)  # RMP = median baseline
    # each sweep lies within 6.3 mV of the median: only the extreme sweeps fail the sweep criterion
    assert sweeps["qc_pass"].mean() > 0.75
    verdict = cell_qc({"rmp_mV": -59.0, "rin_MOhm": 300.0}, sweeps, cfg)
    assert not verdict["qc_pass"]
    assert "baseline changed +10.1 mV over the recording > 5.0 mV" in verdict["qc_reasons"]
    steady = sweep_qc(_drifting(total_mV=1.0), rmp_mV=-64.5, cfg=cfg)
    assert cell_qc({"rmp_mV": -64.5, "rin_MOhm": 300.0}, steady, cfg)["qc_pass"]
