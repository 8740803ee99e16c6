"""`fmslab demo --small`: a valid, cataloged, reproducible study whose files match its truth."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyabf
import pytest
import yaml
from scipy.signal import butter, sosfiltfilt
from typer.testing import CliRunner

from conftest import DEMO_SEED as SEED
from fmslab.catalog import query
from fmslab.cli import app
from fmslab.demo.design import DemoConfig, build_design
from fmslab.demo.generate import DemoLayout, generate_demo
from fmslab.demo.rnaseq import generate_rnaseq
from fmslab.study import load_study, unblind, validate_study
from fmslab.study.blinding import read_unblinding


@pytest.fixture(scope="module")
def demo(demo_study: Path) -> DemoLayout:
    """The session's shared small demo (conftest.py); its results/ are ignored here."""
    return DemoLayout(demo_study)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "results" not in p.relative_to(root).parts
    }


def test_study_validates_and_is_cataloged(demo):
    assert validate_study(demo.study) == []
    result = CliRunner().invoke(app, ["study", "validate", str(demo.study)])
    assert result.exit_code == 0, result.output
    study = load_study(demo.study)
    n_files = len(study.recordings)
    assert set(study.recordings["modality"]) == {"ephys_cc", "behaviour", "skinnerve", "rnaseq"}
    recs = query(study.catalog_path, "SELECT count(*) AS n FROM recordings")
    assert int(recs["n"].iloc[0]) == n_files
    assert (study.donors["group"] == "blinded").all()


def test_unblinding_key_lives_outside_the_study_and_matches_the_truth(demo):
    assert demo.key.is_file() and demo.study not in demo.key.parents
    study = load_study(demo.study)
    assert study.unblinding_path == demo.key.resolve()
    mice = unblind(study.mice, read_unblinding(demo.key))
    truth = pd.read_csv(demo.truth / "mice.csv").set_index("mouse_id")["group"]
    assert mice.set_index("mouse_id")["group"].astype(str).to_dict() == truth.to_dict()
    assert set(truth) == {"FMS", "HC"}


def test_same_seed_gives_identical_files_other_seed_differs(demo, tmp_path):
    again = generate_demo(tmp_path / "again", DemoConfig.make(seed=SEED, small=True))
    first, second = _hashes(demo.out), _hashes(again.layout.out)
    assert first == second and len(first) > 30
    cfg_a, cfg_b = (
        DemoConfig.make(seed=SEED, small=True),
        DemoConfig.make(seed=SEED + 1, small=True),
    )
    a = generate_rnaseq(build_design(cfg_a), cfg_a).files["rnaseq/counts.csv"]
    b = generate_rnaseq(build_design(cfg_b), cfg_b).files["rnaseq/counts.csv"]
    assert a != b


def _count_spikes(v: np.ndarray, threshold_mv: float = -10.0, rearm_mv: float = -30.0) -> int:
    n, armed = 0, True
    for x in v:
        if armed and x > threshold_mv:
            n, armed = n + 1, False
        elif not armed and x < rearm_mv:
            armed = True
    return n


def test_abf_files_match_the_ground_truth(demo):
    cells = pd.read_csv(demo.truth / "ephys_cells.csv")
    sweeps = pd.read_csv(demo.truth / "ephys_sweeps.csv")
    assert set(cells["qc_truth"]) == {
        "ok",
        "depolarised_rmp",
        "baseline_drift",
        "voltage_clamp",
        "corrupt",
    }
    for _, cell in cells.iterrows():
        path = demo.study / cell["path"]
        if cell["qc_truth"] == "corrupt":
            with pytest.raises(ValueError):
                pyabf.ABF(str(path))
            continue
        abf = pyabf.ABF(str(path))
        assert abf.dataRate == 20000
        if cell["qc_truth"] == "voltage_clamp":
            assert abf.adcUnits[0] == "pA" and abf.adcUnits[1] == "mV"
            continue
        assert abf.sweepCount == 19 and abf.adcUnits == ["mV", "pA"]
        truth = sweeps[sweeps["cell_id"] == cell["cell_id"]].set_index("sweep")
        baselines = []
        for s in abf.sweepList:
            abf.setSweep(s, channel=0)
            # spikes counted from the file (-10 mV crossings) equal the simulated 0 mV crossings:
            # the recording noise (0.3 mV) cannot fake or hide a 100 mV action potential
            assert _count_spikes(abf.sweepY) == truth.loc[s, "n_spikes_total_true"], (
                cell["cell_id"],
                s,
            )
            assert abf.sweepC[3000] == truth.loc[s, "stim_pA"]
            baselines.append(float(np.median(abf.sweepY[:1800])))
        if cell["qc_truth"] == "depolarised_rmp":
            assert np.mean(baselines) > -40
        elif cell["qc_truth"] == "baseline_drift":
            assert baselines[-1] - baselines[0] > 8  # +12 mV over the file
        elif not cell["spontaneous_firing_true"]:  # a firing cell does not sit at its RMP
            # pre-step median vs the I-V zero: noise 0.3 mV and 6 pA channel noise -> < 1 mV
            assert abs(np.mean(baselines) - cell["true_rmp_mV"]) < 1.0
            assert abs(baselines[-1] - baselines[0]) < 1.0
        # the observed step rheobase is the true one rounded up to the 25 pA grid, give or take
        # one step (channel noise in the model moves the threshold by a few pA)
        # (not for spontaneously firing cells, whose rheobase is ill-defined)
        if (
            cell["qc_truth"] == "ok"
            and not cell["spontaneous_firing_true"]
            and np.isfinite(cell["expected_step_rheobase_pA"])
        ):
            assert (
                abs(cell["observed_step_rheobase_pA_true"] - cell["expected_step_rheobase_pA"])
                <= 25
            )


