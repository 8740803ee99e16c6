"""The command line: version, help on every command, exit codes, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

import fmslab
from conftest import BROKEN_STUDY, REPO
from fmslab.cli import app

runner = CliRunner()
GROUPS = [
    "study",
    "ephys",
    "skinnerve",
    "behaviour",
    "rnaseq",
    "compare",
    "figures",
    "report",
    "demo",
]


def _commands(group: typer.Typer, prefix: list[str]) -> list[list[str]]:
    out = [prefix]
    for cmd in group.registered_commands:
        out.append(prefix + [cmd.name or cmd.callback.__name__.replace("_", "-")])
    for sub in group.registered_groups:
        out += _commands(sub.typer_instance, prefix + [sub.name])
    return out


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"fmslab {fmslab.__version__}"


def test_every_group_is_registered():
    names = {g.name for g in app.registered_groups}
    assert set(GROUPS) <= names


@pytest.mark.parametrize("argv", _commands(app, []), ids=lambda a: " ".join(a) or "root")
def test_help_on_every_command(argv):
    result = runner.invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_validate_exit_codes(sample_study):
    assert runner.invoke(app, ["study", "validate", str(sample_study)]).exit_code == 0
    bad = runner.invoke(app, ["study", "validate", str(BROKEN_STUDY)])
    assert bad.exit_code == 1
    assert "unknown mouse 'M99'" in bad.output


def test_catalog_and_query_via_cli(sample_study):
    assert runner.invoke(app, ["-q", "study", "catalog", str(sample_study)]).exit_code == 0
    result = runner.invoke(
        app, ["study", "query", str(sample_study), "SELECT mouse_id FROM mice ORDER BY 1", "--csv"]
    )
    assert result.exit_code == 0
    assert result.stdout.split() == ["mouse_id", "M01", "M02", "M03", "M04"]


def test_expected_errors_are_one_line_with_exit_code_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "fmslab", "study", "catalog", str(BROKEN_STUDY), "--db", str(tmp_path / "x.duckdb")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "study is invalid (19 error(s)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.duckdb").exists()
