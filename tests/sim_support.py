"""Helpers for the simulated-cloud tests: the small inventory, name lookups,
refusals. (The fake clock is tests/fakeclock.py; the small cloud on it is conftest's
`cloud` fixture.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.errors import ProviderError
from controller.providers.sim.cloud import SimCloud

DATA = Path(__file__).parent / "data" / "sim"
SMALL = DATA / "small.yaml"


def small_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SMALL.read_text())["spec"]
    return spec


class Ids:
    """Cloud ids by name, read from a snapshot of the cloud."""

    def __init__(self, cloud: SimCloud) -> None:
        self.topology = cloud.snapshot()

    def server(self, name: str) -> str:
        return self.topology.servers[name].id

    def port(self, name: str) -> str:
        return self.topology.interfaces[name].id

    def subnet(self, name: str) -> str:
        return self.topology.catalog.subnets[name].id

    def sg(self, name: str) -> str:
        return self.topology.catalog.security_groups[name].id

    def eip(self, name: str) -> str:
        return self.topology.catalog.eips[name].id


def refused(excinfo: pytest.ExceptionInfo[ProviderError]) -> tuple[str, int | None, bool]:
    """(code, HTTP status, transient) of a refusal."""
    error = excinfo.value
    return error.code, error.status, error.transient
