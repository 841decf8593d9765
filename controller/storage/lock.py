"""One writer per state dir: an OS-level lock plus a record of who holds it.

The lock is `fcntl.flock` on `<state_dir>/lock`: the kernel releases it when the
holding process dies, however it dies (kill -9, power loss), so a crash can never
leave the state dir stuck. Beside it, `<state_dir>/lock.json` records the holder
(pid, host, start time, a lock id UUID) so that a second writer can say who is in
the way, and so that `enictl force-unlock LOCK_ID` can name the lock it breaks.

Breaking a lock removes the lock file: the old holder keeps its lock on the removed
file, and the next writer locks a fresh one. `acquire` checks after locking that the
file it locked is still the one at the path, so a writer never holds a removed lock.

A `StateLock` is one of the two kinds of held lock of `controller.storage.backend`
(the other is the PostgreSQL lease): it has no epoch (0) and is never lost while its
process lives, so its `check()` and `confirm()` pass. A lock path that cannot be
used (a directory, a read-only folder, a full disk) is one `StateError` line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from controller.errors import LockHeld, UsageError
from controller.storage.failures import state_error

LOCK_FILE = "lock"
HOLDER_FILE = "lock.json"
_RETRY_INTERVAL = 0.05  # seconds between attempts while --lock-timeout lets us wait


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or last held) the lock."""

    pid: int
    host: str
    started: str  # ISO 8601, UTC
    lock_id: str
    command: str = ""

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host} since {self.started}, lock id {self.lock_id}"

    def as_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "host": self.host,
            "started": self.started,
            "lockId": self.lock_id,
            "command": self.command,
        }


