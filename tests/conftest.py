"""Shared fixtures: paths to the repository, the sample study and ../shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE_STUDY = REPO / "sample_recordings" / "sample_study"
BROKEN_STUDY = REPO / "sample_recordings" / "sample_study_broken"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout. Its absence is an error, never a silent skip."""
    if not (SHARED / "README.md").is_file():
        raise RuntimeError(f"{SHARED} is missing: clone the repository with shared/ beside it")
    return SHARED


@pytest.fixture(scope="session")
def abf_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "ephys" / "abf"


@pytest.fixture
def sample_study(tmp_path: Path) -> Path:
    """A private copy of the sample study (so tests never write into the repository)."""
    import shutil

    dest = tmp_path / "sample_study"
    shutil.copytree(SAMPLE_STUDY, dest, ignore=shutil.ignore_patterns("results"))
    return dest
