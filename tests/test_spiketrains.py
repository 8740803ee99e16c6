"""The one ISI CV definition (fmslab.spiketrains), used by ephys and skin-nerve alike."""

from __future__ import annotations

import numpy as np
import pytest

from fmslab.spiketrains import isi_cv


def test_isi_cv_by_hand_and_against_numpy() -> None:
    # ISIs 1, 1, 2, 1 ms: mean 1.25, sample SD sqrt(0.75 / 3) = 0.5 -> 0.4
    assert isi_cv(np.array([1.0, 1.0, 2.0, 1.0])) == pytest.approx(0.4)
    x = np.random.default_rng(0).exponential(0.1, 50)
    assert isi_cv(x) == pytest.approx(np.std(x, ddof=1) / np.mean(x))
    assert np.isnan(isi_cv(np.array([0.2])))


def test_ephys_and_skinnerve_agree() -> None:
    from fmslab.skinnerve.responses import train_statistics

    spikes = np.array([0.1, 0.2, 0.4, 0.5, 0.9])
    # the skin-nerve whole-train CV is the shared definition (ephys/features.py calls the same)
    assert train_statistics(spikes, 1.0)["isi_cv"] == pytest.approx(isi_cv(np.diff(spikes)))
