"""Which `enictl watch` replica reconciles: one leader per shared state backend.

On a shared backend (PostgreSQL) the lock is a lease, and a replica leads by holding
it for as long as it runs: each reconcile of the leader runs under that one lease
(`apply.converge(..., held=lease)`), renewed in the background. The others stand by:
each of their reconciles waits up to `wait` seconds for the lease (woken at once
when the leader resigns, or when its lease runs out), makes no cloud call, and
reports `standby` with the leader's name. A leader whose lease is lost (it could not
renew, it was frozen, the lease was broken) drops it and becomes a candidate again.

On the state dir (one machine) there is nothing to elect: every reconcile takes the
lock for its own duration, as `enictl apply` does, so an apply can run between two.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from controller.errors import LockHeld
from controller.storage.backend import Held, StateBackend
from controller.watching.loop import Role


@dataclass(frozen=True, slots=True)
class Seat:
    """What this replica is for one reconcile."""

    role: Role
    held: Held | None = None  # the lease to reconcile under (None: take the lock per pass)
    epoch: int = 0
    leader: str = ""  # who leads, when standing by


@dataclass
class Leadership:
    """This replica's claim on the state backend's lease, kept between reconciles."""

    backend: StateBackend
    wait: float = 5.0  # seconds a standby waits for the lease in one reconcile
    stop: threading.Event = field(default_factory=threading.Event)
    command: str = "enictl watch"
    _lease: Held | None = None

    def claim(self) -> Seat:
        """Lead (the held lease), or stand by once `wait` seconds passed without it.
        Raises `StateError` when the backend cannot be reached."""
        if not self.backend.shared:
            return Seat(Role.LEADER)
        if self._lease is not None and self._lease.lost.is_set():
            self.resign()
        if self._lease is None:
            try:
                self._lease = self.backend.acquire(
                    timeout=self.wait, command=self.command, stop=self.stop
                )
            except LockHeld:
                holder = self.backend.holder()
                return Seat(Role.STANDBY, leader=holder.describe() if holder else "")
        return Seat(Role.LEADER, self._lease, self._lease.epoch)

    @property
    def leading(self) -> bool:
        return self._lease is not None and not self._lease.lost.is_set()

    def resign(self) -> None:
        """Give the lease up at once (the next replica takes over in milliseconds)."""
        if self._lease is not None:
            lease, self._lease = self._lease, None
            lease.release()
