"""Second detection pass: template matching (matched filter) with subtraction of found spikes.

Once the first, threshold-based pass has given templates, every unit's template ``T`` is slid along
the band-passed trace ``x``: the score ``c(t) = sum_j x[t - pre + j] T[j]`` is the matched-filter
output (the least-squares amplitude of ``T`` at ``t`` is ``a = c / |T|^2`` and it removes
``c^2 / |T|^2`` of the signal energy). Its noise SD ``s`` is estimated robustly (MAD) from the
scores themselves, chunk by chunk. A spike of unit ``k`` is accepted at ``t`` when

- ``c_k(t) / s_k >= threshold_sd``: the caller's threshold, one for all templates or one per
  template (the analysis uses ``match_threshold_sd``, 4.5, in its first matching round and then
  per-unit thresholds in ``[match_threshold_min_sd, match_threshold_sd]`` = [3.0, 4.5] from
  :func:`unit_thresholds`),
- ``a`` lies in ``[amp_min, amp_max]`` (the analysis: ``match_amp_min`` 0.6 to ``match_amp_max`` 2
  times the template: bursts with amplitude decrement stay in, other units' spikes that only
  resemble the template at another scale do not),
- unit ``k`` leaves the smallest residual ``|x - T_k|^2`` at ``t`` of all templates (so that two
  units of one shape and different size are told apart by size), and ``t`` is the best such
  position within half a template length (``min_separation``; the analysis uses a whole
  template length in the wider matching band, see :func:`match_templates`).

Accepted spikes are subtracted (``a * T``) and the search is repeated on the residual
(``rounds`` times), which finds spikes that overlapped a larger one. Subtracting ``a * T_j`` at
``t`` changes the scores only within a template length of ``t``, by ``a`` times the templates'
cross-correlation, so the scores are updated there from that (no re-correlation of the trace).
Spike times are the template's alignment point (sub-sample position from a parabola through the
score peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
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


def _scores(x: np.ndarray, filters: np.ndarray, block: int = 16) -> np.ndarray:
    """``c[k, i]`` = correlation of ``x[i : i + L]`` with filter k (valid part, ``n - L + 1``).

    Computed as one matrix product: the outputs are taken in blocks of ``block`` consecutive
    positions, each block's ``block + L - 1`` input samples form a row, and a banded (Toeplitz)
    matrix holding every filter at every position within the block gives all of the block's
    scores at once. That is exact (the same sums, in another order: ~1e-14 relative) and several
    times faster than ``np.correlate`` per filter or an FFT for filters of ~50 samples.
    """
    n_t, length = filters.shape
    n_out = x.size - length + 1
    if n_out <= 0 or n_t == 0:
        return np.zeros((n_t, max(0, n_out)))
    n_blocks = -(-n_out // block)
    need = n_blocks * block + length - 1
    xp = x if x.size >= need else np.concatenate([x, np.zeros(need - x.size)])
    rows = np.ascontiguousarray(sliding_window_view(xp[:need], block + length - 1)[::block])
    band = np.zeros((block + length - 1, block, n_t))
    for r in range(block):
        band[r : r + length, r, :] = filters.T
    c = rows @ band.reshape(block + length - 1, block * n_t)
    return c.reshape(n_blocks, block, n_t).transpose(2, 0, 1).reshape(n_t, -1)[:, :n_out]


def _filters(templates: np.ndarray, metric: np.ndarray | None) -> np.ndarray:
    """Score filters: the templates themselves, or each template convolved with the noise
    metric kernel (length L + len(metric) - 1)."""
    if metric is None:
        return templates
    return np.array([np.convolve(t, metric) for t in templates])


def score_noise(
    x: np.ndarray,
    templates: np.ndarray,
    max_samples: int = 400_000,
    metric: np.ndarray | None = None,
) -> np.ndarray:
    """Per template: (SD of the matched-filter score, robust SD of its first difference), both
    from the MAD over the first ``max_samples`` samples of ``x`` (spikes are sparse); with
    ``metric``, of the noise-whitened score (:func:`match_templates`)."""
    filt = _filters(np.asarray(templates, dtype=np.float64), metric)
    seg = np.asarray(x[: max(max_samples, 2 * filt.shape[1])], dtype=np.float64)
    c = _scores(seg, filt)
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


def choice_score(
    u: np.ndarray, z_unit: np.ndarray, scale_sd: np.ndarray, log_prior: np.ndarray
) -> np.ndarray:
    """Log posterior (up to a common constant) that the spike at a position belongs to each unit.

    ``u[k]`` = score of template k there / its noise SD (shape (n_units, ...)), ``z_unit[k]`` =
    the template's matched-filter SNR (energy / score noise SD), ``scale_sd[k]`` = the unit's own
    spread of spike size (SD of the true scale around 1), ``log_prior[k]`` = log share of spikes.
    With ``x = a T_k + noise`` and ``a ~ N(1, tau_k^2)``, the score ``u_k`` is
    ``N(z_k, 1 + tau_k^2 z_k^2)``, and the least-squares fit of ``T_k`` removes ``u_k^2 / 2`` of
    the residual (in noise-variance units), so

    ``log p_k = u_k^2 / 2 + log pi_k - log(1 + tau_k^2 z_k^2) / 2
    - (u_k - z_k)^2 / (2 (1 + tau_k^2 z_k^2))``.

    With ``tau = 0`` and equal priors this is ``(2 c_k - |T_k|^2) / (2 sigma^2)``: the smallest
    residual of the unscaled template, the rule used without priors. For two templates of one
    shape the ``u^2 / 2`` terms are equal and the choice is between the two scale
    distributions: a unit whose spikes vary in size (bursts with decrement) keeps its shrunken
    spikes against a smaller unit of the same shape whose size is tight, and the score noise
    (``1 / z`` in scale) widens both.
    """
    shape = (-1,) + (1,) * (np.ndim(u) - 1)
    zk = np.asarray(z_unit, dtype=float).reshape(shape)
    v = 1.0 + (np.asarray(scale_sd, dtype=float).reshape(shape) * zk) ** 2
    return (
        0.5 * u**2
        + np.asarray(log_prior, dtype=float).reshape(shape)
        - 0.5 * np.log(v)
        - (u - zk) ** 2 / (2 * v)
    )


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
    metric: np.ndarray | None = None,
    min_separation: int | None = None,
    scale_sd: np.ndarray | None = None,
    log_prior: np.ndarray | None = None,
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
    metric
        Symmetric kernel (odd length) approximating the inverse noise covariance: scores,
        least-squares amplitudes and residuals are then taken in that metric (``c = x . K*T``,
        ``a = c / (T . K*T)``). None (the analysis): plain correlation.
    min_separation
        Samples between spikes accepted in one round (None: half a template). A candidate
        closer than that to a better one waits for the next round and is judged on the residual.
        The analysis passes a whole template length when it matches in the wider band: there a
        small template's score on the flank of a large spike (lags of 0.6-1 template) passes its
        threshold, and accepting it in the same round from the unsubtracted scores made a
        "unit" of shadows 1.9 ms after every spike of a large unit (docs/skinnerve.md).
    scale_sd, log_prior
        The units' own scale spread (SD of the true scale around 1: bursts with decrement,
        residual drift) and log prior share of spikes, per template. Given, the choice among the
        templates that pass at a position is the largest posterior (:func:`choice_score`)
        instead of the smallest residual; None (both): the smallest residual.
    """
    n_t, length = templates.shape
    sep = length // 2 if min_separation is None else int(min_separation)
    half = 0 if metric is None else (len(metric) - 1) // 2
    thr = np.broadcast_to(np.asarray(threshold_sd, dtype=np.float64), (n_t,))[:, None]
    empty = Matches(*(np.zeros(0, dtype=d) for d in (np.int64, float, np.int64, float, float)))
    if n_t == 0 or x.size < 2 * length:
        return empty
    pad = 2 * length + 2 * half
    bayes = scale_sd is not None or log_prior is not None
    tau = np.zeros(n_t) if scale_sd is None else np.asarray(scale_sd, dtype=float)
    lp = np.zeros(n_t) if log_prior is None else np.asarray(log_prior, dtype=float)
    parts = []
    for ci, c0 in enumerate(range(0, x.size, chunk)):
        gk = np.ones(n_t) if gains is None else gains[:, min(ci, gains.shape[1] - 1)]
        tpl = templates.astype(np.float64) * gk[:, None]
        filt = _filters(tpl, metric)  # (n_t, L + 2 half); score index i <-> template at i + half
        norms2 = (tpl * filt[:, half : half + length]).sum(axis=1)
        keep_t = norms2 > 0
        a0, a1 = max(0, c0 - pad), min(x.size, c0 + chunk + pad)
        found = []
        # c[k, i]: score of template k placed at a0 + half + i (spike at a0 + half + i + pre)
        c = _scores(x[a0:a1].astype(np.float64), filt)
        # xc[j, k, s + L - 1 + half]: the change of score k at i + s per unit of template j
        # subtracted at i (sum_m T_j[m] F_k[half + m - s])
        xc = np.array([[np.correlate(fk, tj, mode="full")[::-1] for fk in filt] for tj in tpl])
        lags = np.arange(-(length - 1 + half), length + half)
        off = a0 + half
        # noise SD of each score from the first round (spikes are sparse; every 4th position is
        # plenty for a median over ~10^5 values)
        sd = np.median(np.abs(c[:, ::4]), axis=1, overwrite_input=True) / MAD_TO_SD
        sd[sd <= 0] = np.inf
        n_c = c.shape[1]
        # score positions to examine: in the first round where some template passes threshold
        passes = np.zeros(n_c, dtype=bool)
        for j in range(n_t):
            passes |= c[j] >= thr[j, 0] * sd[j]
        idx = np.flatnonzero(passes)
        ex = exclude[off + pre : off + pre + n_c] if exclude is not None else None
        for _r in range(max(1, rounds)):
            cs = c[:, idx]
            z = cs / sd[:, None]
            amp = cs / np.where(keep_t, norms2, np.inf)[:, None]
            # choice among templates: the smallest residual |x - T_k|^2, i.e. the largest
            # 2 c - |T|^2 (scaled copies of one shape are told apart by their size)
            allowed = (z >= thr) & (amp >= amp_min) & (amp <= amp_max) & keep_t[:, None]
            gain = np.where(allowed, np.maximum(2 * cs - norms2[:, None], 1e-9), 0.0)
            if bayes:
                post = np.where(allowed, choice_score(z, norms2 / sd, tau, lp), -np.inf)
                best = np.argmax(post, axis=0)
            else:
                best = np.argmax(gain, axis=0)
            g = np.zeros(n_c)
            g[idx] = gain[best, np.arange(idx.size)]
            if ex is not None:
                g[: ex.size][ex] = 0.0
            pk, _ = signal.find_peaks(g, height=1e-12, distance=max(1, sep))
            if pk.size == 0:
                break
            ok_pk = (
                (c[:, pk] / sd[:, None] >= thr)
                & (c[:, pk] / np.where(keep_t, norms2, np.inf)[:, None] >= amp_min)
                & (c[:, pk] / np.where(keep_t, norms2, np.inf)[:, None] <= amp_max)
            )
            if bayes:
                crit = choice_score(c[:, pk] / sd[:, None], norms2 / sd, tau, lp)
            else:
                crit = 2 * c[:, pk] - norms2[:, None]
            k = np.argmax(np.where(ok_pk, crit, -np.inf), axis=0)
            a = c[k, pk] / norms2[k]
            # sub-sample time from a parabola through the score around its peak
            cm = c[k, np.maximum(pk - 1, 0)]
            c0_ = c[k, pk]
            cp = c[k, np.minimum(pk + 1, n_c - 1)]
            den = cm - 2 * c0_ + cp
            frac = np.where(den < 0, 0.5 * (cm - cp) / np.where(den < 0, den, -1.0), 0.0)
            found.append(
                np.column_stack(
                    [off + pk + pre, np.clip(frac, -0.5, 0.5), k, a * gk[k], c0_ / sd[k]]
                )
            )
            # subtracting a * T_k at i changes every score within a template length of i by
            # a times the templates' cross-correlation; only there can new (overlapped) spikes
            # appear, so the next round looks only there
            touched = np.zeros(n_c, dtype=bool)
            for i, kk, aa in zip(pk, k, a, strict=True):
                lo, hi = max(0, i + lags[0]), min(n_c, i + lags[-1] + 1)
                c[:, lo:hi] -= aa * xc[kk, :, lo - i - lags[0] : hi - i - lags[0]]
                touched[lo:hi] = True
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


