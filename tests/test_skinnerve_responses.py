"""Response rules against planted thresholds: Poisson test with chance accounted for, the
threshold of a continuous ramp at its first evoked spike (force traces and spike trains built here,
so the true threshold is known exactly)."""

from __future__ import annotations

import numpy as np
import pytest

from fmslab.skinnerve import responses as R
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.stimuli import find_steps

FS = 1000.0  # the stimulus channels are analysed at 1 kHz


def _steps_trace(forces, *, t0=12.0, ramp=0.1, hold=2.0, every=5.0):
    n = int((t0 + every * len(forces) + 5) * FS)
    t = np.arange(n) / FS
    f = np.zeros(n)
    for k, a in enumerate(forces):
        s = t0 + k * every
        f += a * np.clip((t - s) / ramp, 0, 1) * (t < s + ramp + hold)
        down = (t >= s + ramp + hold) & (t < s + 2 * ramp + hold)
        f[down] += a * (1 - (t[down] - s - ramp - hold) / ramp)
    return t, f + np.random.default_rng(0).normal(0, 0.02, n)


def _analyse(spikes, t, f, spont_interval=(0.0, 10.0)):
    steps = find_steps(t, f, min_step=0.3)
    spont = R.spontaneous(spikes, [spont_interval])
    rate = R.conservative_rate_hz(spont)
    resp = R.mechanical_responses(spikes, steps, rate, force_time_s=t, force=f)
    return steps, resp, R.mechanical_summary(resp, Params())


def test_one_spontaneous_spike_does_not_set_the_threshold() -> None:
    # planted: 20 mN threshold (10 Hz through the hold of the 20 and 50 mN steps), 0.5 Hz
    # spontaneous, and one spontaneous spike inside the 1 mN step
    forces = (1.0, 5.0, 10.0, 20.0, 50.0)
    t, f = _steps_trace(forces)
    rng = np.random.default_rng(1)
    spont = np.sort(rng.uniform(0, 10, 5))
    evoked = [12.0 + k * 5.0 + 0.1 + np.arange(0, 2.0, 0.1) for k in (3, 4)]
    one = [12.0 + 0 * 5.0 + 1.0]
    spikes = np.sort(np.concatenate([spont, one, *evoked]))
    _steps, resp, summ = _analyse(spikes, t, f)
    assert resp["responded"].tolist() == [False, False, False, True, True]
    assert summ["mech_threshold"] == pytest.approx(20.0, abs=0.3)


def test_chance_over_seven_steps_does_not_make_a_unit_responsive() -> None:
    # a non-mechanical unit firing 2 Hz Poisson throughout; over 7 steps the old rule ("more than
    # e + 2 sqrt(e)") fires by chance; the Bonferroni-corrected Poisson test keeps the family-wise
    # false-positive rate near alpha = 0.01, so at most 2 of 40 seeds may come out responsive
    forces = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
    t, f = _steps_trace(forces)
    steps = find_steps(t, f, min_step=0.3)
    assert len(steps) == 7
    responsive = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = rng.poisson(2.0 * t[-1])
        spikes = np.sort(rng.uniform(0, t[-1], n))
        rate = R.conservative_rate_hz(R.spontaneous(spikes, [(0.0, 10.0)]))
        resp = R.mechanical_responses(spikes, steps, rate)
        responsive += bool(R.mechanical_summary(resp, Params())["mech_responsive"])
    assert responsive <= 2


def test_ramp_threshold_is_the_force_at_the_first_evoked_spike() -> None:
    # planted: 0 -> 100 mN over 20 s (5 mN/s), hold 2 s; the unit fires 20 Hz once the force
    # exceeds 37 mN (first spike <= 50 ms later, i.e. <= 0.25 mN above), 0.2 Hz spontaneous
    n = int(40 * FS)
    t = np.arange(n) / FS
    f = np.interp(t, [0, 12, 32, 34, 34.1, 40], [0, 0, 100, 100, 0, 0])
    f = f + np.random.default_rng(2).normal(0, 0.02, n)
    t_cross = 12 + 37.0 / 5.0
    evoked = t_cross + 0.02 + np.arange(0, 34 - t_cross, 0.05)
    spikes = np.sort(np.concatenate([[2.0, 7.0], evoked]))
    steps, resp, summ = _analyse(spikes, t, f)
    assert len(steps) == 1 and resp["kind"].iloc[0] == "ramp"
    # the old rule returned the plateau (~100 mN)
    assert summ["mech_threshold"] == pytest.approx(37.0 + 0.02 * 5, abs=0.3)


def test_poisson_test_by_hand() -> None:
    # e = 1: P(N >= 4) = 1 - (1 + 1 + 1/2 + 1/6) e^-1 = 0.01899
    assert R._responded(4, 1.0, 0.02)
    assert not R._responded(4, 1.0, 0.018)
    assert not R._responded(0, 0.0, 0.5)
