"""The PostgreSQL state backend: the lease, the journal table, the last-applied record.

    enictl_journal(seq, epoch, run, kind, record jsonb)      the apply journal
    enictl_last_applied(name, epoch, revision, document)     the last-applied record

Every write is a compare-and-swap on the writer's epoch: the INSERT reads the lease
row FOR SHARE and writes nothing unless the epoch and lock id are still the
writer's. A takeover's UPDATE waits for such a write to commit (or makes it re-read
the row and write nothing), so once the new holder has its epoch, no write of the
old one can land. A record that is not `durable` is committed with
`synchronous_commit` off (its commit does not wait for the disk), as the journal
file leaves such records in the page cache; the next durable commit carries it.

A journal write the database does not answer fails the step with
`StateBackendUnavailable` before its cloud call, and a compare-and-swap that finds
another epoch raises `LeaseLost`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from controller.errors import LeaseLost, StateError, StepFailed, UsageError
from controller.model import Topology
from controller.planning.drift import Snapshot
from controller.storage import lastapplied
from controller.storage.backend import LeaseTimings
from controller.storage.journal import RunJournal, UnfinishedRun, start_run, unfinished_runs
from controller.storage.lock import Holder, holder_from
from controller.storage.postgresql import connection
from controller.storage.postgresql import lease as leasing

_FENCE = """
WITH lease AS (
    SELECT 1 FROM enictl_lease
     WHERE name = 'state' AND epoch = %(epoch)s AND lock_id = %(lock_id)s FOR SHARE)"""

APPEND = (
    _FENCE
    + """
INSERT INTO enictl_journal (epoch, run, kind, record)
SELECT %(epoch)s, %(run)s, %(kind)s, %(record)s FROM lease RETURNING seq"""
)

APPEND_RELAXED = (
    _FENCE
    + """, relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
INSERT INTO enictl_journal (epoch, run, kind, record)
SELECT %(epoch)s, %(run)s, %(kind)s, %(record)s FROM lease, relaxed RETURNING seq"""
)

UNFINISHED = """
SELECT record FROM enictl_journal WHERE run IN (
    SELECT run FROM enictl_journal WHERE kind = 'run-started'
    EXCEPT SELECT run FROM enictl_journal WHERE kind = 'run-finished')
ORDER BY seq"""

RECORD = (
    _FENCE
    + """
INSERT INTO enictl_last_applied (name, epoch, revision, document)
SELECT 'state', %(epoch)s, 1, %(document)s FROM lease
ON CONFLICT (name) DO UPDATE
   SET epoch = EXCLUDED.epoch, revision = enictl_last_applied.revision + 1,
       document = EXCLUDED.document, written_at = clock_timestamp()
RETURNING revision"""
)

TRIM = (
    _FENCE
    + """, unfinished AS (
    SELECT run FROM enictl_journal WHERE kind = 'run-started'
    EXCEPT SELECT run FROM enictl_journal WHERE kind = 'run-finished')
