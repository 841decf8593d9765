"""A throwaway PostgreSQL cluster on 127.0.0.1 and a free port, in a temporary folder.

Used by the test fixtures (`tests/conftest.py`) and by `bench/bench_state.py`. As
root the cluster runs as the `postgres` user. `start()` raises `Unavailable` with the
reason when the server binaries are missing or the cluster does not start.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class Unavailable(Exception):
    """PostgreSQL cannot be started here; the message says why."""


def binary(name: str) -> str | None:
    """`name` on PATH, or the newest one under Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A running cluster; `remove()` stops it and deletes its folder."""

    root: Path
    port: int
    pg_ctl: str
    run_as: Callable[[], None] | None
    _count: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str) -> None:
        """`pg_ctl -D DATA ARGS` as the cluster's user."""
        subprocess.run(
            [self.pg_ctl, "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            preexec_fn=self.run_as,
        )

    def stop(self) -> None:
        self.ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self.ctl("-w", "-l", str(self.root / "log"), "start")

    def fresh_database(self) -> str:
        """Create an empty database; its URL."""
        import psycopg

        self._count += 1
        name = f"enictl_test_{self._count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def remove(self) -> None:
        subprocess.run(
            [self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            preexec_fn=self.run_as,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start(*, fsync: bool = False) -> Cluster:
    """initdb and start a cluster (fsync off unless asked: tests need no durability)."""
    if importlib.util.find_spec("psycopg") is None:
        raise Unavailable("psycopg is not installed (pip install -e '.[postgresql]')")
    initdb, pg_ctl = binary("initdb"), binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise Unavailable("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
    root = Path(tempfile.mkdtemp(prefix="enictl-pg-"))
    run_as: Callable[[], None] | None = None
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)

            def run_as() -> None:
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

        cluster = Cluster(root, _free_port(), pg_ctl, run_as)
        subprocess.run(
            [initdb, "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            preexec_fn=run_as,
        )
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {cluster.port}\n"
                f"unix_socket_directories = '{root}'\nmax_connections = 200\n"
                + ("" if fsync else "fsync = off\nfull_page_writes = off\n")
            )
        cluster.start()
    except (subprocess.CalledProcessError, OSError, KeyError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        raise Unavailable(f"{exc} {detail.decode(errors='replace').strip()}") from None
    return cluster
