"""One reconcile of `enictl watch`: desired state in, a `ReconcileResult` out.

    load (or reuse) desired -> take the lock -> finish a crashed run's jobs
        -> observe -> plan -> if changes and not detect-only: execute (journalled)
        -> observe again -> record the applied state -> result

It uses `controller.apply` for the steps an `enictl apply` shares (recovery, the
journalled run, the failure summary), so both commands behave alike.

- Invalid manifests: the errors go into the result, the last good desired state is
  kept (its digest is reported), and nothing is reconciled: the cloud is not touched.
- The lock is held for one reconcile only, so `enictl apply` can run between two.
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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller import apply
from controller.errors import EnictlError, ManifestError
from controller.execution import executor
from controller.model import Topology
from controller.plan import Plan
from controller.planning import drift, planner
from controller.providers.base import Provider
from controller.storage import journal, lastapplied, lock
from controller.watching.loop import Outcome, ReconcileResult, Trigger

OnEvent = Callable[[dict[str, Any]], None]


class Desired(Protocol):
    """What loading the manifests gives (`controller.manifests.loader.Manifests`)."""

    @property
    def topology(self) -> Topology: ...

    @property
    def digest(self) -> str: ...


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
    parallelism: int = 10
    lock_timeout: float = 0.0
    server_ready_timeout: float = executor.SERVER_READY_TIMEOUT


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
    _last_plan: tuple[tuple[str, str], Plan] | None = None
    _recorded_digest: str = ""
    _journal_seen: tuple[int, int] | None = None

    def __call__(self, trigger: Trigger, changed: frozenset[str]) -> ReconcileResult:
        began, t0 = self.wall(), self.clock()

        def result(outcome: Outcome, **fields: Any) -> ReconcileResult:
            fields.setdefault("manifests_digest", self.last_good.digest if self.last_good else "")
            return ReconcileResult(
                time=began,
                trigger=trigger,
                outcome=outcome,
                duration=self.clock() - t0,
                files_reread=self.desired.reread,
                **fields,
            )

        try:
            desired = self.desired.load()
        except ManifestError as exc:
            lines = tuple(_strip(exc.error_lines()))
            count = f"{len(lines)} problem{'' if len(lines) == 1 else 's'}"
            error = f"invalid manifests ({count}): nothing is reconciled until they are fixed"
            return result(Outcome.INVALID, problems=lines, error=error)
        self.last_good = desired
        try:
            with lock.acquire(
                self.state_dir, timeout=self.options.lock_timeout, command="enictl watch"
            ):
                return self._locked(desired, result)
        except EnictlError as exc:
            self._drop_provider()
            return result(Outcome.FAILED, error="; ".join(_strip(exc.error_lines())))
        except Exception as exc:  # a long-running loop reports a bug and retries, never dies
            self._drop_provider()
            return result(Outcome.FAILED, error=f"internal error: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._drop_provider()

    # -- under the lock ---------------------------------------------------------

    def _locked(self, desired: Desired, result: Callable[..., ReconcileResult]) -> ReconcileResult:
        provider = self._open()
        self._recover(provider)
        observed = provider.observe()
        fingerprint = planner.observed_fingerprint(observed)
        plan = self._plan(desired, observed, fingerprint)
        base: dict[str, Any] = {
            "manifests_digest": desired.digest,
            "observed_fingerprint": fingerprint,
            "changes": _count(plan),
            "summary": _summary(plan),
            "violations": plan.violations,
            "drift": drift.drifted(plan.changes),
        }
        if not plan.applyable:
            return result(Outcome.REJECTED, in_sync=False, error=_rejected(plan), **base)
        if not plan.has_changes:
            self._record(desired)
            return result(Outcome.IN_SYNC, in_sync=True, **base)
        if self.options.detect_only:
            return result(Outcome.DRIFT, in_sync=False, **base)
        prepared = apply.Prepared(
            plan, desired.topology, observed, desired.digest, self.options.prune, saved=False
        )
        applied = apply.run(
            prepared,
            provider,
            self.state_dir,
            parallelism=self.options.parallelism,
            on_event=self.on_event,
            stop=self.stop,
            kind="watch",
            server_ready_timeout=self.options.server_ready_timeout,
        )
        self._journal_seen = _stat(self._journal_path())
        after = provider.observe()
        base["observed_fingerprint"] = planner.observed_fingerprint(after)
        remaining = self._plan(desired, after, base["observed_fingerprint"])
        base["applied"] = len(applied.done)
        if self.stop.is_set() and not applied.ok and not applied.failed:
            return result(Outcome.INTERRUPTED, in_sync=not remaining.has_changes, **base)
        if not applied.ok:
            failure = apply.failure(applied, remaining)
            return result(Outcome.FAILED, in_sync=False, error=_one_line(failure), **base)
        if remaining.has_changes:
            message = f"did not converge: {_count(remaining)} change(s) still needed"
            return result(Outcome.FAILED, in_sync=False, error=message, **base)
        self._record(desired)
        return result(Outcome.APPLIED, in_sync=True, **base)

    def _recover(self, provider: Provider) -> None:
        """Finish a crashed run's jobs first; skipped while the journal is unchanged."""
        seen = _stat(self._journal_path())
        if seen is not None and seen == self._journal_seen:
            return
        apply.recover(provider, self.state_dir, on_event=self.on_event)
        self._journal_seen = _stat(self._journal_path())

    def _journal_path(self) -> Path:
        return self.state_dir / journal.JOURNAL_FILE

    def _plan(self, desired: Desired, observed: Topology, fingerprint: str) -> Plan:
        key = (desired.digest, fingerprint)
        if self._last_plan is not None and self._last_plan[0] == key:
            return self._last_plan[1]
        plan = planner.plan(
            desired.topology,
            observed,
            prune=self.options.prune,
            manifests_digest=desired.digest,
        )
        if plan.has_changes:
            plan = drift.label_plan(
                plan, desired.topology, lastapplied.load_snapshot(self.state_dir)
            )
        self._last_plan = (key, plan)
        return plan

    def _record(self, desired: Desired) -> None:
        """Remember what was applied (for drift labels), once per manifests digest."""
        if self.options.detect_only or self._recorded_digest == desired.digest:
            return
        lastapplied.record(self.state_dir, desired.topology, manifests_digest=desired.digest)
        self._recorded_digest = desired.digest

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


def _count(plan: Plan) -> int:
    """Changes to the cloud: the steps, the ENIs to adopt (tag as managed) and the
    protect markers to set."""
    return len(plan.steps) + len(plan.adopt) + len(plan.protect)


def _summary(plan: Plan) -> dict[str, int]:
    counts = {action: n for action, n in plan.summary().items() if n}
    if plan.adopt:
        counts["adopt"] = len(plan.adopt)
    if plan.protect:
        counts["protect"] = len(plan.protect)
    return counts


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _one_line(error: EnictlError) -> str:
    lines = _strip(error.error_lines())
    return "; ".join(line.strip() for line in lines[:4])


def _strip(lines: list[str]) -> list[str]:
    return [line.removeprefix("error: ") for line in lines]


def _rejected(plan: Plan) -> str:
    errors = sum(1 for v in plan.violations if v.severity.value == "error")
    return f"plan rejected: {errors} violation{'' if errors == 1 else 's'}"
