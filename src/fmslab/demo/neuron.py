"""A single-compartment conductance-based DRG-like neuron, vectorised across traces.

Currents (densities, membrane capacitance 1 uF/cm2, so a current in pA divided by the cell's
capacitance in pF is a density in uA/cm2):

- fast TTX-sensitive sodium (Nav1.7-like), Hodgkin-Huxley kinetics (m^3 h), modern sign convention;
- slow TTX-resistant sodium (Nav1.8-like, m^3 h): depolarised activation (V1/2 -20 mV) and
  inactivation (V1/2 -35 mV), activation tau 0.5 ms, inactivation tau 3 ms: the shoulder of the
  DRG action potential (half-width 4-7 ms; a 20 ms inactivation gave 30 ms plateaus);
- delayed-rectifier potassium (Kdr, HH n^4);
- M-type potassium (Kcnq2/3-like, slow, V1/2 -35 mV, tau 100 ms) - spike-frequency adaptation;
- leak.

Integration: exponential Euler with a fixed step (the recording's sample interval). Every gate and
the membrane potential relax exponentially towards their instantaneous steady state over one step,
which is unconditionally stable for the stiff sodium gates (Dayan & Abbott 2001, ch. 5.6; the
voltage update uses the same scheme on the linear-in-V membrane equation).

All state is held in numpy arrays of shape ``(n_traces,)`` so that many sweeps and many cells are
integrated in one loop over time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

E_NA_MV = 55.0
E_K_MV = -90.0


@dataclass
class NeuronParams:
    """Per-trace parameters, each an array of shape ``(n,)`` (or a scalar broadcast to it).

    Conductances are densities in mS/cm2; ``c_pf`` converts injected pA into uA/cm2.
    """

    c_pf: np.ndarray
    g_na_ms: np.ndarray
    g_na18_ms: np.ndarray
    g_kdr_ms: np.ndarray
    g_km_ms: np.ndarray
    g_leak_ms: np.ndarray
    e_leak_mv: np.ndarray
    shift_na18_mv: np.ndarray = field(default_factory=lambda: np.zeros(1))

    def broadcast(self, n: int) -> NeuronParams:
        """Parameters as float arrays of length ``n``."""
        return NeuronParams(
            **{
                k: np.broadcast_to(np.asarray(v, float), (n,)).copy()
                for k, v in self.__dict__.items()
            }
        )

    def take(self, index: np.ndarray) -> NeuronParams:
        """Parameters of the traces ``index`` (e.g. repeat each cell for every sweep)."""
        return NeuronParams(**{k: np.asarray(v, float)[index] for k, v in self.__dict__.items()})


def _vtrap(x: np.ndarray, y: float) -> np.ndarray:
    """x / (1 - exp(-x/y)), finite at x = 0 (limit y)."""
    small = np.abs(x / y) < 1e-6
    safe = np.where(small, 1.0, x)
    return np.where(small, y * (1 + x / (2 * y)), safe / (-np.expm1(-safe / y)))


def _fast_na_rates(v: np.ndarray) -> tuple[np.ndarray, ...]:
    am = 0.1 * _vtrap(v + 40.0, 10.0)
    bm = 4.0 * np.exp(-(v + 65.0) / 18.0)
    ah = 0.07 * np.exp(-(v + 65.0) / 20.0)
    bh = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
    return am, bm, ah, bh


def _kdr_rates(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    an = 0.01 * _vtrap(v + 55.0, 10.0)
    bn = 0.125 * np.exp(-(v + 65.0) / 80.0)
    return an, bn


def _na18_inf(v: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = 1.0 / (1.0 + np.exp(-(v + 20.0 - shift) / 7.0))
    h = 1.0 / (1.0 + np.exp((v + 35.0 - shift) / 6.0))
    return m, h


TAU_M18_MS = 0.5
TAU_H18_MS = 3.0
TAU_KM_MS = 100.0


def _km_inf(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))


def steady_state(v: np.ndarray, p: NeuronParams) -> dict[str, np.ndarray]:
    """Gate values at rest for membrane potential ``v``."""
    am, bm, ah, bh = _fast_na_rates(v)
    an, bn = _kdr_rates(v)
    m18, h18 = _na18_inf(v, p.shift_na18_mv)
    return {
        "m": am / (am + bm),
        "h": ah / (ah + bh),
        "n": an / (an + bn),
        "m18": m18,
        "h18": h18,
        "km": _km_inf(v),
    }


def total_current_density(v: np.ndarray, g: dict[str, np.ndarray], p: NeuronParams) -> np.ndarray:
    """Net ionic current (outward positive), uA/cm2, for gates ``g`` at potential ``v``."""
    gna = p.g_na_ms * g["m"] ** 3 * g["h"] + p.g_na18_ms * g["m18"] ** 3 * g["h18"]
    gk = p.g_kdr_ms * g["n"] ** 4 + p.g_km_ms * g["km"]
    return gna * (v - E_NA_MV) + gk * (v - E_K_MV) + p.g_leak_ms * (v - p.e_leak_mv)


def resting_potential(
    p: NeuronParams, *, lo_mv: float = -100.0, hi_mv: float = -20.0
) -> np.ndarray:
    """Most negative zero of the steady-state I-V curve in [lo, hi] (mV), by bisection.

    This is the resting membrane potential of the noise-free model with no injected current,
    computed from the steady-state currents alone (independently of the time integration, so tests
    can compare the two). NaN when the I-V curve has no zero in the interval.
    """
    n = len(np.atleast_1d(p.c_pf))
    p = p.broadcast(n)
    grid = np.linspace(lo_mv, hi_mv, 321)
    vv = np.broadcast_to(grid[None, :], (n, len(grid)))
    cols = {k: np.asarray(a)[:, None] for k, a in p.__dict__.items()}
    pg = NeuronParams(**cols)
    cur = total_current_density(vv, steady_state(vv, pg), pg)
    change = (cur[:, :-1] < 0) & (cur[:, 1:] >= 0)
    has = change.any(axis=1)
    first = np.argmax(change, axis=1)
    a, b = grid[first], grid[first + 1]
    for _ in range(40):
        mid = (a + b) / 2
        c = total_current_density(mid, steady_state(mid, p), p)
        a, b = np.where(c >= 0, a, mid), np.where(c >= 0, mid, b)
    return np.where(has, (a + b) / 2, np.nan)


_V_MIN_MV, _V_MAX_MV, _DV_MV = -150.0, 100.0, 0.01
_GRID_MV = np.arange(_V_MIN_MV, _V_MAX_MV + _DV_MV / 2, _DV_MV)


def _gate_tables(dt_ms: float) -> dict[str, np.ndarray]:
    """Steady states and one-step decay factors of the voltage-gated variables on a 0.01 mV grid.

    Looking the rates up in a table (as NEURON does with ``usetable``) instead of evaluating the
    exponentials at every step makes the integration several times faster; the error of
    nearest-grid lookup (<= 0.005 mV in the argument) is far below the recording noise.
    """
    v = _GRID_MV
    am, bm, ah, bh = _fast_na_rates(v)
    an, bn = _kdr_rates(v)
    zero = np.zeros(1)
    m18, h18 = _na18_inf(v, zero)
    return {
        "m_inf": am / (am + bm),
        "m_dec": np.exp(-dt_ms * (am + bm)),
        "h_inf": ah / (ah + bh),
        "h_dec": np.exp(-dt_ms * (ah + bh)),
        "n_inf": an / (an + bn),
        "n_dec": np.exp(-dt_ms * (an + bn)),
        "m18_inf": m18,
        "h18_inf": h18,
        "km_inf": _km_inf(v),
    }


def _grid_index(v: np.ndarray) -> np.ndarray:
    idx = np.rint((v - _V_MIN_MV) * (1.0 / _DV_MV)).astype(np.intp)
    return np.clip(idx, 0, len(_GRID_MV) - 1, out=idx)


def simulate(
    p: NeuronParams,
    stim_pa: np.ndarray,
    dt_ms: float,
    *,
    v0_mv: np.ndarray | None = None,
    noise_pa: np.ndarray | None = None,
    record: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Integrate ``n`` traces of the model.

    Parameters
    ----------
    p
        Parameters, arrays of shape ``(n,)``.
    stim_pa
        Injected current, shape ``(n, n_samples)`` in pA (positive = depolarising).
    dt_ms
        Fixed time step in ms (one sample of ``stim_pa`` per step).
    v0_mv
        Initial potential; default: the model's resting potential (gates at steady state).
    noise_pa
        Optional extra current (e.g. channel noise), same shape as ``stim_pa``.
    record
        Return the voltage traces (``(n, n_samples)`` mV); otherwise only spike times.

    Returns
    -------
    v_mv, spike_samples
        Voltage traces (or None) and, per trace, the sample indices of upward 0 mV crossings.
    """
    stim_pa = np.asarray(stim_pa, float)
    n, n_samples = stim_pa.shape
    p = p.broadcast(n)
    v = (
        resting_potential(p)
        if v0_mv is None
        else np.broadcast_to(np.asarray(v0_mv, float), (n,)).copy()
    )
    v = np.where(np.isnan(v), -60.0, v)
    g = steady_state(v, p)
    m, h, nn, m18, h18, km = g["m"], g["h"], g["n"], g["m18"], g["h18"], g["km"]
    t = _gate_tables(dt_ms)
    out = np.empty((n_samples, n), np.float32) if record else None
    e18_m, e18_h, ekm = (
        np.exp(-dt_ms / TAU_M18_MS),
        np.exp(-dt_ms / TAU_H18_MS),
        np.exp(-dt_ms / TAU_KM_MS),
    )
    i_density = (stim_pa if noise_pa is None else stim_pa + noise_pa) / p.c_pf[:, None]
    i_density = np.ascontiguousarray(i_density.T)  # (n_samples, n): one row per step
    shift_idx = np.rint(p.shift_na18_mv / _DV_MV).astype(np.intp)
    g_l, ge_l = p.g_leak_ms, p.g_leak_ms * p.e_leak_mv
    above = v > 0.0
    ups: list[tuple[np.ndarray, int]] = []
    for k in range(n_samples):
        i = _grid_index(v)
        m = t["m_inf"][i] + (m - t["m_inf"][i]) * t["m_dec"][i]
        h = t["h_inf"][i] + (h - t["h_inf"][i]) * t["h_dec"][i]
        nn = t["n_inf"][i] + (nn - t["n_inf"][i]) * t["n_dec"][i]
        i18 = np.clip(i - shift_idx, 0, len(_GRID_MV) - 1)
        m18 = t["m18_inf"][i18] + (m18 - t["m18_inf"][i18]) * e18_m
        h18 = t["h18_inf"][i18] + (h18 - t["h18_inf"][i18]) * e18_h
        km = t["km_inf"][i] + (km - t["km_inf"][i]) * ekm
        # membrane: C dV/dt = I - G (V - E_rev), linear in V for fixed gates -> exact relaxation
        n2 = nn * nn
        g_na = p.g_na_ms * (m * m * m) * h + p.g_na18_ms * (m18 * m18 * m18) * h18
        g_k = p.g_kdr_ms * (n2 * n2) + p.g_km_ms * km
        g_tot = g_na + g_k + g_l
        e_rev = (g_na * E_NA_MV + g_k * E_K_MV + ge_l + i_density[k]) / g_tot
        v = e_rev + (v - e_rev) * np.exp(-dt_ms * g_tot)  # C = 1 uF/cm2 -> tau = 1/G (ms)
        now_above = v > 0.0
        if (now_above & ~above).any():
            ups.append((np.nonzero(now_above & ~above)[0], k))
        above = now_above
        if out is not None:
            out[k] = v
    per_trace: list[list[int]] = [[] for _ in range(n)]
    for idx, k in ups:
        for j in idx:
            per_trace[j].append(k)
    spikes = np.empty(n, dtype=object)
    for j in range(n):
        spikes[j] = np.asarray(per_trace[j], dtype=np.int64)
    return (None if out is None else np.ascontiguousarray(out.T)), spikes


