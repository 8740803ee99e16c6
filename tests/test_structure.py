"""The package's structure: one entry point per modality, a CLI that imports nothing heavy."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fmslab"
MODALITIES = ("ephys", "skinnerve", "behaviour", "rnaseq", "compare")


def _fresh_modules(code: str) -> set[str]:
    """Modules loaded by ``code`` in a fresh interpreter (this one has imported everything)."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_importing_the_cli_and_the_packages_loads_no_numerical_library():
    # `fmslab --help` must not pay for pandas/numpy/scipy/matplotlib: every command imports
    # what it needs inside its function, and every package exports its API lazily
    code = "import fmslab.cli\n" + "\n".join(f"import fmslab.{m}" for m in MODALITIES)
    loaded = _fresh_modules(code)
    heavy = {"pandas", "numpy", "scipy", "matplotlib", "statsmodels", "pydeseq2", "duckdb"}
    assert not heavy & loaded, sorted(heavy & loaded)


@pytest.mark.parametrize("modality", MODALITIES)
def test_each_modality_exports_run_from_its_package(modality):
    pkg = importlib.import_module(f"fmslab.{modality}")
    flow = importlib.import_module(f"fmslab.{modality}.flow")
    assert pkg.run is flow.run
    assert "run" in pkg.__all__ and "run" in dir(pkg)
    for name in pkg.__all__:  # every advertised name resolves
        assert getattr(pkg, name) is not None
    with pytest.raises(AttributeError):
        pkg.no_such_name  # noqa: B018


def _called_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize(
    ("cli", "entry"),
    [
        ("ephys", "fmslab.ephys.run"),
        ("skinnerve", "fmslab.skinnerve.run"),
        ("behaviour", "fmslab.behaviour.run"),
        ("rnaseq", "fmslab.rnaseq.run"),
        ("compare", "fmslab.compare.run"),
    ],
)
def test_cli_and_demo_call_the_same_entry_point(cli, entry):
    assert entry in _called_names(SRC / "cli" / f"{cli}.py")
    assert entry in _called_names(SRC / "demo" / "analyses.py")


def test_cli_modules_write_nothing_themselves():
    # thin CLI: argument parsing and printing; writing and the catalog live in the library
    for path in sorted((SRC / "cli").glob("*.py")):
        imported = _called_names(path)
        bad = {n for n in imported if n.startswith("fmslab.atomic")}
        bad |= {n for n in imported if n.endswith((".open_session", ".write_table"))}
        assert not bad, (path.name, bad)


def test_snakefile_does_not_introspect_the_cli():
    text = (SRC.parents[1] / "pipelines" / "Snakefile").read_text()
    assert "registered_commands" not in text and "fmslab.cli" not in text