def test_skinnerve_recordings_match_the_ground_truth(demo):
    units = pd.read_csv(demo.truth / "skinnerve_units.csv")
    spikes = pd.read_csv(demo.truth / "skinnerve_spikes.csv")
    for _, unit in units[units["is_target"]].iterrows():
        csv = demo.study / unit["path"]
        meta = yaml.safe_load(csv.with_suffix(".yaml").read_text())
        assert set(meta["channels"]) == {"nerve", "force", "temperature", "stimulus"}
        assert meta["conduction_distance_mm"] == unit["conduction_distance_mm"]
        df = pd.read_csv(io.BytesIO(csv.read_bytes()))
        assert list(df.columns)[0] == "time_s"
        rate = 1.0 / np.median(np.diff(df["time_s"].to_numpy()))
        assert rate == pytest.approx(meta["sampling_rate_hz"], rel=1e-6)
        # independent detection: 300 Hz-3 kHz band-pass, troughs below -4.5 robust sd, 1 ms dead
        # time; stimulus artefacts (400 uV, tau 0.2 ms) blanked from 1 ms before to 2 ms after each
        # pulse, because the zero-phase filter spreads their ringing both ways
        sos = butter(2, [300, 3000], btype="band", fs=rate, output="sos")
        x = sosfiltfilt(sos, df[meta["channels"]["nerve"]].to_numpy())
        sd = np.median(np.abs(x)) / 0.6745
        stim = df[meta["channels"]["stimulus"]].to_numpy() > 2.5
        onsets = np.nonzero(stim[1:] & ~stim[:-1])[0] + 1
        blank = np.zeros(len(x), bool)
        for k in onsets:
            blank[max(k - int(0.001 * rate), 0) : k + int(0.002 * rate)] = True
        below = (x < -4.5 * sd) & ~blank
        starts = np.nonzero(below[1:] & ~below[:-1])[0] + 1
        peaks = []
        for k in starts:
            if peaks and k - peaks[-1] < 0.001 * rate:
                continue
            seg = x[k : k + int(0.001 * rate)]
            peaks.append(k + int(np.argmin(seg)))
        detected = np.asarray(peaks) / rate
        true = spikes[(spikes["unit_id"] == unit["unit_id"])]["peak_time_s"].to_numpy()
        true = true[~blank[np.minimum((true * rate).astype(int), len(x) - 1)]]
        hit = (
            np.array([np.min(np.abs(detected - t)) < 0.0005 for t in true]) if len(detected) else []
        )
        # target units have SNR >= 6 against the 8 uV noise; background units are below threshold
        assert np.mean(hit) >= 0.9, unit["unit_id"]
        matched = np.array([np.min(np.abs(true - d)) < 0.0005 for d in detected])
        assert np.mean(matched) >= 0.8, unit["unit_id"]
        # conduction velocity from the first detected spike after each electrical pulse (for units
        # whose evoked spike falls after the blanked artefact); 5 % covers the 0.1 ms sampling
        # step and 0.05 ms latency jitter on latencies >= 3 ms; the median of the three pulses
        # tolerates one missed evoked spike
        if unit["latency_ms"] < 3.0:
            continue
        lat = [detected[detected > k / rate + 0.002][0] - k / rate for k in onsets]
        peak_offset = (
            spikes[spikes["unit_id"] == unit["unit_id"]].eval("peak_time_s - time_s").iloc[0]
        )
        cv = unit["conduction_distance_mm"] * 1e-3 / (np.median(lat) - peak_offset)
        assert cv == pytest.approx(unit["cv_m_s"], rel=0.05), (unit["unit_id"], lat, peak_offset)


def test_refuses_a_folder_that_is_not_a_demo(tmp_path):
    (tmp_path / "notes.txt").write_text("someone's data")
    from fmslab.errors import InputError

    with pytest.raises(InputError, match="not an fmslab demo"):
        generate_demo(tmp_path, DemoConfig.make(small=True))
    assert (tmp_path / "notes.txt").read_text() == "someone's data"
    assert not (tmp_path / "study").exists()