def step_current(n_samples: int, start: int, stop: int, amplitudes_pa: np.ndarray) -> np.ndarray:
    """Square steps: ``amplitudes_pa[i]`` between samples ``start`` and ``stop`` of trace ``i``."""
    amplitudes_pa = np.asarray(amplitudes_pa, float)
    stim = np.zeros((len(amplitudes_pa), n_samples))
    stim[:, start:stop] = amplitudes_pa[:, None]
    return stim


def rheobase_bisection(
    p: NeuronParams,
    *,
    dt_ms: float,
    pre_samples: int,
    step_samples: int,
    post_samples: int,
    max_pa: float = 1500.0,
    tol_pa: float = 0.5,
    n_split: int = 15,
) -> np.ndarray:
    """True step rheobase (pA) of each noise-free cell: the smallest step that evokes a spike.

    A spike is an upward 0 mV crossing whose sample lies in the step or within ``post_samples``
    after it. The search is a bisection generalised to ``n_split`` probes per round (k-section),
    vectorised over cells; each round shrinks every bracket by ``n_split + 1``. Cells that do not
    fire at ``max_pa`` get ``inf``.
    """
    n_cells = len(np.atleast_1d(p.c_pf))
    p = p.broadcast(n_cells)
    lo = np.zeros(n_cells)
    hi = np.full(n_cells, max_pa)
    total = pre_samples + step_samples + post_samples
    fires_at_max = _fires(p, hi, dt_ms, pre_samples, step_samples, total)
    hi[~fires_at_max] = np.inf
    active = np.nonzero(fires_at_max)[0]
    while len(active) and np.max(hi[active] - lo[active]) > tol_pa:
        frac = np.arange(1, n_split + 1) / (n_split + 1)
        probes = lo[active, None] + (hi[active] - lo[active])[:, None] * frac[None, :]
        cell_idx = np.repeat(active, n_split)
        fired = _fires(p.take(cell_idx), probes.ravel(), dt_ms, pre_samples, step_samples, total)
        fired = fired.reshape(len(active), n_split)
        for j, c in enumerate(active):
            first = np.argmax(fired[j]) if fired[j].any() else n_split
            lo[c] = probes[j, first - 1] if first > 0 else lo[c]
            hi[c] = probes[j, first] if first < n_split else hi[c]
    return np.where(np.isinf(hi), np.inf, (lo + hi) / 2)


def _fires(
    p: NeuronParams, amps: np.ndarray, dt_ms: float, pre: int, step: int, total: int
) -> np.ndarray:
    stim = step_current(total, pre, pre + step, amps)
    _, spikes = simulate(p, stim, dt_ms, record=False)
    return np.array([np.any(s >= pre) for s in spikes])
