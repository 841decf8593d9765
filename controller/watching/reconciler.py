"""One reconcile of `enictl watch`: desired state in, a `ReconcileResult` out.

    load (or reuse) desired -> controller.apply.converge (the lock, recovery,
        observe, plan, execute unless detect-only, verify, record) -> result

The sequence is the one `enictl apply` runs, so both commands behave alike; a
reconcile only brings its own hooks (a cached plan, no prompt, detect-only holds
the changes, the journal is checked only when it changed) and tells the outcome as
a `ReconcileResult`.

- Invalid manifests: the errors go into the result, the last good desired state is
  kept (its digest is reported), and nothing is reconciled: the cloud is not touched.
- On the state dir the lock is held for one reconcile only, so `enictl apply` can
  run between two. On a shared backend (PostgreSQL) replicas elect a leader
  (`controller.watching.leadership`): the leader keeps the lease between reconciles,
  the others stand by without a cloud call; every result says the role and epoch.
- With --prune, an orphan is deleted only once it has been an orphan for
  --prune-grace seconds across reconciles (`watching.grace`), so a manifest file that
  is briefly empty, missing or half-written while it is saved never deletes anything.
- An idle interval is cheap: the desired source re-reads only the files that
  changed, and when the manifests digest and the observed fingerprint are those of
  the last plan, that plan is reused instead of planning again (the planner is
  deterministic: same inputs, same plan).
- Stopping (the `stop` event, set by SIGINT/SIGTERM) lets the steps in flight
  finish and starts no new one; the lock is released on the way out.
- Provider errors, a held lock and a reconcile that does not converge are
  `Outcome.FAILED`, which the loop retries with backoff; so is an unexpected
  exception (reported as an internal error): a long-running loop never dies of one.
- The last applied state (`controller.storage.lastapplied`, for drift labels) is written
  after a reconcile that ends in sync, once per manifests digest, never in
  detect-only mode. The journal is checked for a crashed run only when it changed.
- Failover (SPEC 4a): `health_changed()` is the loop's probe between reconciles: one
  listing of server statuses, compared with those the last reconcile planned from;
  a change (or the end of a failover hold-down) is the moment of detection. Each
  failover move a reconcile makes is reported as a `failover` event (interface, from,
  to, reason, seconds from detection to the ENI attached on its new server), also in
  the result (`failovers`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from controller import apply
from controller.apply import Desired
from controller.errors import EnictlError, LeaseLost, ManifestError
from controller.events import Event, Kind, OnEvent
from controller.execution import executor
from controller.execution.retry import Waits
from controller.model import DEFAULT_OWNER, Topology
from controller.plan import DEFAULT_PRUNE_LIMIT, Plan
from controller.planning import drift, planner
from controller.providers.base import Provider
from controller.storage.backend import StateBackend
from controller.storage.statedir import StateDirBackend
from controller.watching import grace
from controller.watching.leadership import Leadership, Seat
from controller.watching.loop import Outcome, ReconcileResult, Role, Trigger


class DesiredSource(Protocol):
    """Loads the manifests, reusing what did not change since the last load."""

    def load(self) -> Desired:
        """The desired state; raises `ManifestError` when the manifests are invalid."""
        ...

    @property
    def reread(self) -> int:
        """How many files the last `load()` parsed again."""
        ...


@dataclass(frozen=True, slots=True)
class ReconcileOptions:
    detect_only: bool = False
    prune: bool = False
    prune_limit: int = DEFAULT_PRUNE_LIMIT  # a plan deleting more ENIs is rejected
    prune_grace: float = grace.DEFAULT_SECONDS  # an orphan is pruned once it is this old
    owner: str = DEFAULT_OWNER  # whose manifests these are (`controller.owners`)
    parallelism: int = 10
    lock_timeout: float = 0.0
    server_ready_timeout: float = executor.SERVER_READY_TIMEOUT
    waits: Waits = field(default_factory=Waits)  # transient retries and job polls
    standby_wait: float = 5.0  # seconds a standby replica waits for the lease per reconcile


@dataclass
class Reconciler:
    """The `Reconcile` callable of the watch loop, bound to a state dir and a cloud."""

    state_dir: Path
    desired: DesiredSource
    open_provider: Callable[[], Provider]
    options: ReconcileOptions = ReconcileOptions()
    stop: threading.Event = field(default_factory=threading.Event)
    on_event: OnEvent | None = None
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    last_good: Desired | None = None
    _provider: Provider | None = None
    _last_plan: tuple[tuple[str, str, frozenset[str] | None], apply.Prepared] | None = None
    _recorded_digest: str = ""
    backend: StateBackend | None = None  # default: the state dir's files
    _journal_seen: object = None
    _grace: grace.PruneGrace | None = None
    _health: dict[str, str] | None = None  # server statuses the last plan was made from
    _recheck_at: float | None = None  # wall time a failover hold-down of that plan ends
    _detected: float | None = None  # when the probe saw the change (self.clock)
    leadership: Leadership = field(init=False)

    def __post_init__(self) -> None:
        if self.backend is None:
            self.backend = StateDirBackend(self.state_dir)
        self.leadership = Leadership(self.backend, self.options.standby_wait, self.stop)

    @property
    def store(self) -> StateBackend:
        assert self.backend is not None
        return self.backend

    def __call__(self, trigger: Trigger, changed: frozenset[str]) -> ReconcileResult:
        began, t0 = self.wall(), self.clock()
        self._health = None  # no probe until this reconcile has planned (as the leader)

        seat = Seat(Role.STANDBY)

        def result(outcome: Outcome, **fields: Any) -> ReconcileResult:
            fields.setdefault("manifests_digest", self.last_good.digest if self.last_good else "")
            fields.setdefault("role", seat.role)
            fields.setdefault("epoch", seat.epoch)
            fields.setdefault("leader", seat.leader)
            return ReconcileResult(
                time=began,
                trigger=trigger,
                outcome=outcome,
                duration=self.clock() - t0,
                files_reread=self.desired.reread,
                **fields,
            )

        try:
            seat = self.leadership.claim()
        except EnictlError as exc:
            return result(Outcome.FAILED, error="; ".join(_strip(exc.error_lines())))
        if seat.role is Role.STANDBY:
            self._drop_provider()
            return result(Outcome.STANDBY)
        try:
            desired = self.desired.load()
        except ManifestError as exc:
            lines = tuple(_strip(exc.error_lines()))
            count = f"{len(lines)} problem{'' if len(lines) == 1 else 's'}"
            error = f"invalid manifests ({count}): nothing is reconciled until they are fixed"
            return result(Outcome.INVALID, problems=lines, error=error)
        self.last_good = desired
        try:
            return self._converge(desired, seat, result)
        except LeaseLost as exc:
            self._drop_provider()
            self.leadership.resign()
            return result(Outcome.FAILED, role=Role.STANDBY, error=exc.message)
        except EnictlError as exc:
            self._drop_provider()
            return result(Outcome.FAILED, error="; ".join(_strip(exc.error_lines())))
        except Exception as exc:  # a long-running loop reports a bug and retries, never dies
            self._drop_provider()
            return result(Outcome.FAILED, error=f"internal error: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Stop: drop the provider and resign the lease (a standby takes over at once)."""
        try:
            self._drop_provider()
        finally:
            self.leadership.resign()

    def health_changed(self) -> bool:
        """The loop's probe: whether a server's status differs from the statuses the last
        plan was made from (one listing call), or a failover hold-down has ended. A
        failing listing says no: the next reconcile meets the failure. A replica that
        does not lead makes no call."""
        if self._health is None or (self.store.shared and not self.leadership.leading):
            return False
        if self._recheck_at is not None and self.wall() >= self._recheck_at:
            self._detected = self.clock()
            return True
        try:
            statuses = dict(self._open().server_statuses())
        except EnictlError:
            self._drop_provider()
            return False
        if statuses != self._health:
            self._detected = self.clock()
            return True
        return False

    def _converge(
        self, desired: Desired, seat: Seat, result: Callable[..., ReconcileResult]
    ) -> ReconcileResult:
        """One pass of the apply sequence (`controller.apply.converge`), told as a result."""
        hooks = apply.Hooks(
            plan=lambda observed: self._plan(desired, observed),
            record=self._record,
            confirm=lambda prepared: not self.options.detect_only,
            should_recover=self._journal_changed,
        )
        detected = self._detected if self._detected is not None else self.clock()
        self._detected = None
        attached: dict[str, float] = {}  # interface -> when its attach job succeeded

        def on_event(found: Event) -> None:
            if found.kind is Kind.ATTACHED:
                attached[str(found.get("interface"))] = self.clock()
            if self.on_event is not None:
                self.on_event(found)

        settings = apply.Settings(
            command="enictl watch",
            kind="watch",
            parallelism=self.options.parallelism,
            lock_timeout=self.options.lock_timeout,
            server_ready_timeout=self.options.server_ready_timeout,
            waits=self.options.waits,
        )
        outcome = apply.converge(
            self.store,
            self._open,
            hooks,
            settings=settings,
            on_event=on_event,
            stop=self.stop,
            held=seat.held,
        )
        self._journal_seen = self.store.journal_mark()
        plan = outcome.prepared.plan
        after = outcome.remaining
        self._health = {n: s.status for n, s in outcome.prepared.observed.servers.items()}
        self._recheck_at = (after or plan).recheck_at
        failovers = self._failovers(plan, attached, detected)
        base: dict[str, Any] = {
            "manifests_digest": desired.digest,
            "observed_fingerprint": (after or plan).observed_fingerprint,
            "changes": _count(plan),
            "summary": _summary(plan),
            "violations": plan.violations,
            "drift": drift.drifted(plan.changes),
            "in_sync": outcome.in_sync,
            "failovers": failovers,
            "placements": (after or plan).failover,
        }
        if outcome.result is not None:
            base["applied"] = len(outcome.result.done)
        if self.options.prune:
            base["in_grace"] = self._orphans().waiting()
        status = outcome.status
        if status is apply.Status.REJECTED:
            return result(Outcome.REJECTED, error=plan.rejection(), **base)
        if status is apply.Status.HELD:
            return result(Outcome.DRIFT, **base)
        if status is apply.Status.FAILED and outcome.result is not None and not outcome.result.ok:
            return result(Outcome.FAILED, error=_one_line(outcome.failure()), **base)
        if status is apply.Status.FAILED:
            assert after is not None
            message = f"did not converge: {_count(after)} change(s) still needed"
            return result(Outcome.FAILED, error=message, **base)
        return result(OUTCOMES[status], **base)

    def _failovers(
        self, plan: Plan, attached: dict[str, float], detected: float
    ) -> tuple[dict[str, Any], ...]:
        """A `failover` event for each failover move whose ENI got attached."""
        out = []
        for found in plan.failover:
            if not found.moves or found.interface not in attached:
                continue
            fields = {
                "interface": found.interface,
                "from": found.current,
                "to": found.server,
                "reason": found.reason,
                "seconds": round(attached[found.interface] - detected, 3),
            }
            out.append(fields)
            if self.on_event is not None:
                self.on_event(Event(Kind.FAILOVER, fields))
        return tuple(out)

    def _journal_changed(self) -> bool:
        """Whether a crashed run may need finishing: skipped while the journal is unchanged."""
        seen = self.store.journal_mark()
        return seen is None or seen != self._journal_seen

    def _plan(self, desired: Desired, observed: Topology) -> apply.Prepared:
        """Plan, or reuse the last plan when the manifests, the cloud and the orphans
        past their --prune-grace are those it was made from (the planner is
        deterministic) and no hold-down of the failover policy has ended since
        (`Plan.recheck_at`). With --prune, the orphans the plan saw start (or keep) their
        grace period (`watching.grace`)."""
        prune = self.options.prune
        prunable = self._orphans().prunable(observed) if prune else None
        key = (desired.digest, planner.observed_fingerprint(observed), prunable)
        last = self._last_plan
        if (
            last is not None
            and last[0] == key
            and (last[1].plan.recheck_at is None or self.wall() < last[1].plan.recheck_at)
        ):
            prepared = replace(last[1], observed=observed)
        else:
            prepared = apply.planned(
                desired,
                observed,
                prune=prune,
                prune_limit=self.options.prune_limit,
                prunable=prunable,
                owner=self.options.owner,
                backend=self.store,
                now=self.wall(),
            )
            self._last_plan = (key, prepared)
        if prune:
            self._orphans().saw(prepared.plan.orphans, observed)
        return prepared

    def _orphans(self) -> grace.PruneGrace:
        if self._grace is None:
            self._grace = grace.PruneGrace(self.options.prune_grace, self.clock)
        return self._grace

    def _record(self, prepared: apply.Prepared) -> None:
        """Remember what was applied (for drift labels), once per manifests digest."""
        if self.options.detect_only or self._recorded_digest == prepared.manifests_digest:
            return
        apply.record_applied(self.store, prepared)
        self._recorded_digest = prepared.manifests_digest

    def _open(self) -> Provider:
        if self._provider is None:
            self._provider = self.open_provider()
        return self._provider

    def _drop_provider(self) -> None:
        """Forget the provider after a failure: the next reconcile opens a fresh one."""
        if self._provider is not None:
            try:
                self._provider.close()
            finally:
                self._provider = None


OUTCOMES = {
    apply.Status.IN_SYNC: Outcome.IN_SYNC,
    apply.Status.APPLIED: Outcome.APPLIED,
    apply.Status.INTERRUPTED: Outcome.INTERRUPTED,
}


def _count(plan: Plan) -> int:
    """Changes to the cloud: the steps and the markers to set (adoptions, protect)."""
    return len(plan.steps) + len(plan.marks)


def _summary(plan: Plan) -> dict[str, int]:
    counts = {action: n for action, n in plan.summary().items() if n}
    counts.update({verb: n for verb, n in plan.mark_counts().items() if n})
    return counts


def _one_line(error: EnictlError) -> str:
    lines = _strip(error.error_lines())
    return "; ".join(line.strip() for line in lines[:4])


def _strip(lines: list[str]) -> list[str]:
    return [line.removeprefix("error: ") for line in lines]
