"""What a running `enictl watch` knows about itself, for its endpoints to tell.

The loop writes, the HTTP threads read. A `Board` holds one frozen `Snapshot` (the
last reconcile and the last successful one, the desired topology it reconciled to, the
cloud as the last observation saw it, where the last plan placed each failover ENI and
the latest failover moves, the apply in flight, whether the process is stopping) and
replaces it whole on every change, so a reader takes `board.snapshot` once and sees
one consistent moment without a lock; writers (the loop, the executor's workers)
take a short lock among themselves.

Readiness is decided here, once: a replica is ready when it leads and its last
reconcile succeeded (the cloud was seen and matches, was made to match, or, in
detect-only mode, its differences were reported). Anything else is not ready, with
the reason in one line: no reconcile yet, standing by behind another leader, a failed
reconcile and its error, a rejected plan, invalid manifests, stopping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from controller.events import Event, Kind
from controller.model import DEFAULT_OWNER, Topology
from controller.plan import Failover
from controller.watching.loop import Outcome, ReconcileResult, Role


@dataclass(frozen=True, slots=True)
class About:
    """The process the endpoints describe (never a credential: the backend is described
    without its password)."""

    version: str
    provider: str
    backend: str
    paths: tuple[str, ...]
    interval: float
    detect_only: bool = False
    prune: bool = False
    owner: str = DEFAULT_OWNER
    pid: int = 0
    host: str = ""


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Applying:
    """An apply in progress (from the executor's events): how far it got."""

    started: float  # wall clock
    steps: int
    done: int = 0
    failed: int = 0
    last: str = ""  # the last step that ended: "detach eni-svc web-1: done"


@dataclass(frozen=True, slots=True)
class FailoverMove:
    """One failover move a reconcile made (its `failover` event), and when it ended."""

    ended: float  # wall clock of the reconcile's end
    interface: str
    source: str | None
    target: str | None
    reason: str
    seconds: float | None  # from detection to attached

    @classmethod
    def of(cls, ended: float, fields: Mapping[str, Any]) -> FailoverMove:
        """From a `failover` event's fields (interface, from, to, reason, seconds)."""
        seconds = fields.get("seconds")
        return cls(
            ended=ended,
            interface=str(fields.get("interface", "")),
            source=fields.get("from"),
            target=fields.get("to"),
            reason=str(fields.get("reason", "")),
            seconds=None if seconds is None else float(seconds),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent moment of a watch, as its endpoints show it."""

    about: About
    started: float  # wall clock
    serial: int = 0  # grows with every change but an apply's progress: a renderer caches by it
    reconciles: int = 0
    last: ReconcileResult | None = None
    last_success: ReconcileResult | None = None
    desired: Topology | None = None  # the manifests the last good load gave
    observed: Topology | None = None  # the cloud as the last observation saw it
    observed_at: float = 0.0  # wall clock of that observation
    stopping: bool = False
    placements: tuple[Failover, ...] = ()  # each failover ENI, as the last plan placed it
    failovers: tuple[FailoverMove, ...] = ()  # the latest moves, newest last
    applying: Applying | None = None  # the apply of the reconcile in flight, if any

    @property
    def leading(self) -> bool:
        last = self.last
        return last is not None and last.role is Role.LEADER and last.outcome is not Outcome.STANDBY

    def readiness(self) -> Readiness:
        """Ready when this replica leads and its last reconcile succeeded."""
        last = self.last
        if self.stopping:
            return Readiness(False, "stopping: the steps in flight finish, no new one starts")
        if last is None:
            return Readiness(False, "starting: no reconcile has finished yet")
        if last.outcome is Outcome.STANDBY:
            return Readiness(False, f"standby: {last.leader or 'another replica'} leads")
        if last.role is Role.STANDBY:
            return Readiness(False, f"standby: the lease was lost: {last.error}")
        if last.succeeded:
            lead = f"leader, epoch {last.epoch}" if last.epoch else "leader"
            return Readiness(True, f"ready: {lead}; last reconcile {last.outcome.value}")
        return Readiness(False, _why_not(last))


def _why_not(last: ReconcileResult) -> str:
    if last.outcome is Outcome.INVALID:
        return f"manifests invalid: {last.error}"
    if last.outcome is Outcome.REJECTED:
        return f"plan rejected: {last.error}"
    if last.outcome is Outcome.INTERRUPTED:
        return "stopping: interrupted between two steps"
    return f"last reconcile failed: {last.error or 'no reason given'}"


KEEP_FAILOVERS = 20  # the status page lists this many of the latest failover moves


class Board:
    """The watch's latest `Snapshot`, replaced whole on every change."""

    def __init__(self, about: About, *, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self._snapshot = Snapshot(about=about, started=wall())

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def record(self, result: ReconcileResult, desired: Topology | None) -> None:
        """A reconcile ended; `desired` is the topology of the last manifests that loaded."""
        moves = tuple(FailoverMove.of(result.time + result.duration, f) for f in result.failovers)
        with self._lock:
            s = self._snapshot
            self._snapshot = replace(
                s,
                serial=s.serial + 1,
                reconciles=s.reconciles + 1,
                last=result,
                last_success=result if result.succeeded else s.last_success,
                desired=desired if desired is not None else s.desired,
                # a reconcile that planned nothing (a failure, a standby) leaves them
                placements=result.placements if result.in_sync is not None else s.placements,
                failovers=(*s.failovers, *moves)[-KEEP_FAILOVERS:],
                applying=None,
            )

    def event(self, event: Event) -> None:
        """Follow the apply in flight (called from the executor's worker threads too)."""
        kind = event.kind
        if kind not in (Kind.APPLY_STARTED, Kind.STEP_DONE, Kind.STEP_FAILED):
            return
        with self._lock:
            s = self._snapshot
            if kind is Kind.APPLY_STARTED:
                applying: Applying | None = Applying(self._wall(), int(event.get("steps", 0)))
            elif s.applying is None:
                return
            else:
                ok = kind is Kind.STEP_DONE
                what = " ".join(
                    str(event.get(k)) for k in ("action", "interface", "server") if event.get(k)
                )
                applying = replace(
                    s.applying,
                    done=s.applying.done + ok,
                    failed=s.applying.failed + (not ok),
                    last=f"{what}: {'done' if ok else 'failed'}",
                )
            self._snapshot = replace(s, applying=applying)  # the serial stays: see Snapshot

    def observed(self, topology: Topology) -> None:
        """The reconcile observed the cloud (called by the metered provider)."""
        with self._lock:
            s = self._snapshot
            self._snapshot = replace(
                s, serial=s.serial + 1, observed=topology, observed_at=self._wall()
            )

    def stopping(self) -> None:
        """The process was asked to stop: not ready any more."""
        with self._lock:
            s = self._snapshot
            self._snapshot = replace(s, serial=s.serial + 1, stopping=True)
