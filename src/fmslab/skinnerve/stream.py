"""One pass over a recording in chunks: stimulus pulses, artefact blanking, filtering, detection.

Memory stays bounded by the chunk size: each chunk is processed with ``pad_s`` of context on both
sides (so ``sosfiltfilt`` and waveform windows see across chunk borders) and only its core is kept.
What survives a chunk is small: the detected spikes with their waveforms, the electrical stimulus
samples, the stimulus channels (force, temperature, ...) averaged to ``aux_rate_hz`` and a min/max
envelope of the filtered nerve signal at the same rate, for plotting.

A first, cheap pass reads the stimulus channel alone to set its pulse threshold (halfway between its
median and its extreme), so that pulse detection is the same in every chunk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from fmslab.errors import InputError
from fmslab.skinnerve.io import Recording
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.spikes import (
    bandpass_sos,
    blank,
    detect_peaks,
    drop_opposite_phases,
    extract_waveforms,
    mad_sigma,
)

log = logging.getLogger(__name__)


@dataclass
class StreamResult:
    fs_hz: float
    n_samples: int
    spike_samples: np.ndarray
    spike_peaks_uv: np.ndarray
    waveforms_uv: np.ndarray
    chunk_noise_uv: np.ndarray
    stimulus_samples: np.ndarray
    aux_time_s: np.ndarray
    aux: dict[str, np.ndarray] = field(default_factory=dict)
    envelope_uv: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    segment_starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    @property
    def noise_uv(self) -> float:
        """Recording noise SD: median of the chunks' MAD estimates."""
        return float(np.median(self.chunk_noise_uv)) if self.chunk_noise_uv.size else float("nan")

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    @property
    def spike_times_s(self) -> np.ndarray:
        return self.spike_samples / self.fs_hz


def stimulus_threshold(rec: Recording, params: Params, chunk: int) -> tuple[float, int] | None:
    """(threshold, polarity) of the analog stimulus channel; None without one.

    Raises InputError when the channel never departs from its baseline by ``stimulus_min_v``.
    """
    if "stimulus" not in rec.roles or "stimulus" in rec.event_roles:
        return None
    meds, hi, lo = [], -np.inf, np.inf
    for _s, block in rec.iter_roles(chunk, roles=["stimulus"]):
        x = block["stimulus"]
        meds.append(np.median(x))
        hi, lo = max(hi, float(x.max())), min(lo, float(x.min()))
    med = float(np.median(meds))
    up, down = hi - med, med - lo
    if max(up, down) < params.stimulus_min_v:
        raise InputError(
            f"no stimulus markers: the stimulus channel varies by only {max(up, down):.3g} V "
            f"(< {params.stimulus_min_v} V) around {med:.3g} V",
            file=rec.path,
            column=rec.roles["stimulus"],
        )
    pol = 1 if up >= down else -1
    return med + pol * 0.5 * max(up, down), pol


def _edges(x: np.ndarray, thr: float, pol: int) -> np.ndarray:
    above = (x > thr) if pol > 0 else (x < thr)
    return np.flatnonzero(above[1:] & ~above[:-1]) + 1


def _block_reduce(x: np.ndarray, q: int, how: str) -> np.ndarray:
    starts = np.arange(0, x.size, q)
    if how == "mean":
        return (np.add.reduceat(x, starts) / np.diff(np.append(starts, x.size))).astype(np.float32)
    if how == "max":
        return np.maximum.reduceat(x, starts).astype(np.float32)
    return np.minimum.reduceat(x, starts).astype(np.float32)


