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
    MAD_TO_SD,
    bandpass_sos,
    detect_peaks,
    drop_opposite_phases,
    extract_waveforms,
    mad_sigma,
)

log = logging.getLogger(__name__)


@dataclass
class StreamResult:
    """Output of :func:`process`: first-pass detections, the filtered trace, stimuli, aux."""

    fs_hz: float
    n_samples: int
    spike_samples: np.ndarray
    waveforms_uv: np.ndarray
    chunk_noise_uv: np.ndarray
    stimulus_samples: np.ndarray
    blank_spans: np.ndarray  # (n, 2) first/last blanked sample per stimulus
    hum_hz: list[float]
    filtered_uv: np.ndarray  # band-passed (and notched) nerve, float32, blanked spans = 0
    aux_time_s: np.ndarray
    aux: dict[str, np.ndarray] = field(default_factory=dict)
    envelope_uv: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    segment_starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    #: the nerve in the matching pass's wider band (``match_band_low_hz`` ..
    #: ``match_band_high_hz``, notched like ``filtered_uv``), float32; empty: match on
    #: ``filtered_uv``
    match_uv: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    #: the stimuli were inferred from their artefacts (no stimulus channel; see
    #: :mod:`fmslab.skinnerve.unmarked`), each placed at its artefact's onset on the raw trace
    stimuli_inferred: bool = False

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