@dataclass
class ScaleSplit:
    """Two-population fit of one unit's matched-spike scales (:func:`split_by_scale`)."""

    lower: np.ndarray  # boolean per spike: assigned to the smaller population
    mean: tuple[float, float]  # (smaller, larger) population mean scale
    sd: tuple[float, float]
    weight: tuple[float, float]
    separation: float  # Ashman's D = sqrt(2) |m1 - m0| / sqrt(s0^2 + s1^2)
    delta_bic: float  # BIC(one Gaussian) - BIC(two): > 0 favours two populations
    follow_fraction: float  # share of the unit's spikes within 20 ms after another (not fitted)
    noise_separation: float  # (m1 - m0) / the score noise in scale units
    split: bool  # the verdict


def _gauss_mixture_1d(a: np.ndarray, n_iter: int = 200, sd_floor: float = 1e-3):
    """EM fit of a two-component Gaussian mixture to ``a`` (1-D); returns means, SDs, weights
    (sorted by mean), the log-likelihood and the responsibilities of the lower component."""
    lo, hi = np.percentile(a, [20.0, 80.0])
    mu = np.array([lo, hi], dtype=float)
    sd = np.full(2, max(float(np.std(a)) / 2, sd_floor))
    w = np.array([0.5, 0.5])
    ll_old = -np.inf
    resp = np.zeros((2, a.size))
    for _ in range(n_iter):
        logp = (
            np.log(w)[:, None]
            - np.log(sd)[:, None]
            - 0.5 * ((a[None, :] - mu[:, None]) / sd[:, None]) ** 2
        )
        m = logp.max(axis=0)
        lse = m + np.log(np.exp(logp - m).sum(axis=0))
        resp = np.exp(logp - lse)
        ll = float(lse.sum() - 0.5 * a.size * np.log(2 * np.pi))
        nk = resp.sum(axis=1) + 1e-12
        w = np.clip(nk / a.size, 1e-6, 1.0)
        mu = (resp @ a) / nk
        sd = np.maximum(
            np.sqrt((resp * (a[None, :] - mu[:, None]) ** 2).sum(axis=1) / nk), sd_floor
        )
        if abs(ll - ll_old) < 1e-8 * max(1.0, abs(ll)):
            break
        ll_old = ll
    order = np.argsort(mu)
    return mu[order], sd[order], w[order], ll, resp[order[0]]


