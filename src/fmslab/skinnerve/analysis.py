"""The analysis of one recording: stream pass, sorting, stimuli, per-unit measures -> tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.errors import InputError
from fmslab.skinnerve import responses as R
from fmslab.skinnerve.channels import CANONICAL_UNIT, MECHANICAL_ROLES, ChannelMap
from fmslab.skinnerve.io import Reader, Recording, open_recording
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.spikes import sort_spikes, unit_quality
from fmslab.skinnerve.stimuli import find_steps, find_thermal_ramps
from fmslab.skinnerve.stream import StreamResult, process, read_windows


@dataclass
class FileResult:
    """Tables of one recording plus what the figures need."""

    file: str
    units: pd.DataFrame
    responses: pd.DataFrame
    spikes: pd.DataFrame
    steps: pd.DataFrame
    ramps: pd.DataFrame
    stream: StreamResult
    templates_uv: np.ndarray
    mech_role: str | None
    roles: dict[str, str]
    pre_samples: int = 0
    snippets: dict[int, tuple[np.ndarray, np.ndarray]] | None = None


def analyze_recording(
    rec: Recording, params: Params | None = None, *, file: str | None = None
) -> FileResult:
    """Analyse one opened recording (see docs/skinnerve.md for every rule)."""
    p = params or Params()
    label = file or rec.path.name
    res = process(rec, p)
    fs = res.fs_hz
    noise = res.noise_uv
    labels, templates, offsets = sort_spikes(
        res.waveforms_uv / noise if noise > 0 else res.waveforms_uv,
        max_clusters=p.max_clusters,
        merge_rel=p.merge_rel,
        max_shift=int(round(p.max_shift_ms * fs / 1e3)),
        window=slice(
            max(0, int(round((p.pre_ms - p.merge_window_ms) * fs / 1e3))),
            int(round((p.pre_ms + p.merge_window_ms) * fs / 1e3)),
        ),
        min_spikes=p.min_spikes,
        seed=p.seed,
    )
    templates_uv = templates * noise
    times = (res.spike_samples + offsets) / fs
    order = np.argsort(times, kind="stable")
    times, labels = times[order], labels[order]
    stim_s = res.stimulus_samples / fs

    mech_role = next((r for r in MECHANICAL_ROLES if r in res.aux), None)
    if mech_role:
        steps = find_steps(
            res.aux_time_s,
            res.aux[mech_role],
            min_step=p.mech_min_step.get(mech_role, 0.1),
            min_duration_s=p.mech_min_duration_ms / 1e3,
            plateau_fraction=p.plateau_fraction,
        )
    else:
        steps = find_steps(np.zeros(0), np.zeros(0), min_step=1.0)
    if "temperature" in res.aux:
        ramps = find_thermal_ramps(
            res.aux_time_s, res.aux["temperature"], min_change_c=p.thermal_min_change_c
        )
    else:
        ramps = find_thermal_ramps(np.zeros(0), np.zeros(0))
    base = R.baseline_intervals(res.duration_s, stim_s, steps, ramps, p.baseline_margin_s)
    censored = p.dead_ms / 1e3

    unit_rows, resp_frames = [], []
    for k in range(1, int(labels.max(initial=0)) + 1):
        t = times[labels == k]
        q = unit_quality(
            t, templates_uv[k - 1], noise, res.duration_s, p.refractory_ms / 1e3, censored
        )
        lat = R.latency_to_stimuli(t, stim_s, p)
        driven = lat["follow_fraction"] >= p.min_follow_fraction
        cv = (
            rec.conduction_distance_mm / lat["latency_ms"]
            if (driven and rec.conduction_distance_mm)
            else np.nan
        )
        spont = R.spontaneous(t, base)
        mech = R.mechanical_responses(t, steps, spont["spont_rate_hz"])
        ms = R.mechanical_summary(mech, p)
        therm = (
            R.thermal_responses(
                t, ramps, res.aux_time_s, res.aux["temperature"], spont["spont_rate_hz"]
            )
            if "temperature" in res.aux
            else pd.DataFrame()
        )
        cold = therm[(therm["stimulus"] == "cold") & therm["responded"]] if len(therm) else therm
        heat = therm[(therm["stimulus"] == "heat") & therm["responded"]] if len(therm) else therm
        fclass = R.fibre_class(cv, p.cv_cutoffs)
        mech_thr_mn = ms["mech_threshold"] if mech_role == "force" else np.nan
        rtype = R.receptor_type(
            fclass,
            ms["mech_responsive"],
            ms["slowly_adapting"],
            mech_thr_mn,
            len(cold) > 0,
            len(heat) > 0,
            p,
        )
        row = {
            "file": label,
            "unit_id": k,
            **q,
            **lat,
            "electrically_driven": driven,
            "cv_m_s": cv,
            "fibre_class": fclass,
            **spont,
            **R.train_statistics(t, res.duration_s),
            **ms,
            "mech_unit": CANONICAL_UNIT[mech_role] if mech_role else "",
            "von_frey_threshold_mn": mech_thr_mn,
            "cold_responsive": len(cold) > 0,
            "cold_threshold_c": float(cold["threshold_c"].iloc[0]) if len(cold) else np.nan,
            "heat_responsive": len(heat) > 0,
            "heat_threshold_c": float(heat["threshold_c"].iloc[0]) if len(heat) else np.nan,
            "receptor_type": rtype,
        }
        unit_rows.append(row)
        for df in (mech, therm):
            if len(df):
                df = df.copy()
                df.insert(0, "unit_id", k)
                df.insert(0, "file", label)
                if df["stimulus"].iloc[0] == "mechanical":
                    df["amplitude_unit"] = CANONICAL_UNIT[mech_role]
                else:
                    df["amplitude_unit"] = "degC"
                resp_frames.append(df)
        if len(stim_s):
            resp_frames.append(
                pd.DataFrame(
                    [
                        {
                            "file": label,
                            "unit_id": k,
                            "stimulus": "electrical",
                            "index": 0,
                            "onset_s": stim_s[0],
                            "offset_s": stim_s[-1],
                            "amplitude": np.nan,
                            "total_spikes": int(round(lat["follow_fraction"] * len(stim_s))),
                            "latency_ms": lat["latency_ms"],
                            "responded": driven,
                            "amplitude_unit": "",
                        }
                    ]
                )
            )
    units = pd.DataFrame(unit_rows)
    if len(units):
        # unit under study: follows the electrical stimulus and fires most to the receptive-field
        # stimuli; without a driven unit, the one with most stimulus-evoked spikes
        evoked = {k: 0 for k in units["unit_id"]}
        for df in resp_frames:
            if len(df) and df["stimulus"].iloc[0] != "electrical":
                for u, n in df[df["responded"]].groupby("unit_id")["total_spikes"].sum().items():
                    evoked[u] += int(n)
        units["evoked_spikes"] = units["unit_id"].map(evoked)
        keys = [
            (bool(r.electrically_driven), r.evoked_spikes, r.amplitude_uv)
            for r in units.itertuples(index=False)
        ]
        units["is_unit_under_study"] = False
        units.loc[max(range(len(keys)), key=keys.__getitem__), "is_unit_under_study"] = True
    responses = pd.concat(resp_frames, ignore_index=True) if resp_frames else pd.DataFrame()
    keep = labels > 0
    spikes = pd.DataFrame({"file": label, "unit_id": labels[keep], "time_s": times[keep]})
    snippets = read_windows(rec, _snippet_windows(spikes, steps, stim_s, res.duration_s), p)
    return FileResult(
        file=label,
        units=units,
        responses=responses,
        spikes=spikes,
        steps=steps,
        ramps=ramps,
        stream=res,
        templates_uv=templates_uv,
        mech_role=mech_role,
        roles=dict(rec.roles),
        pre_samples=int(round(p.pre_ms * fs / 1e3)),
        snippets=snippets,
    )


def _snippet_windows(
    spikes: pd.DataFrame, steps: pd.DataFrame, stim_s: np.ndarray, duration_s: float
) -> dict[int, tuple[float, float]]:
    """Per unit, a short window to show at full rate: its best-responded step (onset -0.2 s to
    +1 s), else its first spike within 100 ms of an electrical pulse, else its densest second."""
    out = {}
    for k, g in spikes.groupby("unit_id"):
        t = g["time_s"].to_numpy()
        win = None
        if len(steps):
            counts = [
                ((t >= a) & (t < b)).sum()
                for a, b in zip(steps["onset_s"], steps["offset_s"], strict=True)
            ]
            if max(counts) > 0:
                on = float(steps["onset_s"].iloc[int(np.argmax(counts))])
                win = (max(0.0, on - 0.2), on + 1.0)
        if win is None and len(stim_s):
            j = np.searchsorted(t, stim_s)
            hits = [s for s, i in zip(stim_s, j, strict=True) if i < t.size and t[i] - s < 0.1]
            if hits:
                win = (max(0.0, hits[0] - 0.01), hits[0] + 0.11)
        if win is None and t.size:
            c = np.searchsorted(t, t + 1.0) - np.arange(t.size)
            t0 = float(t[int(np.argmax(c))])
            win = (max(0.0, t0 - 0.2), min(duration_s, t0 + 0.8))
        if win is not None:
            out[int(k)] = win
    return out


def analyze_file(
    path: str | Path | Reader,
    cmap: ChannelMap | None = None,
    params: Params | None = None,
    *,
    require_stimulus: bool = False,
) -> FileResult:
    """Open and analyse one recording file."""
    rec = open_recording(path, cmap)
    if require_stimulus and "stimulus" not in rec.roles:
        raise InputError(
            "no stimulus channel in the channel map (needed for conduction velocity)", file=rec.path
        )
    return analyze_recording(rec, params, file=rec.path.name)
