"""The template-matching pass's rules, each against a count or a planted value made independently.

- False alarms: the Rice rate used to set per-unit thresholds is compared with the number of
  score peaks above the threshold that band-passed Gaussian noise actually makes (counted).
- Thresholds: the per-unit threshold that minimises expected misses + false alarms is compared
  with a brute-force count of misses + false alarms on a planted recording.
- Drift: planted slow amplitude drift is recovered by ``drift_gains``, and a unit drifting
  into its smaller neighbour's size loses fewer spikes to it with the gains.
- Same-shape units: ``split_by_scale`` splits planted scales of two independent populations and
  does not split a unit's burst decrement; ``truncated_mean_scale`` recovers the planted mean of
  a population seen only through a window; ``choice_score`` with no spread and equal priors is
  the smallest-residual rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from fmslab.skinnerve.matching import (
    choice_score,
    drift_gains,
    match_templates,
    score_noise,
    split_by_scale,
    truncated_mean_scale,
    unit_thresholds,
)
from fmslab.skinnerve.params import Params
from fmslab.skinnerve.spikes import bandpass_sos

FS = 20000.0


def _noise(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return signal.sosfiltfilt(bandpass_sos(FS), rng.standard_normal(n))


def _template() -> np.ndarray:
    t = np.arange(50) - 20
    w = -np.exp(-0.5 * (t / 3.0) ** 2) + 0.4 * np.exp(-0.5 * ((t - 8) / 4.0) ** 2)
    pad = np.concatenate([np.zeros(100), w, np.zeros(100)])
    return signal.sosfiltfilt(bandpass_sos(FS), pad)[100:150]


def test_rice_false_alarm_rate_matches_counted_noise_peaks() -> None:
    x = _noise(4_000_000, seed=3)  # 200 s of noise
    tpl = _template()[None, :]
    sd, sd_d = score_noise(x, tpl)[0]
    z = np.correlate(x, tpl[0], mode="valid") / sd
    for u in (3.0, 3.5):
        counted = signal.find_peaks(z, height=u, distance=25)[0].size
        predicted = x.size * sd_d / sd / (2 * np.pi) * np.exp(-(u**2) / 2)
        # counted is Poisson-like (hundreds): 20 % covers 3+ SD and the peak-vs-up-crossing
        # difference (peaks closer than 25 samples are one); a factor-2 error in the rule fails
        assert abs(counted - predicted) <= 0.2 * predicted, (u, counted, predicted)


def test_unit_threshold_minimises_counted_errors() -> None:
    rng = np.random.default_rng(5)
    n = 2_000_000
    x = _noise(n, seed=6)
    tpl = _template()
    sd, sd_d = score_noise(x, tpl[None, :])[0]
    z_unit = 4.2
    scale = z_unit * sd / float(tpl @ tpl)  # template energy / score SD = z_unit
    pos = np.sort(rng.choice(np.arange(100, n - 100, 200), size=600, replace=False))
    for p_ in pos:
        x[p_ - 20 : p_ + 30] += scale * tpl
    z = np.correlate(x, scale * tpl, mode="valid") / (sd * scale)
    pk = signal.find_peaks(z, height=2.0, distance=25)[0]
    hit = np.isin(pk + 20, pos) | np.isin(pk + 19, pos) | np.isin(pk + 21, pos)
    grid = np.arange(3.0, 4.51, 0.05)
    errors = [np.sum(~hit & (z[pk] >= u)) + (pos.size - np.sum(hit & (z[pk] >= u))) for u in grid]
    best_counted = grid[int(np.argmin(errors))]
    chosen = unit_thresholds(np.array([z_unit]), np.array([600.0]), np.array([sd_d / sd]), n)[0]
    # the error count is flat near its minimum: within 0.3 SD, and nearly as few errors
    assert abs(chosen - best_counted) <= 0.3, (chosen, best_counted)
    assert errors[int(np.argmin(np.abs(grid - chosen)))] <= 1.1 * min(errors) + 5


def test_drift_gains_recover_a_planted_drift() -> None:
    rng = np.random.default_rng(2)
    n, chunk = 1_200_000, 200_000
    s = np.sort(rng.integers(0, n, 600))
    true_gain = 1.0 + 0.15 * np.sin(2 * np.pi * s / n)
    a = true_gain * (1 + 0.1 * rng.standard_normal(s.size))
    g = drift_gains(s, np.zeros(s.size, dtype=int), a, 1, n, chunk)
    centres = (np.arange(g.shape[1]) + 0.5) * chunk
    expect = 1.0 + 0.15 * np.sin(2 * np.pi * centres / n)
    # the median over +-1 chunk (1/3 of the period) smooths the sine by ~10 %; 100 spikes per
    # window give ~1 % noise on the median
    assert np.allclose(g[0], expect / np.median(true_gain), atol=0.05), (g, expect)
    # a unit with too few spikes anywhere keeps gain 1
    assert np.all(drift_gains(s[:10], np.zeros(10, dtype=int), a[:10], 1, n, chunk) == 1.0)


def test_drift_tracking_keeps_a_drifting_unit_out_of_its_neighbour() -> None:
    """Two units of one shape, 1.0 and 1.6 in size; the larger drifts down linearly to 1.1 by
    the end (nearer 1.0 than 1.6 in the last 40 %): without gains its spikes there go to the
    smaller unit; with gains re-estimated from the previous round's matches (as
    ``analysis.match_pass`` does) a part of them comes back."""
    rng = np.random.default_rng(9)
    n, chunk = 1_200_000, 200_000
    x = 0.05 * _noise(n, seed=10)
    tpl = _template()
    slots = rng.permutation(np.arange(400, n - 400, 400))
    small, big = np.sort(slots[:300]), np.sort(slots[300:700])
    big_gain = 1.0 - (0.5 / 1.6) * big / n
    for p_ in small:
        x[p_ - 20 : p_ + 30] += tpl
    for p_, gg in zip(big, big_gain, strict=True):
        x[p_ - 20 : p_ + 30] += 1.6 * gg * tpl
    templates = np.stack([tpl, 1.6 * tpl])
    late = big[big_gain * 1.6 < 1.3]
    m = match_templates(x, templates, 20, threshold_sd=4.5, chunk=chunk)
    right = [np.mean(m.unit[np.isin(m.sample, late)] == 1)]
    for _ in range(3):
        gains = drift_gains(m.sample, m.unit, m.amplitude, 2, n, chunk)
        m = match_templates(x, templates, 20, threshold_sd=4.5, chunk=chunk, gains=gains)
        right.append(np.mean(m.unit[np.isin(m.sample, late)] == 1))
    assert right[0] < 0.2, right  # the planted failure without drift tracking
    # measured 0.04 -> 0.16 -> 0.36 -> 0.39: the gains come from the previous round's hard
    # assignments, and the spikes a drifting unit keeps near the boundary are its largest ones,
    # so its gain is over-estimated there and only part of the lost spikes come back (a
    # limitation stated in docs/skinnerve.md); the improvement must be clear and monotone
    assert right[-1] >= right[0] + 0.25, right
    assert all(b >= a - 0.02 for a, b in zip(right, right[1:], strict=False)), right


def test_block_matrix_scores_equal_direct_correlation() -> None:
    # the matrix-product scores against numpy's correlate (an independent implementation), for
    # lengths that do not fill the last block and filters of different lengths
    from fmslab.skinnerve.matching import _scores

    rng = np.random.default_rng(11)
    for n, length in ((1000, 50), (1037, 50), (333, 7), (5000, 301)):
        x = rng.standard_normal(n)
        f = rng.standard_normal((3, length))
        ref = np.stack([np.correlate(x, t, mode="valid") for t in f])
        got = _scores(x, f)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-11 * np.abs(ref).max())


def test_overlapping_spikes_found_after_subtraction() -> None:
    # two units planted 0.6 ms apart (12 samples): the second is found only on the residual,
    # whose scores are updated from the templates' cross-correlation
    n = 400_000
    x = _noise(n, seed=13)
    big = 12.0 * _template() / np.abs(_template()).max()
    small = -np.roll(big, 5) * 0.6
    pos = np.arange(1000, n - 1000, 2000)
    for p_ in pos:
        x[p_ - 20 : p_ + 30] += big
        x[p_ + 12 - 20 : p_ + 12 + 30] += small
    m = match_templates(x, np.stack([big, small]), 20, threshold_sd=4.5)
    for k, where in ((0, pos), (1, pos + 12)):
        got = m.sample[m.unit == k]
        hit = np.isin(where, got) | np.isin(where, got + 1) | np.isin(where, got - 1)
        assert hit.mean() >= 0.95, (k, hit.mean())
    assert m.sample.size <= 2 * pos.size * 1.05


def test_identity_metric_reproduces_plain_matching() -> None:
    # a metric kernel that is a (centred, 9-tap) delta is the white-noise metric: the same
    # spikes at the same samples; a wrong index offset for the longer score filters would move
    # every spike by the kernel's half length
    rng = np.random.default_rng(14)
    n = 200_000
    x = _noise(n, seed=15)
    tpl = 10.0 * _template() / np.abs(_template()).max()
    pos = np.sort(rng.choice(np.arange(200, n - 200, 100), size=300, replace=False))
    for p_ in pos:
        x[p_ - 20 : p_ + 30] += tpl
    delta = np.zeros(9)
    delta[4] = 1.0
    plain = match_templates(x, tpl[None, :], 20, threshold_sd=4.5)
    metric = match_templates(x, tpl[None, :], 20, threshold_sd=4.5, metric=delta)
    np.testing.assert_array_equal(metric.sample, plain.sample)
    np.testing.assert_allclose(metric.amplitude, plain.amplitude, rtol=1e-9)
    assert np.isin(pos, plain.sample).mean() >= 0.95


def _demo_recordings():
    from fmslab.demo.design import DemoConfig, build_design
    from fmslab.demo.skinnerve import generate_skinnerve

    cfg = DemoConfig.make(seed=1, small=True)
    files: dict[str, bytes] = {}
    skin = generate_skinnerve(build_design(cfg), cfg, sink=lambda rel, c: files.__setitem__(rel, c))
    return files, skin


@pytest.mark.slow
def test_wide_band_matching_makes_no_shadow_unit_on_the_demo(tmp_path) -> None:
    # regression (session 5): matching in the 100-9000 Hz band accepted a small template on the
    # flank of the large unit's spikes in the same round, which grew into a "unit" of shadow spikes
    # 1.86 ms after every target spike (M11_u1, 118 of them; it became the unit under study with a
    # latency 1.9 ms off); M12_u1 had two. The truth: the target's spikes and a background unit's.
    from fmslab.skinnerve.analysis import analyze_file

    files, skin = _demo_recordings()
    for stem in ("M11_u1", "M12_u1"):
        for rel, content in files.items():
            if rel.rsplit("/", 1)[-1] in (f"{stem}.csv", f"{stem}.yaml"):
                (tmp_path / rel.rsplit("/", 1)[-1]).write_bytes(content)
        fr = analyze_file(tmp_path / f"{stem}.csv", params=Params())
        truth = skin.spikes[skin.spikes["file"] == f"{stem}.csv"]
        target = np.sort(truth.loc[truth["is_target"], "peak_time_s"].to_numpy())
        for uid, t in fr.spikes.groupby("unit_id")["time_s"]:
            d = t.to_numpy()[:, None] - target[None, :]
            lag = np.where(d > 0.5e-3, d, np.inf).min(axis=1)
            on = np.abs(d).min(axis=1) < 0.5e-3
            # a unit is the target (on its spikes) or not; none lives 0.5-3 ms after its spikes
            assert on.mean() > 0.9 or np.mean(lag < 3e-3) < 0.3, (stem, uid, on.mean())
        u = fr.units
        # one unit follows every stimulus (the shadows did too), and it is the unit under study
        driven = u[u["follow_fraction"] == 1.0]
        assert len(driven) == 1 and bool(driven["is_unit_under_study"].iloc[0]), (stem, u)
        true = skin.units[(skin.units["file"] == f"{stem}.csv") & skin.units["is_target"]].iloc[0]
        lat_true = true["conduction_distance_mm"] / true["cv_m_s"]
        assert abs(float(driven["latency_ms"].iloc[0]) - lat_true) < 0.2


def _poisson_times(rng, rate_hz: float, dur_s: float) -> np.ndarray:
    t = np.cumsum(0.003 + rng.exponential(1.0 / rate_hz, int(rate_hz * dur_s * 2)))
    return t[t < dur_s]


def test_split_by_scale_separates_two_independent_populations() -> None:
    rng = np.random.default_rng(3)
    big = _poisson_times(rng, 6.0, 60.0)
    small = _poisson_times(rng, 4.0, 60.0)
    t = np.concatenate([big, small])
    a = np.concatenate([rng.normal(1.0, 0.1, big.size), rng.normal(0.55, 0.06, small.size)])
    res = split_by_scale(a, t, noise_sd=0.1)
    assert res is not None and res.split, res
    is_small = np.arange(t.size) >= big.size
    fitted = res.lower | ~is_small  # burst-window exclusions are not counted against it
    assert np.mean(res.lower[is_small]) > 0.75
    assert np.mean(res.lower[~is_small]) < 0.02
    assert np.mean(fitted) > 0.75
    assert abs(res.mean[0] - 0.55) < 0.03 and abs(res.mean[1] - 1.0) < 0.03
    # the same populations closer than 2 score-noise SDs are not split
    assert not split_by_scale(a, t, noise_sd=0.25).split


def test_split_by_scale_keeps_burst_decrement_in_the_unit() -> None:
    """Half of the spikes start a burst of 4 at 8 ms, each 15 % smaller (1, 0.85, 0.72, 0.61):
    scales are strongly bimodal-looking, but the small ones all follow a spike of the unit."""
    rng = np.random.default_rng(5)
    starts = _poisson_times(rng, 4.0, 60.0)
    t, a = [], []
    for s0 in starts:
        n = 4 if rng.random() < 0.5 else 1
        for j in range(n):
            t.append(s0 + j * 0.008)
            a.append(0.85**j)
    t = np.asarray(t)
    a = np.asarray(a) * rng.normal(1.0, 0.05, t.size)
    res = split_by_scale(a, t, noise_sd=0.05)
    assert res is not None and not res.split, res
    # without the isolation rule (a burst window of 0) the same scales would be split
    assert split_by_scale(a, t, noise_sd=0.05, burst_window_s=0.0).split


def test_truncated_mean_scale_recovers_a_windowed_population() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(0.5, 0.1, 20000)
    seen = a[(a > 0.58) & (a < 0.75)]  # what a threshold and a larger unit's choice leave
    assert np.mean(seen) > 0.63
    assert abs(truncated_mean_scale(seen, 0.1) - 0.5) < 0.02


def test_choice_score_without_priors_is_the_smallest_residual() -> None:
    rng = np.random.default_rng(11)
    sigma = 2.0
    templates = rng.normal(0, 1, (3, 40)) * np.array([[1.0], [0.6], [1.8]])
    x = 0.9 * templates[0] + sigma * rng.standard_normal((500, 40))
    c = x @ templates.T  # (500, 3)
    norms2 = (templates**2).sum(axis=1)
    sd = sigma * np.sqrt(norms2)  # score noise SD for white noise
    post = choice_score(c.T / sd[:, None], norms2 / sd, np.zeros(3), np.zeros(3))
    resid = 2 * c - norms2[None, :]
    assert np.array_equal(np.argmax(post, axis=0), np.argmax(resid, axis=1))
    # a unit whose sizes spread widely keeps a spike at 0.72 of its size against a tight
    # smaller unit of the same shape at 0.5
    z = np.array([10.0, 5.0])
    u = np.array([0.72 * 10.0, 0.72 * 10.0])  # one spike's score in both templates' units
    assert np.argmax(2 * u * z - z**2) == 1  # smallest residual: the smaller unit
    assert np.argmax(choice_score(u, z, np.array([0.15, 0.05]), np.zeros(2))) == 0
