"""The CLI shell: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import pytest

from controller.cli import main


def test_unknown_command_is_one_error_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A usage mistake exits 1 (SPEC: 2 is reserved for plans with changes)."""
    assert main(["no-such-command"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ")


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """`enictl --help` prints the usage and succeeds."""
    assert main(["--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_unknown_provider_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --provider value is a clean usage error."""
    assert main(["--provider", "aws", "plan"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
