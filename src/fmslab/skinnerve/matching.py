"""Second detection pass: template matching (matched filter) with subtraction of found spikes.

Once the first, threshold-based pass has given templates, every unit's template ``T`` is slid along
the band-passed trace ``x``: the score ``c(t) = sum_j x[t - pre + j] T[j]`` is the matched-filter
output (the least-squares amplitude of ``T`` at ``t`` is ``a = c / |T|^2`` and it removes
``c^2 / |T|^2`` of the signal energy). Its noise SD ``s`` is estimated robustly (MAD) from the
scores themselves, chunk by chunk. A spike of unit ``k`` is accepted at ``t`` when

- ``c_k(t) / s_k >= threshold_sd`` (``match_threshold_sd``, 5: the matched filter's own SNR),
- ``a`` lies in ``[amp_min, amp_max]`` (0.5-2 times the template: bursts with amplitude decrement
  stay in, other units' spikes that only resemble the template at another scale do not),
- unit ``k`` leaves the smallest residual ``|x - T_k|^2`` at ``t`` of all templates (so that two
  units of one shape and different size are told apart by size), and ``t`` is the best such
  position within half a template length.

Accepted spikes are subtracted (``a * T``) and the search is repeated on the residual
(``rounds`` times), which finds spikes that overlapped a larger one. Spike times are the template's
alignment point (sub-sample position from a parabola through the score peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal, special

from fmslab.skinnerve.spikes import MAD_TO_SD


@dataclass
class Matches:
    """Spikes found by :func:`match_templates` (one row per spike, sorted by sample)."""

    sample: np.ndarray  # alignment sample (int)
    frac: np.ndarray  # sub-sample correction in samples (-0.5..0.5)
    unit: np.ndarray  # index into the templates (0-based)
    amplitude: np.ndarray  # least-squares scale of the template
    z: np.ndarray  # matched-filter score / its noise SD


def _scores(x: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """``c[k, i]`` = correlation of ``x[i : i + L]`` with template k (valid part; direct, which
    for templates of ~50 samples is several times faster than FFT)."""
    return np.stack([np.correlate(x, t, mode="valid") for t in templates])


def score_noise(x: np.ndarray, templates: np.ndarray, max_samples: int = 400_000) -> np.ndarray:
    """Per template: (SD of the matched-filter score, robust SD of its first difference), both
    from the MAD over the first ``max_samples`` samples of ``x`` (spikes are sparse)."""
    seg = np.asarray(x[: max(max_samples, 2 * templates.shape[1])], dtype=np.float64)
    c = _scores(seg, templates)
    sd = np.median(np.abs(c), axis=1) / MAD_TO_SD
    sd_d = np.median(np.abs(np.diff(c, axis=1)), axis=1) / MAD_TO_SD
    return np.column_stack([sd, sd_d])


def drift_gains(
    sample: np.ndarray,
    unit: np.ndarray,
    amplitude: np.ndarray,
    n_units: int,
    n_samples: int,
    chunk: int,
    *,
    half_width_chunks: float = 1.0,
    min_spikes: int = 20,
) -> np.ndarray:
    """Slow amplitude drift of each unit: per ``chunk`` of the trace, the median least-squares
    scale of the unit's spikes within ``half_width_chunks`` chunks of the chunk's centre,
    relative to the unit's median over the whole trace; a chunk with fewer than ``min_spikes``
    takes the nearest estimated chunk's value (1 for a unit with no such chunk).

    Returns an (n_units, n_chunks) array for :func:`match_templates`'s ``gains``.
    """
    n_chunks = max(1, -(-n_samples // chunk))
    out = np.ones((n_units, n_chunks))
    centres = (np.arange(n_chunks) + 0.5) * chunk
    half = half_width_chunks * chunk
    for k in range(n_units):
        s_, a_ = sample[unit == k], amplitude[unit == k]
        if s_.size < min_spikes:
            continue
        ref = float(np.median(a_))
        if not ref > 0:
            continue
        order = np.argsort(s_)
        s_, a_ = s_[order], a_[order]
        lo = np.searchsorted(s_, centres - half)
        hi = np.searchsorted(s_, centres + half)
        ok = (hi - lo) >= min_spikes
        if not ok.any():
            continue
        for ci in np.flatnonzero(ok):
            out[k, ci] = float(np.median(a_[lo[ci] : hi[ci]])) / ref
        # chunks with too few spikes take the nearest estimated chunk's gain (a unit drifting
        # towards a neighbour's size loses spikes to it; carrying its last gain forward lets the
        # next round win them back)
        good = np.flatnonzero(ok)
        nearest = good[np.abs(np.arange(n_chunks)[:, None] - good[None, :]).argmin(axis=1)]
        out[k] = out[k, nearest]
    return out


def unit_thresholds(
    z_unit: np.ndarray,
    n_spikes: np.ndarray,
    sd_ratio: np.ndarray,
    n_samples: int,
    *,
    lo: float = 3.0,
    hi: float = 4.5,
    step: float = 0.05,
) -> np.ndarray:
    """Matched-filter threshold per unit that minimises the expected number of errors.

    For unit ``k`` the score of one of its spikes, in units of the score's noise SD, is about
    ``N(z_k, 1)`` with ``z_k = |T_k|^2 / s_k`` (template energy over the score's noise SD);
    a threshold ``u`` misses ``n_k * Phi(u - z_k)`` of its ``n_k`` spikes. Noise alone makes
    ``n_samples * sd' / (2 pi sd) * exp(-u^2 / 2)`` false spikes (Rice's rate of up-crossings of
    ``u`` by a Gaussian process whose derivative-to-value SD ratio per sample is ``sd_ratio``).
    The threshold minimising misses + false spikes is searched in ``[lo, hi]``.

    Parameters
    ----------
    z_unit
        ``z_k`` per unit.
    n_spikes
        Estimated number of spikes of each unit (all of them, not only those detected).
    sd_ratio
        ``sd' / sd`` of each unit's score (per sample).
    n_samples
        Length of the searched trace (samples).
    """
    u = np.arange(lo, hi + step / 2, step)
    out = np.empty(len(z_unit))
    for k, (zk, nk, r) in enumerate(zip(z_unit, n_spikes, sd_ratio, strict=True)):
        miss = nk * special.ndtr(u - zk)
        false = n_samples * r / (2 * np.pi) * np.exp(-(u**2) / 2)
        out[k] = u[int(np.argmin(miss + false))]
    return out


def match_templates(
    x: np.ndarray,
    templates: np.ndarray,
    pre: int,
    *,
    threshold_sd: float | np.ndarray = 5.0,
    amp_min: float = 0.5,
    amp_max: float = 2.0,
    rounds: int = 3,
    chunk: int = 200_000,
    exclude: np.ndarray | None = None,
    gains: np.ndarray | None = None,
) -> Matches:
    """Find the spikes of every template in ``x`` (see the module docstring).

    Parameters
    ----------
    x
        Band-passed trace (uV), blanked spans set to 0.
    templates
        (n_units, L) mean waveforms in uV, aligned so that sample ``pre`` is the spike time.
    threshold_sd
        Score threshold in score-noise SDs, one for all templates or one per template.
    exclude
        Boolean mask of samples where no spike may be placed (blanked stimulus artefacts).
    gains
        (n_units, n_chunks) scale of each template in each ``chunk`` of ``x`` (slow amplitude
        drift, :func:`drift_gains`); amplitudes are reported relative to the unscaled template.
    """
    n_t, length = templates.shape
    thr = np.broadcast_to(np.asarray(threshold_sd, dtype=np.float64), (n_t,))[:, None]
    empty = Matches(*(np.zeros(0, dtype=d) for d in (np.int64, float, np.int64, float, float)))
    if n_t == 0 or x.size < 2 * length:
        return empty
    pad = 2 * length
    parts = []
    for ci, c0 in enumerate(range(0, x.size, chunk)):
        gk = np.ones(n_t) if gains is None else gains[:, min(ci, gains.shape[1] - 1)]
        tpl = templates.astype(np.float64) * gk[:, None]
        norms2 = (tpl**2).sum(axis=1)
        keep_t = norms2 > 0
        a0, a1 = max(0, c0 - pad), min(x.size, c0 + chunk + pad)
        res = x[a0:a1].astype(np.float64, copy=True)
        found = []
        c = _scores(res, tpl)  # (n_t, n - L + 1); index i -> spike at i + pre
        # noise SD of each score from the first round (spikes are sparse; every 4th position is
        # plenty for a median over ~10^5 values)
        sd = np.median(np.abs(c[:, ::4]), axis=1) / MAD_TO_SD
        sd[sd <= 0] = np.inf
        n_c = c.shape[1]
        # score positions to examine: in the first round where some template passes threshold
        idx = np.flatnonzero(np.max(c / sd[:, None] - thr, axis=0) >= 0)
        ex = exclude[a0 + pre : a0 + pre + n_c] if exclude is not None else None
        for _r in range(max(1, rounds)):
            cs = c[:, idx]
            z = cs / sd[:, None]
            amp = cs / np.where(keep_t, norms2, np.inf)[:, None]
            # choice among templates: the smallest residual |x - T_k|^2, i.e. the largest
            # 2 c - |T|^2 (scaled copies of one shape are told apart by their size)
            gain = np.where(
                (z >= thr) & (amp >= amp_min) & (amp <= amp_max) & keep_t[:, None],
                np.maximum(2 * cs - norms2[:, None], 1e-9),
                0.0,
            )
            best = np.argmax(gain, axis=0)
            g = np.zeros(n_c)
            g[idx] = gain[best, np.arange(idx.size)]
            if ex is not None:
                g[: ex.size][ex] = 0.0
            pk, _ = signal.find_peaks(g, height=1e-12, distance=max(1, length // 2))
            if pk.size == 0:
                break
            k = np.argmax(
                np.where(
                    (c[:, pk] / sd[:, None] >= thr)
                    & (c[:, pk] / np.where(keep_t, norms2, np.inf)[:, None] >= amp_min)
                    & (c[:, pk] / np.where(keep_t, norms2, np.inf)[:, None] <= amp_max),
                    2 * c[:, pk] - norms2[:, None],
                    -np.inf,
                ),
                axis=0,
            )
            a = c[k, pk] / norms2[k]
            # sub-sample time from a parabola through the score around its peak
            cm = c[k, np.maximum(pk - 1, 0)]
            c0_ = c[k, pk]
            cp = c[k, np.minimum(pk + 1, n_c - 1)]
            den = cm - 2 * c0_ + cp
            frac = np.where(den < 0, 0.5 * (cm - cp) / np.where(den < 0, den, -1.0), 0.0)
            found.append(
                np.column_stack(
                    [a0 + pk + pre, np.clip(frac, -0.5, 0.5), k, a * gk[k], c0_ / sd[k]]
                )
            )
            for i, kk, aa in zip(pk, k, a, strict=True):
                res[i : i + length] -= aa * tpl[kk]
            # only scores within a template length of a subtraction changed: update those, and
            # look for further (overlapped) spikes only there
            lo = np.maximum(pk - length + 1, 0)
            hi = np.minimum(pk + length, n_c)
            mask = np.zeros(n_c + 1, dtype=np.int64)
            np.add.at(mask, lo, 1)
            np.add.at(mask, hi, -1)
            touched = np.cumsum(mask[:-1]) > 0
            d = np.diff(np.concatenate([[0], touched.astype(np.int8), [0]]))
            for s_, e_ in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True):
                c[:, s_:e_] = _scores(res[s_ : e_ + length - 1], tpl)
            idx = np.flatnonzero(touched)
            if idx.size == 0:
                break
        if found:
            f = np.concatenate(found)
            f = f[(f[:, 0] >= c0) & (f[:, 0] < min(x.size, c0 + chunk))]
            parts.append(f)
    if not parts:
        return empty
    f = np.concatenate(parts)
    f = f[np.argsort(f[:, 0], kind="stable")]
    return Matches(
        sample=f[:, 0].astype(np.int64),
        frac=f[:, 1],
        unit=f[:, 2].astype(np.int64),
        amplitude=f[:, 3],
        z=f[:, 4],
    )