class StateLock:
    """A held lock; release it with `release()` or by leaving its `with` block."""

    epoch = 0  # a file lock has no epochs: it cannot be taken over while its holder lives

    def __init__(self, state_dir: Path, fd: int, holder: Holder) -> None:
        self.state_dir = state_dir
        self.holder = holder
        self._fd: int | None = fd
        self.lost = threading.Event()  # never set: the kernel holds the lock for us

    @property
    def held(self) -> bool:
        return self._fd is not None

    def check(self) -> None:
        """Nothing to check: the lock lasts as long as this process."""

    def confirm(self) -> None:
        """Nothing to ask: the lock lasts as long as this process."""

    def release(self) -> None:
        """Remove the holder record (if still ours) and unlock. Idempotent."""
        if self._fd is None:
            return
        record = read_holder(self.state_dir)
        if record is not None and record.lock_id == self.holder.lock_id:
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / HOLDER_FILE).unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StateLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def holder_from(data: object) -> Holder | None:
    """A holder record's JSON (`Holder.as_json`) read back, or None when it is not one."""
    if not isinstance(data, dict):
        return None
    try:
        return Holder(
            pid=int(data["pid"]),
            host=str(data["host"]),
            started=str(data["started"]),
            lock_id=str(data["lockId"]),
            command=str(data.get("command", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def read_holder(state_dir: Path) -> Holder | None:
    """The holder record, or None when there is none (or it is unreadable)."""
    try:
        return holder_from(json.loads((state_dir / HOLDER_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _try_lock(path: Path) -> int | None:
    """Lock the file at `path` without waiting; its fd, or None when it is held."""
    try:
        return _try_lock_once(path)
    except OSError as exc:
        raise state_error(path, exc, "lock") from None


def _try_lock_once(path: Path) -> int | None:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        # force-unlock removed the file between our open and our lock: start again
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_holder(state_dir: Path, holder: Holder) -> None:
    tmp = state_dir / f".{HOLDER_FILE}.{holder.lock_id}"
    tmp.write_text(json.dumps(holder.as_json(), sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, state_dir / HOLDER_FILE)


def held_message(where: str, holder: Holder | None, waited: float, note: str = "") -> str:
    """`<where> is locked by <holder>...; wait, --lock-timeout, or force-unlock <id>`."""
    who = holder.describe() if holder is not None else "another process (no holder record yet)"
    how = f" after waiting {waited:g}s" if waited > 0 else ""
    lock_id = holder.lock_id if holder is not None else "LOCK_ID"
    return (
        f"{where} is locked by {who}{note}{how}; wait for it to finish, pass "
        f"--lock-timeout SECONDS to wait for it, or run `enictl force-unlock {lock_id}` "
        "if you are sure that process is gone"
    )


def _held_message(state_dir: Path, holder: Holder | None, waited: float) -> str:
    if holder is not None and holder.host == socket.gethostname() and not pid_alive_here(holder):
        holder = None  # a record left by a dead process; the live holder has not written yet
    return held_message(f"state dir {state_dir}", holder, waited)


def acquire(
    state_dir: Path,
    *,
    timeout: float = 0.0,
    command: str = "",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> StateLock:
    """Take the state dir's lock; wait up to `timeout` seconds, then raise LockHeld."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise state_error(state_dir, exc, "create the state dir") from None
    path = state_dir / LOCK_FILE
    deadline = clock() + max(timeout, 0.0)
    while True:
        fd = _try_lock(path)
        if fd is not None:
            holder = Holder(
                pid=os.getpid(),
                host=socket.gethostname(),
                started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                lock_id=str(uuid.uuid4()),
                command=command,
            )
            try:
                _write_holder(state_dir, holder)
            except BaseException as exc:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                if isinstance(exc, OSError):
                    raise state_error(
                        state_dir / HOLDER_FILE, exc, "write the lock record"
                    ) from None
                raise
            return StateLock(state_dir, fd, holder)
        remaining = deadline - clock()
        if remaining <= 0:
            raise LockHeld(_held_message(state_dir, read_holder(state_dir), timeout))
        sleep(min(_RETRY_INTERVAL, remaining))


def wait_unlocked(
    state_dir: Path,
    *,
    timeout: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once no apply (or watch reconcile) holds the lock, waiting up to `timeout`
    seconds; then LockHeld naming the holder. For readers (`enictl plan`) that must not
    plan from a half-applied cloud yet need not hold the lock themselves."""
    deadline = clock() + max(timeout, 0.0)
    while is_locked(state_dir):
        remaining = deadline - clock()
        if remaining <= 0:
            holder = read_holder(state_dir)
            what = (holder.command if holder is not None else "") or "an apply"
            raise LockHeld(
                f"{what} is in progress: a plan now would show a half-applied cloud; "
                + _held_message(state_dir, holder, timeout)
            )
        sleep(min(_RETRY_INTERVAL, remaining))


def is_locked(state_dir: Path) -> bool:
    """True when some process holds the lock right now (a probe; takes it for an instant)."""
    path = state_dir / LOCK_FILE
    if not path.exists():
        return False
    fd = _try_lock(path)
    if fd is None:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    return False


def force_unlock(state_dir: Path, lock_id: str) -> Holder:
    """Break the lock whose id is `lock_id`; returns the holder it named.

    Refuses (UsageError) when no lock is recorded or the id does not match, so a
    stale id copied from an old message cannot break someone else's lock.
    """
    holder = read_holder(state_dir)
    if holder is None:
        raise UsageError(f"state dir {state_dir} has no lock record; nothing to unlock")
    if holder.lock_id != lock_id.strip():
        raise UsageError(
            f"lock id {lock_id} does not match the lock on {state_dir} "
            f"(held by {holder.describe()}); nothing was unlocked"
        )
    with contextlib.suppress(FileNotFoundError):
        (state_dir / LOCK_FILE).unlink()
    with contextlib.suppress(FileNotFoundError):
        (state_dir / HOLDER_FILE).unlink()
    return holder


def pid_alive_here(holder: Holder) -> bool:
    """True when the holder runs on this host and its pid exists."""
    if holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
