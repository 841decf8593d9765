"""Helpers for the simulated-cloud tests: the small inventory, a fake clock, name lookups."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.errors import ProviderError
from controller.providers.sim.cloud import SimCloud, init_cloud

DATA = Path(__file__).parent / "data" / "sim"
SMALL = DATA / "small.yaml"


def small_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SMALL.read_text())["spec"]
    return spec


@pytest.fixture(name="cloud")
def small_cloud(tmp_path: Path) -> Iterator[SimCloud]:
    """The small simulated cloud in the test's tmp_path (import it to use `cloud`)."""
    found = init_cloud(tmp_path, small_spec())
    yield found
    found.close()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
