"""The plan simulator's concurrency proof: every execution the dependencies allow is safe.

`controller.planning.simulator` runs the steps serially and records, per step, what it touched;
`problems()` then checks that no other order the dependency graph allows can go
wrong. Pure, like the serial pass.

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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from controller.model import Catalog, Server
from controller.plan import Action, Code, Step
from controller.planning import invariants

UNORDERED = "Unordered"

Thing = tuple[str, ...]  # what a step touches: ("eni", name), ("eip", name), ...
Found = tuple[str, str]  # (code, message): a problem of the plan as a whole


@dataclass(slots=True)
class Trace:
    """What the serial pass recorded, by step index (0-based)."""

    touches: list[list[tuple[Thing, bool]]] = field(default_factory=list)  # (thing, writes)
    declared_ip: dict[str, int] = field(default_factory=dict)  # subnet -> bits of creates
    cloud_ip: list[tuple[int, str]] = field(default_factory=list)  # (index, subnet)
    start_counts: dict[str, int] = field(default_factory=dict)  # server -> NICs at the start


def problems(
    steps: Sequence[Step], trace: Trace, servers: Mapping[str, Server], catalog: Catalog
) -> list[Found]:
    """Conflicts, cloud-chosen addresses and capacity, in that order (module docstring)."""
    ancestors: list[int] = []
    for step in steps:
        bits = 0
        for dep in step.depends_on:
            if 1 <= dep <= len(ancestors):
                bits |= ancestors[dep - 1] | (1 << (dep - 1))
        ancestors.append(bits)
    return [
        *_conflicts(steps, trace, ancestors),
        *_cloud_addresses(steps, trace, ancestors),
        *_capacity(steps, trace, ancestors, servers, catalog),
    ]


def _conflicts(steps: Sequence[Step], trace: Trace, ancestors: list[int]) -> Iterator[Found]:
    last_write: dict[Thing, int] = {}
    reads: dict[Thing, list[int]] = {}
    reported: set[tuple[int, int]] = set()
    for i, touched in enumerate(trace.touches):
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
                    yield (
                        UNORDERED,
                        f"steps {j + 1} ({_show(steps[j])}) and {i + 1} ({_show(steps[i])})"
                        f" both touch {'/'.join(thing)} but {i + 1} does not depend on "
                        f"{j + 1}: they may run concurrently",
                    )


def _cloud_addresses(steps: Sequence[Step], trace: Trace, ancestors: list[int]) -> Iterator[Found]:
    """Each create whose address the cloud chooses depends on every earlier create
    of its subnet with a declared address (later ones fail the serial check)."""
    for i, subnet in trace.cloud_ip:
        missing = trace.declared_ip.get(subnet, 0) & ((1 << i) - 1) & ~ancestors[i]
        for j in _bits(missing):
            yield (
                UNORDERED,
                f"steps {j + 1} ({_show(steps[j])}) and {i + 1} ({_show(steps[i])}): "
                f"{i + 1} lets the cloud choose an address in {subnet} but does not depend "
                f"on {j + 1}, which declares {steps[j].private_ip}: the cloud may give it away",
            )


def _capacity(
    steps: Sequence[Step],
    trace: Trace,
    ancestors: list[int],
    servers: Mapping[str, Server],
    catalog: Catalog,
) -> Iterator[Found]:
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
        server = servers.get(name)
        limit = None if server is None else invariants.limit_of(server, catalog)
        if limit is None:
            continue
        free = limit - trace.start_counts.get(name, 0)
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
            yield (
                Code.FLAVOR_LIMIT_EXCEEDED,
                f"{name} ({limit} NICs, {trace.start_counts.get(name, 0)} attached): "
                f"attaches {', '.join(str(i + 1) for i in wanted)} may run with {short} "
                f"more than the slots the detaches they depend on have freed",
            )


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
