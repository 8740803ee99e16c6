"""The code base stays ruff-clean (lint and format), as the project's style requires."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def _ruff() -> list[str]:
    exe = Path(sys.executable).with_name("ruff")
    return [str(exe)] if exe.exists() else [shutil.which("ruff") or "ruff"]


def test_ruff_check():
    proc = subprocess.run(
        [*_ruff(), "check", "src", "tests", "benchmarks"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format():
    cmd = [*_ruff(), "format", "--check", "src", "tests", "benchmarks"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
