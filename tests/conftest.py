"""Shared fixtures: a throwaway PostgreSQL for the state-backend suites.

`postgres` (one per test session) starts a cluster on 127.0.0.1 and a free port in a
temporary folder, removed afterwards (`tests/pgcluster.py`; as root it runs as the
`postgres` user). `pg_url` gives each test a fresh database of it. Where PostgreSQL
cannot be started the tests are skipped with the reason, except in CI (`CI=true`),
where they fail: `.ci/run` installs the server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import pgcluster

Postgres = pgcluster.Cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
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
def pg_url(postgres: Postgres) -> str:
    """The URL of a fresh, empty database for this test."""
    return postgres.fresh_database()
