"""`enictl watch` replicas on one PostgreSQL backend: one leads, the others stand by.

Every replica is a real process (`enictl watch --json`) on one simulated cloud; the
lock, the journal and the last-applied record live in the database, with a short
lease (ENICTL_LEASE_TTL) so that failovers take a fraction of a second. Waits are on
events, the database or the cloud, with a generous deadline.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from controller.providers.sim.cloud import open_cloud
from controller.storage.postgresql.store import PostgresBackend
from tests.applyhelpers import ENICTL, cloud_log, rejected, wait_for
from tests.pgcluster import Cluster as Postgres

DATA = Path(__file__).resolve().parent / "data" / "watch"
TTL = 0.9
READS = frozenset({"observe", "job"})
Event = dict[str, Any]


class Replica:
    """One `enictl watch --json` process; its events arrive on a queue."""

    def __init__(self, workdir: Path, *args: str) -> None:
        env = {**os.environ, "NO_COLOR": "1"}
        env.pop("ENICTL_PROVIDER", None)
        self.proc = subprocess.Popen(
            [str(ENICTL), "--state-dir", "state", "watch", "manifests", "--json", *args],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.events: list[Event] = []
        self._queue: queue.Queue[Event | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(json.loads(line))
        self._queue.put(None)

    def wait_for(self, match: Callable[[Event], bool], what: str, deadline: float = 30) -> Event:
        end = time.monotonic() + deadline
        while (left := end - time.monotonic()) > 0:
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if event is None:
                raise AssertionError(f"replica exited before {what}")
            self.events.append(event)
            if match(event):
                return event
        raise AssertionError(f"no {what} within {deadline}s; events: {self.events[-4:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def workdir(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cloud (in workdir/state) and the watch manifests; the backend is `pg_url`."""
    monkeypatch.setenv("ENICTL_STATE_BACKEND", pg_url)
    monkeypatch.setenv("ENICTL_LEASE_TTL", str(TTL))
    monkeypatch.setenv("ENICTL_RESUME_WAIT", "1")
    schema = PostgresBackend(pg_url)
    assert schema.holder() is None  # the tables exist before anyone reads them
    schema.close()
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    init = subprocess.run(
        [str(ENICTL), "--state-dir", "state", "sim", "init", str(DATA / "inventory.yaml")],
        cwd=tmp_path,
        capture_output=True,
    )
    assert init.returncode == 0, init.stderr
    faults = [str(ENICTL), "--state-dir", "state", "sim", "faults", "--latency-ms", "150"]
    assert subprocess.run(faults, cwd=tmp_path, capture_output=True).returncode == 0
    return tmp_path


