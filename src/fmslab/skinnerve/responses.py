"""Per-unit measures: conduction velocity, mechanical and thermal responses, spontaneous activity.

All functions take spike times in seconds and stimulus tables from :mod:`fmslab.skinnerve.stimuli`.

Rules (documented in docs/skinnerve.md):

- **Latency**: spikes 0..``max_latency_ms`` after each electrical stimulus are histogrammed
  (``latency_bin_ms``); around the fullest bin a window of ``±max(latency_window_ms, 5 %)`` is
  taken; the latency is the median over stimuli of the first spike in that window, and the
  *follow fraction* the share of stimuli with one. A unit is electrically driven when it follows at
  least ``min_follow_fraction`` of the stimuli. CV = distance (mm) / latency (ms) in m/s
  (utilisation time is not subtracted, so CV is slightly underestimated).
- **Responded** (a step or a ramp): one-sided Poisson test of the stimulus' spike count ``n``
  against ``e`` = the count expected over the stimulus from the unit's spontaneous rate, taken
  conservatively as ``(n_baseline + 1) / max(baseline_s, 10 s)`` (one pseudo-spike, so a unit
  silent in a short baseline is not assumed to have rate 0): responded when ``n >= 1`` and
  ``P(N >= n | e) < response_alpha / n_stimuli`` (Bonferroni over the unit's steps or ramps, so
  that chance over many steps does not make a unit "responsive").
- **Mechanical threshold**: for steps, the smallest responded step; for a continuous ramp (rise
  longer than ``ramp_min_s``), the force at the first evoked spike of the rise: the first spike
  during the rise that begins a 0.5-s window holding at least ``max(2, e + 3 sqrt(e) + 1)``
  spikes (``e`` = spontaneous count in 0.5 s), the force read from the (1 kHz) force trace.
- **Thermal threshold**: the temperature at the first spike (during the ramp's approach to its
  extreme) that begins a 2-s window holding at least ``max(2, e2 + 3 sqrt(e2) + 1)`` spikes
  (``e2`` = spontaneous count in 2 s), so isolated spontaneous spikes do not set it.
  ``first_spike_c`` is the plain temperature of the first spike in the ramp, for comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fmslab.skinnerve.params import CvCutoffs, Params
from fmslab.spiketrains import isi_cv


def latency_to_stimuli(
    spike_s: np.ndarray, stimulus_s: np.ndarray, params: Params
) -> dict[str, float]:
    """Latency (ms) of a unit after electrical stimuli, its SD, follow fraction, n stimuli."""
    out = {
        "latency_ms": np.nan,
        "latency_sd_ms": np.nan,
        "follow_fraction": 0.0,
        "n_stimuli": len(stimulus_s),
    }
    if len(stimulus_s) == 0 or len(spike_s) == 0:
        return out
    spike_s = np.sort(spike_s)
    max_s = params.max_latency_ms / 1e3
    rel = []
    for s in stimulus_s:
        a, b = np.searchsorted(spike_s, [s, s + max_s])
        rel.append(spike_s[a:b] - s)
    allrel = np.concatenate(rel) * 1e3
    if allrel.size == 0:
        return out
    bins = np.arange(0, params.max_latency_ms + params.latency_bin_ms, params.latency_bin_ms)
    h, edges = np.histogram(allrel, bins)
    h = np.convolve(h, np.ones(3), mode="same")
    centre = 0.5 * (edges[np.argmax(h)] + edges[np.argmax(h) + 1])
    win = max(params.latency_window_ms, 0.05 * centre)
    firsts = []
    for r in rel:
        r = r * 1e3
        hit = r[np.abs(r - centre) <= win]
        if hit.size:
            firsts.append(hit[0])
    if not firsts:
        return out
    firsts = np.asarray(firsts)
    out.update(
        latency_ms=float(np.median(firsts)),
        latency_sd_ms=float(np.std(firsts, ddof=1)) if firsts.size > 1 else 0.0,
        follow_fraction=firsts.size / len(stimulus_s),
    )
    return out


def fibre_class(cv_m_s: float, cutoffs: CvCutoffs) -> str:
    """Fibre class: ``Abeta`` (> abeta_min), ``Adelta``, ``C`` (< adelta_min) or ``unknown``."""
    if not np.isfinite(cv_m_s):
        return "unknown"
    if cv_m_s > cutoffs.abeta_min_m_s:
        return "Abeta"
    if cv_m_s >= cutoffs.adelta_min_m_s:
        return "Adelta"
    return "C"


def _count(t: np.ndarray, a: float, b: float) -> int:
    return int(np.searchsorted(t, b, side="left") - np.searchsorted(t, a, side="left"))


def _responded(n: int, expected: float, alpha: float) -> bool:
    """One-sided Poisson test: ``P(N >= n | expected) < alpha`` (and at least one spike)."""
    from scipy.stats import poisson

    return bool(n >= 1 and poisson.sf(n - 1, max(expected, 0.0)) < alpha)


def conservative_rate_hz(spont: dict[str, float]) -> float:
    """Spontaneous rate for the response test: ``(n + 1) / max(baseline_s, 10 s)``."""
    dur = float(spont.get("baseline_s") or 0.0)
    rate = float(spont.get("spont_rate_hz") or 0.0)
    n = rate * dur if np.isfinite(rate) else 0.0
    return (n + 1.0) / max(dur, 10.0)


def _first_evoked(spike_s: np.ndarray, a: float, b: float, rate_hz: float) -> float:
    """First spike in [a, b) that begins a 0.5-s window of >= max(2, e + 3 sqrt(e) + 1) spikes."""
    need = max(2.0, rate_hz * 0.5 + 3 * np.sqrt(rate_hz * 0.5) + 1)
    i0, i1 = np.searchsorted(spike_s, [a, b])
    for ti in spike_s[i0:i1]:
        if _count(spike_s, ti, ti + 0.5) >= need:
            return float(ti)
    return float("nan")


def baseline_intervals(
    duration_s: float,
    stimulus_s: np.ndarray,
    steps: pd.DataFrame,
    ramps: pd.DataFrame,
    margin_s: float,
) -> list[tuple[float, float]]:
    """Intervals farther than ``margin_s`` from every stimulus (pulses, steps, ramps)."""
    busy = [(s - margin_s, s + margin_s) for s in stimulus_s]
    for df in (steps, ramps):
        if len(df):
            busy += [
                (a - margin_s, b + margin_s)
                for a, b in zip(df["onset_s"], df["offset_s"], strict=True)
            ]
    busy.sort()
    free, t = [], 0.0
    for a, b in busy:
        if a > t:
            free.append((t, min(a, duration_s)))
        t = max(t, b)
    if t < duration_s:
        free.append((t, duration_s))
    return [(a, b) for a, b in free if b - a > 0]


def spontaneous(spike_s: np.ndarray, intervals: list[tuple[float, float]]) -> dict[str, float]:
    """Spontaneous rate (Hz) and ISI CV (:func:`fmslab.spiketrains.isi_cv`) over the baseline
    intervals (ISIs within each interval)."""
    dur = sum(b - a for a, b in intervals)
    n, isis = 0, []
    for a, b in intervals:
        t = spike_s[(spike_s >= a) & (spike_s < b)]
        n += t.size
        if t.size > 1:
            isis.append(np.diff(t))
    isi = np.concatenate(isis) if isis else np.zeros(0)
    return {
        "baseline_s": dur,
        "spont_rate_hz": n / dur if dur > 0 else np.nan,
        "spont_isi_cv": isi_cv(isi),
    }


def train_statistics(spike_s: np.ndarray, duration_s: float) -> dict[str, float]:
    """Whole-recording mean rate (elephant) and ISI CV (:func:`fmslab.spiketrains.isi_cv`)."""
    import elephant.statistics as es
    import neo
    import quantities as pq

    if spike_s.size == 0:
        return {"rate_hz": 0.0, "isi_cv": np.nan}
    st = neo.SpikeTrain(
        np.sort(spike_s) * pq.s, t_start=0 * pq.s, t_stop=max(duration_s, spike_s.max()) * pq.s
    )
    rate = float(es.mean_firing_rate(st).rescale(1 / pq.s).magnitude)
    isi = es.isi(st)
    return {"rate_hz": rate, "isi_cv": isi_cv(np.asarray(isi.magnitude))}


def mechanical_responses(
    spike_s: np.ndarray,
    steps: pd.DataFrame,
    spont_rate_hz: float,
    *,
    alpha: float = 0.01,
    ramp_min_s: float = 1.0,
    force_time_s: np.ndarray | None = None,
    force: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per ramp-and-hold step: dynamic/static spikes, static rate, latency, adaptation,
    responded (Poisson test, ``alpha`` split over the steps) and, for a slow ramp, the force at
    the first evoked spike (``threshold``)."""
    rows = []
    spont = spont_rate_hz if np.isfinite(spont_rate_hz) else 0.0
    per = alpha / max(len(steps), 1)
    for st in steps.itertuples(index=False):
        dyn = _count(spike_s, st.onset_s, st.ramp_end_s)
        hold = max(st.hold_end_s - st.ramp_end_s, 1e-9)
        stat = _count(spike_s, st.ramp_end_s, st.hold_end_s)
        mid = st.ramp_end_s + hold / 2
        first_half, second_half = (
            _count(spike_s, st.ramp_end_s, mid),
            _count(spike_s, mid, st.hold_end_s),
        )
        total = _count(spike_s, st.onset_s, st.offset_s)
        i = np.searchsorted(spike_s, st.onset_s)
        lat = (
            (spike_s[i] - st.onset_s) * 1e3
            if i < spike_s.size and spike_s[i] <= st.offset_s
            else np.nan
        )
        expected = spont * (st.offset_s - st.onset_s)
        is_ramp = (st.ramp_end_s - st.onset_s) >= ramp_min_s
        thr = np.nan
        if is_ramp and force is not None and force_time_s is not None:
            t1 = _first_evoked(spike_s, st.onset_s, st.ramp_end_s, spont)
            if np.isfinite(t1):
                thr = abs(float(np.interp(t1, force_time_s, force)) - float(st.rest))
        rows.append(
            {
                "stimulus": "mechanical",
                "index": st.step,
                "kind": "ramp" if is_ramp else "step",
                "onset_s": st.onset_s,
                "offset_s": st.offset_s,
                "amplitude": st.amplitude,
                "threshold": thr,
                "dynamic_spikes": dyn,
                "static_spikes": stat,
                "total_spikes": total,
                "dynamic_rate_hz": dyn / max(st.ramp_end_s - st.onset_s, 1e-9),
                "static_rate_hz": stat / hold,
                "latency_ms": lat,
                "adaptation_ratio": second_half / first_half if first_half >= 2 else np.nan,
                "responded": _responded(total, expected, per),
            }
        )
    return pd.DataFrame(rows)


