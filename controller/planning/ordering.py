"""Capacity-safe ordering: slot dependencies for attaches, then step numbering.

The planner turns each changed interface into draft steps (`Draft`) linked by their
own dependencies (create before attach, detach before delete, unbind an EIP before
binding it elsewhere). This module adds the capacity dependencies and numbers them.

**Slots.** A server S has `free = limit - attached` slots before the plan. Every
attach to S takes a slot: the first `free` attaches take a free one (no dependency),
each other attach depends on exactly one detach from S, a different one for each
(its "slot"). Since an attach occupies its slot from the moment it starts and a
detach frees it when it completes, at any moment under any concurrency the attaches
started on S number at most `free` plus the detaches from S completed: the limit
holds. Detaches depend on nothing capacity-wise, so the graph has no cycle, and moves
between full servers (swaps, rotations, chains) never deadlock: a moved ENI's attach
waits for its own detach and for the one detach whose slot it takes, nothing else.
Free slots go first to moving ENIs (they carry traffic), then to detached ones, then
to new ones; slots freed by ENIs that go away (deleted or left detached) are handed
out before slots freed by moving ENIs. A server already over its limit (a flavor
changed under it) gets the conservative rule: each attach waits for every detach.

**Numbering.** Steps are numbered in a topological order that is also a good serial
order (`--parallelism 1`): a priority Kahn sort where a step that completes something
(attach, bind-eip, delete) runs as soon as it may (EIP binds first, then the attaches
of moved ENIs in the order they were detached, then the others), then creates, security group
updates and EIP unbinds, then detaches: first those of ENIs that go away, then those
whose own attach may follow at once, then those that free a slot someone waits for,
then the rest. In a cycle of full servers that means: detach one ENI of the cycle
(it waits detached), then walk the cycle, each ENI detached and at once re-attached
into the slot the previous one freed, until the first ENI's slot frees. Ties break by
interface name, so the same drafts always give the same steps.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.model import Topology
from controller.plan import Action, Step
from controller.planning.invariants import limit_of

Key = tuple[Action, str]  # (action, interface): unique within a plan

_CATEGORY = {
    Action.ATTACH: 0,
    Action.BIND_EIP: 0,
    Action.DELETE: 0,
    Action.STOP_SERVER: 0,  # a fence: the moves off that server wait for it
    Action.CREATE: 1,
    Action.UPDATE: 2,
    Action.UNBIND_EIP: 3,
    Action.DETACH: 4,
}
_ACTION_ORDER = {a: i for i, a in enumerate(Action)}
_LAST = 1 << 30


@dataclass(slots=True)
class Draft:
    """A step before numbering: dependencies name other drafts by key."""

    action: Action
    interface: str
    server: str | None = None
    reason: str = ""
    subnet: str | None = None
    private_ip: str | None = None
    security_groups: tuple[str, ...] | None = None
    eip: str | None = None
    deps: list[Key] = field(default_factory=list)

    @property
    def key(self) -> Key:
        return (self.action, self.interface)


def add_slots(drafts: Mapping[Key, Draft], observed: Topology, counts: Mapping[str, int]) -> None:
    """Make each attach depend on the detach whose slot it takes (module docstring);
    `counts` are the NICs attached per server before the plan."""
    attaches: dict[str, list[Draft]] = {}
    detaches: dict[str, list[Draft]] = {}
    for draft in drafts.values():
        if draft.server is None:
            continue
        if draft.action is Action.ATTACH:
            attaches.setdefault(draft.server, []).append(draft)
        elif draft.action is Action.DETACH:
            detaches.setdefault(draft.server, []).append(draft)
    for name, wanted in attaches.items():
        server = observed.servers.get(name)
        limit = None if server is None else limit_of(server, observed.catalog)
        if limit is None:
            continue
        free = limit - counts.get(name, 0)
        wanted.sort(key=lambda d: (_attach_rank(d, drafts), d.interface))
        leaving = sorted(
            detaches.get(name, ()),
            key=lambda d: ((Action.ATTACH, d.interface) in drafts, d.interface),
        )
        if free < 0:
            for attach in wanted:
                attach.deps.extend(d.key for d in leaving)
            continue
        rest = wanted[free:]
        if len(rest) > len(leaving):
            raise AssertionError(f"{name}: {len(rest)} attaches but {len(leaving)} free slots")
        for attach, detach in zip(rest, leaving, strict=False):
            attach.deps.append(detach.key)


def _attach_rank(attach: Draft, drafts: Mapping[Key, Draft]) -> int:
    if (Action.DETACH, attach.interface) in drafts:
        return 0  # moving: carries traffic
    if (Action.CREATE, attach.interface) in drafts or attach.subnet is not None:
        return 2  # new (a port the attach creates, on a BMS, too)
    return 1  # exists, detached


def number(drafts: Mapping[Key, Draft]) -> tuple[Step, ...]:
    """Number the drafts in a deterministic, serially good topological order."""
    deps = {k: list(dict.fromkeys(d.deps)) for k, d in drafts.items()}  # insertion order
    dependents: dict[Key, list[Key]] = {k: [] for k in drafts}
    for k, ds in deps.items():
        for dep in ds:
            if dep not in drafts:
                raise AssertionError(f"{k[0].value} {k[1]} depends on missing {dep}")
            dependents[dep].append(k)
    remaining = {k: len(ds) for k, ds in deps.items()}
    ids: dict[Key, int] = {}

    def priority(k: Key) -> tuple[int, int, str, int]:
        return (_CATEGORY[k[0]], _klass(k), k[1], _ACTION_ORDER[k[0]])

    def _klass(k: Key) -> int:
        action, iface = k
        if action is Action.ATTACH:  # first come, first served: the longest detached first
            return ids.get((Action.DETACH, iface), _LAST)
        if action is Action.DELETE:
            return _LAST
        if action is Action.DETACH and (Action.ATTACH, iface) not in drafts:
            return 0  # the ENI goes away: costs no waiting
        if action not in (Action.DETACH, Action.UNBIND_EIP):
            return 0
        best = 3
        for t in dependents[k]:
            if remaining[t] == 1 and _CATEGORY[t[0]] == 0:
                best = min(best, 1 if t[1] == iface else 2)
        return best

    heap = [(priority(k), k) for k in drafts if remaining[k] == 0]
    heapq.heapify(heap)
    while heap:
        popped, k = heapq.heappop(heap)
        if k in ids:
            continue
        now = priority(k)
        if now != popped:  # priorities only improve; the better one goes back in line
            heapq.heappush(heap, (now, k))
            continue
        ids[k] = len(ids) + 1
        for t in dependents[k]:
            remaining[t] -= 1
            if remaining[t] == 0:
                heapq.heappush(heap, (priority(t), t))
            elif remaining[t] == 1:
                last = next(d for d in deps[t] if d not in ids)
                if remaining[last] == 0:
                    heapq.heappush(heap, (priority(last), last))
    if len(ids) != len(drafts):
        stuck = sorted((k for k in drafts if k not in ids), key=_tie)[:5]
        raise AssertionError(f"dependency cycle among {stuck}")
    steps = [
        Step(
            id=ids[k],
            action=d.action,
            interface=d.interface,
            server=d.server,
            depends_on=tuple(sorted(ids[x] for x in deps[k])),
            reason=d.reason,
            subnet=d.subnet,
            private_ip=d.private_ip,
            security_groups=d.security_groups,
            eip=d.eip,
        )
        for k, d in drafts.items()
    ]
    steps.sort(key=lambda s: s.id)
    return tuple(steps)


def _tie(k: Key) -> tuple[str, int]:
    return (k[1], _ACTION_ORDER[k[0]])