DELETE FROM enictl_journal
 WHERE seq < %(below)s AND EXISTS (SELECT 1 FROM lease)
   AND run NOT IN (SELECT run FROM unfinished)"""
)

KEEP_ROWS = 100_000  # journal records kept; older ones of finished runs go at a run's start
DEFAULT_TIMINGS = LeaseTimings()
_WAIT_SLICE = 0.2  # seconds a waiter sleeps between looks at its stop event


class PostgresBackend:
    """`StateBackend` on one PostgreSQL database, shared by every machine using it."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        timings: LeaseTimings = DEFAULT_TIMINGS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.where = connection.describe(url)
        self.timings = timings
        self._clock = clock
        self._mutex = threading.Lock()
        self._work: Any = None  # journal, checks, last-applied: one connection, thread-safe
        self._listener: Any = None  # LISTEN enictl_lease, while waiting for the lease
        self._lease: leasing.Lease | None = None
        self._applied: tuple[int, lastapplied.LastApplied] | None = None

    def describe(self) -> str:
        return self.where

    # -- connections ----------------------------------------------------------------

    def _open(self, purpose: str) -> Any:
        return connection.connect(self.url, deadline=self.timings.renew_deadline, purpose=purpose)

    def _conn(self) -> Any:
        """The work connection, (re)connected and the schema checked on first use."""
        with self._mutex:
            if self._work is not None and (self._work.closed or self._work.broken):
                self._work = None
            if self._work is None:
                conn = self._open("state")
                try:
                    connection.ensure_schema(conn, self.where)
                except BaseException:
                    conn.close()
                    raise
                self._work = conn
            return self._work

    def _query(self, what: str, run: Callable[[Any], Any]) -> Any:
        """`run(connection)`; a database error becomes one StateError line."""
        psycopg = connection.driver()
        try:
            return run(self._conn())
        except psycopg.Error as exc:
            raise StateError(
                f"state backend {self.where}: cannot {what}: {connection.first_line(exc)}; "
                "check that the database is up and reachable, then run again"
            ) from None

    # -- the lease ------------------------------------------------------------------

    def acquire(
        self, *, timeout: float = 0.0, command: str = "", stop: threading.Event | None = None
    ) -> leasing.Lease:
        holder = leasing.new_holder(command)
        began = self._clock()
        deadline = began + max(timeout, 0.0)
        while True:
            if timeout > 0:
                self._listen()  # before trying: a release between try and wait is heard
            sent = self._clock()
            epoch = self._query(
                "take the lease", lambda c: leasing.try_acquire(c, holder, self.timings)
            )
            if epoch is not None:
                return self._hold(epoch, holder, sent)
            remaining = deadline - self._clock()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                raise self._query(
                    "read the lease", lambda c: leasing.held_error(self.where, c, timeout)
                )
            _epoch, _holder, left = self._query("read the lease", leasing.current)
            self._wait(min(remaining, max(left, 0.0) + 0.005, self.timings.renew_every), stop)

    def _hold(self, epoch: int, holder: Holder, sent: float) -> leasing.Lease:
        held = leasing.Lease(
            where=self.where,
            connect=lambda: self._open("lease"),
            ask=lambda: leasing.current(self._conn()),
            epoch=epoch,
            holder=holder,
            timings=self.timings,
            clock=self._clock,
            renewed=sent,
            on_release=self._released,
        )
        self._lease = held
        return held

    def _released(self, held: leasing.Lease) -> None:
        if self._lease is held:
            self._lease = None

    def _listen(self) -> Any:
        """The connection that LISTENs for releases (None while it cannot connect)."""
        if self._listener is not None and (self._listener.closed or self._listener.broken):
            self._listener = None
        if self._listener is None:
            try:
                listener = self._open("standby")
                listener.execute(f"LISTEN {leasing.CHANNEL}")
            except (StateError, connection.driver().Error):
                return None
            self._listener = listener
        return self._listener

    def _wait(self, seconds: float, stop: threading.Event | None) -> None:
        """Sleep up to `seconds`, waking on a release NOTIFY or `stop`."""
        end = self._clock() + seconds
        while (left := end - self._clock()) > 0 and not (stop is not None and stop.is_set()):
            listener = self._listen()
            try:
                if listener is not None:
                    for _note in listener.notifies(timeout=min(left, _WAIT_SLICE), stop_after=1):
                        return
                    continue
            except connection.driver().Error:
                self._listener = None
            time.sleep(min(left, _WAIT_SLICE))

    def holder(self) -> Holder | None:
        _epoch, holder, _left = self._query("read the lease", leasing.current)
        return holder if isinstance(holder, Holder) else None

    def force_unlock(self, lock_id: str) -> Holder:
        wanted = lock_id.strip()

        def breaking(conn: Any) -> Any:
            return conn.execute(leasing.BREAK, {"lock_id": wanted}).fetchone()

        row = self._query("break the lease", breaking)
        if row is not None:
            broken = holder_from(row[0])
            if broken is not None:
                return broken
        current = self.holder()
        if current is None:
            raise UsageError(f"{self.where} has no lease held; nothing to unlock")
        raise UsageError(
            f"lock id {lock_id} does not match the lease on {self.where} "
            f"(held by {current.describe()}); nothing was unlocked"
        )

    def _held(self) -> leasing.Lease:
        held = self._lease
        if held is None:
            raise LeaseLost(f"this process holds no lease on {self.where}; nothing was written")
        return held

    # -- the journal and the last-applied record -------------------------------------

    def journal(self) -> PgJournal:
        return PgJournal(self, self._held())

    def journal_mark(self) -> object:
        return self._query(
            "read the journal",
            lambda c: c.execute("SELECT max(seq) FROM enictl_journal").fetchone()[0],
        )

    def last_applied(self) -> Snapshot | None:
        def read(conn: Any) -> lastapplied.LastApplied | None:
            row = conn.execute(
                "SELECT revision FROM enictl_last_applied WHERE name = 'state'"
            ).fetchone()
            if row is None:
                return None
            if self._applied is not None and self._applied[0] == row[0]:
                return self._applied[1]
            row = conn.execute(
                "SELECT revision, document FROM enictl_last_applied WHERE name = 'state'"
            ).fetchone()
            found = lastapplied.decode(row[1]) if row is not None else None
            if found is not None:
                self._applied = (int(row[0]), found)
            return found

        found = self._query("read the last-applied record", read)
        return None if found is None else found.resources

    def record_applied(self, desired: Topology, *, manifests_digest: str) -> None:
        held = self._held()
        text, found = lastapplied.encode(desired, manifests_digest=manifests_digest)
        fence = {"epoch": held.epoch, "lock_id": held.holder.lock_id, "document": text}
        row = self._query(
            "write the last-applied record", lambda c: c.execute(RECORD, fence).fetchone()
        )
        if row is None:
            held.taken(*self._query("read the lease", leasing.current)[:2])
        self._applied = (int(row[0]), found)

    def close(self) -> None:
        if self._lease is not None:
            self._lease.release()
        for conn in (self._work, self._listener):
            if conn is not None:
                conn.close()
        self._work = self._listener = None


