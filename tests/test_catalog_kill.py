"""Crash consistency: commands killed with SIGKILL at seeded random times leave a consistent catalog.

See ``tests/kill_harness.py`` for what is checked after every kill and every completing re-run. The
default run kills each of the five commands twice (10 kills); the slow run 10 times each (50).
"""

from __future__ import annotations

import pytest

import kill_harness as kh


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    study = kh.build_study(tmp_path_factory.mktemp("clean") / "study")
    return kh.reference(study)


def _trial(tmp_path, reference, kills_per_command, seed, kills_per_rerun=2):
    states, durations = reference
    study = kh.build_study(tmp_path / "study")
    report = kh.kill_trials(
        study,
        states,
        durations,
        kills_per_command=kills_per_command,
        seed=seed,
        kills_per_rerun=kills_per_rerun,
    )
    assert report.inconsistencies == []
    assert report.kills == 5 * kills_per_command
    assert report.kills_by_command == {n: kills_per_command for n, _ in kh.commands(study)}
    return report


def test_ten_kills_leave_a_consistent_catalog(tmp_path, reference):
    _trial(tmp_path, reference, kills_per_command=2, seed=20261201)


@pytest.mark.slow
def test_fifty_kills_leave_a_consistent_catalog(tmp_path, reference):
    # five kills between completing re-runs keep the run to a few minutes; every re-run starts
    # from a catalog some kills left before and some after the command's commit
    report = _trial(tmp_path, reference, kills_per_command=10, seed=7, kills_per_rerun=5)
    # the kills must have landed on both sides of the commit, not only during start-up
    assert report.state_before > 0 and report.state_after > 0
