"""Suites whose cases are data: find the cases, and never find none.

A suite that walks a folder of cases (the golden plans under tests/plans/, the manifest
error cases under tests/data/manifests/errors/, the shipped example manifests) asks
here. A missing folder, or one with no case in it, fails the suite's collection with
one line naming the folder, so a moved or emptied folder can never make the suite pass
by running nothing (pytest would otherwise skip an empty parametrization).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def folders(root: Path) -> list[Path]:
    """Every sub-folder of `root` (one case each), sorted; at least one."""
    found = sorted(p for p in _existing(root).iterdir() if p.is_dir())
    return _some(found, root, "no case folders")


def files(root: Path, pattern: str) -> list[Path]:
    """The files under `root` that match the glob `pattern` (`**/` for any depth),
    sorted; at least one."""
    found = sorted(p for p in _existing(root).glob(pattern) if p.is_file())
    return _some(found, root, f"no files matching {pattern}")


def _existing(root: Path) -> Path:
    if not root.is_dir():
        pytest.fail(f"{root}: the cases folder is missing", pytrace=False)
    return root


def _some(found: list[Path], root: Path, what: str) -> list[Path]:
    if not found:
        pytest.fail(f"{root}: {what}, so the suite would test nothing", pytrace=False)
    return found