def split_by_scale(
    scale: np.ndarray,
    times_s: np.ndarray,
    *,
    min_spikes: int = 30,
    max_ratio: float = 0.75,
    min_separation: float = 2.0,
    min_delta_bic: float = 10.0,
    burst_window_s: float = 0.02,
    noise_sd: float = 0.0,
    min_noise_separation: float = 2.0,
) -> ScaleSplit | None:
    """Is one unit's matched-spike scale distribution two same-shape populations?

    On one channel, a smaller unit of the same shape is matched by the larger one's template at
    a scale near their size ratio (it passes the scale window whenever noise and drift push it
    above ``amp_min``); the unit's scales are then a mixture of two populations. A unit's own
    bursts with amplitude decrement also put spikes at smaller scales, but only spikes that
    follow another of its spikes closely. So the fit uses the unit's **isolated** spikes only
    (no spike of the unit within ``burst_window_s`` before): a two-Gaussian mixture is fitted
    (EM) to their drift-corrected scales ``scale``, and the unit is split when

    - two populations explain the scales better than one (BIC difference >= ``min_delta_bic``),
    - they are clearly separated: Ashman's ``D = sqrt(2) |m1 - m0| / sqrt(s0^2 + s1^2)`` >=
      ``min_separation`` (2 is the usual bound for a clean separation of two Gaussians; the SDs
      include the score noise, ``1 / z`` in scale), and
    - the smaller population is at most ``max_ratio`` of the larger and each holds >=
      ``min_spikes`` spikes, and
    - their means differ by at least ``min_noise_separation`` times ``noise_sd``, the score
      noise in scale units (``1 / z`` for a template of matched-filter SNR ``z``): the fitted
      SDs of a population cut by the acceptance window (threshold, ``amp_min``) are narrower
      than that noise, so a clipped tail can look separated when it is not.

    ``lower`` marks the isolated spikes of the smaller population (burst followers stay with
    the larger; the next matching round assigns every spike anew). Returns None when there are
    too few isolated spikes to fit.
    """
    a = np.asarray(scale, dtype=float)
    t = np.asarray(times_s, dtype=float)
    order = np.argsort(t, kind="stable")
    gap = np.full(t.size, np.inf)
    gap[order[1:]] = np.diff(t[order])
    isolated = np.isfinite(a) & (gap >= burst_window_s)
    n = int(isolated.sum())
    if n < 2 * min_spikes:
        return None
    ai = a[isolated]
    mu, sd, w, ll2, r_lo = _gauss_mixture_1d(ai)
    ll1 = float(-0.5 * n * (np.log(2 * np.pi * max(np.var(ai), 1e-12)) + 1.0))
    delta_bic = (-2 * ll1 + 2 * np.log(n)) - (-2 * ll2 + 5 * np.log(n))
    d = float(np.sqrt(2.0) * abs(mu[1] - mu[0]) / np.sqrt(sd[0] ** 2 + sd[1] ** 2))
    lower = np.zeros(a.size, dtype=bool)
    lower[np.flatnonzero(isolated)] = r_lo > 0.5
    n_lo = int(lower.sum())
    split = bool(
        delta_bic >= min_delta_bic
        and d >= min_separation
        and mu[1] > 0
        and mu[0] <= max_ratio * mu[1]
        and n_lo >= min_spikes
        and n - n_lo >= min_spikes
        and mu[1] - mu[0] >= min_noise_separation * noise_sd
    )
    return ScaleSplit(
        lower=lower,
        mean=(float(mu[0]), float(mu[1])),
        sd=(float(sd[0]), float(sd[1])),
        weight=(float(w[0]), float(w[1])),
        separation=d,
        delta_bic=float(delta_bic),
        follow_fraction=float(1.0 - n / max(a.size, 1)),
        noise_separation=float((mu[1] - mu[0]) / noise_sd) if noise_sd > 0 else float("inf"),
        split=split,
    )


