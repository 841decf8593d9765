"""Run a plan's steps against a provider: in dependency order, concurrently, safely.

- A step starts once every step it depends on is done. Up to `parallelism` steps run
  at once, and at most one NIC operation (attach / detach) per server: the cloud
  serialises them anyway, and the plan's capacity reasoning assumes it.
- Among ready steps the one heading the longest remaining chain goes first, so the
  makespan stays close to the plan's critical path.
- Names become ids through the observed topology and its catalog, plus the ids of
  interfaces created during the run.
- Before a detach the attachment's deleteOnTermination is made false (unless observed
  false), so the detach can never delete the ENI and lose its IP and EIP.
- Transient errors are retried (`controller.retry`); a permanent error or a job that
  ends FAIL fails its step with the cloud's code and message. The failed step's
  dependents (transitively) are not started; independent steps run to the end.
- A server that is not ACTIVE/SHUTOFF is waited for (bounded, by re-observing); then
  the step fails with `ServerNotReady`.
- Every step and every job id goes to the journal: the intent before an asynchronous
  call, the job id right after it, so a crashed run can be resumed.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from controller.errors import PermanentProviderError, ProviderError, TransientProviderError
from controller.journal import RunJournal
from controller.model import READY_STATUSES, Topology
from controller.plan import Action, Code, Plan, Step
from controller.providers.base import JobStatus, NewInterface, Provider
from controller.retry import Clock, DurationEstimator, Patience, PollPolicy, RetryPolicy, Sleep

Event = dict[str, Any]
OnEvent = Callable[[Event], None]

NIC_ACTIONS = frozenset({Action.ATTACH, Action.DETACH})
NOT_READY_CODES = frozenset({"Ecs.0100"})  # the cloud's "server status does not allow it"


class StepFailed(Exception):
    """A step could not be done; `code`/`message` are the cloud's when it refused."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    status: str  # "done" | "failed" | "not-started"
    code: str = ""
    message: str = ""
    seconds: float = 0.0
    job_id: str = ""

    def head(self) -> str:
        """`step 3: attach eni-a on web-2`."""
        where = f" on {self.step.server}" if self.step.server else ""
        return f"step {self.step.id}: {self.step.action.value} {self.step.interface}{where}"

    def line(self) -> str:
        head = self.head()
        if self.status == "failed":
            return f"{head}: {self.code}: {self.message}"
        if self.status == "not-started":
            return f"{head}: not started ({self.message})"
        return head

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step.id,
            "action": self.step.action.value,
            "interface": self.step.interface,
            "server": self.step.server,
            "status": self.status,
        }
        if self.code or self.message:
            out.update(code=self.code, message=self.message)
        return out


@dataclass(frozen=True, slots=True)
class ApplyResult:
    done: tuple[StepResult, ...]
    failed: tuple[StepResult, ...]
    not_started: tuple[StepResult, ...]
    elapsed: float
    calls: Mapping[str, int] = field(default_factory=dict)
    created: Mapping[str, str] = field(default_factory=dict)  # interface name -> new id

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_started

    def summary(self) -> str:
        return (
            f"{len(self.done)} done, {len(self.failed)} failed, "
            f"{len(self.not_started)} not started in {self.elapsed:.1f}s"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "done": len(self.done),
            "failed": [r.as_json() for r in self.failed],
            "notStarted": [r.as_json() for r in self.not_started],
            "elapsed": round(self.elapsed, 3),
            "calls": dict(self.calls),
        }


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
        weight = 1.0 if by_id[sid].action in NIC_ACTIONS else 0.1
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


