"""Per-unit figure: filtered trace with detected spikes, stimulus trace, raster per step, S-R curve.

Plot functions return a Figure and never choose a path; the CLI saves them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from fmslab.skinnerve.analysis import FileResult
from fmslab.skinnerve.channels import CANONICAL_UNIT


def unit_figure(fr: FileResult, unit_id: int) -> Figure:
    """Four panels for one unit of one recording (plus its waveform)."""
    res = fr.stream
    spk = fr.spikes
    t_unit = spk.loc[spk["unit_id"] == unit_id, "time_s"].to_numpy()
    t_other = spk.loc[spk["unit_id"] != unit_id, "time_s"].to_numpy()
    fig = Figure(figsize=(11, 9), layout="constrained")
    gs = fig.add_gridspec(3, 3)
    row = fr.units.loc[fr.units["unit_id"] == unit_id].iloc[0]
    fig.suptitle(
        f"{fr.file} unit {unit_id}: {row['receptor_type']}, CV {row['cv_m_s']:.2f} m/s, "
        f"SNR {row['snr']:.1f}, n={int(row['n_spikes'])}"
    )

    ax = fig.add_subplot(gs[0, :2])
    env = res.envelope_uv
    ta = res.aux_time_s
    ax.fill_between(ta, env[:, 0], env[:, 1], color="0.5", lw=0, step="mid")
    ymax = float(np.nanmax(np.abs(env))) if env.size else 1.0
    ax.plot(
        t_other,
        np.full(t_other.size, 1.05 * ymax),
        "|",
        color="tab:gray",
        ms=6,
        label="other units",
    )
    ax.plot(
        t_unit,
        np.full(t_unit.size, 1.15 * ymax),
        "|",
        color="tab:red",
        ms=8,
        label=f"unit {unit_id}",
    )
    for s in res.stimulus_samples / res.fs_hz:
        ax.axvline(s, color="tab:blue", lw=0.3, alpha=0.5)
    ax.set_ylabel("band-passed nerve (uV)")
    # above the panel: the legend never covers the spike ticks
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize=7, frameon=False)

    ax = fig.add_subplot(gs[0, 2])
    tpl = fr.templates_uv[unit_id - 1]
    tw = (np.arange(tpl.size) - fr.pre_samples) / res.fs_hz * 1e3
    for k, other in enumerate(fr.templates_uv, start=1):
        if k != unit_id:
            ax.plot(tw, other, color="0.8", lw=0.8)
    ax.plot(tw, tpl, color="tab:red", lw=2)
    ax.set_xlabel("ms")
    ax.set_ylabel("template (uV)")

    ax = fig.add_subplot(gs[1, :2], sharex=fig.axes[0])
    if not fr.mech_role and "temperature" not in res.aux:
        ax.text(
            0.5,
            0.5,
            "no force / displacement / pressure / temperature channel",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    if fr.mech_role:
        ax.plot(ta, res.aux[fr.mech_role], color="tab:green", lw=0.8)
        ax.set_ylabel(f"{fr.mech_role} ({CANONICAL_UNIT[fr.mech_role]})")
    if "temperature" in res.aux:
        ax2 = ax.twinx()
        ax2.plot(ta, res.aux["temperature"], color="tab:purple", lw=0.8)
        ax2.set_ylabel("temperature (degC)")
    ax.set_xlabel("time (s)")

    ax = fig.add_subplot(gs[1, 2])
    snip = (fr.snippets or {}).get(unit_id)
    if snip is not None and snip[0].size:
        ts, xs = snip
        ax.plot(ts, xs, color="0.3", lw=0.5)
        lo, hi = ts[0], ts[-1]
        mine = t_unit[(t_unit >= lo) & (t_unit <= hi)]
        others = t_other[(t_other >= lo) & (t_other <= hi)]
        ymax = float(np.abs(xs).max())
        ax.plot(others, np.full(others.size, 1.1 * ymax), "v", color="tab:gray", ms=4)
        ax.plot(mine, np.full(mine.size, 1.1 * ymax), "v", color="tab:red", ms=5)
        for st in fr.steps.itertuples(index=False):
            if st.onset_s < hi and st.offset_s > lo:
                ax.axvspan(
                    max(st.onset_s, lo), min(st.hold_end_s, hi), color="tab:olive", alpha=0.15
                )
        for s in res.stimulus_samples / res.fs_hz:
            if lo <= s <= hi:
                ax.axvline(s, color="tab:blue", lw=0.6)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("band-passed (uV), full rate")
        ax.set_title("trace with detected spikes", fontsize=9)
    else:
        ax.set_axis_off()

    ax = fig.add_subplot(gs[2, 0])
    steps = fr.steps
    for i, st in enumerate(steps.itertuples(index=False)):
        sel = t_unit[(t_unit >= st.onset_s - 0.5) & (t_unit <= st.offset_s + 0.5)] - st.onset_s
        ax.plot(sel, np.full(sel.size, i + 1), "|", color="k", ms=6)
        ax.plot([0, st.ramp_end_s - st.onset_s], [i + 1.4, i + 1.4], color="tab:green", lw=1)
        ax.plot(
            [st.ramp_end_s - st.onset_s, st.hold_end_s - st.onset_s],
            [i + 1.4] * 2,
            color="tab:olive",
            lw=1,
        )
    ax.set_yticks(range(1, len(steps) + 1))
    ax.set_yticklabels([f"{a:.3g}" for a in steps["amplitude"]] if len(steps) else [])
    ax.set_xlabel("time from step onset (s)")
    ax.set_ylabel(f"step ({CANONICAL_UNIT.get(fr.mech_role or '', '')})")
    ax.set_title("raster per step", fontsize=9)

    ax = fig.add_subplot(gs[2, 1])
    resp = fr.responses
    mech = (
        resp[(resp["unit_id"] == unit_id) & (resp["stimulus"] == "mechanical")]
        if len(resp)
        else resp
    )
    if len(mech):
        ax.plot(mech["amplitude"], mech["total_spikes"], "o-", color="k", label="total")
        ax.plot(mech["amplitude"], mech["static_spikes"], "s--", color="tab:olive", label="static")
        ax.plot(
            mech["amplitude"], mech["dynamic_spikes"], "^--", color="tab:green", label="dynamic"
        )
        if (mech["amplitude"] > 0).all():
            ax.set_xscale("log")
        ax.legend(fontsize=7)
    ax.set_xlabel(f"step amplitude ({CANONICAL_UNIT.get(fr.mech_role or '', '')})")
    ax.set_ylabel("spikes")
    ax.set_title("stimulus-response", fontsize=9)

    ax = fig.add_subplot(gs[2, 2])
    stim = res.stimulus_samples / res.fs_hz
    if stim.size:
        lat_max = float(row["latency_ms"]) * 2 if np.isfinite(row["latency_ms"]) else 100.0
        for i, s in enumerate(stim):
            rel = (t_unit[(t_unit > s) & (t_unit < s + lat_max / 1e3)] - s) * 1e3
            ax.plot(rel, np.full(rel.size, i + 1), "|", color="k", ms=5)
        ax.set_xlabel("latency after electrical stimulus (ms)")
        ax.set_ylabel("stimulus #")
    else:
        ax.text(0.5, 0.5, "no electrical stimuli", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("electrical latency", fontsize=9)
    return fig


def stimulus_figure(fr: FileResult) -> Figure:
    """The stimulus channels with the parsed steps/ramps/pulses marked (to check parsing by eye)."""
    res = fr.stream
    roles = list(res.aux)
    fig = Figure(figsize=(11, 2.2 * max(1, len(roles)) + 1), layout="constrained")
    axes = fig.subplots(max(1, len(roles)), 1, sharex=True, squeeze=False)[:, 0]
    for ax, role in zip(axes, roles, strict=False):
        ax.plot(res.aux_time_s, res.aux[role], lw=0.7, color="k")
        ax.set_ylabel(f"{role} ({CANONICAL_UNIT[role]})")
        if role == fr.mech_role:
            for st in fr.steps.itertuples(index=False):
                ax.axvspan(st.onset_s, st.ramp_end_s, color="tab:green", alpha=0.3)
                ax.axvspan(st.ramp_end_s, st.hold_end_s, color="tab:olive", alpha=0.2)
        if role == "temperature":
            for r in fr.ramps.itertuples(index=False):
                ax.axvspan(
                    r.onset_s,
                    r.offset_s,
                    color="tab:blue" if r.kind == "cold" else "tab:red",
                    alpha=0.2,
                )
        if role == "stimulus":
            for s in res.stimulus_samples / res.fs_hz:
                ax.axvline(s, color="tab:red", lw=0.6)
    for s in res.segment_starts[1:] / res.fs_hz:
        for ax in axes:
            ax.axvline(s, color="0.7", lw=0.5, ls=":")
    axes[-1].set_xlabel("time (s; sweeps end to end)")
    fig.suptitle(
        f"{fr.file}: stimuli parsed ({len(fr.steps)} steps, {len(fr.ramps)} ramps, "
        f"{len(res.stimulus_samples)} pulses)"
    )
    return fig
