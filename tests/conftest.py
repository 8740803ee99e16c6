"""Shared fixtures: paths to the repository and the sample study, and the external test data.

External test data (real recordings and tables from other projects, listed with their public URL
and SHA-256 in ``tests/external/registry.csv``) come from, in order:

1. ``FMSLAB_TEST_DATA``: a local mirror laid out like the registry's names
   (``ephys/abf/171116sh_0018.abf``, ...); ``.ci/run`` sets it to ``../shared/data``;
2. ``../shared/data`` beside the checkout, when it exists;
3. a download by pooch from the file's public URL into pooch's cache, checked against its SHA-256.

A test whose data none of these provides is skipped with one line saying how to get the data.
A mirror file whose SHA-256 differs from the registry fails the test (the data are not the ones
the expectations were written for).
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_STUDY = REPO / "sample_recordings" / "sample_study"
BROKEN_STUDY = REPO / "sample_recordings" / "sample_study_broken"
REGISTRY = REPO / "tests" / "external" / "registry.csv"
ENV = "FMSLAB_TEST_DATA"
HOW = (
    f"set {ENV} to a mirror laid out like tests/external/registry.csv (CI: ../shared/data), "
    "or allow network access for pooch to download it"
)


@dataclass
class ExternalData:
    """The external test data: ``data("ephys/abf/x.abf")`` or a folder ``data("ephys/abf")``."""

    entries: dict[str, dict[str, str]]
    mirror: Path | None
    offline: bool = False
    checked: dict[str, Path] = field(default_factory=dict)

    def __call__(self, name: str) -> Path:
        name = name.strip("/")
        if name in self.entries:
            return self._file(name)
        inside = sorted(n for n in self.entries if n.startswith(name + "/"))
        if not inside:
            raise KeyError(f"'{name}' is not in {REGISTRY.relative_to(REPO)}")
        paths = [self._file(n) for n in inside]
        return paths[0].parents[len(Path(inside[0]).relative_to(name).parts) - 1]

    def _file(self, name: str) -> Path:
        if name in self.checked:
            return self.checked[name]
        entry = self.entries[name]
        if self.mirror is not None:
            path = self.mirror / name
            if not path.is_file():
                pytest.skip(
                    f"external test data {name} not in the mirror {self.mirror}: complete the "
                    f"mirror (names and SHA-256 in tests/external/registry.csv), or unset {ENV} "
                    "(then ../shared/data or a pooch download is used)"
                )
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if sha != entry["sha256"]:
                pytest.fail(f"{path}: SHA-256 {sha} differs from the registry ({entry['sha256']})")
        else:
            path = self._download(name, entry)
        self.checked[name] = path
        return path

    def _download(self, name: str, entry: dict[str, str]) -> Path:
        if not entry["url"]:
            pytest.skip(f"external test data {name} has no public copy (needs a mirror): {HOW}")
        if self.offline:
            pytest.skip(f"external test data {name} not available (offline): {HOW}")
        try:
            import pooch
        except ImportError:
            pytest.skip(f"external test data {name}: pooch is not installed: {HOW}")
        try:
            fetched = pooch.retrieve(
                entry["url"],
                known_hash=f"sha256:{entry['sha256']}",
                fname=Path(name).name,  # laid out like the mirror: tests glob its folders
                path=pooch.os_cache("fmslab-test-data") / Path(name).parent,
                downloader=pooch.HTTPDownloader(progressbar=False, timeout=20),
            )
        except ValueError:  # downloaded, but the hash differs: upstream changed the file
            raise
        except Exception as exc:  # noqa: BLE001 - no network, DNS, HTTP error: skip the rest too
            self.offline = True
            pytest.skip(f"external test data {name} not available ({type(exc).__name__}): {HOW}")
        return Path(fetched)


def _mirror() -> Path | None:
    given = os.environ.get(ENV)
    if given:
        return Path(given).expanduser().resolve()
    beside = REPO.parent / "shared" / "data"
    return beside if beside.is_dir() else None


@pytest.fixture(scope="session")
def test_data() -> ExternalData:
    """External test data by registry name (a file or a folder); skips when unavailable."""
    with REGISTRY.open(newline="") as fh:
        entries = {row["name"]: row for row in csv.DictReader(fh)}
    return ExternalData(entries=entries, mirror=_mirror())


@pytest.fixture(scope="session")
def abf_dir(test_data: ExternalData) -> Path:
    """The real ABF files of pyABF's test data (``ephys/abf``)."""
    return test_data("ephys/abf")


#: The demo study shared by the tests: ``fmslab demo --out DIR --small --seed DEMO_SEED``.
DEMO_SEED = 1


@pytest.fixture(scope="session")
def demo_study(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The small demo (generated, catalogued and analysed: every step), built once per test run
    and shared by every test process (pytest-xdist workers wait on a lock for the first one).

    Returns the demo's ``OUT`` folder (``study/``, ``keys/``, ``ground_truth/``). Read-only:
    a test that writes into a study copies it first.
    """
    from filelock import FileLock
    from typer.testing import CliRunner

    from fmslab.cli import app

    # one folder per run: the session's base temp, or its parent (shared by this run's workers)
    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent
    out = root / f"demo_small_seed{DEMO_SEED}"
    with FileLock(str(root / f"demo_small_seed{DEMO_SEED}.lock")):
        done = root / f"demo_small_seed{DEMO_SEED}.ok"  # beside it: the demo holds only its files
        if not done.is_file():
            args = ["-q", "demo", "--out", str(out), "--small", "--seed", str(DEMO_SEED)]
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
            done.write_text("fmslab demo finished\n")
    return out


@pytest.fixture
def sample_study(tmp_path: Path) -> Path:
    """A private copy of the sample study (so tests never write into the repository)."""
    import shutil

    dest = tmp_path / "sample_study"
    shutil.copytree(SAMPLE_STUDY, dest, ignore=shutil.ignore_patterns("results"))
    return dest
