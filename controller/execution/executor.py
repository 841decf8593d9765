"""Run a plan's steps against a provider: in dependency order, concurrently, safely.

- A step starts once every step it depends on is done. Up to `parallelism` steps run
  at once, and at most one server job (attach / detach / stop-server) per server: the
  cloud serialises them anyway, and the plan's capacity reasoning assumes it.
- Among ready steps the one heading the longest remaining chain goes first, so the
  makespan stays close to the plan's critical path.
- A failed step (its code and message are the cloud's) stops the steps that depend on
  it, transitively; independent steps run to the end. `ApplyResult` lists the steps
  done, failed and not started.
- Setting `stop` starts no further step; the steps in flight finish.
- First, the plan's markers (`plan.marks`: `managed` on the existing unmanaged ENIs a
  manifest names, `protect` where the cloud's marker differs from the manifest) are
  set, concurrently; each is one idempotent call, retried on transient errors. A
  marker that fails fails the apply like a failed step, but no step depends on it.
  A created ENI's protect marker is set right after its create step instead (which
  fails when the marker cannot be set: the step is retried by the next apply, which
  finds the port by name), so no later prune can delete an ENI declared `protect: true`.

How one step is carried out (ids, deleteOnTermination, jobs, retries, waiting for a
server, the journal) is `controller.execution.steps`.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller.errors import ProviderError, StepFailed
from controller.events import Event, Kind, OnEvent
from controller.execution.results import ApplyResult, MarkResult, StepResult
from controller.execution.retry import (
    Clock,
    DurationEstimator,
    Patience,
    PollPolicy,
    RetryPolicy,
    Sleep,
)
from controller.execution.steps import SERVER_JOBS, StepRunner
from controller.model import DEFAULT_OWNER, Topology
from controller.plan import Action, Mark, Marker, Plan, Step
from controller.providers.base import Provider
from controller.storage.journal import RunJournal

SERVER_READY_TIMEOUT = 300.0  # seconds a step waits for its server to become ready


def priorities(steps: tuple[Step, ...]) -> dict[int, float]:
    """Each step's longest remaining chain (a job counts 1, a synchronous call 0.1)."""
    by_id = {s.id: s for s in steps}
    dependents: dict[int, list[int]] = {s.id: [] for s in steps}
    for s in steps:
        for d in s.depends_on:
            if d in dependents:
                dependents[d].append(s.id)
    level: dict[int, float] = {}
    order = _topological(steps)
    for sid in reversed(order):
        weight = 1.0 if by_id[sid].action in SERVER_JOBS else 0.1
        level[sid] = weight + max((level[d] for d in dependents[sid]), default=0.0)
    return level


def _topological(steps: tuple[Step, ...]) -> list[int]:
    ids = {s.id for s in steps}
    indegree = {s.id: sum(1 for d in s.depends_on if d in ids) for s in steps}
    dependents: dict[int, list[int]] = {s.id: [] for s in steps}
    for s in steps:
        for d in s.depends_on:
            if d in ids:
                dependents[d].append(s.id)
    queue = sorted(i for i, n in indegree.items() if n == 0)
    order: list[int] = []
    while queue:
        sid = queue.pop()
        order.append(sid)
        for d in dependents[sid]:
            indegree[d] -= 1
            if indegree[d] == 0:
                queue.append(d)
    if len(order) != len(steps):
        raise ValueError("the plan's dependencies form a cycle")
    return order


