"""The README's two commands are the documented entry points; CI must run the same test command."""

import re

from conftest import REPO


def _commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv .venv && [^\n]+)\n```", text)


def test_readme_has_main_and_test_commands():
    cmds = _commands()
    assert len(cmds) == 2, cmds
    assert "fmslab" in cmds[0].split("&&")[-1]
    assert "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command_first_then_the_slow_tests():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in ci
    runs = [line for line in ci if "pytest" in line and not line.lstrip().startswith("#")]
    assert runs[0] == _commands()[1]
    assert any("-m slow" in line for line in runs[1:])
