"""One apply, as a library: the sequence `enictl apply` and every `watch` reconcile run.

    converge(backend, open_provider, Hooks(...), settings=...):
        with backend.acquire(...):  the lock, or the lease (storage.backend)
            recover(...)        finish a crashed run's jobs (execution.recovery)
            observe(...)        the cloud, transient errors retried
            hooks.plan(...)     plan, or check that a saved plan is fresh
            hooks.show(...)     the CLI renders the plan
            -> rejected | in sync (record) | hooks.confirm(...) says no
            run(...)            execute with the journal (execution.executor)
            verify(...)         observe again and re-plan: nothing left to do?
            record(...)         remember what was applied (drift labels)

`converge` is the one place this order lives; the CLI and the watch reconciler
differ only in their `Hooks` (how they plan, whether they ask, what they show) and
in how they report the `Outcome`. Every function takes its collaborators (provider,
state backend, event sink) as arguments; nothing reads the terminal or the environment.

While it holds the lock the provider is wrapped in `storage.fencing.FencedProvider`,
so every cloud call is preceded by a lease check; a lease lost mid-run starts no
further step, and the pass ends with `LeaseLost` (the next holder resumes from the
journal). A `watch` leader passes the lease it holds between reconciles (`held`).
"""

from __future__ import annotations

import enum
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from controller.errors import ApplyFailed, LeaseLost
from controller.events import OnEvent
from controller.execution import executor, recovery
from controller.execution.results import ApplyResult
from controller.execution.retry import DurationEstimator, Patience, Waits
from controller.model import DEFAULT_OWNER, Topology
from controller.plan import DEFAULT_PRUNE_LIMIT, Plan, Step
from controller.providers.base import Provider
from controller.storage import fencing, savedplan
from controller.storage.backend import Held, StateBackend


class Desired(Protocol):
    """Loaded manifests (`controller.manifests.loader.Manifests`, or watch's cached copy)."""

    @property
    def topology(self) -> Topology: ...

    @property
    def digest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """A plan ready to run, with what it was made from."""

    plan: Plan
    desired: Topology
    observed: Topology
    manifests_digest: str
    prune: bool
    saved: bool  # from `--plan FILE` (reviewed already: no confirmation)
    prune_limit: int = DEFAULT_PRUNE_LIMIT  # the most ENIs the plan may delete
    prunable: frozenset[str] | None = None  # the orphans --prune may delete (None: all)
    owner: str = DEFAULT_OWNER  # the manifest set's owner (`controller.owners`)


class Status(enum.StrEnum):
    """How one pass of the sequence ended."""

    REJECTED = "rejected"  # the plan breaks a rule: nothing applied
    IN_SYNC = "in-sync"  # nothing to change
    HELD = "held"  # there were changes, and `Hooks.confirm` said not to apply them
    APPLIED = "applied"  # every step ran and the cloud matches the manifests
    FAILED = "failed"  # a step failed or did not start, or the cloud still differs
    INTERRUPTED = "interrupted"  # stopped between steps; nothing failed


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    prepared: Prepared
    result: ApplyResult | None = None  # when steps ran
    remaining: Plan | None = None  # the re-plan after they ran

    @property
    def in_sync(self) -> bool:
        if self.remaining is not None:
            return not self.remaining.has_changes
        return self.status is Status.IN_SYNC

    def failure(self) -> ApplyFailed:
        """The error of a FAILED or INTERRUPTED run."""
        assert self.result is not None
        return failure(self.result, self.remaining)


@dataclass(frozen=True, slots=True)
class Settings:
    command: str = "enictl apply"  # named in the lock's holder record
    kind: str = "apply"  # the journal's run kind
    parallelism: int = 10
    lock_timeout: float = 0.0
    server_ready_timeout: float = executor.SERVER_READY_TIMEOUT
    resume_wait: float | None = None  # see `recovery.recover`'s `settle`
    waits: Waits = field(default_factory=Waits)  # retries and job polls


def _yes(prepared: Prepared) -> bool:
    return True