class _Execution:
    """One run of one plan. Scheduling happens on the calling thread; steps on a pool."""

    def __init__(
        self,
        plan: Plan,
        provider: Provider,
        observed: Topology,
        *,
        parallelism: int,
        journal: RunJournal | None,
        on_event: OnEvent | None,
        patience: Patience,
        server_ready_timeout: float,
        stop: threading.Event | None = None,
        owner: str = DEFAULT_OWNER,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.plan = plan
        self.stop = stop
        self.parallelism = max(1, parallelism)
        self.journal = journal
        self._on_event = on_event
        self.patience = patience
        self.steps = {s.id: s for s in plan.steps}
        self.priority = priorities(plan.steps)
        self.results: dict[int, StepResult] = {}
        self.marked: dict[Mark, MarkResult] = {}
        created = {s.interface for s in plan.steps if s.action is Action.CREATE or s.creates_port}
        # a created ENI's protect marker goes with its create step; every other mark first
        self.after_create = {m.interface: m for m in plan.protect if m.interface in created}
        self._lock = threading.Lock()  # results, events
        self._start = patience.clock()
        self.runner = StepRunner(
            provider,
            observed,
            patience=patience,
            journal=journal,
            emit=self.emit,
            server_ready_timeout=server_ready_timeout,
            owner=owner,
            failover={f.interface: f for f in plan.failover},
            wall=wall,
        )

    # -- events and calls -------------------------------------------------------

    def emit(self, kind: Kind, /, **fields: Any) -> None:
        if self._on_event is None:
            return
        elapsed = round(self.patience.clock() - self._start, 3)
        with self._lock:
            self._on_event(Event(kind, {"elapsed": elapsed, **fields}))

    # -- scheduling -------------------------------------------------------------

    def run(self) -> ApplyResult:
        ids = set(self.steps)
        waiting = {s.id: {d for d in s.depends_on if d in ids} for s in self.plan.steps}
        dependents: dict[int, list[int]] = {sid: [] for sid in self.steps}
        for sid, deps in waiting.items():
            for d in deps:
                dependents[d].append(sid)
        ready: list[tuple[float, int]] = []
        parked: dict[str, list[tuple[float, int]]] = {}
        busy: set[str] = set()
        finished: list[tuple[int, bool]] = []
        cond = threading.Condition()
        in_flight = 0

        def push(sid: int) -> None:
            heapq.heappush(ready, (-self.priority[sid], sid))

        for sid in sorted(sid for sid, deps in waiting.items() if not deps):
            push(sid)

        def worker(step: Step) -> None:
            try:
                ok = self._perform(step)
            except Exception as exc:  # a bug must fail one step, never hang the run
                message = f"{type(exc).__name__}: {exc}"
                self._record(StepResult(step, "failed", "InternalError", message))
                self.emit(Kind.STEP_FAILED, **_about(step), code="InternalError", message=message)
                ok = False
            with cond:
                finished.append((step.id, ok))
                cond.notify()

        self.emit(
            Kind.APPLY_STARTED,
            steps=len(self.steps),
            adopt=len(self.plan.adopt),
            parallelism=self.parallelism,
        )
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="step") as pool:
            self._mark_all(pool)
            while True:
                with cond:
                    while finished:
                        sid, ok = finished.pop()
                        in_flight -= 1
                        server = self.steps[sid].server or ""
                        if self.steps[sid].action in SERVER_JOBS:
                            busy.discard(server)
                            for entry in parked.pop(server, []):
                                heapq.heappush(ready, entry)
                        if ok:
                            for d in dependents[sid]:
                                waiting[d].discard(sid)
                                if not waiting[d] and d not in self.results:
                                    push(d)
                        else:
                            self._skip_dependents(sid, dependents)
                    stopping = self.stop is not None and self.stop.is_set()
                    while ready and in_flight < self.parallelism and not stopping:
                        entry = heapq.heappop(ready)
                        step = self.steps[entry[1]]
                        if step.id in self.results:
                            continue
                        if step.action in SERVER_JOBS:
                            key = step.server or ""
                            if key in busy:
                                parked.setdefault(key, []).append(entry)
                                continue
                            busy.add(key)
                        in_flight += 1
                        pool.submit(worker, step)
                    if in_flight == 0:
                        break
                    cond.wait(timeout=0.25 if self.stop is not None else None)
        if self.stop is not None and self.stop.is_set():
            self.emit(Kind.INTERRUPTED, remaining=len(self.steps) - len(self.results))
        for sid in self.steps:
            if sid not in self.results:
                reason = "never became ready"  # only with a malformed plan
                if self.stop is not None and self.stop.is_set():
                    reason = "interrupted before it started"
                self._record(StepResult(self.steps[sid], "not-started", "", reason))
        return self._result()

    def _mark_all(self, pool: ThreadPoolExecutor) -> None:
        """Set every marker of the plan but a created ENI's, up to `parallelism` at once;
        none starts once `stop` is set."""
        first = [m for m in self.plan.marks if self.after_create.get(m.interface) != m]
        futures = [pool.submit(self._mark, mark) for mark in first]
        for mark, future in zip(first, futures, strict=True):
            try:
                future.result()
            except Exception as exc:  # a bug must fail one marker, never the run
                message = f"{type(exc).__name__}: {exc}"
                self._marked(MarkResult(mark, "failed", "InternalError", message))

    def _mark(self, mark: Mark) -> None:
        if self.stop is not None and self.stop.is_set():
            self._marked(MarkResult(mark, "not-started", "", "interrupted before it started"))
            return
        done, failed = MARK_EVENTS[mark.marker]
        try:
            self.runner.mark(mark)
        except (StepFailed, ProviderError) as exc:
            self._marked(MarkResult(mark, "failed", exc.code, exc.message))
            self.emit(failed, interface=mark.interface, code=exc.code, message=exc.message)
            return
        self._marked(MarkResult(mark, "done"))
        if mark.marker is Marker.PROTECT:
            self.emit(done, interface=mark.interface, value=mark.value)
        else:
            self.emit(done, interface=mark.interface)

    def _marked(self, result: MarkResult) -> None:
        with self._lock:
            self.marked[result.mark] = result

    def _skip_dependents(self, failed: int, dependents: Mapping[int, list[int]]) -> None:
        stack = [(d, failed) for d in dependents[failed]]
        while stack:
            sid, because = stack.pop()
            if sid in self.results:
                continue
            reason = f"depends on step {because}, which did not complete"
            self._record(StepResult(self.steps[sid], "not-started", "", reason))
            self.emit(Kind.STEP_SKIPPED, **_about(self.steps[sid]), because=because)
            stack.extend((d, sid) for d in dependents[sid])

    def _record(self, result: StepResult) -> None:
        with self._lock:
            self.results[result.step.id] = result

    def _result(self) -> ApplyResult:
        ordered = [self.results[s.id] for s in self.plan.steps]
        result = ApplyResult(
            done=tuple(r for r in ordered if r.status == "done"),
            failed=tuple(r for r in ordered if r.status == "failed"),
            not_started=tuple(r for r in ordered if r.status == "not-started"),
            elapsed=self.patience.clock() - self._start,
            calls=dict(sorted(self.runner.calls.items())),
            created=dict(self.runner.ids.created),
            marks=tuple(self.marked[m] for m in self.plan.marks if m in self.marked),
        )
        self.emit(Kind.APPLY_DONE, ok=result.ok, **result.as_json())
        return result

    # -- one step ---------------------------------------------------------------

    def _perform(self, step: Step) -> bool:
        began = self.patience.clock()
        if self.journal is not None:
            self.journal.step_started(step)
        self.emit(Kind.STEP_STARTED, **_about(step))
        job_id = ""
        try:
            job_id = self.runner.do(step)
            mark = self.after_create.get(step.interface)
            if (step.action is Action.CREATE or step.creates_port) and mark is not None:
                self.runner.mark(mark)
                self._marked(MarkResult(mark, "done"))
                self.emit(Kind.PROTECTED, interface=mark.interface, value=mark.value)
        except (StepFailed, ProviderError) as exc:
            code = exc.code
            message = exc.message
            if self.journal is not None:
                self.journal.step_failed(step.id, code, message)
            self._record(StepResult(step, "failed", code, message, self._since(began), job_id))
            self.emit(Kind.STEP_FAILED, **_about(step), code=code, message=message)
            return False
        if self.journal is not None:
            self.journal.step_done(step.id)
        seconds = self._since(began)
        self._record(StepResult(step, "done", seconds=seconds, job_id=job_id))
        self.emit(Kind.STEP_DONE, **_about(step), seconds=round(seconds, 3))
        return True

    def _since(self, began: float) -> float:
        return self.patience.clock() - began