def process(rec: Recording, params: Params | None = None) -> StreamResult:
    """Run the chunked pass over ``rec``; see the module docstring."""
    p = params or Params()
    fs = rec.fs_hz
    q = max(1, int(round(fs / p.aux_rate_hz)))
    chunk = max(q, int(round(p.chunk_s * fs)) // q * q)
    pad = max(1, int(round(p.pad_s * fs)))
    pre, post = int(round(p.pre_ms * fs / 1e3)), int(round(p.post_ms * fs / 1e3))
    dead = int(round(p.dead_ms * fs / 1e3))
    phase_win = int(round(p.opposite_phase_ms * fs / 1e3))
    b_pre, b_post = int(round(p.blank_pre_ms * fs / 1e3)), int(round(p.blank_post_ms * fs / 1e3))
    min_gap = int(round(p.stimulus_min_interval_ms * fs / 1e3))
    sos = bandpass_sos(fs, p.band_low_hz, p.band_high_hz, p.filter_order)
    thr = stimulus_threshold(rec, p, chunk)
    ev_samples = (
        np.round(rec.event_roles["stimulus"] * fs).astype(np.int64)
        if "stimulus" in rec.event_roles
        else None
    )
    if ev_samples is not None and ev_samples.size == 0:
        raise InputError(
            "no stimulus markers in the stimulus event channel",
            file=rec.path,
            column=rec.roles["stimulus"],
        )
    seg_starts = np.asarray(rec.reader.segment_starts, dtype=np.int64)
    aux_roles = [r for r in rec.analog_roles() if r not in ("nerve",)]

    spikes, peaks_uv, waves, noise, stims = [], [], [], [], []
    aux: dict[str, list[np.ndarray]] = {r: [] for r in aux_roles}
    aux_t, env = [], []
    last_stim = -(10**12)
    n_total = 0

    def run(core_start: int, core: dict, left: dict | None, right: dict | None) -> None:
        nonlocal last_stim, n_total
        n_core = core["nerve"].size
        n_left = left["nerve"].size if left else 0
        ext = {
            r: np.concatenate(
                [x for x in ((left or {}).get(r), core[r], (right or {}).get(r)) if x is not None]
            )
            for r in core
        }
        ext0 = core_start - n_left
        c0, c1 = n_left, n_left + n_core
        # electrical stimuli in this chunk (all of ext for blanking, the core's for the record)
        if thr is not None:
            e = _edges(ext["stimulus"], *thr)
        elif ev_samples is not None:
            e = ev_samples[(ev_samples >= ext0) & (ev_samples < ext0 + ext["nerve"].size)] - ext0
        else:
            e = np.zeros(0, dtype=np.int64)
        for s in e[(e >= c0) & (e < c1)]:
            if ext0 + s - last_stim >= min_gap:
                stims.append(ext0 + s)
                last_stim = ext0 + s
        nerve = ext["nerve"].astype(np.float64, copy=True)
        blank(nerve, e, b_pre, b_post)
        seg = seg_starts[(seg_starts > ext0) & (seg_starts < ext0 + nerve.size)] - ext0
        blank(nerve, seg, int(2e-3 * fs), int(2e-3 * fs))
        xf = signal.sosfiltfilt(sos, nerve)
        sigma = mad_sigma(xf[c0:c1]) if p.fixed_noise_uv is None else p.fixed_noise_uv
        noise.append(sigma)
        pk = detect_peaks(xf, p.threshold_sd * sigma, dead_samples=dead, polarity=p.polarity)
        pk = drop_opposite_phases(xf, pk, phase_win)
        pk = pk[(pk >= c0) & (pk < c1)]
        if e.size and pk.size:  # drop detections inside blanked windows
            j = np.searchsorted(e, pk)
            lo = np.where(j > 0, e[np.maximum(j - 1, 0)], -(10**9))
            hi = np.where(j < e.size, e[np.minimum(j, e.size - 1)], 10**12)
            pk = pk[~((pk - lo <= b_post + 1) | (hi - pk <= b_pre + 1))]
        w, ok = extract_waveforms(xf, pk, pre, post)
        pk = pk[ok]
        spikes.append(ext0 + pk)
        peaks_uv.append(xf[pk].astype(np.float32))
        waves.append(w)
        starts = np.arange(0, n_core, q)
        aux_t.append((core_start + starts + 0.5 * np.minimum(q, n_core - starts)) / fs)
        for r in aux_roles:
            aux[r].append(_block_reduce(core[r], q, "mean"))
        core_f = xf[c0:c1]
        env.append(
            np.column_stack([_block_reduce(core_f, q, "min"), _block_reduce(core_f, q, "max")])
        )
        n_total += n_core

    def tail(prev: dict | None, block: dict) -> dict:
        return {
            r: (np.concatenate([prev[r], block[r]]) if prev else block[r])[-pad:] for r in block
        }

    pending = None
    left = None
    for start, block in rec.iter_roles(chunk):
        if pending is not None:
            run(pending[0], pending[1], left, {r: v[:pad] for r, v in block.items()})
            left = tail(left, pending[1])
        pending = (start, block)
    if pending is None:
        raise InputError("the recording has no samples", file=rec.path)
    run(pending[0], pending[1], left, None)

    n_w = pre + post
    return StreamResult(
        fs_hz=fs,
        n_samples=n_total,
        spike_samples=np.concatenate(spikes).astype(np.int64),
        spike_peaks_uv=np.concatenate(peaks_uv),
        waveforms_uv=np.concatenate(waves) if waves else np.zeros((0, n_w), np.float32),
        chunk_noise_uv=np.asarray(noise),
        stimulus_samples=np.asarray(stims, dtype=np.int64),
        aux_time_s=np.concatenate(aux_t),
        aux={r: np.concatenate(v) for r, v in aux.items()},
        envelope_uv=np.concatenate(env),
        segment_starts=seg_starts,
    )


def read_windows(
    rec: Recording, windows: dict[int, tuple[float, float]], params: Params | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Band-passed nerve signal at full rate in a few time windows, in one pass over the file.

    ``windows`` maps a key (e.g. a unit id) to ``(t0_s, t1_s)``; returns ``key -> (time_s, uV)``.
    Stimulus artefacts are not blanked here (the figure shows the signal as recorded, filtered).
    """
    p = params or Params()
    fs = rec.fs_hz
    if not windows:
        return {}
    pad = int(round(p.pad_s * fs))
    spans = {k: (max(0, int(a * fs) - pad), int(b * fs) + pad) for k, (a, b) in windows.items()}
    last = max(b for _a, b in spans.values())
    parts: dict[int, list[np.ndarray]] = {k: [] for k in spans}
    chunk = max(1, int(round(p.chunk_s * fs)))
    for start, block in rec.iter_roles(chunk, roles=["nerve"]):
        x = block["nerve"]
        stop = start + x.size
        for k, (a, b) in spans.items():
            lo, hi = max(a, start), min(b, stop)
            if hi > lo:
                parts[k].append(x[lo - start : hi - start])
        if stop >= last:
            break
    sos = bandpass_sos(fs, p.band_low_hz, p.band_high_hz, p.filter_order)
    out = {}
    for k, (a, _b) in spans.items():
        if not parts[k]:
            continue
        x = np.concatenate(parts[k])
        if x.size <= 3 * (2 * sos.shape[0] + 1):
            continue
        xf = signal.sosfiltfilt(sos, x)
        t = (a + np.arange(x.size)) / fs
        t0, t1 = windows[k]
        keep = (t >= t0) & (t < t1)
        out[k] = (t[keep], xf[keep].astype(np.float32))
    return out
