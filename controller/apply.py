"""One `enictl apply`, as a library: what the CLI calls between parsing and rendering.

    with lock.acquire(state_dir):
        recover(...)                      finish a crashed run's jobs (execution.recovery)
        prepare(...) / prepare_saved(...)  observe, then plan, or check a saved plan is fresh
        run(...)                          execute with the journal (execution.executor)
        verify(...)                       observe again and re-plan: nothing left to do?

Every function here takes its collaborators (provider, state dir, event sink) as
arguments; nothing reads the terminal or the environment.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.errors import EnictlError
from controller.execution import executor, recovery
from controller.execution.executor import OnEvent
from controller.execution.results import ApplyResult
from controller.execution.retry import DurationEstimator, Patience, Waits
from controller.model import Topology
from controller.plan import Plan, Step
from controller.providers.base import Provider
from controller.storage import journal, savedplan


class ApplyFailed(EnictlError):
    """Some steps failed or did not start, or the cloud does not match afterwards."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = tuple(details)

    def error_lines(self) -> list[str]:
        return [f"error: {self}", *(f"  {line}" for line in self.details)]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A plan ready to run, with what it was made from."""

    plan: Plan
    desired: Topology
    observed: Topology
    manifests_digest: str
    prune: bool
    saved: bool  # from `--plan FILE` (reviewed already: no confirmation)


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
    state_dir: Path,
    *,
    on_event: OnEvent | None = None,
    settle: float | None = None,
    waits: Waits | None = None,
) -> recovery.Recovery | None:
    """Finish any run a crashed apply left in the state dir's journal."""
    book = journal.Journal.open(state_dir)
    try:
        return recovery.recover(
            provider, book, patience=patience(waits=waits), on_event=on_event, settle=settle
        )
    finally:
        book.close()


def prepare(
    provider: Provider,
    paths: Sequence[str],
    *,
    prune: bool,
    state_dir: Path | None = None,
    waits: Waits | None = None,
) -> Prepared:
    """Load the manifests, observe, plan (labelling drift when `state_dir` has a record)."""
    from controller.manifests import loader
    from controller.planning import drift, planner
    from controller.storage import lastapplied

    loaded = loader.load(list(paths))
    observed = observe(provider, patience(waits=waits))
    plan = planner.plan(loaded.topology, observed, prune=prune, manifests_digest=loaded.digest)
    if state_dir is not None:
        plan = drift.label_plan(plan, loaded.topology, lastapplied.load_snapshot(state_dir))
    return Prepared(plan, loaded.topology, observed, loaded.digest, prune, saved=False)


def prepare_saved(provider: Provider, plan_file: str, waits: Waits | None = None) -> Prepared:
    """Load a saved plan and check, before anything runs, that it is not stale."""
    from controller.manifests import loader
    from controller.planning import planner

    saved = savedplan.load(plan_file)
    loaded = loader.load(list(saved.manifest_paths))
    observed = observe(provider, patience(waits=waits))
    savedplan.check_fresh(saved, loaded.digest, planner.observed_fingerprint(observed))
    return Prepared(saved.plan, loaded.topology, observed, loaded.digest, saved.prune, saved=True)


def run(
    prepared: Prepared,
    provider: Provider,
    state_dir: Path,
    *,
    parallelism: int = 10,
    on_event: OnEvent | None = None,
    stop: threading.Event | None = None,
    kind: str = "apply",
    server_ready_timeout: float = executor.SERVER_READY_TIMEOUT,
    waits: Waits | None = None,
) -> ApplyResult:
    """Execute the plan, journalling every step and job id under the state dir; a step
    waits up to `server_ready_timeout` seconds for a server that is not ready, and
    retries and polls as `waits` says."""
    waits = waits or Waits()
    book = journal.Journal.open(state_dir)
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
        manifests_digest=prepared.manifests_digest,
    )


def record_applied(state_dir: Path, prepared: Prepared) -> None:
    """Remember the applied desired state (for drift labels in later plans)."""
    from controller.storage import lastapplied

    lastapplied.record(state_dir, prepared.desired, manifests_digest=prepared.manifests_digest)


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
