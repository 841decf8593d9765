"""The plan simulator: apply steps to an observed topology and prove them safe.

`simulate()` is pure. It applies the steps one by one, in id order, to a copy of the
observed state (a create gives the interface the placeholder id `new:<name>`) and
checks after each step the invariants the step may have touched, with the local rules
of `controller.rules`: flavor limits (an attach counts from the moment it starts),
placement (AZ, VPC, subnet scope), security groups in the ENI's VPC, primary ENIs
never detached/moved/deleted, protected ENIs never deleted, EIP and address
uniqueness, and that each step makes sense in the state it meets (no attach of an
attached ENI, no delete of an attached one, ...). Every invariant is local to one
server, interface, EIP or address, so checking what a step touched is checking the
whole state, in O(1) per step.

Then it checks concurrency: any execution the dependency graph allows must be safe,
not just the serial one.

- **Conflicts.** Two steps that touch the same thing (an interface's existence, its
  attachment, its EIP slot, an EIP, a VPC address) and of which at least one changes
  it must be ordered by the graph (one a transitive dependency of the other), in their
  serial order. Then every allowed execution sees, per thing, the serial history.
- **Addresses the cloud chooses.** A create without a private IP gets any free address
  of its subnet, so every create of that subnet with a declared address must come
  before it, serially and as one of its transitive dependencies; else the cloud may
  hand the declared address out first (`IpInUse`).
- **Capacity.** Attaches and detaches on a server commute except for the count. For
  server S with `free` slots, at any moment the attaches started are at most those
  whose dependencies completed, and the detaches completed at least those some
  started attach depends on. By Hall's theorem every reachable moment is within the
  limit iff there is a matching that gives each attach beyond `free` its own detach
  from S among its transitive dependencies (for a server already over its limit by k,
  each attach must have k + 1 such detaches of its own, the surplus form). Transitive
  dependencies are bit sets, the matching is Kuhn's augmenting paths per server.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from controller import invariants
from controller.diff import eni_ref
from controller.model import NetworkInterface, PlacementPolicy, Topology
from controller.plan import Action, Code, Step

INVALID_STEP = "InvalidStep"
BAD_DEPENDENCY = "BadDependency"
UNORDERED = "Unordered"

Thing = tuple[str, ...]  # what a step touches: ("eni", name), ("eip", name), ...


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
    for index, step in enumerate(steps):
        sim.apply(index, step)
    sim.check_concurrency(steps)
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
        self.start_counts: dict[str, int] = {}
        self.eip_of: dict[str, str] = {}
        for iface in self.ifaces.values():
            if iface.server is not None:
                self.start_counts[iface.server] = self.start_counts.get(iface.server, 0) + 1
            if iface.eip is not None:
                self.eip_of[iface.eip] = iface.name
        self.counts = dict(self.start_counts)
        self._address_of: dict[tuple[str, str], str] | None = None
        self.problems: list[SimProblem] = []
        self.touches: list[list[tuple[Thing, bool]]] = []  # per step: (thing, writes)
        self.declared_ip: dict[str, int] = {}  # subnet -> bits of creates with an address
        self.cloud_ip: list[tuple[int, str]] = []  # (index, subnet): the cloud picks
        self.cloud_picked: set[str] = set()  # subnets where the cloud has picked so far
        self.step_id = 0

    @property
    def address_of(self) -> dict[tuple[str, str], str]:
        """Who holds each (vpc, address): built on first use (creates and deletes)."""
        if self._address_of is None:
            self._address_of = {}
            for iface in self.ifaces.values():
                key = invariants.address_key(iface, self.cat)
                if key is not None:
                    self._address_of[key] = iface.name
        return self._address_of

    def fail(self, code: Code | str, message: str) -> None:
        self.problems.append(SimProblem(self.step_id, str(code), message))

    def apply(self, index: int, step: Step) -> None:
        self.step_id = step.id
        self.touches.append([])
        if step.id != index + 1:
            self.fail(BAD_DEPENDENCY, f"steps must be numbered from 1: found {step.id}")
        for dep in step.depends_on:
            if not 1 <= dep < step.id:
                self.fail(BAD_DEPENDENCY, f"depends on step {dep}, which does not come before")
        iface = self.ifaces.get(step.interface)
        if step.action is Action.CREATE:
            self._create(step, iface)
            return
        if iface is None:
            self.fail(INVALID_STEP, f"{step.action.value}: {step.interface} does not exist")
            return
        self.touch(("eni", iface.name), step.action is Action.DELETE)
        getattr(self, "_" + step.action.name.lower())(step, iface)

    def touch(self, thing: Thing, writes: bool) -> None:
        self.touches[-1].append((thing, writes))

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
        index = len(self.touches) - 1
        if step.private_ip is None:
            self.cloud_ip.append((index, subnet.name))
            self.cloud_picked.add(subnet.name)
        else:
            self.declared_ip[subnet.name] = self.declared_ip.get(subnet.name, 0) | 1 << index
            if subnet.name in self.cloud_picked:
                self.fail(
                    Code.IP_IN_USE,
                    f"create: {step.private_ip} of {name} may be taken already: an earlier "
                    f"create in {subnet.name} let the cloud choose its address",
                )
        key = invariants.address_key(new, self.cat)
        if key is not None and step.private_ip is not None:
            found = invariants.ip_in_subnet(name, step.private_ip, subnet, "")
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

    def _detach(self, step: Step, iface: NetworkInterface) -> None:
        if iface.primary:
            self.fail(Code.PRIMARY_INTERFACE_IMMUTABLE, f"detach of primary ENI {iface.name}")
            return
        if iface.server is None or iface.server != step.server:
            self.fail(INVALID_STEP, f"detach: {iface.name} is not attached to {step.server}")
            return
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
        self.touch(("attachment", name), True)
        count = self.counts.get(server.name, 0) + 1
        self.counts[server.name] = count
        over = invariants.flavor_limit(server, count, self.cat, "")
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

    # -- concurrency -----------------------------------------------------------------

    def check_concurrency(self, steps: Sequence[Step]) -> None:
        self.step_id = 0
        ancestors: list[int] = []
        for step in steps:
            bits = 0
            for dep in step.depends_on:
                if 1 <= dep <= len(ancestors):
                    bits |= ancestors[dep - 1] | (1 << (dep - 1))
            ancestors.append(bits)
        self._conflicts(steps, ancestors)
        self._cloud_addresses(steps, ancestors)
        self._capacity(steps, ancestors)

    def _conflicts(self, steps: Sequence[Step], ancestors: list[int]) -> None:
        last_write: dict[Thing, int] = {}
        reads: dict[Thing, list[int]] = {}
        reported: set[tuple[int, int]] = set()
        for i, touched in enumerate(self.touches):
            for thing, writes in touched:
                before = [last_write[thing]] if thing in last_write else []
                if writes:
                    before += reads.pop(thing, [])
                    last_write[thing] = i
                else:
                    reads.setdefault(thing, []).append(i)
                for j in before:
                    if j != i and not (ancestors[i] >> j) & 1 and (j, i) not in reported:
                        reported.add((j, i))
                        self.fail(
                            UNORDERED,
                            f"steps {j + 1} ({_show(steps[j])}) and {i + 1} ({_show(steps[i])})"
                            f" both touch {'/'.join(thing)} but {i + 1} does not depend on "
                            f"{j + 1}: they may run concurrently",
                        )

    def _cloud_addresses(self, steps: Sequence[Step], ancestors: list[int]) -> None:
        """Each create whose address the cloud chooses depends on every earlier create
        of its subnet with a declared address (later ones fail the serial check)."""
        for i, subnet in self.cloud_ip:
            missing = self.declared_ip.get(subnet, 0) & ((1 << i) - 1) & ~ancestors[i]
            for j in _bits(missing):
                self.fail(
                    UNORDERED,
                    f"steps {j + 1} ({_show(steps[j])}) and {i + 1} ({_show(steps[i])}): "
                    f"{i + 1} lets the cloud choose an address in {subnet} but does not depend "
                    f"on {j + 1}, which declares {steps[j].private_ip}: the cloud may give it away",
                )

    def _capacity(self, steps: Sequence[Step], ancestors: list[int]) -> None:
        attaches: dict[str, list[int]] = {}
        detach_bits: dict[str, int] = {}
        for i, step in enumerate(steps):
            if step.server is None:
                continue
            if step.action is Action.ATTACH:
                attaches.setdefault(step.server, []).append(i)
            elif step.action is Action.DETACH:
                detach_bits[step.server] = detach_bits.get(step.server, 0) | (1 << i)
        for name in sorted(attaches):
            server = self.observed.servers.get(name)
            limit = None if server is None else invariants.limit_of(server, self.cat)
            if limit is None:
                continue
            free = limit - self.start_counts.get(name, 0)
            wanted = attaches[name]
            if len(wanted) <= free:
                continue
            mask = detach_bits.get(name, 0)
            options = [list(_bits(ancestors[i] & mask)) for i in wanted]
            if free >= 0:
                short = len(wanted) - free - _max_matching(options)
            else:  # surplus form: each attach needs 1 - free detaches of its own
                short = max(
                    len(options) - free - _max_matching(options + [options[i]] * -free)
                    for i in range(len(options))
                )
            if short > 0:
                self.fail(
                    Code.FLAVOR_LIMIT_EXCEEDED,
                    f"{name} ({limit} NICs, {self.start_counts.get(name, 0)} attached): "
                    f"attaches {', '.join(str(i + 1) for i in wanted)} may run with {short} "
                    f"more than the slots the detaches they depend on have freed",
                )


def _edit(
    i: NetworkInterface, server: str | None, eip: str | None, groups: tuple[str, ...]
) -> NetworkInterface:
    """`i` with another attachment, EIP or groups (dataclasses.replace costs 5x more)."""
    return NetworkInterface(i.name, i.subnet, i.private_ip, groups, eip, server, i.protect,
                            i.primary, i.managed, i.delete_on_termination, i.labels, i.id,
                            i.source)  # fmt: skip


def _show(step: Step) -> str:
    return f"{step.action.value} {step.interface}"


def _bits(value: int) -> Iterator[int]:
    while value:
        low = value & -value
        yield low.bit_length() - 1
        value ^= low


def _max_matching(options: Sequence[Sequence[int]]) -> int:
    """Size of a maximum matching of left nodes (indexes) to right nodes (values)."""
    owner: dict[int, int] = {}
    size = 0
    for root in range(len(options)):
        seen: set[int] = set()
        stack: list[tuple[int, Iterator[int]]] = [(root, iter(options[root]))]
        via: list[int] = []
        while stack:
            rest = stack[-1][1]
            nxt = next((r for r in rest if r not in seen), None)
            if nxt is None:
                stack.pop()
                if via:
                    via.pop()
                continue
            seen.add(nxt)
            via.append(nxt)
            if nxt in owner:
                stack.append((owner[nxt], iter(options[owner[nxt]])))
                continue
            for (lft, _), right in zip(stack, via, strict=True):
                owner[right] = lft
            size += 1
            break
    return size
