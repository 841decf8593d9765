"""Shared fixtures: a throwaway PostgreSQL for the state-backend suites.

`postgres` (one per test session) runs `initdb` and `pg_ctl start` on 127.0.0.1 and
a free port, in a temporary folder that is removed afterwards; as root the cluster
runs as the `postgres` user. `pg_url` gives each test a fresh database of it and
returns its URL. Where PostgreSQL cannot be started the tests are skipped with the
reason, except in CI (`CI=true`), where they fail: `.ci/run` installs the server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is needed in CI: {reason}")
    pytest.skip(f"PostgreSQL is not available: {reason}")


@dataclass
class Postgres:
    """A running throwaway cluster."""

    port: int
    data: Path
    pg_ctl: str
    _run_as: Callable[[], None] | None
    _count: int = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str) -> None:
        """`pg_ctl -D DATA ARGS` as the cluster's user (stop, start, ...)."""
        subprocess.run(
            [self.pg_ctl, "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            preexec_fn=self._run_as,
        )

    def stop(self) -> None:
        self.ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self.ctl("-w", "-l", str(self.data.parent / "log"), "start")

    def fresh_database(self) -> str:
        import psycopg

        self._count += 1
        name = f"enictl_test_{self._count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster on 127.0.0.1, for the whole session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[postgresql]')")
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        _unavailable("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
    assert initdb is not None and pg_ctl is not None
    root = Path(tempfile.mkdtemp(prefix="enictl-pg-"))
    run_as: Callable[[], None] | None = None
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)

        def run_as() -> None:
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    cluster = Postgres(_free_port(), root / "data", pg_ctl, run_as)
    try:
        subprocess.run(
            [initdb, "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            preexec_fn=run_as,
        )
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {cluster.port}\n"
                f"unix_socket_directories = '{root}'\nfsync = off\n"
                "full_page_writes = off\nmax_connections = 200\n"
            )
        cluster.start()
    except (subprocess.CalledProcessError, OSError, KeyError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        _unavailable(f"{exc} {detail.decode(errors='replace').strip()}")
    try:
        yield cluster
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(cluster.data), "-m", "immediate", "stop"],
            capture_output=True,
            preexec_fn=run_as,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """The URL of a fresh, empty database for this test."""
    return postgres.fresh_database()
