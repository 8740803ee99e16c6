"""Per-cell figures: example sweeps at rheobase and 2x rheobase, phase plot, F-I curve.

Every function returns a :class:`matplotlib.figure.Figure`; the caller decides where to save it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fmslab.ephys.io import Sweep
from fmslab.ephys.spikes import detect_spikes, dvdt_V_per_s


def plot_sweeps(sweeps: list[tuple[str, Sweep]], ax=None) -> Figure:
    """Membrane potential of the given sweeps (label, sweep), spike thresholds marked."""
    fig = Figure(figsize=(6, 3.5)) if ax is None else ax.figure
    ax = ax or fig.add_subplot(1, 1, 1)
    for label, sw in sweeps:
        t = sw.t_s
        k = max(1, sw.v_mV.size // 200_000)  # long gap-free traces: plot every k-th sample
        ax.plot(t[::k], sw.v_mV[::k], lw=0.7, label=label)
        sp = detect_spikes(sw.v_mV, sw.dt_s, edges_s=sw.edges_s)
        ax.plot(t[sp["threshold_index"]], sp["threshold_mV"], "k.", ms=3)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Vm (mV)")
    if sweeps:
        ax.legend(fontsize=7, frameon=False)
    return fig


def plot_phase(sw: Sweep, ax=None) -> Figure:
    """Phase plot (dV/dt against V) of one sweep."""
    fig = Figure(figsize=(4, 3.5)) if ax is None else ax.figure
    ax = ax or fig.add_subplot(1, 1, 1)
    v = sw.v_mV[:400_000]  # the first ~20 s at 20 kHz are enough for the phase portrait
    ax.plot(v[:-1], dvdt_V_per_s(v, sw.dt_s), lw=0.5)
    ax.set_xlabel("Vm (mV)")
    ax.set_ylabel("dV/dt (V/s)")
    return fig


def plot_fi(sweeps: pd.DataFrame, ax=None) -> Figure:
    """Firing rate in the step against step current (F-I curve), drawn by
    :func:`fmslab.figures.plots.fi_curve` (the one plotting layer)."""
    from fmslab.figures.plots import fi_curve

    fig = Figure(figsize=(4, 3.5)) if ax is None else ax.figure
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


def plot_cell(
    name: str, examples: list[tuple[str, Sweep]], sweeps: pd.DataFrame, cell: dict
) -> Figure:
    """The summary figure of one cell: example sweeps, phase plot of the first, F-I curve."""
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    axs = fig.subplots(1, 3, width_ratios=[2, 1, 1])
    plot_sweeps(examples, ax=axs[0])
    if examples:
        plot_phase(examples[0][1], ax=axs[1])
    plot_fi(sweeps, ax=axs[2])
    rheo_txt = rheobase_text(cell)
    fig.suptitle(
        f"{name}: {rheo_txt}, Rin {cell.get('rin_MOhm', np.nan):.0f} MOhm, "
        f"pattern {cell.get('firing_pattern', '')}, QC {'pass' if cell.get('qc_pass') else 'fail'}",
        fontsize=9,
    )
    return fig