@pytest.fixture
def replicas(workdir: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        if replica.proc.poll() is None:
            replica.proc.kill()
        replica.proc.wait()


def _place(workdir: Path, server: str) -> None:
    """Edit the manifest: eni-a belongs on `server`."""
    target = workdir / "manifests" / "interfaces.yaml"
    text = target.read_text()
    for name in ("web-1", "web-2", "big-1"):
        text = text.replace(f"server: {name}}}", f"server: {server}}}")
    target.write_text(text)


def _on(workdir: Path, name: str) -> str | None:
    cloud = open_cloud(workdir / "state")
    try:
        return cloud.snapshot().interfaces[name].server
    finally:
        cloud.close()


def _lease(url: str) -> tuple[int, int | None]:
    """(epoch, the holder's pid or None)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT epoch, CASE WHEN lock_id IS NOT NULL AND expires_at > clock_timestamp() "
            "THEN (holder->>'pid')::int END FROM enictl_lease"
        ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def _journal_epochs(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [int(r[0]) for r in conn.execute("SELECT epoch FROM enictl_journal ORDER BY seq")]


def _mutating_intents(url: str, epoch: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM enictl_journal WHERE epoch = %s AND kind = 'job-intent'",
            (epoch,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_replicas_elect_one_leader_and_survive_killed_leaders(
    workdir: Path, pg_url: str, replicas: list[Replica]
) -> None:
    """Three replicas; the leader is killed -9 in the middle of each reconcile that
    moves eni-a: a standby takes over, finishes, and the cloud converges every time.
    The journal's epochs never go back (at most one leader writes at a time), and the
    cloud refused nothing."""
    replicas.extend(Replica(workdir, "--interval", "0.5") for _ in range(3))
    wait_for(lambda: _lease(pg_url)[1] is not None, what="a leader")
    for round_, server in enumerate(("web-2", "big-1", "web-1", "web-2")):
        epoch, leader = _lease(pg_url)
        _place(workdir, server)
        wait_for(lambda e=epoch: _mutating_intents(pg_url, e) > 0, what="the leader's move")
        assert leader is not None
        os.kill(leader, signal.SIGKILL)
        replicas.append(Replica(workdir, "--interval", "0.5"))  # keep three alive
        # a takeover waits out the lease, then finishes the dead leader's jobs: generous
        # on a loaded machine (three watch processes start and elect meanwhile)
        wait_for(
            lambda s=server: _on(workdir, "eni-a") == s,
            deadline=90.0,
            what=f"eni-a on {server} ({round_})",
        )
        assert _lease(pg_url)[0] > epoch
    epochs = _journal_epochs(pg_url)
    assert epochs == sorted(epochs)
    assert rejected(workdir / "state") == []
    alive = [r for r in replicas if r.proc.poll() is None]
    assert len(alive) == 3
    assert [r.stop() for r in alive] == [0, 0, 0]


def test_a_standby_says_so_and_takes_over_at_once_when_the_leader_stops(
    workdir: Path, pg_url: str, replicas: list[Replica]
) -> None:
    """Leader and standby report their roles and the epoch (events and status file);
    SIGTERM to the leader hands the lease over in well under a second."""
    first = Replica(workdir, "--interval", "60", "--status-file", "first.json")
    replicas.append(first)
    led = first.wait_for(lambda e: e["event"] == "reconcile", "the first reconcile")
    assert led["role"] == "leader" and led["epoch"] == 1 and led["outcome"] == "in-sync"
    second = Replica(workdir, "--interval", "60", "--status-file", "second.json")
    replicas.append(second)
    stood = second.wait_for(lambda e: e["event"] == "reconcile", "the standby's report")
    assert stood["role"] == "standby" and stood["outcome"] == "standby"
    assert f"pid {first.proc.pid}" in stood["leader"]
    status = json.loads((workdir / "second.json").read_text())
    assert status["role"] == "standby"
    began = time.monotonic()
    assert first.stop() == 0
    took = second.wait_for(lambda e: e.get("role") == "leader", "the takeover")
    assert time.monotonic() - began < 1.0 + 1.0  # the stop itself, then the handoff
    assert took["epoch"] == 2
    assert json.loads((workdir / "second.json").read_text())["role"] == "leader"


def test_the_database_stopped_under_a_watch_stops_it_mutating_until_it_is_back(
    workdir: Path, pg_url: str, postgres: Postgres, replicas: list[Replica]
) -> None:
    """The database goes away under a leading watch: while it is down the cloud sees no
    change from it; once it is back the watch takes the lease again and converges."""
    watch = Replica(workdir, "--interval", "0.3")
    replicas.append(watch)
    watch.wait_for(lambda e: e.get("outcome") == "in-sync", "the first reconcile")
    postgres.stop()
    try:
        seen = len(cloud_log(workdir / "state"))
        _place(workdir, "web-2")
        watch.wait_for(
            lambda e: e.get("outcome") == "failed" and e.get("role") == "standby",
            "a reconcile that no longer leads",
        )
        late = [e.operation for e in cloud_log(workdir / "state")[seen:]]
        assert [op for op in late if op not in READS] == []
    finally:
        postgres.start()
    watch.wait_for(
        lambda e: e.get("outcome") in ("applied", "in-sync") and e.get("inSync") is True
        and _on(workdir, "eni-a") == "web-2",
        "the move once the database is back",
        deadline=60,
    )  # fmt: skip
    assert rejected(workdir / "state") == []
    assert watch.stop() == 0


def test_a_frozen_leader_is_replaced_and_stands_by_when_it_wakes(
    workdir: Path, pg_url: str, replicas: list[Replica]
) -> None:
    """SIGSTOP the leader: the standby takes over and applies a change; SIGCONT the old
    leader: it finds its lease gone, changes nothing and reports standby."""
    first = Replica(workdir, "--interval", "0.3")
    replicas.append(first)
    first.wait_for(lambda e: e.get("outcome") == "in-sync", "the leader's first reconcile")
    second = Replica(workdir, "--interval", "0.3")
    replicas.append(second)
    second.wait_for(lambda e: e.get("role") == "standby", "the standby")
    first.proc.send_signal(signal.SIGSTOP)
    try:
        _place(workdir, "web-2")
        second.wait_for(
            lambda e: e.get("role") == "leader" and _on(workdir, "eni-a") == "web-2",
            "the takeover and the move",
        )
        seen = len(cloud_log(workdir / "state"))
    finally:
        first.proc.send_signal(signal.SIGCONT)
    first.wait_for(lambda e: e.get("role") == "standby", "the old leader standing by")
    late = [e.operation for e in cloud_log(workdir / "state")[seen:]]
    epochs = _journal_epochs(pg_url)
    assert epochs == sorted(epochs) and _lease(pg_url)[1] == second.proc.pid
    assert rejected(workdir / "state") == []
    assert second.stop() == 0 and first.stop() == 0
    assert [op for op in late if op not in READS] == []
