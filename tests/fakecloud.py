"""An in-memory cloud for executor tests: the Provider Protocol with failure injection.

Small and strict: it enforces the cloud rules the executor must never trip (flavor
limit counting pending attaches, primary detach, port attached elsewhere, server
status) and records every call, the peak number of jobs in flight overall and per
server, and the order in which jobs finished.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from controller.errors import PermanentProviderError, TransientProviderError
from controller.events import Event
from controller.execution.results import ApplyResult
from controller.model import (
    Catalog,
    Eip,
    Flavor,
    NetworkInterface,
    SecurityGroup,
    Server,
    Subnet,
    Topology,
    Vpc,
)
from controller.plan import Plan
from controller.providers.base import Job, JobStatus, NewInterface
from tests.fakeclock import FakeClock


@dataclass
class _Job:
    id: str
    op: str
    server: str
    interface: str
    polls_left: int
    ends_at: float = 0.0
    fail: tuple[str, str] | None = None
    done: bool = False


@dataclass
class FakeCloud:
    """A tiny cloud; build with `FakeCloud.build(...)`, then mutate through the Protocol."""

    name: str = "fake"
    servers: dict[str, Server] = field(default_factory=dict)
    interfaces: dict[str, NetworkInterface] = field(default_factory=dict)
    flavors: dict[str, Flavor] = field(default_factory=dict)
    catalog: Catalog = field(default_factory=Catalog)
    job_polls: int = 0  # polls that answer RUNNING before a job finishes
    job_seconds: float = 0.0  # or: a job finishes this long after its start, by `clock`
    clock: Callable[[], float] | None = None
    transient_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    fail_jobs: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    fail_calls: dict[tuple[str, str], PermanentProviderError] = field(default_factory=dict)
    transient_next: Counter[str] = field(default_factory=Counter)
    status_after: dict[str, list[str]] = field(default_factory=dict)  # per observe
    calls: list[tuple[str, str]] = field(default_factory=list)
    finished_order: list[tuple[str, str, str]] = field(default_factory=list)
    max_in_flight: int = 0
    max_in_flight_per_server: int = 0
    rejected: list[str] = field(default_factory=list)
    _jobs: dict[str, _Job] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def build(
        cls,
        servers: dict[str, int],
        interfaces: dict[str, str | None],
        *,
        eips: dict[str, str | None] | None = None,
        dot: bool = False,
        **options: object,
    ) -> FakeCloud:
        """`servers`: name -> flavor limit; `interfaces`: name -> server or None;
        `eips`: EIP name -> interface name or None. Every server gets a primary ENI."""
        cloud = cls(**options)  # type: ignore[arg-type]
        flavors = {f"f{n}": Flavor(f"f{n}", n, id=f"flavor-{n}") for n in set(servers.values())}
        cloud.catalog = Catalog(
            flavors=flavors,
            vpcs={"vpc": Vpc("vpc", "10.0.0.0/16", id="vpc-id")},
            subnets={"net": Subnet("net", "vpc", "10.0.0.0/16", "az1", id="net-id")},
            security_groups={
                g: SecurityGroup(g, "vpc", id=f"{g}-id") for g in ("sg-a", "sg-b", "sg-c")
            },
            eips={e: Eip(e, f"198.51.100.{i}", id=f"{e}-id") for i, e in enumerate(eips or {})},
        )
        for name, limit in servers.items():
            cloud.servers[name] = Server(name, f"f{limit}", "az1", "vpc", "net", id=f"{name}-id")
            primary = f"{name}-primary"
            cloud.interfaces[primary] = NetworkInterface(
                primary, "net", server=name, primary=True, id=f"{primary}-id"
            )
        for n, (name, server) in enumerate(interfaces.items()):
            cloud.interfaces[name] = NetworkInterface(
                name,
                "net",
                private_ip=f"10.0.1.{n + 10}",
                server=server,
                managed=True,
                delete_on_termination=dot and server is not None,
                id=f"{name}-id",
            )
        for eip, iface in (eips or {}).items():
            if iface is not None:
                cloud.interfaces[iface] = replace(cloud.interfaces[iface], eip=eip)
        return cloud

    # -- helpers ----------------------------------------------------------------

    def _by_id(self, table: dict[str, NetworkInterface], iface_id: str) -> NetworkInterface:
        for i in table.values():
            if i.id == iface_id:
                return i
        raise PermanentProviderError("VPC.0202", f"port {iface_id} not found", status=404)

    def _server_by_id(self, server_id: str) -> Server:
        for s in self.servers.values():
            if s.id == server_id:
                return s
        raise PermanentProviderError("Ecs.0114", f"server {server_id} not found", status=404)

    def _enter(self, verb: str, target: str) -> None:
        self.calls.append((verb, target))
        if self.transient_next[verb] > 0:
            self.transient_next[verb] -= 1
            raise TransientProviderError("Ecs.0603", "other operations running, retry later")
        if self.transient_rate and self.rng.random() < self.transient_rate:
            raise TransientProviderError("Common.1503", "throttled", status=429)
        refused = self.fail_calls.get((verb, target))
        if refused is not None:
            raise refused

    def _reject(self, code: str, message: str, status: int = 400) -> PermanentProviderError:
        self.rejected.append(code)
        return PermanentProviderError(code, message, status=status)

    def _pending(self) -> list[_Job]:
        return [j for j in self._jobs.values() if not j.done]

    def calls_of(self, verb: str) -> list[str]:
        return [t for v, t in self.calls if v == verb]

    # -- the Protocol -----------------------------------------------------------

    def observe(self) -> Topology:
        with self._lock:
            self.calls.append(("observe", ""))
            for name, statuses in self.status_after.items():
                if statuses:
                    self.servers[name] = replace(self.servers[name], status=statuses.pop(0))
            return Topology(
                servers=dict(self.servers), interfaces=dict(self.interfaces), catalog=self.catalog
            )

    def create_interface(self, spec: NewInterface) -> str:
        with self._lock:
            self._enter("create_interface", spec.name)
            new_id = f"{spec.name}-new{next(self._ids)}"
            groups = tuple(
                g.name
                for g in self.catalog.security_groups.values()
                if g.id in spec.security_group_ids
            )
            self.interfaces[spec.name] = NetworkInterface(
                spec.name,
                "net",
                private_ip=spec.private_ip or f"10.0.9.{next(self._ids)}",
                security_groups=groups,
                managed=spec.managed,
                id=new_id,
            )
            return new_id

    def update_security_groups(
        self, interface_id: str, security_group_ids: tuple[str, ...]
    ) -> None:
        with self._lock:
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("update_security_groups", iface.name)
            groups = tuple(
                g.name for g in self.catalog.security_groups.values() if g.id in security_group_ids
            )
            self.interfaces[iface.name] = replace(iface, security_groups=groups)

    def bind_eip(self, eip_id: str, interface_id: str) -> None:
        with self._lock:
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("bind_eip", iface.name)
            eip = next(e.name for e in self.catalog.eips.values() if e.id == eip_id)
            if any(i.eip == eip for i in self.interfaces.values()) or iface.eip:
                raise self._reject("EIP.7904", f"{eip} or {iface.name} already bound")
            self.interfaces[iface.name] = replace(iface, eip=eip)

    def unbind_eip(self, eip_id: str) -> None:
        with self._lock:
            eip = next(e.name for e in self.catalog.eips.values() if e.id == eip_id)
            self._enter("unbind_eip", eip)
            for i in list(self.interfaces.values()):
                if i.eip == eip:
                    self.interfaces[i.name] = replace(i, eip=None)

    def set_delete_on_termination(self, server_id: str, interface_id: str, value: bool) -> None:
        with self._lock:
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("set_delete_on_termination", iface.name)
            self.interfaces[iface.name] = replace(iface, delete_on_termination=value)

    def attach(self, server_id: str, interface_id: str) -> str:
        with self._lock:
            server = self._server_by_id(server_id)
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("attach", iface.name)
            if not server.ready:
                raise self._reject("Ecs.0100", f"{server.name} is {server.status}")
            if iface.server is not None or any(j.interface == iface.name for j in self._pending()):
                raise self._reject("Ecs.0919", f"{iface.name} is attached elsewhere")
            used = sum(1 for i in self.interfaces.values() if i.server == server.name)
            used += sum(1 for j in self._pending() if j.op == "attach" and j.server == server.name)
            limit = self.catalog.flavors[server.flavor].max_interfaces
            if used + 1 > limit:
                raise self._reject("Ecs.0050", f"{server.name} would carry {used + 1} > {limit}")
            return self._start("attach", server.name, iface.name)

    def detach(self, server_id: str, interface_id: str) -> str:
        with self._lock:
            server = self._server_by_id(server_id)
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("detach", iface.name)
            if iface.primary:
                raise self._reject("Ecs.0403", "the primary NIC cannot be detached", status=403)
            if iface.server != server.name:
                raise self._reject("Ecs.0920", f"{iface.name} is not on {server.name}")
            return self._start("detach", server.name, iface.name)

    def _start(self, op: str, server: str, interface: str) -> str:
        job = _Job(f"job-{next(self._ids)}", op, server, interface, self.job_polls)
        if self.clock is not None:
            job.ends_at = self.clock() + self.job_seconds
        job.fail = self.fail_jobs.get((op, interface))
        self._jobs[job.id] = job
        pending = self._pending()
        self.max_in_flight = max(self.max_in_flight, len(pending))
        per_server = Counter(j.server for j in pending)
        self.max_in_flight_per_server = max(self.max_in_flight_per_server, *per_server.values())
        return job.id

    def job(self, job_id: str) -> Job:
        with self._lock:
            self._enter("job", job_id)
            job = self._jobs[job_id]
            if job.done:
                return self._answer(job)
            if job.polls_left > 0:
                job.polls_left -= 1
                return Job(job_id, JobStatus.RUNNING)
            if self.clock is not None and self.clock() < job.ends_at:
                return Job(job_id, JobStatus.RUNNING)
            job.done = True
            self.finished_order.append((job.op, job.interface, job.server))
            if job.fail is None:
                iface = self.interfaces[job.interface]
                if job.op == "attach":
                    self.interfaces[job.interface] = replace(
                        iface, server=job.server, delete_on_termination=True
                    )
                elif iface.delete_on_termination:
                    del self.interfaces[job.interface]  # as the real cloud does
                else:
                    self.interfaces[job.interface] = replace(iface, server=None)
            return self._answer(job)

    def _answer(self, job: _Job) -> Job:
        if job.fail is not None:
            return Job(job.id, JobStatus.FAIL, *job.fail)
        return Job(job.id, JobStatus.SUCCESS)

    def set_managed(self, interface_id: str, owner: str = "default") -> None:
        with self._lock:
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("set_managed", iface.name)
            self.interfaces[iface.name] = replace(iface, managed=True, owner=owner)

    def clear_managed(self, interface_id: str) -> None:
        with self._lock:
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("clear_managed", iface.name)
            self.interfaces[iface.name] = replace(iface, managed=False)

    def set_protected(self, interface_id: str, value: bool) -> None:
        with self._lock:
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("set_protected", iface.name)
            self.interfaces[iface.name] = replace(iface, protect=value)

    def delete_interface(self, interface_id: str) -> None:
        with self._lock:
            iface = self._by_id(self.interfaces, interface_id)
            self._enter("delete_interface", iface.name)
            if iface.server is not None:
                raise self._reject("VPC.0208", f"{iface.name} is attached")
            del self.interfaces[iface.name]

    def close(self) -> None:
        pass


def run_plan(
    plan: Plan, cloud: FakeCloud, *, clock: FakeClock | None = None, **kw: Any
) -> tuple[ApplyResult, list[Event]]:
    """Execute `plan` on `cloud` on a fake clock (no real waiting) with a fixed jitter seed
    (unless `rng` is given); return the result and every event the executor emitted."""
    from controller.execution import executor

    clock = clock or FakeClock()
    kw.setdefault("rng", random.Random(3))
    events: list[Event] = []
    result = executor.execute(
        plan, cloud, cloud.observe(), clock=clock, sleep=clock.sleep, on_event=events.append, **kw
    )
    return result, events