def truncated_mean_scale(scale: np.ndarray, noise_sd: float) -> float:
    """Mean of a unit's spike scales corrected for the selection of its matched spikes.

    A unit whose spikes sit near the matching threshold, or between a larger unit of the same
    shape and the threshold, is matched only where noise moved its scale into the window it
    is accepted in: the mean of its matched spikes (its re-estimated template) is biased. With
    the true scales ``N(mu, noise_sd^2)`` (``noise_sd`` = the score noise in scale units,
    ``1 / z``, plus the unit's own spread) observed only within ``[min, max]`` of the matched
    scales, ``mu`` is the maximum-likelihood mean of that truncated Gaussian (bounded search).
    Returns ``mu`` in the units of ``scale``.
    """
    from scipy import optimize

    a = np.asarray(scale, dtype=float)
    a = a[np.isfinite(a)]
    if a.size < 5 or not noise_sd > 0:
        return float(np.mean(a)) if a.size else float("nan")
    lo, hi, s = float(a.min()), float(a.max()), float(noise_sd)

    def nll(mu: float) -> float:
        mass = special.ndtr((hi - mu) / s) - special.ndtr((lo - mu) / s)
        return float(0.5 * np.sum(((a - mu) / s) ** 2) + a.size * np.log(max(mass, 1e-300)))

    r = optimize.minimize_scalar(nll, bounds=(lo - 3 * s, hi), method="bounded")
    return float(r.x)
