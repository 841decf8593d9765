"""The command line's own manners: help with no command, --no-color, codes in error lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_no_command_prints_help_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """`enictl` and `enictl sim` print their help on stdout and exit 0, no `error:`."""
    assert main([]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Usage: enictl [OPTIONS] COMMAND [ARGS]...")
    assert "export" in captured.out and "release" in captured.out and captured.err == ""
    assert main(["sim"]) == 0
    assert capsys.readouterr().out.startswith("Usage: enictl sim [OPTIONS] COMMAND")


def test_no_color_flag_keeps_ansi_out_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the plan is coloured; `--no-color` (without NO_COLOR) removes it."""
    import sys

    monkeypatch.delenv("NO_COLOR", raising=False)
    state = str(tmp_path / "state")
    inventory = ROOT / "manifests" / "inventory" / "demo-cloud.yaml"
    assert main(["--state-dir", state, "sim", "init", str(inventory)]) == 0
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    capsys.readouterr()
    assert main(["--state-dir", state, "plan", str(ROOT / "manifests" / "demo")]) == 0
    assert "\x1b[" in capsys.readouterr().out
    assert main(["--state-dir", state, "--no-color", "plan", str(ROOT / "manifests" / "demo")]) == 0
    assert "\x1b[" not in capsys.readouterr().out


def test_error_lines_name_the_stable_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`error: file:line:col: DuplicateName: NetworkInterface/e1 ...`: the JSON's code."""
    doc = (
        "apiVersion: enictl/v1\nkind: NetworkInterface\nmetadata:\n  name: e1\nspec: {subnet: s}\n"
    )
    (tmp_path / "a.yaml").write_text(doc)
    (tmp_path / "b.yaml").write_text(doc)
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path}/b.yaml:4:3: DuplicateName: NetworkInterface/e1 metadata.name:" in err
