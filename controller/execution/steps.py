"""Carrying out one plan step against the provider: names to ids, calls, jobs, waits.

`StepRunner.do(step)` performs one step and returns its job id (attach/detach) or ""
(synchronous steps); it raises `StepFailed` or a `ProviderError` when the step cannot
be done. The executor decides when each step runs; this module decides how.

- Names become ids through the observed topology and its catalog, plus the ids of
  interfaces created during the run.
- Before a detach the attachment's deleteOnTermination is made false (unless observed
  false for an attachment older than the run), so the detach can never delete the ENI.
- A create retried after a transient error first looks for the port by name.
- attach/detach: the intent is journalled before the call, the job id right after it;
  the job is then polled to completion (`controller.execution.retry`). On a BMS they
  go through the BMS API; a new ENI there is one attach that creates its port, which
  is then claimed (renamed, tagged managed: `controller.execution.baremetal`), and the
  journal keeps what tells that port apart, so a retry or a resumed run never makes a
  second one.
- A server that is not ACTIVE/SHUTOFF (observed, or the cloud's `Ecs.0100`) is waited
  for by re-observing, bounded; then the step fails with `ServerNotReady`.
- stop-server (the fence of a failover, SPEC 4a): a hard-stop job, journalled like a
  NIC job and polled, then the server is re-observed until it is SHUTOFF (bounded):
  the detaches that wait for the step find it ready.
- A failover ENI (one the plan's `failover` lists) is kept attached with
  deleteOnTermination false, set right after its attach, so deleting its server does
  not delete it; after a failover move the time of the move goes into the cloud (the
  port's failover tag) for the hold-down. The attach job's success is reported at once
  (`attached`), before those two calls.

`StepRunner.adopt(name)` tags an adopted ENI (an existing unmanaged one a manifest
names) as managed: one idempotent call, retried like the others; not a plan step.
`StepRunner.protect(name, value)` sets an ENI's protect marker the same way.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from controller.backoff import Backoff
from controller.errors import (
    PermanentProviderError,
    ProviderError,
    StepFailed,
    TransientProviderError,
)
from controller.events import Kind
from controller.execution import baremetal
from controller.execution.retry import Patience
from controller.model import DEFAULT_OWNER, READY_STATUSES, Topology
from controller.plan import Action, Code, Failover, Mark, Marker, Step
from controller.providers.base import Job, JobStatus, NewInterface, Provider
from controller.storage.journal import NewPort, RunJournal

NIC_ACTIONS = frozenset({Action.ATTACH, Action.DETACH})
SERVER_JOBS = NIC_ACTIONS | {Action.STOP_SERVER}  # one at a time per server, as ECS runs them
# the cloud's "server status does not allow it": ECS, and the BMS API (unconfirmed code)
NOT_READY_CODES = frozenset({"Ecs.0100", "BMS.0100"})
FOUND = "\x00found"  # a BMS attach's submit found its NIC made already (a lost answer)
SERVER_LOOKS = Backoff(base=0.5, cap=10.0, jitter=False, timeout=None)  # re-observing a server


class Emit(Protocol):
    """Reports one event of a step (the executor adds the time and passes it on)."""

    def __call__(self, kind: Kind, /, **fields: Any) -> None: ...


class Ids:
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


class StepRunner:
    """Performs steps for one run; thread-safe (steps of different servers run at once)."""

    def __init__(
        self,
        provider: Provider,
        observed: Topology,
        *,
        patience: Patience,
        journal: RunJournal | None,
        emit: Emit,
        server_ready_timeout: float,
        owner: str = DEFAULT_OWNER,
        failover: Mapping[str, Failover] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.owner = owner  # whose managed marker the ENIs it creates or adopts get
        self.failover = failover or {}
        self.wall = wall
        self.observed = observed
        self.patience = patience
        self.journal = journal
        self.emit = emit
        self.server_ready_timeout = server_ready_timeout
        self.ids = Ids(observed)
        self.status = {n: s.status for n, s in observed.servers.items()}
        self.attached_here: set[str] = set()
        self._created_on: dict[str, str] = {}  # ENI -> the BMS whose attach creates it
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()  # calls, status, attached_here

    def _call(
        self, verb: str, step: Step | None, fn: Callable[[], Any], mark: Mark | None = None
    ) -> Any:
        """`fn()` counted and retried; retry events name the step (or the marker's ENI)."""

        def counted() -> Any:
            with self._lock:
                self.calls[verb] += 1
            return fn()

        # a marker's call has no step: its retry events name the ENI as `adopt`
        where: dict[str, Any] = (
            {"step": step.id}
            if step is not None
            else {"adopt": mark.interface if mark is not None else ""}
        )

        def retried(attempt: int, exc: TransientProviderError, delay: float) -> None:
            self.emit(
                Kind.RETRY,
                **where,
                call=verb,
                attempt=attempt,
                code=exc.code,
                message=exc.message,
                delay=round(delay, 3),
            )

        return self.patience.call(counted, retried)

    def do(self, step: Step) -> str:
        """Carry out one step; returns the job id for attach/detach, else ""."""
        action = step.action
        ids = self.ids
        if action is Action.CREATE:
            spec = NewInterface(
                name=step.interface,
                subnet_id=ids.subnet(step.subnet),
                private_ip=step.private_ip,
                security_group_ids=ids.groups_of(step.security_groups),
                owner=self.owner,
            )
            ids.add_interface(step.interface, self._create(step, spec))
            return ""
        if step.creates_port:  # a new ENI on a BMS: the attach creates its port
            return self._nic_operation(step, "")
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
            job_id = self._nic_operation(step, iface)
            if action is Action.ATTACH and step.interface in self.failover:
                self._failover_attached(step, iface)
            return job_id
        elif action is Action.STOP_SERVER:
            return self._stop(step)
        return ""

    def _bare_metal(self, server: str) -> bool:
        found = self.observed.servers.get(server)
        return found is not None and found.bare_metal

    def _failover_attached(self, step: Step, iface: str) -> None:
        """A failover ENI just attached: deleteOnTermination false, and after a move by
        the policy its time, in the cloud."""
        self.emit(Kind.ATTACHED, step=step.id, interface=step.interface, server=step.server)
        server_id = self.ids.server(step.server)
        self._call(
            "set_delete_on_termination",
            step,
            lambda: self.provider.set_delete_on_termination(server_id, iface, False),
        )
        if self.failover[step.interface].moves:
            at = self.wall()
            self._call(
                "set_failover_time", step, lambda: self.provider.set_failover_time(iface, at)
            )

    def _stop(self, step: Step) -> str:
        """Hard-stop a server in ERROR (a fence) and return once it is SHUTOFF."""
        server = step.server or ""
        server_id = self.ids.server(server)
        op = step.action.value
        if self.journal is not None:
            self.journal.job_intent(step.id, op, server_id, "")
        submitted_at = self.patience.clock()
        try:
            job_id = str(
                self._call("stop_server", step, lambda: self.provider.stop_server(server_id))
            )
        except ProviderError as exc:
            if self.journal is not None:
                self.journal.job_unsent(step.id, exc.code)
            raise
        if self.journal is not None:
            self.journal.job_submitted(step.id, op, server_id, "", job_id)
        self.emit(Kind.JOB_SUBMITTED, step=step.id, job=job_id, server=server)
        self._finish_job(step, op, job_id, submitted_at)
        with self._lock:
            self.status[server] = "STOPPING"
        self._wait_status(step, server, frozenset({"SHUTOFF"}))
        return job_id

    def mark(self, mark: Mark) -> None:
        """Set (or clear) one marker on an ENI's port: `managed` (adoption: enictl
        manages it from now on; cleared by `enictl release`) or `protect`; idempotent.
        The one place a marker becomes a provider call."""
        iface = self.ids.interface(mark.interface)
        if mark.marker is Marker.MANAGED and not mark.value:
            self._call("clear_managed", None, lambda: self.provider.clear_managed(iface), mark)
        elif mark.marker is Marker.MANAGED:
            owner = self.owner
            call = lambda: self.provider.set_managed(iface, owner)  # noqa: E731
            self._call("set_managed", None, call, mark)
        else:
            protect = lambda: self.provider.set_protected(iface, mark.value)  # noqa: E731
            self._call("set_protected", None, protect, mark)

    def _create(self, step: Step, spec: NewInterface) -> str:
        """Create a port; a retry after a transient error first looks for it by name: the
        failed try may have created it (a timeout on a real cloud), and a second port
        with the same name must not appear."""
        tried = False

        def create_once() -> str:
            nonlocal tried
            if tried:
                observed = self._call("observe", step, self.provider.observe)
                found = observed.interfaces.get(spec.name)
                if found is not None and found.id and not found.primary:
                    return str(found.id)
            tried = True
            return str(self.provider.create_interface(spec))

        return str(self._call("create_interface", step, create_once))

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
        """Attach or detach through the ECS API, or the BMS API on a BMS (where an attach
        creates its port, `iface` ""); journalled, submitted, polled."""
        server = step.server or ""
        server_id = self.ids.server(server)
        bms = self._bare_metal(server)
        op = f"bms-{step.action.value}" if bms else step.action.value
        verb = f"{step.action.value}_bare_metal" if bms else step.action.value
        p = self.provider
        self._wait_ready(step, server)
        if step.action is Action.DETACH and self._needs_clear(step):
            clear = p.set_bare_metal_delete_on_termination if bms else p.set_delete_on_termination
            self._call(
                "set_bare_metal_delete_on_termination" if bms else "set_delete_on_termination",
                step,
                lambda: clear(server_id, iface, False),
            )
        new_port: NewPort | None = None
        submit: Callable[[], str]
        if step.creates_port:
            new_port, submit = self._new_port(step, server, server_id)
        elif step.action is Action.ATTACH:
            submit = lambda: p.attach(server_id, iface)  # noqa: E731
        else:
            submit = (
                (lambda: p.detach_bare_metal(server_id, iface))
                if bms
                else (lambda: p.detach(server_id, iface))
            )
        refused_since: float | None = None
        while True:
            if self.journal is not None:
                self.journal.job_intent(step.id, op, server_id, iface, new_port)
            submitted_at = self.patience.clock()
            try:
                job_id = str(self._call(verb, step, submit))
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
        if job_id == FOUND:  # a lost answer's NIC was there already: no job to poll
            assert new_port is not None
            return self._claim(step, server_id, new_port, "")
        if self.journal is not None:
            self.journal.job_submitted(step.id, op, server_id, iface, job_id, new_port)
        self.emit(Kind.JOB_SUBMITTED, step=step.id, job=job_id, server=server)
        job = self._finish_job(step, op, job_id, submitted_at)
        if new_port is not None:
            self._claim(step, server_id, new_port, job.interface_id)
        if step.action is Action.ATTACH:
            with self._lock:
                self.attached_here.add(step.interface)
        return job_id

    def _finish_job(self, step: Step, op: str, job_id: str, submitted_at: float) -> Job:
        """Poll a job to its end, journalled; raise unless it succeeded."""

        def polled() -> None:
            with self._lock:
                self.calls["job"] += 1

        def retried(attempt: int, exc: TransientProviderError, delay: float) -> None:
            self.emit(
                Kind.RETRY,
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
        return job

    def _new_port(
        self, step: Step, server: str, server_id: str
    ) -> tuple[NewPort, Callable[[], str]]:
        """What a BMS attach creates, and its submit call: a retry after a transient error
        first looks for the NIC (the failed try may have made it), and answers FOUND."""
        ids = self.ids
        spec = NewInterface(
            name=step.interface,
            subnet_id=ids.subnet(step.subnet),
            private_ip=step.private_ip,
            security_group_ids=ids.groups_of(step.security_groups),
        )
        with self._lock:
            mine = {n for n in self.attached_here if self._created_on.get(n) == server}
        before = set(baremetal.ports_on(self.observed, server))
        before.update(ids.interfaces[n] for n in mine if n in ids.interfaces)
        new_port = NewPort(
            step.interface,
            spec.subnet_id,
            step.private_ip or "",
            tuple(sorted(before)),
            self.owner,
        )
        tried = False

        def submit() -> str:
            nonlocal tried
            if tried:
                observed = self._call("observe", step, self.provider.observe)
                if baremetal.created_port(observed, server_id, new_port) is not None:
                    return FOUND
            tried = True
            return str(self.provider.attach_bare_metal(server_id, spec))

        with self._lock:
            self._created_on[step.interface] = server
        return new_port, submit

    def _claim(self, step: Step, server_id: str, new_port: NewPort, port_id: str) -> str:
        """Claim the port a BMS attach made (`baremetal.claim`), found by the job's word
        or else in a fresh observation; returns its id."""
        if not port_id:
            observed = self._call("observe", step, self.provider.observe)
            port_id = baremetal.created_port(observed, server_id, new_port) or ""
        if not port_id:
            raise StepFailed(
                "NewPortNotFound",
                f"the BMS attach of {step.interface} succeeded but its port is not to be seen",
            )
        baremetal.claim(
            self.provider, port_id, new_port, lambda verb, fn: self._call(verb, step, fn)
        )
        self.ids.add_interface(step.interface, port_id)
        with self._lock:
            self.attached_here.add(step.interface)
        return port_id

    def _wait_ready(self, step: Step, server: str) -> None:
        """Return once `server` is ACTIVE/SHUTOFF; re-observe (bounded), else fail the step."""
        self._wait_status(step, server, READY_STATUSES)

    def _wait_status(self, step: Step, server: str, wanted: frozenset[str]) -> None:
        """Return once `server`'s status is one of `wanted`; re-observe (bounded), else
        fail the step with ServerNotReady."""
        with self._lock:
            status = self.status.get(server, "ACTIVE")
        if status in wanted:
            return
        deadline = self.patience.clock() + self.server_ready_timeout
        looks = 0
        self.emit(Kind.WAITING_SERVER, step=step.id, server=server, status=status)
        while True:
            observed = self._call("observe", step, self.provider.observe)
            found = observed.servers.get(server)
            status = found.status if found is not None else "MISSING"
            with self._lock:
                self.status[server] = status
            if status in wanted:
                return
            now = self.patience.clock()
            if now >= deadline:
                raise StepFailed(
                    Code.SERVER_NOT_READY.value,
                    f"server {server} is {status}, not {' or '.join(sorted(wanted))}, "
                    f"after waiting {self.server_ready_timeout:g}s",
                )
            self.patience.sleep(min(SERVER_LOOKS.delay(looks), deadline - now))
            looks += 1
