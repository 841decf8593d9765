"""The lock on PostgreSQL: a lease row timed by the database's clock, with an epoch.

    enictl_lease(name 'state', epoch, lock_id, holder, acquired_at, expires_at)

- Acquire: one UPDATE that succeeds only when nobody holds the row or its
  `expires_at` has passed by the database's clock; it adds 1 to the epoch. A waiter
  (`--lock-timeout`, a `watch` standing by) LISTENs on `enictl_lease` and tries again
  when the holder resigns (a NOTIFY: handoff in milliseconds) or its lease runs out.
- Renew: every `renew_every` seconds a background thread moves `expires_at` to the
  database's now + `ttl`, provided epoch and lock id are still ours. A failed renewal
  is retried every second; once `renew_deadline` seconds of this process's monotonic
  clock passed since the last renewal it saw succeed (measured from when it was
  sent), the lease is lost here: `check()` raises `LeaseLost`, 5 s (by default)
  before anyone else may take it. A frozen process (SIGSTOP) finds the same when it
  wakes: its monotonic clock moved on.
- Release: the row is freed and waiters are notified, at once.
- Force-unlock: the row is freed and the epoch moves on, so the old holder's next
  journal write (a compare-and-swap on its epoch) and `confirm()` fail.

PostgreSQL's advisory locks are not used: a session lock of a vanished client stays
held until TCP notices (about 2 h 11 min with default keepalives), and one of a
frozen client forever.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from controller.errors import LeaseLost, LockHeld
from controller.storage.backend import LeaseTimings
from controller.storage.lock import Holder, held_message, holder_from
from controller.storage.postgresql import connection

CHANNEL = "enictl_lease"
_RETRY = 1.0  # seconds between renewals after a failed one (at most renew_every)

ACQUIRE = """
UPDATE enictl_lease
   SET epoch = epoch + 1, lock_id = %(lock_id)s, holder = %(holder)s,
       acquired_at = clock_timestamp(),
       expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
 WHERE name = 'state' AND (lock_id IS NULL OR expires_at <= clock_timestamp())
RETURNING epoch"""

RENEW = """
UPDATE enictl_lease SET expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
 WHERE name = 'state' AND epoch = %(epoch)s AND lock_id = %(lock_id)s
RETURNING epoch"""

RELEASE = """
WITH freed AS (
    UPDATE enictl_lease SET lock_id = NULL, expires_at = clock_timestamp()
     WHERE name = 'state' AND epoch = %(epoch)s AND lock_id = %(lock_id)s RETURNING epoch)
SELECT pg_notify('enictl_lease', 'released') FROM freed"""

BREAK = """
WITH broken AS (
    UPDATE enictl_lease
       SET epoch = epoch + 1, lock_id = NULL, expires_at = clock_timestamp()
     WHERE name = 'state' AND lock_id = %(lock_id)s RETURNING holder)
