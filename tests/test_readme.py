"""The README's two commands stay true: CI runs exactly the README's test command."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands() -> None:
    """The README's first code block holds the demo command and the test command."""
    commands = readme_commands()
    assert len(commands) == 2
    assert "scripts/demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run ends with the README's test command, character for character."""
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci_lines[-1] == readme_commands()[1]


def test_demo_script_is_executable() -> None:
    """The demo script the README names can be run directly."""
    demo = ROOT / "scripts" / "demo"
    assert demo.stat().st_mode & 0o111
