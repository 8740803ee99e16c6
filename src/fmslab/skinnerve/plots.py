"""Per-unit figure: filtered trace with detected spikes, stimulus trace, raster per step, S-R curve.

Plot functions return a Figure and never choose a path; the CLI saves them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fmslab.skinnerve.analysis import FileResult
from fmslab.skinnerve.channels import CANONICAL_UNIT


def _decimate_envelope(t: np.ndarray, env: np.ndarray, n_max: int = 3000):
    """Min/max envelope reduced to at most ``n_max`` bins (what a screen can show)."""
    if env.shape[0] <= n_max:
        return t, env
    q = int(np.ceil(env.shape[0] / n_max))
    starts = np.arange(0, env.shape[0], q)
    return (
        t[starts],
        np.column_stack(
            [np.minimum.reduceat(env[:, 0], starts), np.maximum.reduceat(env[:, 1], starts)]
        ),
    )


def _ticks(ax, times: np.ndarray, y: float, color: str, n_max: int = 4000, **kw) -> None:
    if times.size > n_max:  # evenly thinned: the figure shows where the unit fires, not each spike
        times = times[np.linspace(0, times.size - 1, n_max).astype(int)]
    ax.plot(times, np.full(times.size, y), "|", color=color, **kw)


def _lines(ax, x: np.ndarray, ys: np.ndarray, **kw) -> None:
    """Overlaid curves ``ys[i]`` over ``x`` as one collection (one artist, not one line each)."""
    if len(ys):
        ax.add_collection(LineCollection([np.column_stack([x, y]) for y in ys], **kw))
        ax.update_datalim(np.column_stack([np.tile(x, len(ys)), np.ravel(ys)]))
        ax.autoscale_view()


def unit_figure(fr: FileResult, unit_id: int) -> Figure:
    """The figure a physiologist checks a unit with (see docs/skinnerve.md, "Unit figure").

    Overview (band-passed envelope, spikes of this and other units, stimuli), stimulus channels,
    overlaid individual waveforms of the unit and of its neighbours, a full-rate window, amplitude
    over time, ISI histogram with refractory violations, raster per step, response per step and
    the latency raster to electrical stimuli. Drawn from decimated traces and at most 100
    waveforms per unit, so its cost does not grow with the recording's length.
    """
    res = fr.stream
    spk = fr.spikes
    mine = spk["unit_id"] == unit_id
    t_unit = spk.loc[mine, "time_s"].to_numpy()
    t_other = spk.loc[~mine, "time_s"].to_numpy()
    # fixed margins instead of a layout engine: constrained layout redraws the 12 axes several
    # times and cost most of the figure's time
    fig = Figure(figsize=(12, 12))
    gs = fig.add_gridspec(4, 3, left=0.07, right=0.95, bottom=0.05, top=0.93, hspace=0.42,
                          wspace=0.45)  # fmt: skip
    row = fr.units.loc[fr.units["unit_id"] == unit_id].iloc[0]
    fig.suptitle(
        f"{fr.file} unit {unit_id}: {row['receptor_type']}, CV {row['cv_m_s']:.2f} m/s, "
        f"SNR {row['snr']:.1f}, n={int(row['n_spikes'])}"
        + (" (unit under study)" if bool(row.get("is_unit_under_study", False)) else "")
    )
    stim = res.stimulus_samples / res.fs_hz

    ax = fig.add_subplot(gs[0, :2])
    ta, env = _decimate_envelope(res.aux_time_s, res.envelope_uv)
    ax.fill_between(ta, env[:, 0], env[:, 1], color="0.5", lw=0, step="mid")
    ymax = float(np.nanmax(np.abs(env))) if env.size else 1.0
    _ticks(ax, t_other, 1.05 * ymax, "tab:gray", ms=6, label="other units")
    _ticks(ax, t_unit, 1.15 * ymax, "tab:red", ms=8, label=f"unit {unit_id}")
    if stim.size:
        ax.vlines(stim, -ymax, ymax, color="tab:blue", lw=0.3, alpha=0.5)
    ax.set_ylabel("band-passed nerve (uV)")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title("whole recording (min/max envelope)", fontsize=9, y=1.0)

    ax = fig.add_subplot(gs[0, 2])
    pre = fr.pre_samples
    n_w = fr.templates_uv.shape[1] if fr.templates_uv.ndim == 2 else 0
    tw = (np.arange(n_w) - pre) / res.fs_hz * 1e3
    ex = fr.examples or {}
    for k, w in ex.items():
        if k != unit_id and len(w):
            _lines(ax, tw, w[:30], color="0.75", lw=0.4)
    for k, other in enumerate(fr.templates_uv, start=1):
        if k != unit_id and k in set(fr.units["unit_id"]):
            ax.plot(tw, other, color="0.4", lw=1.0)
    if unit_id in ex and len(ex[unit_id]):
        _lines(ax, tw, ex[unit_id], color="tab:red", lw=0.3, alpha=0.4)
    ax.plot(tw, fr.templates_uv[unit_id - 1], color="darkred", lw=2)
    ax.set_xlabel("ms")
    ax.set_ylabel("uV")
    ax.set_title("waveforms: unit (red), neighbours (grey)", fontsize=9, y=1.0)

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
    tx = res.aux_time_s
    step = max(1, tx.size // 5000)
    if fr.mech_role:
        ax.plot(tx[::step], res.aux[fr.mech_role][::step], color="tab:green", lw=0.8)
        ax.set_ylabel(f"{fr.mech_role} ({CANONICAL_UNIT[fr.mech_role]})")
    if "temperature" in res.aux:
        ax2 = ax.twinx()
        ax2.plot(tx[::step], res.aux["temperature"][::step], color="tab:purple", lw=0.8)
        ax2.set_ylabel("temperature (degC)")

    ax = fig.add_subplot(gs[1, 2])
    snip = (fr.snippets or {}).get(unit_id)
    if snip is not None and snip[0].size:
        ts, xs = snip
        ax.plot(ts, xs, color="0.3", lw=0.5)
        lo, hi = ts[0], ts[-1]
        m_ = t_unit[(t_unit >= lo) & (t_unit <= hi)]
        o_ = t_other[(t_other >= lo) & (t_other <= hi)]
        ym = float(np.abs(xs).max())
        ax.plot(o_, np.full(o_.size, 1.1 * ym), "v", color="tab:gray", ms=4)
        ax.plot(m_, np.full(m_.size, 1.1 * ym), "v", color="tab:red", ms=5)
        for st in fr.steps.itertuples(index=False):
            if st.onset_s < hi and st.offset_s > lo:
                ax.axvspan(
                    max(st.onset_s, lo), min(st.hold_end_s, hi), color="tab:olive", alpha=0.15
                )
        for s_ in stim[(stim >= lo) & (stim <= hi)]:
            ax.axvline(s_, color="tab:blue", lw=0.6)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("band-passed (uV), full rate")
        ax.set_title("trace with detected spikes", fontsize=9, y=1.0)
    else:
        ax.set_axis_off()

    ax = fig.add_subplot(gs[2, :2], sharex=fig.axes[0])
    amp = spk.loc[mine, "amplitude_uv"].to_numpy() if "amplitude_uv" in spk else np.zeros(0)
    if amp.size:
        sel = np.linspace(0, amp.size - 1, min(amp.size, 5000)).astype(int)
        ax.plot(t_unit[sel], amp[sel], ".", color="tab:red", ms=2)
        ax.set_ylim(0, 1.1 * float(np.nanmax(amp)) if np.isfinite(amp).any() else 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("spike amplitude (uV)")
    ax.set_title("amplitude over time (drift, bursts, a second unit show here)", fontsize=9, y=1.0)

    ax = fig.add_subplot(gs[2, 2])
    isi_ms = np.diff(np.sort(t_unit)) * 1e3
    refr = float(row.get("isi_violations", 0))
    bins = np.arange(0, 50.5, 0.5)
    counts, _edges = np.histogram(isi_ms[isi_ms < 50], bins=bins)
    ax.stairs(counts, bins, fill=True, color="0.3")  # one artist, not 100 bars
    thr_ms = 1.5
    ax.axvspan(0, thr_ms, color="tab:red", alpha=0.2)
    ax.set_xlabel("ISI (ms)")
    ax.set_ylabel("count")
    ax.set_title(f"ISI: {int(refr)} < {thr_ms} ms (refractory violations)", fontsize=9, y=1.0)

    ax = fig.add_subplot(gs[3, 0])
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
    ax.set_title("raster per step", fontsize=9, y=1.0)

    ax = fig.add_subplot(gs[3, 1])
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
        hit = mech[mech["responded"].astype(bool)]
        ax.plot(hit["amplitude"], hit["total_spikes"], "o", mfc="none", mec="tab:red", ms=10,
                label="responded (Poisson test)")  # fmt: skip
        if (mech["amplitude"] > 0).all():
            ax.set_xscale("log")
        ax.legend(fontsize=7)
    ax.set_xlabel(f"step amplitude ({CANONICAL_UNIT.get(fr.mech_role or '', '')})")
    ax.set_ylabel("spikes")
    ax.set_title("response per step", fontsize=9, y=1.0)

    ax = fig.add_subplot(gs[3, 2])
    if stim.size:
        lat_max = float(row["latency_ms"]) * 2 if np.isfinite(row["latency_ms"]) else 100.0
        tu = np.sort(t_unit)
        for i, s_ in enumerate(stim):
            a_, b_ = np.searchsorted(tu, [s_, s_ + lat_max / 1e3])
            rel = (tu[a_:b_] - s_) * 1e3
            ax.plot(rel, np.full(rel.size, i + 1), "|", color="k", ms=5)
        ax.set_xlabel("latency after electrical stimulus (ms)")
        ax.set_ylabel("stimulus #")
    else:
        ax.text(0.5, 0.5, "no electrical stimuli", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("latency raster", fontsize=9, y=1.0)
    _few_ticks(fig)
    return fig


def _few_ticks(fig: Figure, n: int = 4) -> None:
    """At most ``n`` + 1 major ticks per linear axis: drawing ticks (each a pair of markers and a
    label) was most of a figure's cost."""
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "linear":
                axis.set_major_locator(MaxNLocator(n))