def _nothing(value: object) -> None:
    return None


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Hooks:
    """What differs between `enictl apply` and a `watch` reconcile."""

    plan: Callable[[Topology], Prepared]  # the observed cloud -> the plan to run
    record: Callable[[Prepared], None]  # the cloud matches: remember what was applied
    show: Callable[[Prepared], None] = _nothing  # the plan, before anything runs
    confirm: Callable[[Prepared], bool] = _yes  # False: stop before any change
    recovered: Callable[[recovery.Recovery], None] = _nothing  # a crashed run was finished
    should_recover: Callable[[], bool] = _always  # False: the journal is known clean


def converge(
    backend: StateBackend,
    open_provider: Callable[[], Provider],
    hooks: Hooks,
    *,
    settings: Settings = Settings(),
    on_event: OnEvent | None = None,
    stop: threading.Event | None = None,
    held: Held | None = None,
) -> Outcome:
    """Lock, recover, observe, plan, run, verify and record: one apply of the manifests.

    With `held` (a lease the caller keeps between passes) no lock is taken or released."""
    if held is not None:
        return _converge(backend, held, open_provider, hooks, settings, on_event, stop)
    taken = backend.acquire(timeout=settings.lock_timeout, command=settings.command, stop=stop)
    try:
        return _converge(backend, taken, open_provider, hooks, settings, on_event, stop)
    finally:
        taken.release()


def _converge(
    backend: StateBackend,
    held: Held,
    open_provider: Callable[[], Provider],
    hooks: Hooks,
    settings: Settings,
    on_event: OnEvent | None,
    stop: threading.Event | None,
) -> Outcome:
    provider = fencing.FencedProvider(open_provider(), held)
    try:
        if hooks.should_recover():
            found = recover(
                provider,
                backend,
                on_event=on_event,
                settle=settings.resume_wait,
                waits=settings.waits,
            )
            if found is not None:
                hooks.recovered(found)
        prepared = hooks.plan(observe(provider, patience(waits=settings.waits)))
        hooks.show(prepared)
        plan = prepared.plan
        if not plan.applyable:
            return Outcome(Status.REJECTED, prepared)
        if not plan.has_changes:
            hooks.record(prepared)
            return Outcome(Status.IN_SYNC, prepared)
        if not hooks.confirm(prepared):
            return Outcome(Status.HELD, prepared)
        result = run(
            prepared,
            provider,
            backend,
            parallelism=settings.parallelism,
            on_event=on_event,
            stop=_Halt(stop, held.lost),
            kind=settings.kind,
            server_ready_timeout=settings.server_ready_timeout,
            waits=settings.waits,
        )
        held.check()  # lost mid-run: no step started since, the next holder resumes
        remaining = verify(provider, prepared, settings.waits)
    except LeaseLost:
        held.check()  # the lease's own account of why, when it knows one
        raise
    if stop is not None and stop.is_set() and not result.ok and not result.failed:
        return Outcome(Status.INTERRUPTED, prepared, result, remaining)
    if not result.ok or remaining.has_changes:
        return Outcome(Status.FAILED, prepared, result, remaining)
    hooks.record(prepared)
    return Outcome(Status.APPLIED, prepared, result, remaining)


class _Halt(threading.Event):
    """The executor's stop: set, or set when the caller's stop is, or the lock is lost
    (the executor only asks `is_set()` between steps)."""

    def __init__(self, *sources: threading.Event | None) -> None:
        super().__init__()
        self._sources = tuple(s for s in sources if s is not None)

    def is_set(self) -> bool:
        return super().is_set() or any(s.is_set() for s in self._sources)


