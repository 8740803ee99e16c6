"""Per-cell figures: example sweeps at rheobase and 2x rheobase, phase plot, F-I curve.

Every function returns a :class:`matplotlib.figure.Figure`; the caller decides where to save it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fmslab.ephys.io import Sweep
from fmslab.ephys.spikes import detect_spikes, dvdt_V_per_s

if TYPE_CHECKING:  # matplotlib is imported only to draw (the PNG path never needs it)
    from matplotlib.figure import Figure


def _new_figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


#: horizontal resolution of the trace panels: min/max pairs per trace (about 3x the pixel
#: columns of the panel at the saved resolution, so the decimated trace draws identically)
ENVELOPE_BINS = 2000


def envelope(t_s: np.ndarray, v: np.ndarray, n_bins: int = ENVELOPE_BINS):
    """Min/max envelope of a trace in ``n_bins`` time bins: the line through (t, min) and
    (t, max) of each bin covers every pixel the full trace would, with 2 points per bin instead of
    thousands. Traces shorter than ``2 * n_bins`` samples are returned unchanged."""
    n = v.size
    if n <= 2 * n_bins:
        return t_s, v
    k = n // n_bins
    m = k * n_bins
    blocks = v[:m].reshape(n_bins, k)
    lo_i = blocks.argmin(axis=1)
    hi_i = blocks.argmax(axis=1)
    base = np.arange(n_bins) * k
    first = np.minimum(lo_i, hi_i) + base
    second = np.maximum(lo_i, hi_i) + base
    idx = np.empty(2 * n_bins, dtype=int)
    idx[0::2], idx[1::2] = first, second
    if m < n:
        idx = np.r_[idx, m + int(np.argmin(v[m:])), n - 1]
    return t_s[idx], v[idx]


def thresholds_by_sweep(spikes: pd.DataFrame | None) -> dict[int, np.ndarray] | None:
    """Threshold times (s) of each sweep's spikes from a spike table (``sweep``,
    ``threshold_t_s``); None when there is no table (the figure then detects them)."""
    if spikes is None:
        return None
    if not len(spikes):
        return {}
    sweep = spikes["sweep"].to_numpy()
    t_s = spikes["threshold_t_s"].to_numpy(float)
    return {int(k): t_s[sweep == k] for k in np.unique(sweep)}


def threshold_indices(sw: Sweep, thresholds: dict[int, np.ndarray] | None) -> np.ndarray:
    """Sample indices of the spike thresholds of ``sw``: from ``thresholds`` (sweep index ->
    times, s) when given, else detected here; indices outside the trace dropped."""
    if thresholds is not None:
        times = thresholds.get(sw.index, np.array([]))
        idx = np.round(np.asarray(times, dtype=float) / sw.dt_s).astype(int)
    else:
        idx = detect_spikes(sw.v_mV, sw.dt_s, edges_s=sw.edges_s)["threshold_index"]
    return idx[(idx >= 0) & (idx < sw.v_mV.size)]


def phase_points(sw: Sweep) -> tuple[np.ndarray, np.ndarray]:
    """(V in mV, dV/dt in V/s) of the phase plot: every sample where V changes faster than
    2 V/s (the APs), every 10th elsewhere; the first 400 000 samples (~20 s at 20 kHz)."""
    v = sw.v_mV[:400_000]
    dv = dvdt_V_per_s(v, sw.dt_s)
    if not dv.size:
        return np.array([]), np.array([])
    keep = np.abs(dv) > 2.0
    keep[::10] = True
    return v[:-1][keep], dv[keep]


def plot_sweeps(
    sweeps: list[tuple[str, Sweep]], ax=None, thresholds: dict[int, np.ndarray] | None = None
) -> Figure:
    """Membrane potential of the given sweeps (label, sweep), spike thresholds marked.

    Each trace is drawn as its min/max envelope (:func:`envelope`). ``thresholds`` maps a sweep
    index to its spikes' threshold times (s) when they are known (the batch's spike table);
    otherwise spikes are detected here.
    """
    fig = _new_figure((6, 3.5)) if ax is None else ax.figure
    ax = ax or fig.add_subplot(1, 1, 1)
    for label, sw in sweeps:
        t = sw.t_s
        ax.plot(*envelope(t, sw.v_mV), lw=0.7, label=label)
        idx = threshold_indices(sw, thresholds)
        ax.plot(t[idx], sw.v_mV[idx], "k.", ms=3)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Vm (mV)")
    if sweeps:
        ax.legend(fontsize=7, frameon=False)
    return fig


def plot_phase(sw: Sweep, ax=None) -> Figure:
    """Phase plot (dV/dt against V) of one sweep: every sample where V changes faster than
    2 V/s (the APs), every 10th elsewhere (the slow trajectory between them)."""
    fig = _new_figure((4, 3.5)) if ax is None else ax.figure
    ax = ax or fig.add_subplot(1, 1, 1)
    x, y = phase_points(sw)
    if x.size:
        ax.plot(x, y, lw=0.5)
    ax.set_xlabel("Vm (mV)")
    ax.set_ylabel("dV/dt (V/s)")
    return fig


def plot_fi(sweeps: pd.DataFrame, ax=None) -> Figure:
    """Firing rate in the step against step current (F-I curve), drawn by
    :func:`fmslab.figures.plots.fi_curve` (the one plotting layer)."""
    from fmslab.figures.plots import fi_curve

    fig = _new_figure((4, 3.5)) if ax is None else ax.figure
    ax = ax or fig.add_subplot(1, 1, 1)
    kind = "step" if (sweeps["stim_kind"] == "step").any() else "ramp"
    s = sweeps[sweeps["stim_kind"] == kind].dropna(subset=["stim_pA", "firing_rate_hz"])
    if s.empty:
        ax.text(0.5, 0.5, "no step or ramp sweeps", ha="center", transform=ax.transAxes)
        ax.set_xlabel("Injected current (pA)")
        ax.set_ylabel("Firing rate (Hz)")
        return fig
    s = s.assign(group="this cell", cell_id="cell")
    fi_curve(
        s,
        ax=ax,
        xlabel="Step current (pA)" if kind == "step" else "Ramp end current (pA)",
        ylabel="Firing rate (Hz)",
    )
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    return fig


def rheobase_text(cell: dict) -> str:
    """ "rheobase 50 pA" (step), "ramp rheobase 120.5 pA" or "no rheobase (no AP)"."""
    rheo = cell.get("rheobase_pA", np.nan)
    ramp = cell.get("rheobase_ramp_pA", np.nan)
    if rheo is not None and np.isfinite(rheo):
        return f"rheobase {rheo:g} pA"
    if ramp is not None and np.isfinite(ramp):
        return f"ramp rheobase {ramp:.1f} pA"
    return "no rheobase (no AP evoked)"


#: size (inches) and fixed panel margins of the per-cell figure
CELL_FIGSIZE = (12.0, 3.6)
CELL_GRID = {"left": 0.055, "right": 0.99, "bottom": 0.15, "top": 0.87, "wspace": 0.3}


def plot_cell(
    name: str,
    examples: list[tuple[str, Sweep]],
    sweeps: pd.DataFrame,
    cell: dict,
    fig: Figure | None = None,
    spikes: pd.DataFrame | None = None,
) -> Figure:
    """The summary figure of one cell: example sweeps, phase plot of the first, F-I curve.

    ``fig``: a Figure to draw on (cleared first; the batch reuses one per worker process);
    ``spikes``: the file's per-spike table (``sweep``, ``threshold_t_s``), to mark thresholds
    without detecting the spikes again.
    """
    if fig is None:
        fig = _new_figure(CELL_FIGSIZE)
    else:
        fig.clear()
    # fixed margins: a layout engine would measure every text twice per saved format
    axs = fig.subplots(1, 3, width_ratios=[2, 1, 1], gridspec_kw=CELL_GRID)
    plot_sweeps(examples, ax=axs[0], thresholds=thresholds_by_sweep(spikes))
    if examples:
        plot_phase(examples[0][1], ax=axs[1])
    plot_fi(sweeps, ax=axs[2])
    for ax in axs:
        # at most ~5 labelled ticks per axis: tick labels are most of a figure's drawing time
        ax.locator_params(nbins=4)
    fig.suptitle(cell_title(name, cell), fontsize=9)
    return fig


def cell_title(name: str, cell: dict) -> str:
    """The per-cell figure's title: file, rheobase, Rin, firing pattern, QC."""
    return (
        f"{name}: {rheobase_text(cell)}, Rin {cell.get('rin_MOhm', np.nan):.0f} MOhm, "
        f"pattern {cell.get('firing_pattern', '')}, QC {'pass' if cell.get('qc_pass') else 'fail'}"
    )