def stimulus_figure(fr: FileResult) -> Figure:
    """The stimulus channels with the parsed steps/ramps/pulses marked (to check parsing by eye)."""
    res = fr.stream
    roles = list(res.aux)
    # pulses without an analog stimulus channel (an event channel, or inferred from their
    # artefacts) are drawn over the nerve's envelope
    pulse_panel = bool(res.stimulus_samples.size) and "stimulus" not in res.aux
    n_panels = max(1, len(roles) + pulse_panel)
    fig = Figure(figsize=(11, 2.2 * n_panels + 1), layout="constrained")
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]
    step = max(1, res.aux_time_s.size // 5000)  # decimated: a screen shows ~5000 points
    if pulse_panel:
        ax = axes[len(roles)]
        env = res.envelope_uv
        if env.shape[0] == res.aux_time_s.size and env.size:
            t = res.aux_time_s
            # min/max of blocks of ``step`` samples: the envelope at the screen's resolution
            n_blk = t.size // step * step
            lo = env[:n_blk, 0].reshape(-1, step).min(axis=1)
            hi = env[:n_blk, 1].reshape(-1, step).max(axis=1)
            ax.fill_between(t[:n_blk:step], lo, hi, color="0.3", lw=0, step="post")
        ax.vlines(res.stimulus_samples / res.fs_hz, 0, 1, transform=ax.get_xaxis_transform(),
                  color="tab:red", lw=0.6)  # fmt: skip
        source = "inferred from their artefacts" if res.stimuli_inferred else "event channel"
        ax.set_ylabel("nerve (uV)")
        ax.set_title(f"electrical pulses ({source})", fontsize=9)
    for ax, role in zip(axes, roles, strict=False):
        ax.plot(res.aux_time_s[::step], res.aux[role][::step], lw=0.7, color="k")
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
        if role == "stimulus" and res.stimulus_samples.size:
            ax.vlines(res.stimulus_samples / res.fs_hz, 0, 1, transform=ax.get_xaxis_transform(),
                      color="tab:red", lw=0.6)  # fmt: skip
    for s in res.segment_starts[1:] / res.fs_hz:
        for ax in axes:
            ax.axvline(s, color="0.7", lw=0.5, ls=":")
    axes[-1].set_xlabel("time (s; sweeps end to end)")
    fig.suptitle(
        f"{fr.file}: stimuli parsed ({len(fr.steps)} steps, {len(fr.ramps)} ramps, "
        f"{len(res.stimulus_samples)} pulses)"
    )
    return fig