def plan_digest(plan: Plan) -> str:
    """A digest of the plan's JSON, for the journal."""
    text = json.dumps(plan.as_json(), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def patience(seed: int | None = None, waits: Waits | None = None) -> Patience:
    """The retry and poll settings (`waits`, default `Waits()`), with the real clock."""
    waits = waits or Waits()
    return Patience(
        retry=waits.retry,
        poll=waits.poll,
        clock=time.monotonic,
        sleep=time.sleep,
        rng=random.Random(seed),
        estimator=DurationEstimator(),
    )


def observe(provider: Provider, waits: Patience | None = None) -> Topology:
    """The whole cloud; a transient error (throttling) is retried like any other call,
    so that a throttled observation does not fail an apply whose steps all ran."""
    return (waits or patience()).call(provider.observe)


def recover(
    provider: Provider,
    backend: StateBackend,
    *,
    on_event: OnEvent | None = None,
    settle: float | None = None,
    waits: Waits | None = None,
) -> recovery.Recovery | None:
    """Finish any run a crashed (or cut off) holder left in the backend's journal."""
    book = backend.journal()
    try:
        return recovery.recover(
            provider, book, patience=patience(waits=waits), on_event=on_event, settle=settle
        )
    finally:
        book.close()


def planned(
    desired: Desired,
    observed: Topology,
    *,
    prune: bool,
    prune_limit: int = DEFAULT_PRUNE_LIMIT,
    prunable: frozenset[str] | None = None,
    owner: str = DEFAULT_OWNER,
    backend: StateBackend | None = None,
    now: float | None = None,
) -> Prepared:
    """Plan `desired` against `observed` for `owner` at `now` (epoch seconds, default
    the wall clock: the failover policy's hold-downs); with `backend`, its changes are
    labelled as edited manifests or drift (`planning.drift`) from the last-applied
    record there. With `prunable`, --prune deletes only those orphans (watch's
    --prune-grace)."""
    from controller.planning import drift, planner

    plan = planner.plan(
        desired.topology,
        observed,
        prune=prune,
        prune_limit=prune_limit,
        prunable=prunable,
        owner=owner,
        manifests_digest=desired.digest,
        now=time.time() if now is None else now,
    )
    if backend is not None and plan.changes:
        plan = drift.label_plan(plan, desired.topology, backend.last_applied())
    return Prepared(
        plan,
        desired.topology,
        observed,
        desired.digest,
        prune,
        False,
        prune_limit,
        prunable,
        owner,
    )


def prepare(
    provider: Provider,
    paths: Sequence[str],
    *,
    prune: bool,
    prune_limit: int = DEFAULT_PRUNE_LIMIT,
    owner: str = DEFAULT_OWNER,
    backend: StateBackend | None = None,
    waits: Waits | None = None,
) -> Prepared:
    """Load the manifests, observe and plan: `enictl plan`, which takes no lock."""
    from controller.manifests import loader

    loaded = loader.load(list(paths))
    observed = observe(provider, patience(waits=waits))
    return planned(
        loaded,
        observed,
        prune=prune,
        prune_limit=prune_limit,
        owner=owner,
        backend=backend,
    )


def save_plan(prepared: Prepared, path: str | Path, manifest_paths: Sequence[str]) -> Path:
    """Save a plan for `apply --plan`, with the records of its part of the cloud."""
    from controller.planning import planner, scope

    part = planner.part_of_cloud(
        prepared.desired,
        prepared.observed,
        prepared.plan,
        prune=prepared.prune,
        owner=prepared.owner,
    )
    return savedplan.save(
        path,
        prepared.plan,
        manifest_paths=manifest_paths,
        prune=prepared.prune,
        prune_limit=prepared.prune_limit,
        owner=prepared.owner,
        records=scope.records(part),
    )


def still_fresh(saved: savedplan.SavedPlan, desired: Desired, observed: Topology) -> Prepared:
    """A saved plan's inputs planned again, before anything runs: refused when the
    manifests or the plan's part of the cloud changed, or when the file says anything
    the plan made again does not (`savedplan.check`). What runs is the plan made again."""
    from controller.planning import planner, scope

    savedplan.check_manifests(saved, desired.digest)
    prune, owner = saved.prune, saved.owner
    fresh = planned(desired, observed, prune=prune, prune_limit=saved.prune_limit, owner=owner)
    top, plan = desired.topology, fresh.plan

    def part(also: Iterable[str] = ()) -> scope.Scope:
        return planner.part_of_cloud(top, observed, plan, prune=prune, owner=owner, also=also)

    savedplan.check(
        saved,
        changed=scope.changes(saved.records, part(also=saved.records)),
        fresh=plan,
        fresh_records=scope.records(part()),
    )
    return replace(fresh, saved=True)


def run(
    prepared: Prepared,
    provider: Provider,
    backend: StateBackend,
    *,
    parallelism: int = 10,
    on_event: OnEvent | None = None,
    stop: threading.Event | None = None,
    kind: str = "apply",
    server_ready_timeout: float = executor.SERVER_READY_TIMEOUT,
    waits: Waits | None = None,
) -> ApplyResult:
    """Execute the plan, journalling every step and job id in the backend's journal; a
    step waits up to `server_ready_timeout` seconds for a server that is not ready, and
    retries and polls as `waits` says."""
    waits = waits or Waits()
    book = backend.journal()
    try:
        records = book.begin_run(
            plan_digest(prepared.plan), steps=len(prepared.plan.steps), kind=kind
        )
        result = executor.execute(
            prepared.plan,
            provider,
            prepared.observed,
            parallelism=parallelism,
            journal=records,
            on_event=on_event,
            stop=stop,
            server_ready_timeout=server_ready_timeout,
            retry=waits.retry,
            poll=waits.poll,
            owner=prepared.owner,
        )
        records.finish("ok" if result.ok else "failed")
    finally:
        book.close()
    return result


def verify(provider: Provider, prepared: Prepared, waits: Waits | None = None) -> Plan:
    """Observe again and re-plan: the steps still needed (none when the cloud matches)."""
    from controller.planning import planner

    observed = observe(provider, patience(waits=waits))
    return planner.plan(
        prepared.desired,
        observed,
        prune=prepared.prune,
        prune_limit=prepared.prune_limit,
        prunable=prepared.prunable,
        owner=prepared.owner,
        manifests_digest=prepared.manifests_digest,
        now=time.time(),
    )


def record_applied(backend: StateBackend, prepared: Prepared) -> None:
    """Remember the applied desired state (for drift labels in later plans)."""
    backend.record_applied(prepared.desired, manifests_digest=prepared.manifests_digest)


def failure(result: ApplyResult, remaining: Plan | None) -> ApplyFailed:
    """The error that ends a failed apply: what failed, what did not start, what differs."""
    details = [f"failed: {r.line()}" for r in result.failed]
    details += [f"not started: {r.head()} ({r.message})" for r in result.not_started]
    details += [
        f"{'failed' if a.status == 'failed' else 'not started'}: {a.line()}"
        for a in result.adopt_failed
    ]
    broke = bool(result.failed or result.not_started or result.adopt_failed)
    if remaining is not None and remaining.has_changes:
        if broke:
            details.append(
                f"the cloud still differs from the manifests ({_to_go(remaining)} to go); "
                "`enictl plan` shows them, `enictl apply` retries"
            )
        else:
            details += [f"still needed: {_step_line(s)}" for s in remaining.steps]
            details += [f"still needed: adopt {name}" for name in remaining.adopt]
            details += [f"still needed: protect {m.interface}" for m in remaining.protect]
    parts = []
    if result.failed:
        parts.append(f"{len(result.failed)} step(s) failed")
    if result.not_started:
        parts.append(f"{len(result.not_started)} not started")
    if result.adopt_failed:
        parts.append(f"{len(result.adopt_failed)} adoption(s) not done")
    if not parts and remaining is not None and remaining.has_changes:
        parts.append(f"the cloud does not match the manifests: {_to_go(remaining)} still needed")
    return ApplyFailed("apply failed: " + ", ".join(parts), details)


def _to_go(remaining: Plan) -> str:
    """`3 step(s)`, `1 adoption(s)` or `3 step(s) and 1 adoption(s)`."""
    parts = []
    if remaining.steps or not (remaining.adopt or remaining.protect):
        parts.append(f"{len(remaining.steps)} step(s)")
    if remaining.adopt:
        parts.append(f"{len(remaining.adopt)} adoption(s)")
    if remaining.protect:
        parts.append(f"{len(remaining.protect)} protect marker(s)")
    return " and ".join(parts)


def _step_line(step: Step) -> str:
    where = f" on {step.server}" if step.server else ""
    reason = f" ({step.reason})" if step.reason else ""
    return f"step {step.id}: {step.action.value} {step.interface}{where}{reason}"
