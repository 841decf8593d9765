"""The PostgreSQL state backend on a real PostgreSQL: schema, lease, fencing, journal."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from controller.errors import LeaseLost, LockHeld, StateError, StepFailed, UsageError
from controller.model import Topology
from controller.planning import drift
from controller.storage import open_backend
from controller.storage.backend import LeaseTimings
from controller.storage.postgresql import store
from controller.storage.postgresql.store import PostgresBackend
from tests.builders import standard
from tests.fakeclock import FakeClock
from tests.pgcluster import Cluster as Postgres

FAST = LeaseTimings.scaled(0.9)  # ttl 0.9 s, renew every 0.3 s, deadline 0.6 s

HOLD = (
    "import sys; from controller.storage.backend import LeaseTimings\n"
    "from controller.storage.postgresql.store import PostgresBackend\n"
    "backend = PostgresBackend(sys.argv[1], timings=LeaseTimings.scaled(0.9))\n"
    "held = backend.acquire(command='holder')\n"
    "print(held.holder.lock_id, held.epoch, flush=True)\n"
    "sys.stdin.readline()\n"
    "held.release()\n"
)


def _desired() -> Topology:
    return standard().server("web-1", "s3").eni("eni-a", server="web-1").build()


def _holder(url: str) -> tuple[subprocess.Popen[str], str]:
    """A child process holding the lease until its stdin closes; its lock id."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    return child, child.stdout.readline().split()[0]


def test_the_schema_is_created_on_first_use_and_versioned(pg_url: str) -> None:
    """The first backend creates the tables and records schema version 1."""
    backend = PostgresBackend(pg_url)
    assert backend.holder() is None
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT value FROM enictl_meta WHERE key='schemaVersion'").fetchone()
    assert row == ("1",)
    backend.close()


def test_a_newer_schema_is_refused_and_nothing_is_written(pg_url: str) -> None:
    """A database made by a newer enictl: one clear refusal, the lease row untouched."""
    first = PostgresBackend(pg_url)
    assert first.holder() is None
    first.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE enictl_meta SET value = '2' WHERE key = 'schemaVersion'")
    backend = PostgresBackend(pg_url)
    with pytest.raises(StateError, match="schema version 2, made by a newer enictl"):
        backend.acquire()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT epoch, lock_id FROM enictl_lease").fetchone() == (0, None)


def test_an_unreachable_database_is_one_clear_error(postgres: Postgres) -> None:
    """Nothing listening on the port: a StateError naming the backend, no password."""
    backend = open_backend("postgresql://me:secret@127.0.0.1:1/db", Path("unused"))
    with pytest.raises(StateError) as caught:
        backend.acquire()
    message = str(caught.value)
    assert "postgresql://me@127.0.0.1:1/db is unreachable" in message
    assert "secret" not in message and "\n" not in message


def test_a_second_holder_fails_fast_naming_the_first(pg_url: str) -> None:
    """While a process holds the lease, acquire raises LockHeld with host, pid, id, epoch."""
    child, lock_id = _holder(pg_url)
    try:
        with pytest.raises(LockHeld) as caught:
            PostgresBackend(pg_url, timings=FAST).acquire()
        message = str(caught.value)
        assert f"pid {child.pid}" in message and lock_id in message
        assert "epoch 1" in message and "force-unlock" in message
    finally:
        child.kill()
        child.wait()


def test_a_clean_release_hands_over_at_once(pg_url: str) -> None:
    """A waiter hears the holder resign (NOTIFY) and takes over well under a second."""
    child, _ = _holder(pg_url)
    backend = PostgresBackend(pg_url, timings=LeaseTimings())  # a 15 s lease
    assert child.stdin is not None
    threading.Timer(0.3, child.stdin.close).start()
    began = time.monotonic()
    held = backend.acquire(timeout=10)
    took = time.monotonic() - began
    child.wait()
    assert held.epoch == 2 and took < 1.0, took
    held.release()
    backend.close()


def test_a_killed_holder_is_taken_over_within_the_ttl(pg_url: str) -> None:
    """kill -9 of the holder: the next acquire gets the lease once the TTL ran out."""
    child, _ = _holder(pg_url)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed = time.monotonic()
    backend = PostgresBackend(pg_url, timings=FAST)
    held = backend.acquire(timeout=5)
    assert time.monotonic() - killed <= FAST.ttl + 0.5
    assert held.epoch == 2
    backend.close()


