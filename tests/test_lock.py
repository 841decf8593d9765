"""The state dir lock: one writer, a holder record, waiting, force-unlock, crash release."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.errors import LockHeld, UsageError
from controller.storage import lock
from tests.fakeclock import FakeClock

HOLD = (
    "import sys, time; from pathlib import Path; from controller.storage import lock\n"
    "held = lock.acquire(Path(sys.argv[1]), command='holder')\n"
    "print(held.holder.lock_id, flush=True)\n"
    "sys.stdin.readline()\n"
)


def _holder(state_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """A child process that holds the lock until its stdin closes; and its lock id."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    lock_id = child.stdout.readline().strip()  # blocks until the lock is held
    return child, lock_id


def test_second_writer_fails_fast_naming_the_holder(tmp_path: Path) -> None:
    """While one process holds the lock, acquire raises LockHeld with pid, host, id."""
    child, lock_id = _holder(tmp_path)
    try:
        with pytest.raises(LockHeld) as caught:
            lock.acquire(tmp_path)
        message = str(caught.value)
        assert f"pid {child.pid}" in message and lock_id in message
        assert "force-unlock" in message and "--lock-timeout" in message
    finally:
        child.kill()
        child.wait()


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    """kill -9 of the holder frees the lock at once; the stale record is replaced."""
    child, old_id = _holder(tmp_path)
    child.kill()
    child.wait()
    with lock.acquire(tmp_path) as held:
        assert held.holder.lock_id != old_id
        assert held.holder.pid == os.getpid()
        assert lock.read_holder(tmp_path) == held.holder
    assert lock.read_holder(tmp_path) is None


def test_lock_timeout_waits_then_gives_up(tmp_path: Path) -> None:
    """With a timeout, acquire retries until the deadline, then names the holder."""
    child, _lock_id = _holder(tmp_path)
    clock = FakeClock()
    try:
        with pytest.raises(LockHeld) as caught:
            lock.acquire(tmp_path, timeout=2.0, clock=clock, sleep=clock.sleep)
        assert clock.now >= 2.0 and "after waiting 2s" in str(caught.value)
    finally:
        child.kill()
        child.wait()


def test_lock_timeout_gets_the_lock_when_released(tmp_path: Path) -> None:
    """A waiting writer gets the lock once the holder lets go."""
    child, _ = _holder(tmp_path)
    assert child.stdin is not None

    def release_on_the_third_poll() -> None:
        if len(clock.sleeps) == 3:
            child.stdin.close()  # type: ignore[union-attr]
            child.wait()

    clock = FakeClock(on_sleep=release_on_the_third_poll)
    with lock.acquire(tmp_path, timeout=60.0, clock=clock, sleep=clock.sleep) as held:
        assert held.held and len(clock.sleeps) == 3


def test_force_unlock_refuses_a_wrong_id(tmp_path: Path) -> None:
    """A wrong lock id changes nothing."""
    with lock.acquire(tmp_path) as held:
        with pytest.raises(UsageError, match="does not match"):
            lock.force_unlock(tmp_path, "not-the-id")
        assert lock.read_holder(tmp_path) == held.holder
        assert lock.is_locked(tmp_path)


def test_force_unlock_breaks_a_live_lock(tmp_path: Path) -> None:
    """With the right id the lock is broken: a new writer gets it while the old lives."""
    child, lock_id = _holder(tmp_path)
    try:
        holder = lock.force_unlock(tmp_path, lock_id)
        assert holder.pid == child.pid
        with lock.acquire(tmp_path) as held:
            assert held.holder.lock_id != lock_id
    finally:
        child.kill()
        child.wait()


def test_force_unlock_without_a_lock_is_refused(tmp_path: Path) -> None:
    """Nothing recorded: nothing to unlock."""
    with pytest.raises(UsageError, match="no lock record"):
        lock.force_unlock(tmp_path, "x")


def test_two_concurrent_applies_exactly_one_runs(tmp_path: Path) -> None:
    """Two `enictl apply` processes on one state dir: one applies, the other exits 1
    at once naming the holder's pid and lock id; the cloud ends in sync."""
    from tests.applyhelpers import MIXED, spawn, wait_for

    state = tmp_path / "state"
    init = spawn(state, "sim", "init", str(MIXED / "inventory.yaml"))
    assert init.wait() == 0
    assert spawn(state, "sim", "faults", "--latency-ms", "1000").wait() == 0
    manifests = str(MIXED / "manifests")
    first = spawn(state, "apply", manifests, "--yes")
    wait_for(lambda: lock.read_holder(state) is not None, what="the first apply's lock")
    holder = lock.read_holder(state)
    assert holder is not None and holder.pid == first.pid
    second = spawn(state, "apply", manifests, "--yes")
    out2, err2 = second.communicate(timeout=60)
    out1, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1
    assert second.returncode == 1
    assert f"is locked by pid {first.pid}" in err2 and holder.lock_id in err2
    assert "Apply complete" in out1 and "Applying" not in out2
    assert lock.read_holder(state) is None
