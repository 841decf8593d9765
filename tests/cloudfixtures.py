"""The providers a suite runs on: the sim, and huaweicloud through `enictl sim serve`.

`serve(state_dir)` starts the simulated cloud's HTTP API in this process, on a free
loopback port, in a background thread, and yields the environment that points
`enictl --provider huaweicloud` (or `huaweicloud.from_environment(env)`) at it. The
server opens the cloud per request, so it may start before `enictl sim init`.

`CloudProvider` is one of the two providers and how to point enictl at a state dir's
cloud through it. The fixtures built on these (`sim_serve`, `cloud_provider`, `cli`)
are in conftest.py; a test only names them:

    def test_failover(cloud_provider, tmp_path):
        cloud_provider.use(tmp_path / "state")
        assert main(["--state-dir", str(tmp_path / "state"), "apply", ...]) == 0

Page size 5 by default, so that every suite run through here also exercises
pagination. The served cloud's jobs are local, so its client polls them as the sim
provider does and does not limit its rate (`SIM_PACE`), unlike for a real cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.providers.sim.serve import httpserver

PROVIDERS = ("sim", "huaweicloud")
TEST_PAGE_SIZE = 5
HUAWEI_VARIABLES = (
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_PROJECT_ID",
    "HUAWEICLOUD_REGION",
    "ENICTL_HUAWEICLOUD_ENDPOINT",
    "ENICTL_HUAWEICLOUD_PAGE_SIZE",
)
SIM_PACE = {
    "ENICTL_JOB_POLL_DELAY": "0",
    "ENICTL_JOB_POLL_INTERVAL": "1",
    "ENICTL_HUAWEICLOUD_RATE_LIMIT": "0",
}


@contextmanager
def serve(state_dir: Path, *, page_size: int = TEST_PAGE_SIZE) -> Iterator[dict[str, str]]:
    """Serve `state_dir`'s simulated cloud; yield the client environment."""
    running = httpserver.start(state_dir, httpserver.ServeSettings.from_env({}))
    try:
        env = {**running.client_env(), **SIM_PACE}
        env["ENICTL_HUAWEICLOUD_PAGE_SIZE"] = str(page_size)
        yield env
    finally:
        running.stop()


@dataclass
class CloudProvider:
    """Which provider a parametrized test runs with, and how to point enictl at it."""

    name: str
    _serve: Callable[..., dict[str, str]]
    _monkeypatch: pytest.MonkeyPatch
    env: dict[str, str] = field(default_factory=dict)

    def use(self, state_dir: Path, *, page_size: int = TEST_PAGE_SIZE) -> dict[str, str]:
        """Point enictl (via the process environment) at `state_dir`'s cloud."""
        for name in (*HUAWEI_VARIABLES, *SIM_PACE):
            self._monkeypatch.delenv(name, raising=False)
        self._monkeypatch.setenv("ENICTL_PROVIDER", self.name)
        self.env = {"ENICTL_PROVIDER": self.name}
        if self.name == "huaweicloud":
            self.env.update(self._serve(state_dir, page_size=page_size))
        for key, value in self.env.items():
            self._monkeypatch.setenv(key, value)
        return dict(self.env)

    def argv(self) -> list[str]:
        """`--provider NAME`, for tests that prefer the option to the environment."""
        return ["--provider", self.name]