def stimulus_threshold(
    rec: Recording, params: Params, chunk: int
) -> tuple[float, int, float] | None:
    """(threshold, polarity, rest level) of the analog stimulus channel; None without one.

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
    return med + pol * 0.5 * max(up, down), pol, med


def _block_reduce(x: np.ndarray, q: int, how: str) -> np.ndarray:
    starts = np.arange(0, x.size, q)
    if how == "mean":
        return (np.add.reduceat(x, starts) / np.diff(np.append(starts, x.size))).astype(np.float32)
    if how == "max":
        return np.maximum.reduceat(x, starts).astype(np.float32)
    return np.minimum.reduceat(x, starts).astype(np.float32)


def stimulus_samples(rec: Recording, params: Params, chunk: int) -> np.ndarray:
    """Sample indices of the electrical stimuli (empty without a stimulus channel).

    An event/marker channel gives its times as they are (a 500 Hz train stays 500 Hz). An analog
    channel gives its edges with hysteresis: a pulse starts where the signal crosses halfway
    between its median and its extreme, and the next pulse can start only after the signal has
    come back below a quarter of the way (so ringing on one TTL edge is one pulse, while pulses of
    a train, each returning to baseline, are all kept). ``stimulus_min_interval_ms`` (default 0)
    can still merge pulses closer than that.
    """
    fs = rec.fs_hz
    if "stimulus" in rec.event_roles:
        ev = np.round(rec.event_roles["stimulus"] * fs).astype(np.int64)
        if ev.size == 0:
            raise InputError(
                "no stimulus markers in the stimulus event channel",
                file=rec.path,
                column=rec.roles["stimulus"],
            )
        return np.unique(ev)
    thr = stimulus_threshold(rec, params, chunk)
    if thr is None:
        return np.zeros(0, dtype=np.int64)
    level, pol, rest = thr
    hi_lvl = pol * level
    lo_lvl = pol * (rest + 0.5 * (level - rest))  # a quarter of the way from rest
    out: list[int] = []
    armed = True
    for start, block in rec.iter_roles(chunk, roles=["stimulus"]):
        x = pol * block["stimulus"]
        idx_above = np.flatnonzero(x > hi_lvl)
        idx_below = np.flatnonzero(x < lo_lvl)
        i = 0
        while True:
            if armed:
                j = np.searchsorted(idx_above, i)
                if j >= idx_above.size:
                    break
                i = int(idx_above[j])
                out.append(start + i)
                armed = False
            else:
                j = np.searchsorted(idx_below, i)
                if j >= idx_below.size:
                    break
                i = int(idx_below[j])
                armed = True
    st = np.asarray(out, dtype=np.int64)
    gap = int(round(params.stimulus_min_interval_ms * fs / 1e3))
    if gap > 0 and st.size > 1:
        keep = [0]
        for k in range(1, st.size):
            if st[k] - st[keep[-1]] >= gap:
                keep.append(k)
        st = st[keep]
    return st


@dataclass
class Prepass:
    """What the pre-pass learns before filtering: stimuli, artefact extents, mains hum."""

    stimulus_samples: np.ndarray
    blank_start: np.ndarray  # per stimulus, first blanked sample
    blank_stop: np.ndarray  # per stimulus, last blanked sample
    hum_hz: list[float]


def _artefact_extent(x: np.ndarray, i0: int, fs: float, params: Params) -> tuple[int, int, bool]:
    """(first, last) sample of the stimulus artefact around ``x[i0]`` (raw trace), and whether
    a departure was seen (else the default span).

    Baseline = median of the 3 ms before the stimulus; noise = its MAD / 0.6745. The artefact
    is where the raw trace departs from the baseline by more than ``artefact_sd`` noise SDs. It
    starts at the first such sample within ±``artefact_search_ms`` of the marker and ends at the
    last such sample before the trace stays within the band for ``artefact_quiet_ms``, at most
    ``artefact_max_ms`` after the marker. Without a departure, ``blank_pre_ms`` before to
    ``blank_post_ms`` after the marker are blanked.
    """
    pre_n = int(round(3e-3 * fs))
    a = max(0, i0 - pre_n)
    base_seg = x[a : max(a + 1, i0 - 1)]
    default = (
        i0 - int(round(params.blank_pre_ms * fs / 1e3)),
        i0 + int(round(params.blank_post_ms * fs / 1e3)),
    )
    if base_seg.size < 4:
        return (*default, False)
    base = float(np.median(base_seg))
    sd = max(float(np.median(np.abs(base_seg - base)) / MAD_TO_SD), 1e-9)
    search = int(round(params.artefact_search_ms * fs / 1e3))
    max_n = int(round(params.artefact_max_ms * fs / 1e3))
    quiet = max(1, int(round(params.artefact_quiet_ms * fs / 1e3)))
    seg = x[max(0, i0 - search) : min(x.size, i0 + max_n + quiet)]
    off = max(0, i0 - search)
    out = np.abs(seg - base) > params.artefact_sd * sd
    hits = np.flatnonzero(out[: 2 * search + 1])
    if hits.size == 0:
        return (*default, False)
    first = off + int(hits[0])
    last = first
    k = first - off
    while k < out.size:
        nxt = np.flatnonzero(out[k + 1 : k + 1 + quiet])
        if nxt.size == 0:
            break
        k = k + 1 + int(nxt[-1])
        last = off + k
        if last - i0 >= max_n:
            last = i0 + max_n
            break
    return first - 1, last + 1, True


def _hum_frequencies(x: np.ndarray, fs: float, params: Params) -> list[float]:
    """Mains lines present in ``x`` (raw nerve): 50 or 60 Hz and harmonics up to the band top.

    Welch PSD at 1 Hz resolution; a line is present when its power exceeds ``hum_ratio`` times the
    median power within ±15 Hz (excluding ±2 Hz). The base frequency (50 or 60) is the one whose
    fundamental or first harmonics are present; only its harmonics are returned.
    """
    if x.size < 2 * int(fs):
        return []
    f, pxx = signal.welch(x - np.median(x), fs=fs, nperseg=int(fs))
    top = min(params.band_high_hz, 0.45 * fs)
    best: list[float] = []
    for f0 in (50.0, 60.0):
        found = []
        for h in range(1, int(top // f0) + 1):
            fh = h * f0
            i = int(round(fh))
            if i + 16 >= f.size:
                break
            near = np.r_[pxx[i - 15 : i - 2], pxx[i + 3 : i + 16]]
            if pxx[i] > params.hum_ratio * float(np.median(near)):
                found.append(fh)
        if len(found) > len(best) and (f0 in found or 2 * f0 in found or 3 * f0 in found):
            best = found
    return best


def notch_sos(fs: float, freqs: list[float], q: float = 30.0) -> np.ndarray:
    """Second-order sections of IIR notches (``scipy.signal.iirnotch``) at ``freqs``."""
    parts = []
    for f0 in freqs:
        b, a = signal.iirnotch(f0, q, fs=fs)
        parts.append(signal.tf2sos(b, a))
    return np.concatenate(parts) if parts else np.zeros((0, 6))


def prepass(rec: Recording, params: Params, inferred: np.ndarray | None = None) -> Prepass:
    """Stimuli, their artefacts' extents on the raw trace, and mains hum (see docs).

    ``inferred``: stimulus samples found from their artefacts (no stimulus channel) instead of
    the channel's; each is moved to its artefact's start on the raw trace (the last sample
    before the departure from the baseline).
    """
    fs = rec.fs_hz
    p = params
    chunk = max(1, int(round(p.chunk_s * fs)))
    if inferred is None:
        stim = stimulus_samples(rec, p, chunk)
    else:
        stim = np.unique(np.asarray(inferred, dtype=np.int64))
    b0 = np.zeros(stim.size, dtype=np.int64)
    b1 = np.zeros(stim.size, dtype=np.int64)
    seen = np.zeros(stim.size, dtype=bool)  # a departure from the baseline was found
    hum_parts: list[np.ndarray] = []
    hum_n = int(p.hum_probe_s * fs)
    margin = int(round((3e-3 + p.artefact_max_ms / 1e3 + 2e-3) * fs))
    prev = np.zeros(0)
    prev0 = 0
    done = 0
    for start, block in rec.iter_roles(chunk, roles=["nerve"]):
        x = block["nerve"]
        if sum(v.size for v in hum_parts) < hum_n:
            hum_parts.append(x[: hum_n - sum(v.size for v in hum_parts)].copy())
        if stim.size:
            ext = np.concatenate([prev, x])
            e0 = prev0
            stop = start + x.size
            while done < stim.size and stim[done] + margin <= stop:
                i = int(stim[done] - e0)
                if i >= 0:
                    a, b, seen[done] = _artefact_extent(ext, i, fs, p)
                    b0[done], b1[done] = e0 + a, e0 + b
                else:
                    b0[done], b1[done] = stim[done], stim[done]
                done += 1
            keep = min(ext.size, 2 * margin)
            prev, prev0 = ext[-keep:], stop - keep
        elif sum(v.size for v in hum_parts) >= hum_n:
            break
    if stim.size and done < stim.size:  # stimuli in the last few ms
        ext, e0 = prev, prev0
        for k in range(done, stim.size):
            i = int(stim[k] - e0)
            if 0 <= i < ext.size:
                a, b, seen[k] = _artefact_extent(ext, i, fs, p)
                b0[k], b1[k] = e0 + a, e0 + b
            else:
                b0[k], b1[k] = stim[k], stim[k]
    hum = _hum_frequencies(np.concatenate(hum_parts), fs, p) if p.notch_hum and hum_parts else []
    if inferred is not None and stim.size:
        # an inferred stimulus is where its artefact starts: the last sample before the raw
        # trace departs from the baseline (the extent's first sample, as for a marked
        # stimulus); without a departure it stays where it was detected
        stim = np.where(seen, b0, stim)
    return Prepass(stimulus_samples=stim, blank_start=b0, blank_stop=b1, hum_hz=hum)


def _blank_spans(x: np.ndarray, spans: np.ndarray) -> None:
    """Replace ``x[a : b + 1]`` by a straight line between its ends, in place, per (a, b) row."""
    n = x.size
    for a, b in spans:
        a, b = max(0, int(a)), min(n - 1, int(b))
        if b > a:
            x[a : b + 1] = np.linspace(x[a], x[b], b - a + 1)


def process(
    rec: Recording, params: Params | None = None, *, inferred_stimuli: np.ndarray | None = None
) -> StreamResult:
    """Run the pre-pass and the chunked filtering/detection pass over ``rec``; see the module
    docstring. ``inferred_stimuli``: stimulus samples found from their artefacts
    (:mod:`fmslab.skinnerve.unmarked`), used instead of a stimulus channel."""
    p = params or Params()
    fs = rec.fs_hz
    q = max(1, int(round(fs / p.aux_rate_hz)))
    chunk = max(q, int(round(p.chunk_s * fs)) // q * q)
    pad = max(1, int(round(p.pad_s * fs)))
    pre, post = int(round(p.pre_ms * fs / 1e3)), int(round(p.post_ms * fs / 1e3))
    dead = int(round(p.dead_ms * fs / 1e3))
    phase_win = int(round(p.opposite_phase_ms * fs / 1e3))
    pp = prepass(rec, p, inferred_stimuli)
    sos = bandpass_sos(fs, p.band_low_hz, p.band_high_hz, p.filter_order)
    if pp.hum_hz:
        sos = np.concatenate([sos, notch_sos(fs, pp.hum_hz)])
        log.info("%s: mains hum at %s Hz notched", rec.path, pp.hum_hz)
    sos_match = None
    if p.match and p.match_band_low_hz is not None:
        sos_match = bandpass_sos(fs, p.match_band_low_hz, p.match_band_high_hz, p.filter_order)
        if pp.hum_hz:
            sos_match = np.concatenate([sos_match, notch_sos(fs, pp.hum_hz)])
    spans_all = np.column_stack([pp.blank_start, pp.blank_stop]).astype(np.int64)
    seg_starts = np.asarray(rec.reader.segment_starts, dtype=np.int64)
    seg_spans = np.column_stack([seg_starts - int(2e-3 * fs), seg_starts + int(2e-3 * fs)]).astype(
        np.int64
    )[1:]
    aux_roles = [r for r in rec.analog_roles() if r not in ("nerve", "stimulus")]
    aux_roles += ["stimulus"] if "stimulus" in rec.analog_roles() else []

    spikes, waves, noise = [], [], []
    # the full-length traces are filled in place when the length is known (no list + concatenate,
    # which held each trace twice at the end)
    n_known = rec.reader.n_samples
    filt = _TraceBuffer(n_known)
    wide = _TraceBuffer(n_known if sos_match is not None else 0)
    aux: dict[str, list[np.ndarray]] = {r: [] for r in aux_roles}
    aux_t = []
    n_total = 0

    def run(core_start: int, core: dict, left: dict | None, right: dict | None) -> None:
        nonlocal n_total
        n_core = core["nerve"].size
        n_left = left["nerve"].size if left else 0
        nerve = np.concatenate(
            [x for x in ((left or {}).get("nerve"), core["nerve"], (right or {}).get("nerve"))
             if x is not None]
        ).astype(np.float64, copy=True)  # fmt: skip
        ext0 = core_start - n_left
        c0, c1 = n_left, n_left + n_core
        lo, hi = ext0, ext0 + nerve.size
        sel = (spans_all[:, 1] >= lo) & (spans_all[:, 0] < hi) if spans_all.size else []
        spans = spans_all[sel] - ext0 if spans_all.size else spans_all
        _blank_spans(nerve, spans)
        ss = seg_spans[(seg_spans[:, 1] >= lo) & (seg_spans[:, 0] < hi)] - ext0
        _blank_spans(nerve, ss)
        xf = signal.sosfiltfilt(sos, nerve)
        blanked = np.zeros(xf.size, dtype=bool)
        for a, b in np.concatenate([spans, ss]) if len(ss) or len(spans) else []:
            blanked[max(0, a) : max(0, b + 1)] = True
        xf[blanked] = 0.0
        core_f = xf[c0:c1]
        quiet = core_f[~blanked[c0:c1]]
        sigma = mad_sigma(quiet) if p.fixed_noise_uv is None else p.fixed_noise_uv
        noise.append(sigma)
        pk = detect_peaks(xf, p.threshold_sd * sigma, dead_samples=dead, polarity=p.polarity)
        pk = drop_opposite_phases(xf, pk, phase_win)
        pk = pk[(pk >= c0) & (pk < c1)]
        w, ok = extract_waveforms(xf, pk, pre, post)
        pk = pk[ok]
        spikes.append(ext0 + pk)
        waves.append(w)
        filt.append(core_f.astype(np.float32))
        if sos_match is not None:
            xw = signal.sosfiltfilt(sos_match, nerve)[c0:c1]
            xw[blanked[c0:c1]] = 0.0
            wide.append(xw.astype(np.float32))
        starts = np.arange(0, n_core, q)
        aux_t.append((core_start + starts + 0.5 * np.minimum(q, n_core - starts)) / fs)
        for r in aux_roles:
            aux[r].append(_block_reduce(core[r], q, "mean"))
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
    xf_all = filt.result()
    return StreamResult(
        fs_hz=fs,
        n_samples=n_total,
        spike_samples=np.concatenate(spikes).astype(np.int64),
        waveforms_uv=np.concatenate(waves) if waves else np.zeros((0, n_w), np.float32),
        chunk_noise_uv=np.asarray(noise),
        stimulus_samples=pp.stimulus_samples,
        blank_spans=spans_all,
        hum_hz=pp.hum_hz,
        filtered_uv=xf_all,
        aux_time_s=np.concatenate(aux_t),
        aux={r: np.concatenate(v) for r, v in aux.items()},
        envelope_uv=np.column_stack(
            [_block_reduce(xf_all, q, "min"), _block_reduce(xf_all, q, "max")]
        ),
        segment_starts=seg_starts,
        match_uv=wide.result(),
        stimuli_inferred=inferred_stimuli is not None,
    )


class _TraceBuffer:
    """A float32 trace built chunk by chunk: in a preallocated array when the length is known,
    else as a list concatenated at the end."""

    def __init__(self, n: int | None) -> None:
        self._arr = np.empty(n, dtype=np.float32) if n is not None else None
        self._parts: list[np.ndarray] = []
        self._n = 0

    def append(self, x: np.ndarray) -> None:
        if self._arr is not None and self._n + x.size <= self._arr.size:
            self._arr[self._n : self._n + x.size] = x
        else:
            if self._arr is not None:  # longer than announced: fall back to a list
                self._parts = [self._arr[: self._n].copy()]
                self._arr = None
            self._parts.append(np.asarray(x, dtype=np.float32))
        self._n += x.size

    def __bool__(self) -> bool:
        return self._n > 0

    def result(self) -> np.ndarray:
        if self._arr is not None:
            return self._arr[: self._n]
        out = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.float32)
        self._parts = []
        return out


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


def read_raw_windows(
    rec: Recording, centres_s: np.ndarray, before_ms: float, after_ms: float, chunk_s: float = 10.0
) -> np.ndarray:
    """Raw (unfiltered) nerve samples around each centre, (n, before + after), in one pass that
    stops after the last window; windows not fully inside the recording are dropped."""
    fs = rec.fs_hz
    c = np.sort(np.round(np.asarray(centres_s) * fs).astype(np.int64))
    b, a = int(round(before_ms * fs / 1e3)), int(round(after_ms * fs / 1e3))
    c = c[c - b >= 0]
    if c.size == 0:
        return np.zeros((0, a + b))
    out = np.full((c.size, a + b), np.nan)
    prev = np.zeros(0)
    prev0 = 0
    for start, block in rec.iter_roles(max(1, int(chunk_s * fs)), roles=["nerve"]):
        x = np.concatenate([prev, block["nerve"]])
        x0 = prev0
        stop = start + block["nerve"].size
        for i in np.flatnonzero((c + a <= stop) & (c - b >= x0) & np.isnan(out[:, 0])):
            out[i] = x[c[i] - b - x0 : c[i] + a - x0]
        keep = min(x.size, a + b)
        prev, prev0 = x[-keep:], stop - keep
        if stop >= c[-1] + a:
            break
    return out[~np.isnan(out[:, 0])]
