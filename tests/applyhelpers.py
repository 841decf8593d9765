"""Helpers for the `enictl apply` end-to-end tests: run the CLI, read the simulated cloud.

The `cli` fixture (a `Cli` on each provider in turn) is in conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.providers.sim.cloud import LogEntry, open_cloud

TESTS = Path(__file__).parent
PLANS = TESTS / "plans"
MIXED = TESTS / "data" / "apply" / "mixed"
ENICTL = Path(sys.executable).with_name("enictl")
# transient codes the simulated cloud injects; any other error in its log is a rejection
TRANSIENT = frozenset({"Ecs.0603", "APIGW.0308"})


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


class Cli:
    """`enictl --state-dir STATE ...` in process, capturing its output."""

    def __init__(self, state: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.state = state
        self._capsys = capsys

    def __call__(self, *args: str) -> Ran:
        self._capsys.readouterr()
        code = main(["--state-dir", str(self.state), *args])
        captured = self._capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    def init(self, inventory: Path) -> None:
        ran = self("sim", "init", str(inventory))
        assert ran.code == 0, ran.err

    def interfaces(self) -> dict[str, dict[str, Any]]:
        ran = self("get", "interfaces", "-o", "json")
        assert ran.code == 0, ran.err
        return {i["name"]: i for i in json.loads(ran.out)}

    def in_sync(self, *paths: str) -> bool:
        ran = self("plan", *paths, "--detailed-exitcode")
        assert ran.code in (0, 2), ran.err
        return ran.code == 0


def cloud_log(state: Path) -> list[LogEntry]:
    cloud = open_cloud(state)
    try:
        return cloud.log()
    finally:
        cloud.close()


def rejected(state: Path) -> list[str]:
    """Every call the simulated cloud refused for a reason other than a transient fault."""
    return [
        f"{e.operation} {e.target}: {e.error_code} {e.message}"
        for e in cloud_log(state)
        if e.result == "error" and e.error_code not in TRANSIENT
    ]


def identity(interfaces: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
    """What must never change for an ENI that survives: its private IP and its EIP."""
    return {n: (i["privateIp"], i["eip"]) for n, i in interfaces.items()}


def subprocess_env(state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["ENICTL_STATE_DIR"] = str(state)
    env.pop("ENICTL_PROVIDER", None)
    return env


def spawn(state: Path, *args: str) -> subprocess.Popen[str]:
    """`enictl ARGS` as a real process (stdin closed, so never a terminal)."""
    return subprocess.Popen(
        [str(ENICTL), *args],
        env=subprocess_env(state),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], *, deadline: float = 30.0, what: str = "") -> None:
    """Poll `condition` until it holds; fail after a generous deadline."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.005)