def thermal_responses(
    spike_s: np.ndarray,
    ramps: pd.DataFrame,
    temp_time_s: np.ndarray,
    temp_c: np.ndarray,
    spont_rate_hz: float,
    *,
    alpha: float = 0.01,
) -> pd.DataFrame:
    """One row per cold/heat ramp: spikes during the ramp, threshold temperature, response."""
    rows = []
    spont = spont_rate_hz if np.isfinite(spont_rate_hz) else 0.0
    per = alpha / max(len(ramps), 1)
    need = max(2.0, spont * 2 + 3 * np.sqrt(spont * 2) + 1)
    for r in ramps.itertuples(index=False):
        t = spike_s[(spike_s >= r.onset_s) & (spike_s <= r.offset_s)]
        total = t.size
        thr_t = np.nan
        for ti in t[t <= r.extreme_s + 1.0]:
            if _count(spike_s, ti, ti + 2.0) >= need:
                thr_t = ti
                break
        expected = spont * (r.offset_s - r.onset_s)
        first = t[t <= r.extreme_s + 1.0]
        rows.append(
            {
                "stimulus": r.kind,
                "index": r.ramp,
                "onset_s": r.onset_s,
                "offset_s": r.offset_s,
                "amplitude": r.extreme_c,
                "total_spikes": total,
                "latency_ms": (thr_t - r.onset_s) * 1e3 if np.isfinite(thr_t) else np.nan,
                "threshold_c": float(np.interp(thr_t, temp_time_s, temp_c))
                if np.isfinite(thr_t)
                else np.nan,
                "first_spike_c": float(np.interp(first[0], temp_time_s, temp_c))
                if first.size
                else np.nan,
                "responded": _responded(total, expected, per) and np.isfinite(thr_t),
            }
        )
    return pd.DataFrame(rows)