def test_a_stale_holder_writes_nothing_after_a_takeover(pg_url: str) -> None:
    """A frozen holder (SIGSTOP past the TTL) is taken over; its journal writes, its
    last-applied record and its checks are refused, and the new journal is unchanged."""
    clock = FakeClock()
    old = PostgresBackend(pg_url, timings=FAST, clock=clock)
    stale = old.acquire(command="old")
    stale_book = old.journal()
    run = stale_book.begin_run("sha256:p", steps=1)
    stale._stopping.set()  # the renewer freezes, as under SIGSTOP
    time.sleep(FAST.ttl + 0.1)
    new = PostgresBackend(pg_url, timings=FAST)
    fresh = new.acquire(command="new")
    assert fresh.epoch == stale.epoch + 1
    before = new.journal().unfinished()
    with pytest.raises(LeaseLost, match="taken over"):
        run.job_intent(1, "attach", "s", "p")
    with pytest.raises(LeaseLost):
        old.record_applied(_desired(), manifests_digest="sha256:m")
    with pytest.raises(LeaseLost):
        stale.check()
    assert new.journal().unfinished() == before
    assert new.last_applied() is None
    fresh.release()
    new.close()


def test_a_holder_that_cannot_renew_stops_at_its_deadline(pg_url: str) -> None:
    """No renewal seen for renew_deadline seconds of the holder's clock: check raises."""
    clock = FakeClock()
    backend = PostgresBackend(pg_url, timings=LeaseTimings(), clock=clock)
    held = backend.acquire()
    clock.advance(9.9)
    held.check()
    clock.advance(0.2)
    with pytest.raises(LeaseLost, match=r"not renewed for 10\.1s"):
        held.check()
    assert held.lost.is_set()
    backend.close()


def test_force_unlock_moves_the_epoch_on_and_fences_the_old_holder(pg_url: str) -> None:
    """force-unlock names the holder; the old holder's next confirm() is refused."""
    backend = PostgresBackend(pg_url, timings=FAST)
    held = backend.acquire(command="victim")
    other = PostgresBackend(pg_url, timings=FAST)
    with pytest.raises(UsageError, match="does not match"):
        other.force_unlock("not-the-id")
    assert other.force_unlock(held.holder.lock_id) == held.holder
    with pytest.raises(LeaseLost):
        held.confirm()
    assert other.acquire().epoch == held.epoch + 2
    other.close()
    backend.close()


def test_the_journal_keeps_runs_jobs_and_intents(pg_url: str) -> None:
    """The journal table gives back the unfinished run, its job and its dangling intent."""
    backend = PostgresBackend(pg_url, timings=FAST)
    held = backend.acquire()
    book = backend.journal()
    done = book.begin_run("sha256:q", steps=0)
    done.finish("ok")
    run = book.begin_run("sha256:p", steps=2)
    run.job_intent(1, "attach", "s1", "p1")
    run.job_submitted(1, "attach", "s1", "p1", "job-1")
    run.job_intent(2, "detach", "s2", "p2")
    mark = backend.journal_mark()
    [found] = book.unfinished()
    assert found.run == run.run_id and found.steps_total == 2
    assert [j.job_id for j in found.jobs] == ["job-1"]
    assert [(i.step, i.op) for i in found.intents] == [(2, "detach")]
    run.finish("recovered")
    assert backend.journal_mark() != mark and book.unfinished() == []
    held.release()
    backend.close()


def test_a_journal_write_to_a_stopped_database_fails_the_step(
    pg_url: str, postgres: Postgres
) -> None:
    """The database goes away: the write raises StateBackendUnavailable, never a traceback."""
    backend = PostgresBackend(pg_url, timings=LeaseTimings())
    held = backend.acquire()
    run = backend.journal().begin_run("sha256:p", steps=1)
    postgres.stop()
    try:
        with pytest.raises(StepFailed) as caught:
            run.job_intent(1, "attach", "s", "p")
        assert caught.value.code == "StateBackendUnavailable"
        held.check()  # still within its renew deadline
    finally:
        postgres.start()
    held.release()
    backend.close()


def test_last_applied_is_shared_by_every_machine(pg_url: str) -> None:
    """What one holder records, another machine's plan reads back."""
    writer = PostgresBackend(pg_url, timings=FAST)
    held = writer.acquire()
    writer.record_applied(_desired(), manifests_digest="sha256:m")
    held.release()
    reader = PostgresBackend(pg_url, timings=FAST)
    assert reader.last_applied() == drift.snapshot(_desired())
    writer.close()
    reader.close()


def test_the_journal_table_forgets_old_finished_runs_only(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past twice KEEP_ROWS records, a run's start deletes the oldest records of
    finished runs; an unfinished run keeps every record, however old."""
    monkeypatch.setattr(store, "KEEP_ROWS", 4)
    backend = PostgresBackend(pg_url, timings=FAST)
    held = backend.acquire()
    book = backend.journal()
    open_run = book.begin_run("sha256:open", steps=1)
    open_run.job_submitted(1, "attach", "s", "p", "job-old")
    for _ in range(5):
        book.begin_run("sha256:done", steps=0).finish("ok")
    book.begin_run("sha256:last", steps=0).finish("ok")
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT run FROM enictl_journal ORDER BY seq").fetchall()
    runs = [r[0] for r in rows]
    assert runs[:2] == [open_run.run_id, open_run.run_id]
    assert len(runs) < 2 + 6 * 2
    [still] = book.unfinished()
    assert [j.job_id for j in still.jobs] == ["job-old"]
    held.release()
    backend.close()
