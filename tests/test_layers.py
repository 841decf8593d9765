"""The layers of docs/architecture.md, checked by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = 5


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the contracts of `root`/pyproject.toml, on `root`/controller."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_layer_contract_is_kept() -> None:
    """The package keeps every contract: layers, a pure planning core, providers at the
    edge, only the CLI on a terminal, no import cycles."""
    ran = lint_imports(ROOT)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in ran.stdout


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "controller", tmp_path / "controller")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_upward_import_from_the_planning_core_breaks_the_contracts(tmp_path: Path) -> None:
    """A planning module importing a provider fails lint-imports, naming the import."""
    root = _copy(tmp_path)
    diff = root / "controller" / "planning" / "diff.py"
    diff.write_text(diff.read_text() + "\nfrom controller.providers.sim import cloud  # noqa\n")
    ran = lint_imports(root)
    assert ran.returncode != 0
    assert "controller.planning.diff -> controller.providers.sim.cloud" in ran.stdout


def test_terminal_output_outside_the_cli_breaks_the_contracts(tmp_path: Path) -> None:
    """A module outside the CLI importing rich (a terminal renderer) fails lint-imports."""
    root = _copy(tmp_path)
    render = root / "controller" / "views" / "render.py"
    render.write_text(render.read_text() + "\nimport rich  # noqa\n")
    ran = lint_imports(root)
    assert ran.returncode != 0
    assert "Only the CLI renders to a terminal BROKEN" in ran.stdout
