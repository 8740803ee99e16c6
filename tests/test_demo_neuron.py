"""The demo's conductance model: rest, rheobase and integration, each checked independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from fmslab.demo import neuron as nm
from fmslab.demo.ephys import BASE, DT_MS, STEP_SAMPLES, STEP_START, SWEEP_SAMPLES


def _params(**over: float) -> nm.NeuronParams:
    values = {**BASE, **over}
    return nm.NeuronParams(
        **{k: np.array([v], float) for k, v in values.items()}, shift_na18_mv=np.zeros(1)
    )


def _count_spikes(v: np.ndarray, threshold_mv: float = -10.0, rearm_mv: float = -30.0) -> int:
    """Independent spike count: upward crossings of -10 mV, re-armed only below -30 mV."""
    n, armed = 0, True
    for x in v:
        if armed and x > threshold_mv:
            n, armed = n + 1, False
        elif not armed and x < rearm_mv:
            armed = True
    return n


def test_model_without_stimulus_rests_at_the_iv_zero():
    # resting_potential() finds the zero of the steady-state I-V curve (no time integration);
    # integrating 300 ms with no current from a displaced start must settle there. 0.2 mV covers the
    # table lookup (0.01 mV grid) and the slow M-current (tau 100 ms) still relaxing after 3 taus.
    p = _params()
    rmp = nm.resting_potential(p)[0]
    assert -70 < rmp < -60  # a DRG-like resting potential
    v, spikes = nm.simulate(p, np.zeros((1, 6000)), DT_MS, v0_mv=np.array([rmp + 5.0]))
    assert abs(v[0, -1] - rmp) < 0.2
    assert len(spikes[0]) == 0


def _step_trace(p: nm.NeuronParams, amps: np.ndarray) -> np.ndarray:
    stim = nm.step_current(SWEEP_SAMPLES, STEP_START, STEP_START + STEP_SAMPLES, amps)
    v, _ = nm.simulate(p.take(np.zeros(len(amps), int)), stim, DT_MS)
    return v


def test_rheobase_separates_silent_and_firing_steps():
    # Bisection rheobase R (tolerance 0.5 pA): a step 3 pA below must give no spike and 3 pA above
    # at least one, counted independently from the voltage trace (not the model's own 0 mV counter).
    p = _params()
    r = nm.rheobase_bisection(
        p,
        dt_ms=DT_MS,
        pre_samples=STEP_START,
        step_samples=STEP_SAMPLES,
        post_samples=SWEEP_SAMPLES - STEP_START - STEP_SAMPLES,
    )[0]
    assert 50 < r < 500
    v = _step_trace(p, np.array([r - 3.0, r + 3.0]))
    assert _count_spikes(v[0]) == 0
    assert _count_spikes(v[1]) >= 1


def test_fi_relation_is_monotone_and_k_loss_lowers_rheobase():
    p = _params(g_kdr_ms=BASE["g_kdr_ms"] * 0.6, g_km_ms=0.3)  # a repetitively firing variant
    amps = np.arange(0.0, 801.0, 50.0)
    counts = [_count_spikes(trace) for trace in _step_trace(p, amps)]
    assert counts[0] == 0 and counts[-1] >= 3
    assert all(b >= a for a, b in zip(counts, counts[1:], strict=False)), counts
    # the planted IgG mechanism: scaling both K conductances down must lower the rheobase
    kw = dict(dt_ms=DT_MS, pre_samples=STEP_START, step_samples=STEP_SAMPLES, post_samples=200)
    weak_k = _params(
        g_kdr_ms=BASE["g_kdr_ms"] * np.exp(-0.35), g_km_ms=BASE["g_km_ms"] * np.exp(-0.35)
    )
    both = nm.NeuronParams(
        **{k: np.concatenate([getattr(_params(), k), getattr(weak_k, k)]) for k in BASE},
        shift_na18_mv=np.zeros(2),
    )
    r = nm.rheobase_bisection(both, **kw)
    assert r[1] < 0.85 * r[0]


def _rhs(p: nm.NeuronParams, i_pa: float):
    """Right-hand side of the same ODE, with rate functions evaluated directly (no tables)."""

    def f(_t: float, y: np.ndarray) -> np.ndarray:
        v, m, h, n, m18, h18, km = (np.atleast_1d(x) for x in y)
        am, bm, ah, bh = nm._fast_na_rates(v)
        an, bn = nm._kdr_rates(v)
        m18i, h18i = nm._na18_inf(v, np.zeros(1))
        g = {"m": m, "h": h, "n": n, "m18": m18, "h18": h18, "km": km}
        dv = (i_pa / p.c_pf - nm.total_current_density(v, g, p)) / 1.0
        return np.concatenate(
            [
                dv,
                am * (1 - m) - bm * m,
                ah * (1 - h) - bh * h,
                an * (1 - n) - bn * n,
                (m18i - m18) / nm.TAU_M18_MS,
                (h18i - h18) / nm.TAU_H18_MS,
                (nm._km_inf(v) - km) / nm.TAU_KM_MS,
            ]
        )

    return f


@pytest.mark.parametrize("i_pa", [150.0, 400.0])
def test_exponential_euler_matches_lsoda(i_pa):
    # Reference: scipy LSODA with rtol 1e-8 on the same equations. At dt = 0.05 ms the first-order
    # exponential Euler shifts spike times by a fraction of a millisecond; 0.5 ms and 2 mV before
    # the first spike allow for that and are far tighter than a wrong equation would give.
    p = _params(g_kdr_ms=12.0, g_km_ms=0.3)
    rmp = nm.resting_potential(p)
    g0 = nm.steady_state(rmp, p)
    y0 = np.concatenate([rmp, g0["m"], g0["h"], g0["n"], g0["m18"], g0["h18"], g0["km"]])
    t_ms = np.arange(3000) * DT_MS  # 150 ms of a constant step
    ref = solve_ivp(
        _rhs(p, i_pa), (0, t_ms[-1]), y0, method="LSODA", t_eval=t_ms, rtol=1e-8, atol=1e-8
    )
    v, spikes = nm.simulate(p, np.full((1, len(t_ms)), i_pa), DT_MS)
    ref_up = np.nonzero((ref.y[0][:-1] <= 0) & (ref.y[0][1:] > 0))[0]
    assert len(spikes[0]) == len(ref_up) >= 1
    assert np.max(np.abs(spikes[0] - ref_up)) * DT_MS < 0.5
    before = slice(0, max(int(ref_up[0]) - 40, 1))
    assert np.max(np.abs(v[0, before] - ref.y[0][before])) < 2.0
