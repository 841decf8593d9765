"""The state backend: where the lock, the apply journal and the last-applied record live.

    controller.storage.open_backend(url, state_dir) -> StateBackend
        ""                  the state dir (default): `flock`, journal.jsonl,
                            last-applied.json; one machine (`controller.storage.statedir`)
        postgresql://...    a PostgreSQL database shared by every machine that manages
                            the same cloud (`controller.storage.postgresql`)

Both give a `Held` lock from `acquire()`; while it is held the backend's journal and
last-applied writes are this holder's. On the state dir the lock is the kernel's and
lasts as long as the process. On PostgreSQL it is a lease: a row timed by the
database's clock with an epoch counter, renewed in the background; a holder that
could not renew for `LeaseTimings.renew_deadline` seconds of its own monotonic clock,
or whose lease another process took, is `lost`, and every check raises `LeaseLost`.
Every journal write there is a compare-and-swap on the holder's epoch, so a stale
holder's writes change nothing; `controller.storage.fencing` checks the lease before
every cloud call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from controller.errors import UsageError
from controller.model import Topology
from controller.planning.drift import Snapshot
from controller.storage.journal import Book
from controller.storage.lock import Holder

LEASE_ENV = "ENICTL_LEASE_TTL"


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    """A lease's times, in seconds: it lasts `ttl` from each renewal (by the database's
    clock); its holder renews every `renew_every` and stops before its next cloud call
    once `renew_deadline` passed since the last renewal it saw succeed (by its own
    clock). The defaults are controller-runtime's leader election (15 s, 10 s) with a
    renewal every 5 s, so two renewals may fail before the holder stops, and it stops
    5 s before anyone else may take over."""

    ttl: float = 15.0
    renew_every: float = 5.0
    renew_deadline: float = 10.0

    @classmethod
    def scaled(cls, ttl: float) -> LeaseTimings:
        """The default proportions for another TTL (renew at 1/3, stop at 2/3)."""
        return cls(ttl=ttl, renew_every=ttl / 3, renew_deadline=ttl * 2 / 3)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LeaseTimings:
        """ENICTL_LEASE_TTL=SECONDS (default 15; renewals and the deadline scale with it)."""
        raw = (env if env is not None else os.environ).get(LEASE_ENV, "").strip()
        if not raw:
            return cls()
        try:
            ttl = float(raw)
        except ValueError:
            raise UsageError(f"{LEASE_ENV} must be a number of seconds, got {raw!r}") from None
        if not 0.3 <= ttl <= 3600:
            raise UsageError(f"{LEASE_ENV} must be between 0.3 and 3600 seconds, got {raw}")
        return cls.scaled(ttl)


class Held(Protocol):
    """A held lock (or lease), until `release()`."""

    @property
    def holder(self) -> Holder: ...

    @property
    def epoch(self) -> int:
        """The lease's epoch (one more at every takeover); 0 for a file lock."""
        ...

    @property
    def lost(self) -> threading.Event:
        """Set once this process no longer holds the lock."""
        ...

    def check(self) -> None:
        """Raise `LeaseLost` when the lock is lost or could not be renewed in time (no I/O)."""
        ...

    def confirm(self) -> None:
        """`check()`, then ask the backend (before a call that changes the cloud)."""
        ...

    def release(self) -> None:
        """Give the lock up at once (idempotent)."""
        ...


class StateBackend(Protocol):
    """The lock, the journal and the last-applied record of one managed cloud."""

    @property
    def shared(self) -> bool:
        """True when several machines share it: the lock is a lease, and `watch` leads
        by holding it while it runs (on the state dir: for one reconcile at a time)."""
        ...

    def describe(self) -> str:
        """Where it is, for messages (`state dir .enictl`, `postgresql://u@h:5432/db`)."""
        ...

    def acquire(
        self, *, timeout: float = 0.0, command: str = "", stop: threading.Event | None = None
    ) -> Held:
        """Take the lock; wait up to `timeout` seconds (or until `stop`), then raise
        `LockHeld` naming the holder."""
        ...

    def holder(self) -> Holder | None:
        """Who holds the lock now (None: nobody)."""
        ...

    def force_unlock(self, lock_id: str) -> Holder:
        """Break the lock whose id is `lock_id`; the holder it named."""
        ...

    def journal(self) -> Book:
        """The journal, open for the current holder of the lock."""
        ...

    def journal_mark(self) -> object:
        """A value that changes whenever the journal does (cheap to get)."""
        ...

    def last_applied(self) -> Snapshot | None:
        """The resources last applied (`planning.drift`), or None."""
        ...

    def record_applied(self, desired: Topology, *, manifests_digest: str) -> None:
        """Remember `desired` as applied (the current holder of the lock only)."""
        ...

    def close(self) -> None: ...
