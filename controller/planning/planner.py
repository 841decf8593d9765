"""The planner: desired + observed topology -> a Plan whose steps are proven safe.

`plan()` runs the pure pipeline: `placement` (where the failover policy puts each
failover ENI, SPEC 4a: the manifests' `server` of those becomes the policy's choice,
and a server in ERROR to fence gets a `stop-server` step that its detaches wait for),
`diff` (what changes, ownership), `rules` (every
violation of the target state), then, for a valid target only, draft steps per
changed interface, capacity slots and numbering (`ordering`), and a self-check by the
plan simulator (`simulator`): the steps must keep every rule true after every step and
under any concurrency the dependencies allow, and must end exactly at the target. A
failed self-check is a bug in the planner and raises AssertionError.

A plan whose target breaks an error rule carries its violations, its changes and its
no-ops, and **no steps**: an order is only defined towards a valid state, and a
rejected plan is never applied. Warnings (`ServerNotReady`, `ProtectedInterface`) do
not block.

Per interface the drafts are: create (before its attach and EIP bind; a create whose
address the cloud chooses waits for every create of its subnet with a declared
address, which the cloud could otherwise hand out first), update of the security
groups (no ordering need: an ENI's VPC never changes; its attach and EIP bind wait for
it so that the ENI never serves traffic with the old groups), unbind-eip (before the
EIP is bound elsewhere, and before the ENI's new EIP is bound), detach (before the
attach elsewhere and before the delete), attach, bind-eip, delete (after detach and
unbind; a create that reuses the deleted ENI's address waits for it). A new ENI
declared on a BMS is one attach instead of create + attach: the BMS API creates the
port as it attaches it (`Step.creates_port`), and that attach plays the create's part
in the orderings above.
Before detaching an ENI that must survive, the executor clears deleteOnTermination;
that is not a step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence

from controller.gcpause import gc_paused
from controller.model import DEFAULT_OWNER, NetworkInterface, Topology
from controller.plan import DEFAULT_PRUNE_LIMIT, Action, Plan, Severity, Step
from controller.planning import (
    diff,
    failover,
    invariants,
    ordering,
    placement,
    rules,
    scope,
    simulator,
)
from controller.planning.ordering import Draft, Key


def plan(
    desired: Topology,
    observed: Topology,
    *,
    prune: bool = False,
    prune_limit: int = DEFAULT_PRUNE_LIMIT,
    prunable: Collection[str] | None = None,
    owner: str = DEFAULT_OWNER,
    manifests_digest: str = "",
    now: float | None = None,
) -> Plan:
    """Place, diff, check and order; see the module docstring. A plan that would delete
    more than `prune_limit` ENIs is rejected (PruneLimitExceeded); with `prunable`,
    --prune deletes only those orphans (`diff.diff`); `owner` is the manifest set's (an
    ENI another owner manages is left alone, and rejects the plan when declared:
    OwnedElsewhere). `now` (epoch seconds) is when the failover policy's hold-downs are
    judged; None: every one is over."""
    with gc_paused():  # ~100,000 small acyclic values at scale
        return _plan(desired, observed, prune, prune_limit, prunable, owner, manifests_digest, now)


def _plan(
    desired: Topology,
    observed: Topology,
    prune: bool,
    prune_limit: int,
    prunable: Collection[str] | None,
    owner: str,
    manifests_digest: str,
    now: float | None,
) -> Plan:
    placed = placement.place(desired, observed, now=now, prune=prune)
    desired = placed.desired
    d = diff.diff(desired, observed, prune=prune, prunable=prunable, owner=owner)
    checked = rules.check(
        desired, observed, d, prune_limit=prune_limit, owner=owner, gone=placed.gone
    )
    violations = failover.violations(checked, placed)
    steps: tuple[Step, ...] = ()
    if not any(v.severity is Severity.ERROR for v in violations):
        steps = failover.reasons(order(d, observed, placed.stops), placed)
        prove(observed, steps, d)
    part = scope.of(desired, observed, orphans=d.orphans, prune=prune, owner=owner)
    return Plan(
        manifests_digest=manifests_digest,
        observed_fingerprint=scope.fingerprint(
            part, prune=prune, prune_limit=prune_limit, owner=owner
        ),
        steps=steps,
        violations=tuple(violations),
        changes=failover.origins(d.changes, placed),
        unchanged=d.unchanged,
        orphans=d.orphans,
        marks=d.marks,
        failover=placed.failovers,
        recheck_at=placed.recheck_at,
    )


def part_of_cloud(
    desired: Topology,
    observed: Topology,
    plan: Plan,
    *,
    prune: bool,
    owner: str = DEFAULT_OWNER,
    also: Iterable[str] = (),
) -> scope.Scope:
    """The rows of `plan`'s part of `observed` (`planning.scope`), whose fingerprint is
    its `observedFingerprint`; `also` adds the rows of more keys."""
    return scope.of(desired, observed, orphans=plan.orphans, prune=prune, owner=owner, also=also)


def order(
    d: diff.Diff, observed: Topology, stops: Sequence[tuple[str, str]] = ()
) -> tuple[Step, ...]:
    """The numbered steps that take `observed` to `d.target` (which must be valid);
    `stops` are the (server, failover ENI) hard stops that fence servers in ERROR."""
    drafts = _drafts(d, observed)
    failover.add_stops(drafts, stops)
    ordering.add_slots(drafts, observed, d.observed_counts)
    return ordering.number(drafts)


def prove(observed: Topology, steps: Sequence[Step], d: diff.Diff) -> None:
    """Raise AssertionError unless the plan simulator accepts the steps."""
    result = simulator.simulate(observed, steps, policy=d.target.policy, protected=d.protected)
    problems = [str(p) for p in result.problems]
    problems += simulator.mismatches(result.final, d.target)
    if problems:
        shown = "\n  ".join(problems[:20])
        raise AssertionError(f"planner bug: its plan fails the simulator:\n  {shown}")


def observed_fingerprint(observed: Topology) -> str:
    """sha256 over the whole cloud (a plan's `observedFingerprint` covers only its part,
    `planning.scope`; this one is watch's cache key): the catalog (the other ports too),
    servers (ids, flavors, placement, status, their own NIC limit, whether a BMS) and
    interfaces (ids, subnets, ips, groups, EIPs, attachments, ownership). Stable across
    runs: sorted by name, no hash randomisation.

    Not a server's `status_since` (providers tell it with different precision; the
    status itself is in). Not an attachment's deleteOnTermination: no step depends on
    it (the executor reads it afresh before every detach), and the huaweicloud provider
    cannot see it while observing (it reports "may be true"), so a plan saved through
    one provider stays fresh through the other for the same cloud."""
    cat = observed.catalog
    lines: list[str] = []
    add = lines.append
    for f in sorted(cat.flavors.values(), key=lambda v: v.name):
        add(repr(("flavor", f.name, f.id, f.max_interfaces)))
    for v in sorted(cat.vpcs.values(), key=lambda v: v.name):
        add(repr(("vpc", v.name, v.id, v.cidr)))
    for s in sorted(cat.subnets.values(), key=lambda v: v.name):
        add(repr(("subnet", s.name, s.id, s.vpc, s.cidr, s.availability_zone)))
    for g in sorted(cat.security_groups.values(), key=lambda v: v.name):
        add(repr(("sg", g.name, g.id, g.vpc)))
    for e in sorted(cat.eips.values(), key=lambda v: v.name):
        add(repr(("eip", e.name, e.id, e.address)))
    for p in sorted(cat.ports, key=lambda v: (v.subnet, v.private_ip, v.id)):
        add(repr(("port", p.id, p.subnet, p.private_ip, p.owner)))
    for name in sorted(observed.servers):
        sv = observed.servers[name]
        sgs = "\x00" if sv.security_groups is None else "\x1e".join(sv.security_groups)
        add("\x1f".join((name, sv.id, sv.flavor, sv.availability_zone, sv.vpc, sv.subnet,
                          sv.status, sgs)))  # fmt: skip
        if sv.nic_limit is not None:
            add(repr(("nic_limit", name, sv.nic_limit)))
        if sv.bare_metal:
            add(repr(("bms", name)))
    interfaces = observed.interfaces
    for name in sorted(interfaces):  # fields joined by control characters no name holds
        i = interfaces[name]
        add("\x1f".join((
            name, i.id, i.subnet, "\x00" if i.private_ip is None else i.private_ip,
            "\x1e".join(i.security_groups), "\x00" if i.eip is None else i.eip,
            "\x00" if i.server is None else i.server, "1" if i.primary else "0",
            "1" if i.managed else "0", "1" if i.protect else "0",
        )))  # fmt: skip
        if i.failover_at is not None:  # the failover time tag: hold-downs depend on it
            add(repr(("failover_at", name, int(i.failover_at))))
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _drafts(d: diff.Diff, observed: Topology) -> dict[Key, Draft]:
    drafts: dict[Key, Draft] = {}
    holders: dict[str, str] = {}  # EIP -> the observed interface it is bound to
    wanted: set[str] = {x.after.eip for x in d.deltas if x.after is not None and x.after.eip}
    if wanted:
        for iface in observed.interfaces.values():
            if iface.eip in wanted:
                holders[iface.eip] = iface.name
    going_to = {x.after.eip: x.name for x in d.deltas if x.after is not None and x.after.eip}
    freed: dict[tuple[str, str], str] = {}  # (vpc, ip) of deleted interfaces
    for x in d.deltas:
        if x.after is None and x.before is not None:
            key = invariants.address_key(x.before, observed.catalog)
            if key is not None:
                freed[key] = x.name

    declared_ip: dict[str, list[Key]] = {}  # subnet -> creates with a declared address
    cloud_ip: dict[str, list[Draft]] = {}  # subnet -> creates whose address the cloud picks

    def add(draft: Draft) -> Draft:
        drafts[draft.key] = draft
        return draft

    for x in d.deltas:
        b, a, name = x.before, x.after, x.name
        if b is None and a is not None:
            host = observed.servers.get(a.server) if a.server is not None else None
            on_bms = host is not None and host.bare_metal
            create = add(_create(a, on_bms))
            key = invariants.address_key(a, observed.catalog)
            if key is not None and key in freed:
                create.deps.append((Action.DELETE, freed[key]))
            if a.private_ip is None:
                cloud_ip.setdefault(a.subnet, []).append(create)
            else:
                declared_ip.setdefault(a.subnet, []).append(create.key)
            if a.eip is not None:
                bind = add(_bind(a, holders.get(a.eip)))
                bind.deps.append(create.key)
                if holders.get(a.eip) not in (None, name):
                    bind.deps.append((Action.UNBIND_EIP, holders[a.eip]))
            if a.server is not None and not on_bms:
                attach = add(Draft(Action.ATTACH, name, a.server, f"new {name} goes to {a.server}"))
                attach.deps.append(create.key)
            continue
        if b is None:
            continue
        if a is None:
            why = f"orphan {name} is pruned"
            deps: list[Key] = []
            if b.eip is not None:
                deps.append(add(Draft(Action.UNBIND_EIP, name, reason=why, eip=b.eip)).key)
            if b.server is not None:
                deps.append(add(Draft(Action.DETACH, name, b.server, why)).key)
            reason = f"orphan {name}: no manifest declares it (--prune)"
            add(Draft(Action.DELETE, name, reason=reason, deps=deps))
            continue
        _existing(b, a, holders, going_to, add)
    for subnet, creates in cloud_ip.items():  # the cloud may pick any free address
        taken = declared_ip.get(subnet)
        if taken:
            for create in creates:
                create.deps.extend(taken)
    return drafts


def _existing(
    b: NetworkInterface,
    a: NetworkInterface,
    holders: dict[str, str],
    going_to: dict[str, str],
    add: Callable[[Draft], Draft],
) -> None:
    name = a.name
    update = None
    if not diff.same_groups(b.security_groups, a.security_groups):
        whose = f"{b.server}'s primary ENI" if b.primary else name
        why = f"security groups of {whose}: {_groups(b)} -> {_groups(a)}"
        update = add(Draft(Action.UPDATE, name, reason=why, security_groups=a.security_groups))
    if b.eip != a.eip:
        unbind = None
        if b.eip is not None:
            to = going_to.get(b.eip)
            why = f"{b.eip} moves to {to}" if to else f"{name} no longer declares {b.eip}"
            unbind = add(Draft(Action.UNBIND_EIP, name, reason=why, eip=b.eip))
        if a.eip is not None:
            holder = holders.get(a.eip)
            bind = add(_bind(a, holder))
            bind.deps.extend(k.key for k in (unbind, update) if k is not None)
            if holder is not None and holder != name:
                bind.deps.append((Action.UNBIND_EIP, holder))
    if b.server != a.server:
        detach = None
        if b.server is not None:
            why = f"{name} moves to {a.server}" if a.server else f"{name} is declared detached"
            detach = add(Draft(Action.DETACH, name, b.server, why))
        if a.server is not None:
            why = (
                f"{name} moves from {b.server} to {a.server}"
                if b.server
                else f"{name} is declared on {a.server}"
            )
            attach = add(Draft(Action.ATTACH, name, a.server, why))
            attach.deps.extend(k.key for k in (detach, update) if k is not None)


def _create(a: NetworkInterface, on_bms: bool = False) -> Draft:
    """The create of a new ENI; on a BMS one attach through the BMS API instead, which
    creates the port (subnet, address, security groups) as it attaches it and takes a
    slot like any attach."""
    reason = f"{a.name} is declared and does not exist"
    if on_bms:
        reason = f"new {a.name} is created on BMS {a.server} (the BMS API attaches a new port)"
    return Draft(
        Action.ATTACH if on_bms else Action.CREATE,
        a.name,
        a.server if on_bms else None,
        reason=reason,
        subnet=a.subnet,
        private_ip=a.private_ip,
        security_groups=a.security_groups,
    )


def _bind(a: NetworkInterface, holder: str | None) -> Draft:
    assert a.eip is not None
    came = f" (from {holder})" if holder not in (None, a.name) else ""
    return Draft(Action.BIND_EIP, a.name, reason=f"{a.name} is declared with {a.eip}{came}",
                 eip=a.eip)  # fmt: skip


def _groups(iface: NetworkInterface) -> str:
    return "[" + ", ".join(iface.security_groups) + "]"