def mechanical_summary(resp: pd.DataFrame, params: Params) -> dict[str, float]:
    """Unit-level mechanical measures from the per-step table."""
    from scipy import stats

    out = {
        "mech_responsive": False,
        "mech_threshold": np.nan,
        "sr_slope_spikes_per_unit": np.nan,
        "sr_r": np.nan,
        "static_rate_max_hz": np.nan,
        "static_fraction": np.nan,
        "adaptation_ratio": np.nan,
        "slowly_adapting": False,
    }
    if resp.empty:
        return out
    ok = resp[resp["responded"]]
    if len(resp) >= 3 and resp["amplitude"].nunique() >= 3:
        fit = stats.linregress(resp["amplitude"], resp["total_spikes"])
        out["sr_slope_spikes_per_unit"] = float(fit.slope)
        out["sr_r"] = float(fit.rvalue)
    if ok.empty:
        return out
    top = ok.loc[ok["amplitude"].idxmax()]
    evoked = ok["dynamic_spikes"].sum() + ok["static_spikes"].sum()
    # threshold: smallest responded step; a ramp gives the force at its first evoked spike
    if "kind" in ok.columns:
        per_row = np.where(ok["kind"] == "ramp", ok["threshold"], ok["amplitude"])
    else:
        per_row = ok["amplitude"].to_numpy()
    per_row = np.asarray(per_row, dtype=float)
    out.update(
        mech_responsive=True,
        mech_threshold=float(np.nanmin(per_row)) if np.isfinite(per_row).any() else np.nan,
        static_rate_max_hz=float(top["static_rate_hz"]),
        static_fraction=float(ok["static_spikes"].sum() / evoked) if evoked else np.nan,
        adaptation_ratio=float(np.nanmedian(ok["adaptation_ratio"]))
        if ok["adaptation_ratio"].notna().any()
        else np.nan,
        slowly_adapting=bool(top["static_rate_hz"] >= params.static_rate_min_hz),
    )
    return out


def receptor_type(
    fclass: str,
    mech_responsive: bool,
    slowly_adapting: bool,
    mech_threshold_mn: float,
    cold: bool,
    heat: bool,
    params: Params,
) -> str:
    """Receptor type from the CV class and the response profile (rule in the module docstring)."""
    if fclass == "Abeta":
        if mech_responsive:
            return "SAM" if slowly_adapting else "RAM"
        return "Abeta-other"
    if fclass == "Adelta":
        if mech_responsive:
            low = (
                np.isfinite(mech_threshold_mn)
                and mech_threshold_mn <= params.dhair_max_threshold_mn
            )
            return "D-hair" if (not slowly_adapting and low) else "AM"
        return "Adelta-other"
    if fclass == "C":
        if mech_responsive:
            return {(True, True): "C-MCH", (True, False): "C-MC", (False, True): "C-MH"}.get(
                (cold, heat), "C-M"
            )
        return {(True, True): "C-CH", (True, False): "C-C", (False, True): "C-H"}.get(
            (cold, heat), "C-other"
        )
    return "unclassified"