SELECT holder, pg_notify('enictl_lease', 'broken') FROM broken"""

CURRENT = """
SELECT epoch, lock_id, holder,
       extract(epoch FROM expires_at - clock_timestamp())::float8 AS seconds_left
  FROM enictl_lease WHERE name = 'state'"""

Connect = Callable[[], Any]  # a psycopg connection


def new_holder(command: str) -> Holder:
    return Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        lock_id=str(uuid.uuid4()),
        command=command,
    )


def try_acquire(conn: Any, holder: Holder, timings: LeaseTimings) -> int | None:
    """Take the lease if it is free or expired: its new epoch, or None."""
    row = conn.execute(
        ACQUIRE,
        {"lock_id": holder.lock_id, "holder": json.dumps(holder.as_json()), "ttl": timings.ttl},
    ).fetchone()
    return None if row is None else int(row[0])


def current(conn: Any) -> tuple[int, Holder | None, float]:
    """(epoch, holder or None when free, seconds until it expires by the database)."""
    row = conn.execute(CURRENT).fetchone()
    if row is None:
        return 0, None, 0.0
    epoch, lock_id, data, left = row
    holder = holder_from(data) if lock_id is not None and left is not None and left > 0 else None
    return int(epoch), holder, float(left or 0.0)


def held_error(where: str, conn: Any, waited: float) -> LockHeld:
    epoch, holder, left = current(conn)
    note = f" (epoch {epoch}; its lease runs out in {left:.1f}s unless renewed)" if holder else ""
    return LockHeld(held_message(where, holder, waited, note))


class Lease:
    """A held lease (`controller.storage.backend.Held`), renewed until released or lost."""

    def __init__(
        self,
        *,
        where: str,
        connect: Connect,
        ask: Callable[[], tuple[int, Holder | None, float]],
        epoch: int,
        holder: Holder,
        timings: LeaseTimings,
        clock: Callable[[], float],
        renewed: float,
        on_release: Callable[[Lease], None],
    ) -> None:
        self.where = where
        self.holder = holder
        self.epoch = epoch
        self.timings = timings
        self.lost = threading.Event()
        self._connect = connect
        self._ask = ask
        self._clock = clock
        self._renewed = renewed  # monotonic time the last successful renewal was sent
        self._on_release = on_release
        self._reason = ""
        self._last_error = ""
        self._stopping = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._renew_loop, name="enictl-lease", daemon=True)
        self._thread.start()

    # -- the checks ---------------------------------------------------------------

    def check(self) -> None:
        if not self.lost.is_set():
            silent = self._clock() - self._renewed
            if silent <= self.timings.renew_deadline:
                return
            why = f" ({self._last_error})" if self._last_error else ""
            self._lose(f"it was not renewed for {silent:.1f}s{why}")
        raise self.failure()

    def confirm(self) -> None:
        self.check()
        try:
            epoch, holder, _left = self._ask()
        except Exception:  # the database did not answer: the local deadline decides
            return
        if epoch != self.epoch or holder is None or holder.lock_id != self.holder.lock_id:
            self.taken(epoch, holder)
        self.check()

    def taken(self, epoch: int, holder: Holder | None) -> NoReturn:
        """Another process has the lease now (or it was broken): lost, and raise."""
        by = f" by {holder.describe()}" if holder is not None else ""
        self._lose(f"it was taken over{by} (epoch {epoch})")
        raise self.failure()

    def failure(self) -> LeaseLost:
        return LeaseLost(
            f"lost the lease on {self.where} (epoch {self.epoch}): {self._reason}; stopped "
            "before the next cloud call, the next holder finishes what is left in flight"
        )

    def _lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self._reason = reason
            self.lost.set()

    # -- renewing and releasing ----------------------------------------------------

    def _renew_loop(self) -> None:
        wait = self.timings.renew_every
        while not self._stopping.wait(wait):
            sent = self._clock()
            try:
                if self._conn is None:
                    self._conn = self._connect()
                row = self._conn.execute(
                    RENEW,
                    {"ttl": self.timings.ttl, "epoch": self.epoch, "lock_id": self.holder.lock_id},
                ).fetchone()
            except Exception as exc:  # psycopg errors, an unreachable database
                self._last_error = f"last try: {connection.first_line(exc)}"
                self._drop()
                if self._clock() - self._renewed > self.timings.renew_deadline:
                    self._lose(
                        f"it could not be renewed for {self.timings.renew_deadline:g}s "
                        f"({self._last_error})"
                    )
                    return
                wait = min(_RETRY, self.timings.renew_every)
                continue
            if row is None:
                self._lose("it was taken over by another process, or broken by force-unlock")
                return
            self._renewed = sent
            self._last_error = ""
            wait = self.timings.renew_every

    def release(self) -> None:
        """Stop renewing and free the row (waiters hear it at once). Idempotent; a
        database that cannot be reached is left to the TTL."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._thread.join(timeout=self.timings.renew_deadline)
        if not self.lost.is_set():
            self._lose("it was released")
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.execute(
                    RELEASE, {"epoch": self.epoch, "lock_id": self.holder.lock_id}
                ).fetchall()
            except Exception:  # unreachable: the lease runs out by itself
                pass
        self._drop()
        self._on_release(self)

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