class PgJournal:
    """The journal table, written as the holder of `held` (`journal.Book`)."""

    def __init__(self, backend: PostgresBackend, held: leasing.Lease) -> None:
        self.backend = backend
        self.held = held

    def append(self, record: dict[str, Any], *, durable: bool = True) -> None:
        record = {**record, "t": round(time.time(), 3)}
        params = {
            "epoch": self.held.epoch,
            "lock_id": self.held.holder.lock_id,
            "run": str(record.get("run", "")),
            "kind": str(record["type"]),
            "record": json.dumps(record, sort_keys=True, separators=(",", ":")),
        }
        sql = APPEND if durable else APPEND_RELAXED
        try:
            row = self.backend._query(
                "write the apply journal", lambda c: c.execute(sql, params).fetchone()
            )
        except StateError as exc:
            raise StepFailed("StateBackendUnavailable", f"{exc}; no cloud call followed") from None
        if row is None:
            self.held.taken(*self.backend._query("read the lease", leasing.current)[:2])

    def unfinished(self) -> list[UnfinishedRun]:
        rows = self.backend._query(
            "read the apply journal", lambda c: c.execute(UNFINISHED).fetchall()
        )
        return unfinished_runs(row[0] for row in rows)

    def begin_run(self, plan_digest: str, *, steps: int, kind: str = "apply") -> RunJournal:
        self._trim()
        return start_run(self, plan_digest, steps=steps, kind=kind)

    def _trim(self) -> None:
        """Forget the oldest records of finished runs once the table holds 2 x KEEP_ROWS."""

        def trim(conn: Any) -> None:
            low, high = conn.execute("SELECT min(seq), max(seq) FROM enictl_journal").fetchone()
            if low is None or high - low < 2 * KEEP_ROWS:
                return
            fence = {"epoch": self.held.epoch, "lock_id": self.held.holder.lock_id}
            conn.execute(TRIM, {**fence, "below": high - KEEP_ROWS})

        self.backend._query("trim the apply journal", trim)

    def close(self) -> None:
        return None
