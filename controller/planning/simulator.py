"""The plan simulator: apply a plan's steps to the observed topology and prove them safe.

`simulate()` is pure. It applies the steps one by one, in the order given (their ids
must be 1, 2, ... and each dependency an earlier step), to a copy of the observed
state (a create gives the interface the placeholder id `new:<name>`) and checks after
each step the invariants the step may have touched, with the per-resource checks of
`controller.planning.invariants` that `rules` also uses: flavor limits (an attach
counts from the moment it starts; no attach where no limit is known), placement (VPC,
subnet scope, pinned AZ), security groups in the ENI's VPC (pinned ones), primary ENIs
never detached/moved/deleted, protected ENIs never deleted, a declared address usable
in its subnet, EIP and address uniqueness (other ports' addresses are taken), and that
each step makes sense in the state it meets (no attach of an attached ENI, no delete
of an attached one, an existing ENI never attached to a BMS: only an attach that
creates its port goes there, ...). Every invariant is local to one server, interface, EIP or
address, so checking what a step touched is checking the whole state, at a cost per
step independent of the topology's size (the address index is built once, on the
first create or delete).

Then it checks concurrency (`controller.planning.concurrency`): any execution the
dependency graph allows must be safe, not just the serial one: conflicting steps
ordered, declared addresses created before the cloud picks any in their subnet, and
flavor limits under any interleaving of a server's attaches and detaches.

`mismatches()` compares the simulated final state with the diff's target, field by
field: `planner.prove` raises on any problem or mismatch (a planner bug).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.model import NetworkInterface, PlacementPolicy, Topology
from controller.plan import Action, Code, Step
from controller.planning import concurrency, invariants
from controller.planning.diff import eni_ref

INVALID_STEP = "InvalidStep"
BAD_DEPENDENCY = "BadDependency"
UNORDERED = concurrency.UNORDERED


@dataclass(frozen=True, slots=True)
class SimProblem:
    """Something wrong with a plan: `step` 0 is the plan as a whole."""

    step: int
    code: str  # a violation Code value, or INVALID_STEP / BAD_DEPENDENCY / UNORDERED
    message: str

    def __str__(self) -> str:
        where = f"step {self.step}" if self.step else "plan"
        return f"{where}: {self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class SimulationResult:
    final: Topology
    problems: tuple[SimProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def simulate(
    observed: Topology,
    steps: Sequence[Step],
    *,
    policy: PlacementPolicy | None = None,
    protected: frozenset[str] = frozenset(),
) -> SimulationResult:
    """Apply `steps` to `observed` and check them; see the module docstring.

    `policy` is the desired placement policy (default: the observed topology's);
    `protected` names the interfaces that must never be deleted (besides those whose
    observed `protect` is set)."""
    sim = _Sim(observed, policy or observed.policy, protected)
    sim.stopping = {s.server or "" for s in steps if s.action is Action.STOP_SERVER}
    for index, step in enumerate(steps):
        sim.apply(index, step)
    sim.step_id = 0
    for code, message in concurrency.problems(steps, sim.trace, observed.servers, observed.catalog):
        sim.fail(code, message)
    final = Topology(
        servers=observed.servers,
        interfaces=sim.ifaces,
        policy=policy or observed.policy,
        catalog=observed.catalog,
    )
    return SimulationResult(final, tuple(sim.problems))


def mismatches(final: Topology, expected: Topology) -> list[str]:
    """How `final` differs from `expected`, interface by interface (a private IP of
    None in `expected` accepts any address)."""
    out: list[str] = []
    got = final.interfaces
    for name, want in expected.interfaces.items():
        have = got.get(name)
        if have is want:
            continue
        if have is None:
            out.append(f"{name}: missing from the final state")
            continue
        for field, mine, theirs in (
            ("subnet", have.subnet, want.subnet),
            ("server", have.server, want.server),
            ("eip", have.eip, want.eip),
            ("securityGroups", sorted(have.security_groups), sorted(want.security_groups)),
        ):
            if mine != theirs:
                out.append(f"{name}: {field} is {mine!r}, expected {theirs!r}")
        if want.private_ip is not None and have.private_ip != want.private_ip:
            out.append(f"{name}: privateIp is {have.private_ip!r}, expected {want.private_ip!r}")
    out.extend(f"{name}: should not exist" for name in got if name not in expected.interfaces)
    return sorted(out)


class _Sim:
    """The mutable state of one simulation (internal)."""

    def __init__(
        self, observed: Topology, policy: PlacementPolicy, protected: frozenset[str]
    ) -> None:
        self.observed = observed
        self.cat = observed.catalog
        self.policy = policy
        self.protected = protected
        self.ifaces: dict[str, NetworkInterface] = dict(observed.interfaces)
        self.trace = concurrency.Trace()  # for the concurrency proof
        start_counts = self.trace.start_counts
        self.eip_of: dict[str, str] = {}
        for iface in self.ifaces.values():
            if iface.server is not None:
                start_counts[iface.server] = start_counts.get(iface.server, 0) + 1
            if iface.eip is not None:
                self.eip_of[iface.eip] = iface.name
        self.counts = dict(start_counts)
        self._address_of: dict[tuple[str, str], str] | None = None
        self.problems: list[SimProblem] = []
        self.cloud_picked: set[str] = set()  # subnets where the cloud has picked so far
        self.step_id = 0
        self.stopping: set[str] = set()  # servers a stop-server step fences
        self.stopped: set[str] = set()  # those whose stop has run

    @property
    def address_of(self) -> dict[tuple[str, str], str]:
        """Who holds each (vpc, address), the other ports included: built on first use
        (creates and deletes)."""
        if self._address_of is None:
            self._address_of = invariants.taken_addresses(self.cat)
            for iface in self.ifaces.values():
                key = invariants.address_key(iface, self.cat)
                if key is not None:
                    self._address_of[key] = iface.name
        return self._address_of

    def fail(self, code: Code | str, message: str) -> None:
        self.problems.append(SimProblem(self.step_id, str(code), message))

    def apply(self, index: int, step: Step) -> None:
        self.step_id = step.id
        self.trace.touches.append([])
        if step.id != index + 1:
            self.fail(BAD_DEPENDENCY, f"steps must be numbered from 1: found {step.id}")
        for dep in step.depends_on:
            if not 1 <= dep < step.id:
                self.fail(BAD_DEPENDENCY, f"depends on step {dep}, which does not come before")
        iface = self.ifaces.get(step.interface)
        if step.action is Action.CREATE:
            self._create(step, iface)
            return
        if step.creates_port:  # a new ENI on a BMS: the attach creates the port
            server = self.observed.servers.get(step.server or "")
            if server is None or not server.bare_metal:
                self.fail(INVALID_STEP, f"attach creating {step.interface}: {step.server} no BMS")
                return
            self._create(step, iface)
            created = self.ifaces.get(step.interface)
            if created is not None and created is not iface:
                self._attach(step, created)
            return
        if iface is None:
            self.fail(INVALID_STEP, f"{step.action.value}: {step.interface} does not exist")
            return
        self.touch(("eni", iface.name), step.action is Action.DELETE)
        getattr(self, "_" + step.action.name.lower())(step, iface)

    def touch(self, thing: concurrency.Thing, writes: bool) -> None:
        self.trace.touches[-1].append((thing, writes))

    def _create(self, step: Step, iface: NetworkInterface | None) -> None:
        name = step.interface
        if iface is not None:
            self.fail(INVALID_STEP, f"create: {name} already exists")
            return
        subnet = self.cat.subnets.get(step.subnet or "")
        if subnet is None:
            self.fail(Code.UNKNOWN_SUBNET, f"create: subnet {step.subnet} of {name} is unknown")
            return
        new = NetworkInterface(
            name=name,
            subnet=subnet.name,
            private_ip=step.private_ip,
            security_groups=step.security_groups or (),
            managed=True,
            id=f"new:{name}",
        )
        self._check_groups(new, new.security_groups)
        self.touch(("eni", name), True)
        index = len(self.trace.touches) - 1
        if step.private_ip is None:
            self.trace.cloud_ip.append((index, subnet.name))
            self.cloud_picked.add(subnet.name)
        else:
            self.trace.declared_ip[subnet.name] = (
                self.trace.declared_ip.get(subnet.name, 0) | 1 << index
            )
            if subnet.name in self.cloud_picked:
                self.fail(
                    Code.IP_IN_USE,
                    f"create: {step.private_ip} of {name} may be taken already: an earlier "
                    f"create in {subnet.name} let the cloud choose its address",
                )
        key = invariants.address_key(new, self.cat)
        if key is not None and step.private_ip is not None:
            found = invariants.ip_usable(name, step.private_ip, subnet, "")
            if found is not None:
                self.fail(found.code, found.message)
            if key in self.address_of:
                self.fail(Code.IP_IN_USE, f"{key[1]} is held by {self.address_of[key]}")
            self.address_of[key] = name
            self.touch(("ip", *key), True)
        self.ifaces[name] = new

    def _update(self, step: Step, iface: NetworkInterface) -> None:
        if step.security_groups is None:
            self.fail(INVALID_STEP, f"update: no security groups for {iface.name}")
            return
        self._check_groups(iface, step.security_groups)
        self.touch(("groups", iface.name), True)
        self.ifaces[iface.name] = _edit(iface, iface.server, iface.eip, step.security_groups)

    def _check_groups(self, iface: NetworkInterface, names: Sequence[str]) -> None:
        subnet = self.cat.subnets.get(iface.subnet)
        if subnet is not None:
            for v in invariants.groups(eni_ref(iface.name), "", iface.name, names, subnet.vpc,
                                  self.cat):  # fmt: skip
                self.fail(v.code, v.message)

    def _unbind_eip(self, step: Step, iface: NetworkInterface) -> None:
        if step.eip is None or iface.eip != step.eip:
            self.fail(INVALID_STEP, f"unbind-eip: {step.eip} is not bound to {iface.name}")
            return
        self.touch(("eip-of", iface.name), True)
        self.touch(("eip", step.eip), True)
        del self.eip_of[step.eip]
        self.ifaces[iface.name] = _edit(iface, iface.server, None, iface.security_groups)

    def _bind_eip(self, step: Step, iface: NetworkInterface) -> None:
        eip = step.eip
        if eip is None or eip not in self.cat.eips:
            self.fail(Code.UNKNOWN_EIP, f"bind-eip: EIP {eip} is unknown")
            return
        if eip in self.eip_of:
            self.fail(Code.EIP_IN_USE, f"bind-eip: {eip} is still bound to {self.eip_of[eip]}")
            return
        if iface.eip is not None:
            self.fail(INVALID_STEP, f"bind-eip: {iface.name} still has EIP {iface.eip}")
            return
        self.touch(("eip-of", iface.name), True)
        self.touch(("eip", eip), True)
        self.eip_of[eip] = iface.name
        self.ifaces[iface.name] = _edit(iface, iface.server, eip, iface.security_groups)

    def _stop_server(self, step: Step, iface: NetworkInterface) -> None:
        """A fence: the server is hard-stopped (SHUTOFF) before its ENIs are detached."""
        server = step.server or ""
        if server not in self.observed.servers:
            self.fail(INVALID_STEP, f"stop-server: server {server} is unknown")
            return
        self.touch(("server", server), True)
        self.stopped.add(server)

    def _detach(self, step: Step, iface: NetworkInterface) -> None:
        if iface.primary:
            self.fail(Code.PRIMARY_INTERFACE_IMMUTABLE, f"detach of primary ENI {iface.name}")
            return
        if iface.server is None or iface.server != step.server:
            self.fail(INVALID_STEP, f"detach: {iface.name} is not attached to {step.server}")
            return
        if iface.server in self.stopping:
            if iface.server not in self.stopped:
                self.fail(INVALID_STEP, f"detach: {iface.server} is not stopped yet")
            self.touch(("server", iface.server), False)
        self.touch(("attachment", iface.name), True)
        self.counts[iface.server] -= 1
        self.ifaces[iface.name] = _edit(iface, None, iface.eip, iface.security_groups)

    def _attach(self, step: Step, iface: NetworkInterface) -> None:
        name = iface.name
        if iface.primary:
            self.fail(Code.PRIMARY_INTERFACE_IMMUTABLE, f"attach of primary ENI {name}")
            return
        if iface.server is not None:
            self.fail(INVALID_STEP, f"attach: {name} is still attached to {iface.server}")
            return
        server = self.observed.servers.get(step.server or "")
        if server is None:
            self.fail(Code.UNKNOWN_SERVER, f"attach: server {step.server} is unknown")
            return
        if server.bare_metal and not step.creates_port:
            self.fail(Code.BARE_METAL_MOVE, f"attach: BMS {server.name} cannot take {name}")
            return
        self.touch(("attachment", name), True)
        count = self.counts.get(server.name, 0) + 1
        self.counts[server.name] = count
        over = invariants.flavor_limit(server, count, self.cat, "")
        if over is None:
            over = invariants.unknown_limit(server, self.cat, "", (name,))
        if over is not None:
            self.fail(over.code, over.message)
        subnet = self.cat.subnets.get(iface.subnet)
        if subnet is not None:
            for v in invariants.placement(name, subnet, server, self.policy, ""):
                self.fail(v.code, v.message)
        self.ifaces[name] = _edit(iface, server.name, iface.eip, iface.security_groups)

    def _delete(self, step: Step, iface: NetworkInterface) -> None:
        name = iface.name
        if iface.primary:
            self.fail(Code.PRIMARY_INTERFACE_IMMUTABLE, f"delete of primary ENI {name}")
            return
        if iface.protect or name in self.protected:
            self.fail(Code.PROTECTED_INTERFACE, f"delete of protected ENI {name}")
            return
        if iface.server is not None or iface.eip is not None:
            self.fail(INVALID_STEP, f"delete: {name} is still attached or has an EIP")
            return
        self.touch(("attachment", name), False)
        self.touch(("eip-of", name), False)
        key = invariants.address_key(iface, self.cat)
        if key is not None:
            self.touch(("ip", *key), True)
            if self._address_of is not None:  # else built later, without this one
                self._address_of.pop(key, None)
        del self.ifaces[name]


def _edit(
    i: NetworkInterface, server: str | None, eip: str | None, groups: tuple[str, ...]
) -> NetworkInterface:
    """`i` with another attachment, EIP or groups (dataclasses.replace costs 5x more)."""
    return NetworkInterface(i.name, i.subnet, i.private_ip, groups, eip, server, i.protect,
                            i.primary, i.managed, i.delete_on_termination, i.labels, i.id,
                            i.source)  # fmt: skip