MARK_EVENTS = {
    Marker.MANAGED: (Kind.ADOPTED, Kind.ADOPT_FAILED),
    Marker.PROTECT: (Kind.PROTECTED, Kind.PROTECT_FAILED),
}


def _about(step: Step) -> dict[str, Any]:
    """The fields of every step event that say which step it is."""
    return {
        "step": step.id,
        "action": step.action.value,
        "interface": step.interface,
        "server": step.server,
    }


def execute(
    plan: Plan,
    provider: Provider,
    observed: Topology,
    *,
    parallelism: int = 10,
    journal: RunJournal | None = None,
    on_event: OnEvent | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    retry: RetryPolicy | None = None,
    poll: PollPolicy | None = None,
    rng: random.Random | None = None,
    server_ready_timeout: float = SERVER_READY_TIMEOUT,
    estimator: DurationEstimator | None = None,
    stop: threading.Event | None = None,
    owner: str = DEFAULT_OWNER,
    wall: Callable[[], float] = time.time,
) -> ApplyResult:
    """Run `plan` (computed against `observed`) on `provider`; never raises for a step.
    The ENIs it creates or adopts are marked managed by `owner`.

    Setting `stop` starts no further step; the steps in flight run to their end and the
    rest are reported as not started."""
    patience = Patience(
        retry=retry or RetryPolicy(),
        poll=poll or PollPolicy(),
        clock=clock,
        sleep=sleep,
        rng=rng or random.Random(),
        estimator=estimator or DurationEstimator(),
    )
    run = _Execution(
        plan,
        provider,
        observed,
        parallelism=parallelism,
        journal=journal,
        on_event=on_event,
        patience=patience,
        server_ready_timeout=server_ready_timeout,
        stop=stop,
        owner=owner,
        wall=wall,
    )
    return run.run()
