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


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in ci