class _Ids:
    """Name -> id resolution: observed ids, catalog ids, ids created during the run."""

    def __init__(self, observed: Topology) -> None:
        self._lock = threading.Lock()
        self.servers = {n: s.id for n, s in observed.servers.items()}
        self.interfaces = {n: i.id for n, i in observed.interfaces.items()}
        cat = observed.catalog
        self.subnets = {n: s.id for n, s in cat.subnets.items()}
        self.groups = {n: g.id for n, g in cat.security_groups.items()}
        self.eips = {n: e.id for n, e in cat.eips.items()}
        self.created: dict[str, str] = {}

    def _get(self, table: Mapping[str, str], kind: str, name: str | None) -> str:
        with self._lock:
            value = table.get(name or "", "")
        if not value:
            raise StepFailed("UnresolvedName", f"no id known for {kind} {name!r}")
        return value

    def server(self, name: str | None) -> str:
        return self._get(self.servers, "server", name)

    def interface(self, name: str) -> str:
        return self._get(self.interfaces, "interface", name)

    def subnet(self, name: str | None) -> str:
        return self._get(self.subnets, "subnet", name)

    def eip(self, name: str | None) -> str:
        return self._get(self.eips, "EIP", name)

    def groups_of(self, names: tuple[str, ...] | None) -> tuple[str, ...]:
        return tuple(self._get(self.groups, "security group", n) for n in names or ())

    def add_interface(self, name: str, interface_id: str) -> None:
        with self._lock:
            self.interfaces[name] = interface_id
            self.created[name] = interface_id


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
    ) -> None:
        self.plan = plan
        self.stop = stop
        self.provider = provider
        self.observed = observed
        self.parallelism = max(1, parallelism)
        self.journal = journal
        self._on_event = on_event
        self.patience = patience
        self.server_ready_timeout = server_ready_timeout
        self.ids = _Ids(observed)
        self.steps = {s.id: s for s in plan.steps}
        self.priority = priorities(plan.steps)
        self.status = {n: s.status for n, s in observed.servers.items()}
        self.attached_here: set[str] = set()
        self.results: dict[int, StepResult] = {}
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()  # results, calls, status, attached_here, events
        self._start = patience.clock()

    # -- events and calls -------------------------------------------------------

    def emit(self, name: str, **fields: Any) -> None:
        if self._on_event is None:
            return
        event = {"event": name, "elapsed": round(self.patience.clock() - self._start, 3), **fields}
        with self._lock:
            self._on_event(event)

    def _call(self, verb: str, step: Step, fn: Callable[[], Any]) -> Any:
        def counted() -> Any:
            with self._lock:
                self.calls[verb] += 1
            return fn()

        def retried(attempt: int, exc: TransientProviderError, delay: float) -> None:
            self.emit(
                "retry",
                step=step.id,
                call=verb,
                attempt=attempt,
                code=exc.code,
                message=exc.message,
                delay=round(delay, 3),
            )

        return self.patience.call(counted, retried)

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
                self.emit("step-failed", step=step.id, code="InternalError", message=message)
                ok = False
            with cond:
                finished.append((step.id, ok))
                cond.notify()

        self.emit("apply-started", steps=len(self.steps), parallelism=self.parallelism)
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="step") as pool:
            while True:
                with cond:
                    while finished:
                        sid, ok = finished.pop()
                        in_flight -= 1
                        server = self.steps[sid].server or ""
                        if self.steps[sid].action in NIC_ACTIONS:
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
                        if step.action in NIC_ACTIONS:
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
            self.emit("interrupted", remaining=len(self.steps) - len(self.results))
        for sid in self.steps:
            if sid not in self.results:
                reason = "never became ready"  # only with a malformed plan
                if self.stop is not None and self.stop.is_set():
                    reason = "interrupted before it started"
                self._record(StepResult(self.steps[sid], "not-started", "", reason))
        return self._result()

    def _skip_dependents(self, failed: int, dependents: Mapping[int, list[int]]) -> None:
        stack = [(d, failed) for d in dependents[failed]]
        while stack:
            sid, because = stack.pop()
            if sid in self.results:
                continue
            reason = f"depends on step {because}, which did not complete"
            self._record(StepResult(self.steps[sid], "not-started", "", reason))
            self.emit("step-skipped", step=sid, because=because)
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
            calls=dict(sorted(self.calls.items())),
            created=dict(self.ids.created),
        )
        self.emit("apply-done", ok=result.ok, **result.as_json())
        return result

    # -- one step ---------------------------------------------------------------

    def _perform(self, step: Step) -> bool:
        began = self.patience.clock()
        if self.journal is not None:
            self.journal.step_started(step)
        self.emit(
            "step-started",
            step=step.id,
            action=step.action.value,
            interface=step.interface,
            server=step.server,
        )
        job_id = ""
        try:
            job_id = self._do(step)
        except (StepFailed, ProviderError) as exc:
            code = exc.code
            message = exc.message
            if self.journal is not None:
                self.journal.step_failed(step.id, code, message)
            self._record(StepResult(step, "failed", code, message, self._since(began), job_id))
            self.emit(
                "step-failed",
                step=step.id,
                action=step.action.value,
                interface=step.interface,
                server=step.server,
                code=code,
                message=message,
            )
            return False
        if self.journal is not None:
            self.journal.step_done(step.id)
        seconds = self._since(began)
        self._record(StepResult(step, "done", seconds=seconds, job_id=job_id))
        self.emit(
            "step-done",
            step=step.id,
            action=step.action.value,
            interface=step.interface,
            server=step.server,
            seconds=round(seconds, 3),
        )
        return True

    def _since(self, began: float) -> float:
        return self.patience.clock() - began

    def _do(self, step: Step) -> str:
        """Carry out one step; returns the job id for attach/detach, else ""."""
        action = step.action
        ids = self.ids
        if action is Action.CREATE:
            spec = NewInterface(
                name=step.interface,
                subnet_id=ids.subnet(step.subnet),
                private_ip=step.private_ip,
                security_group_ids=ids.groups_of(step.security_groups),
            )
            ids.add_interface(step.interface, self._create(step, spec))
            return ""
        iface = ids.interface(step.interface)
        if action is Action.UPDATE:
            groups = ids.groups_of(step.security_groups)
            self._call(
                "update_security_groups",
                step,
                lambda: self.provider.update_security_groups(iface, groups),
            )
        elif action is Action.BIND_EIP:
            eip = ids.eip(step.eip)
            self._call("bind_eip", step, lambda: self.provider.bind_eip(eip, iface))
        elif action is Action.UNBIND_EIP:
            name = step.eip or self._observed_eip(step.interface)
            eip = ids.eip(name)
            self._call("unbind_eip", step, lambda: self.provider.unbind_eip(eip))
        elif action is Action.DELETE:
            self._call("delete_interface", step, lambda: self.provider.delete_interface(iface))
        elif action in NIC_ACTIONS:
            return self._nic_operation(step, iface)
        return ""

    def _create(self, step: Step, spec: NewInterface) -> str:
        """Create a port; after a transient error, first look for it by name: the failed
        try may have created it (a timeout on a real cloud), and a second port with the
        same name must not appear."""
        retry = 0
        while True:
            try:
                with self._lock:
                    self.calls["create_interface"] += 1
                return str(self.provider.create_interface(spec))
            except TransientProviderError as exc:
                if retry + 1 >= self.patience.retry.attempts:
                    raise
                observed = self._call("observe", step, self.provider.observe)
                found = observed.interfaces.get(spec.name)
                if found is not None and found.id and not found.primary:
                    return str(found.id)
                delay = self.patience.retry.delay(retry, self.patience.rng)
                self.emit(
                    "retry",
                    step=step.id,
                    call="create_interface",
                    attempt=retry + 1,
                    code=exc.code,
                    message=exc.message,
                    delay=round(delay, 3),
                )
                self.patience.sleep(delay)
                retry += 1

    def _observed_eip(self, interface: str) -> str | None:
        found = self.observed.interfaces.get(interface)
        return found.eip if found is not None else None

    def _needs_clear(self, step: Step) -> bool:
        """Whether the attachment's deleteOnTermination may be true before this detach."""
        seen = self.observed.interfaces.get(step.interface)
        with self._lock:
            attached_here = step.interface in self.attached_here
        known_false = (
            seen is not None and seen.server == step.server and not seen.delete_on_termination
        )
        return attached_here or not known_false

    def _nic_operation(self, step: Step, iface: str) -> str:
        server = step.server or ""
        server_id = self.ids.server(server)
        op = step.action.value
        self._wait_ready(step, server)
        if step.action is Action.DETACH and self._needs_clear(step):
            self._call(
                "set_delete_on_termination",
                step,
                lambda: self.provider.set_delete_on_termination(server_id, iface, False),
            )
        submit = self.provider.attach if step.action is Action.ATTACH else self.provider.detach
        refused_since: float | None = None
        while True:
            if self.journal is not None:
                self.journal.job_intent(step.id, op, server_id, iface)
            submitted_at = self.patience.clock()
            try:
                job_id = str(self._call(op, step, lambda: submit(server_id, iface)))
            except ProviderError as exc:
                if self.journal is not None:
                    self.journal.job_unsent(step.id, exc.code)
                if exc.code not in NOT_READY_CODES:
                    raise
                # the cloud says the server's state forbids it: wait for it, bounded
                now = self.patience.clock()
                refused_since = now if refused_since is None else refused_since
                if now - refused_since >= self.server_ready_timeout:
                    raise StepFailed(
                        Code.SERVER_NOT_READY.value,
                        f"server {server} refused {op} for {self.server_ready_timeout:g}s: "
                        f"{exc.code}: {exc.message}",
                    ) from exc
                with self._lock:
                    self.status[server] = "UNKNOWN"
                self._wait_ready(step, server)
                self.patience.sleep(min(1.0, self.server_ready_timeout / 10))
                continue
            break
        if self.journal is not None:
            self.journal.job_submitted(step.id, op, server_id, iface, job_id)
        self.emit("job-submitted", step=step.id, job=job_id, server=server)

        def polled() -> None:
            with self._lock:
                self.calls["job"] += 1

        def retried(attempt: int, exc: TransientProviderError, delay: float) -> None:
            self.emit(
                "retry",
                step=step.id,
                call="job",
                attempt=attempt,
                code=exc.code,
                delay=round(delay, 3),
            )

        job = self.patience.wait_job(
            self.provider,
            job_id,
            kind=op,
            submitted_at=submitted_at,
            on_retry=retried,
            on_poll=polled,
        )
        if self.journal is not None:
            self.journal.job_finished(step.id, job_id, job.status.value)
        if job.status is not JobStatus.SUCCESS:
            raise PermanentProviderError(
                job.error_code or "JobFailed", job.error_message or f"job {job_id} failed"
            )
        if step.action is Action.ATTACH:
            with self._lock:
                self.attached_here.add(step.interface)
        return job_id

    def _wait_ready(self, step: Step, server: str) -> None:
        """Return once `server` is ACTIVE/SHUTOFF; re-observe (bounded), else fail the step."""
        with self._lock:
            status = self.status.get(server, "ACTIVE")
        if status in READY_STATUSES:
            return
        deadline = self.patience.clock() + self.server_ready_timeout
        delay = 0.5
        self.emit("waiting-server", step=step.id, server=server, status=status)
        while True:
            observed = self._call("observe", step, self.provider.observe)
            found = observed.servers.get(server)
            status = found.status if found is not None else "MISSING"
            with self._lock:
                self.status[server] = status
            if status in READY_STATUSES:
                return
            now = self.patience.clock()
            if now >= deadline:
                raise StepFailed(
                    Code.SERVER_NOT_READY.value,
                    f"server {server} is {status}, not ACTIVE or SHUTOFF, "
                    f"after waiting {self.server_ready_timeout:g}s",
                )
            self.patience.sleep(min(delay, deadline - now))
            delay = min(delay * 2, 10.0)


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
    server_ready_timeout: float = 300.0,
    estimator: DurationEstimator | None = None,
    stop: threading.Event | None = None,
) -> ApplyResult:
    """Run `plan` (computed against `observed`) on `provider`; never raises for a step.

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
    )
    return run.run()
