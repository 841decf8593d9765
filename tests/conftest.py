"""The fixtures the whole suite shares; a test names them, it never imports them.

- `clock`: the suite's one fake clock (tests/fakeclock.py), at time 0.
- `cloud`: the small simulated cloud (tests/data/sim/small.yaml) in tmp_path, on
  `clock`; closed at teardown.
- `sim_serve`: a factory `sim_serve(state_dir, page_size=...) -> env` that starts
  `enictl sim serve` for a state dir and gives the environment pointing the
  huaweicloud provider at it; every server it started stops at teardown.
- `cloud_provider`: parametrized over "sim" and "huaweicloud" (through `sim serve`):
  `cloud_provider.use(state_dir)` points enictl at that state dir's cloud.
- `cli`: `enictl --state-dir tmp_path/state ...` in process (tests/applyhelpers.py
  `Cli`), on each provider in turn.
- `postgres`: a throwaway PostgreSQL cluster for the session (tests/pgcluster.py), on
  127.0.0.1 and a free port, removed afterwards; `pg_url`: a fresh database of it for
  one test. Where PostgreSQL cannot be started they skip with the reason, except in
  CI (`CI=true`), where they fail: `.ci/run` installs the server.
- `watches`: a list to put the `enictl watch` processes a test starts in
  (tests/watchprocess.py `Watch`); each is killed at teardown if still running.

Helpers that are not fixtures (builders, the fake cloud, the CLI runner) stay in
their modules under tests/; a module may override a fixture for its own needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from controller.providers.sim.cloud import SimCloud, init_cloud
from tests import pgcluster
from tests.applyhelpers import Cli
from tests.cloudfixtures import PROVIDERS, TEST_PAGE_SIZE, CloudProvider, serve
from tests.fakeclock import FakeClock
from tests.sim_support import small_spec
from tests.watchprocess import Watch


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at time 0: it moves when the test advances it or code sleeps on it."""
    return FakeClock()


@pytest.fixture
def cloud(tmp_path: Path, clock: FakeClock) -> Iterator[SimCloud]:
    """The small simulated cloud in tmp_path, its jobs timed by the fake clock."""
    found = init_cloud(tmp_path, small_spec(), clock=clock)
    yield found
    found.close()


@pytest.fixture
def sim_serve() -> Iterator[Callable[..., dict[str, str]]]:
    """A factory: start `sim serve` for a state dir, get the env pointing at it."""
    with ExitStack() as running:

        def start(state_dir: Path, *, page_size: int = TEST_PAGE_SIZE) -> dict[str, str]:
            return running.enter_context(serve(state_dir, page_size=page_size))

        yield start


@pytest.fixture(params=PROVIDERS)
def cloud_provider(
    request: pytest.FixtureRequest,
    sim_serve: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> CloudProvider:
    """Each test using this runs twice: on the sim provider and on huaweicloud via sim serve."""
    return CloudProvider(str(request.param), sim_serve, monkeypatch)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], cloud_provider: CloudProvider) -> Cli:
    """`enictl` in process on tmp_path/state's cloud, through each provider in turn: the
    sim, and huaweicloud through `enictl sim serve`."""
    cloud_provider.use(tmp_path / "state")
    return Cli(tmp_path / "state", capsys)


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgcluster.Cluster]:
    """A PostgreSQL cluster on 127.0.0.1, for the whole session."""
    try:
        cluster = pgcluster.start()
    except pgcluster.Unavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is needed in CI: {exc}")
        pytest.skip(f"PostgreSQL is not available: {exc}")
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(postgres: pgcluster.Cluster) -> str:
    """The URL of a fresh, empty database for this test."""
    return postgres.fresh_database()


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    """The watch processes a test started; any still running is killed at teardown."""
    started: list[Watch] = []
    yield started
    for w in started:
        w.kill()
