"""Desired vs observed: which interfaces must change, which need nothing, and why.

The diff works by key (interface name), never over the whole topology at once: a
desired interface is compared with its observed twin field by field, and only the
resources that differ become a `Delta` and field-level `Change`s (before/after).
Everything else gets a `NoOp` with its reason.

Ownership (SPEC section 4), for one `owner` (the manifest set's, `--owner`):

- a desired interface whose name exists in the cloud is adopted when no enictl
  manages it (apply tags it as managed by `owner`: a `managed` mark, not a step), and
  kept as it is when this owner manages it already;
- an ENI another owner manages is left alone: never an orphan here, and when these
  manifests declare it, it gets no step and no mark (`rules` rejects the plan with
  `OwnedElsewhere`);
- a managed extension ENI of this owner that no manifest mentions is an orphan: kept, unless
  `prune` is set, then it is detached and deleted; an orphan marked `protect` in the
  cloud is never deleted, nor one outside `prunable` (watch's grace period);
- unmanaged ENIs that no manifest mentions are never touched (they still count
  toward flavor limits: they stay in the target topology);
- a desired ENI whose cloud protect marker differs from its `protect` (a created one
  with `protect: true` too) is listed in `Diff.protect`: apply sets the marker (not a
  step), so a later `--prune` keeps it once its manifest is gone;
- primary ENIs are never created, moved or deleted; a Server's `securityGroups`
  updates its primary ENI's groups.

`Diff.target` is the whole topology the plan must reach: the observed topology with
the desired interfaces applied and the pruned orphans removed. Rules check it; the
plan simulator's final state must equal it.

Field names in `Change`s are the manifest's (`subnet`, `privateIp`, `securityGroups`,
`eip`, `server`). A create is reported as `exists: False -> True` followed by the
new interface's fields (before None); a delete as `exists: True -> False`; the
adoption of an unmanaged ENI as `managed: False -> True`.

Which resources and fields differ is found by comparing the fields directly (about
1 µs a resource). What changed *inside* a list or mapping field of an existing
resource (security groups added and removed, labels added, removed or changed) is
`details(changes)`, computed by deepdiff from each `Change`'s before and after: deepdiff
costs about 0.1 ms a change and 60-100 ms to import, so it is imported on first use
and called only for the changes a renderer shows, never for a resource that did not
change.
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from controller.model import DEFAULT_OWNER, NetworkInterface, Topology
from controller.plan import Change, Mark, Marker, NoOp

IN_SYNC = "in sync"
ADOPTED = "in sync (adopted)"
PROTECT_MARKED = "in sync (apply sets its protect marker)"
PROTECT_CLEARED = "in sync (apply clears its protect marker)"
UNMANAGED = "unmanaged, left alone"
ORPHAN_KEPT = "orphan kept: run with --prune to delete"
ORPHAN_PROTECTED = "orphan kept: protect is set, never deleted"
ORPHAN_IN_GRACE = "orphan kept for now: --prune deletes it once --prune-grace has passed"
SERVER_GROUPS_LEFT = "in sync (primary security groups not declared, left alone)"
_RESOURCE = operator.attrgetter("resource")


def server_ref(name: str) -> str:
    return f"Server/{name}"


def eni_ref(name: str) -> str:
    return f"NetworkInterface/{name}"


def same_groups(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Security group lists are sets: order does not matter."""
    return a == b or sorted(a) == sorted(b)


@dataclass(frozen=True, slots=True)
class Delta:
    """One interface whose state must change: observed `before` (None = create) to
    target `after` (None = delete)."""

    name: str
    before: NetworkInterface | None
    after: NetworkInterface | None

    @property
    def moves(self) -> bool:
        """Attached before and after, to different servers."""
        b, a = self.before, self.after
        return (
            b is not None
            and a is not None
            and None not in (b.server, a.server)
            and (b.server != a.server)
        )


@dataclass(frozen=True, slots=True)
class Diff:
    target: Topology
    deltas: tuple[Delta, ...]  # by name
    changes: tuple[Change, ...]
    unchanged: tuple[NoOp, ...]
    orphans: tuple[str, ...]  # every managed ENI no manifest mentions, pruned or not
    protected_orphans: tuple[str, ...]  # orphans that prune would delete but protect keeps
    protected: frozenset[str]  # every interface that must never be deleted
    observed_counts: Mapping[str, int]  # NICs attached per server, before
    target_counts: Mapping[str, int]  # and after
    # markers to set: `managed` on the unmanaged extension ENIs a manifest names, by name,
    # then the `protect` markers that differ from the manifests, by name
    marks: tuple[Mark, ...] = ()


def diff(
    desired: Topology,
    observed: Topology,
    *,
    prune: bool = False,
    prunable: Collection[str] | None = None,
    owner: str = DEFAULT_OWNER,
) -> Diff:
    """Compare desired with observed by name, for the manifests of `owner`; see the
    module docstring. With `prune`, the orphans in `prunable` are deleted (all of them
    when it is None); the others are kept for now (`watch --prune-grace`: not orphans
    for long enough yet)."""
    seen = observed.interfaces
    wanted = desired.interfaces
    target = dict(seen)
    deltas: dict[str, Delta] = {}
    changes: list[Change] = []
    unchanged: list[NoOp] = []
    counts: dict[str, int] = {}
    primaries: dict[str, NetworkInterface] = {}
    orphans: list[str] = []
    protected_orphans: list[str] = []
    adopted_names: list[str] = []
    marks: list[Mark] = []  # protect markers

    for name, have in seen.items():
        if have.server is not None:
            counts[have.server] = counts.get(have.server, 0) + 1
            if have.primary:
                primaries[have.server] = have
        if have.primary or name in wanted:
            continue
        if not have.managed:
            unchanged.append(NoOp(eni_ref(name), UNMANAGED))
            continue
        if (have.owner or DEFAULT_OWNER) != owner:
            unchanged.append(NoOp(eni_ref(name), elsewhere(have)))
            continue
        orphans.append(name)
        if have.protect:
            if prune:
                protected_orphans.append(name)
            unchanged.append(NoOp(eni_ref(name), ORPHAN_PROTECTED))
        elif not prune:
            unchanged.append(NoOp(eni_ref(name), ORPHAN_KEPT))
        elif prunable is not None and name not in prunable:
            unchanged.append(NoOp(eni_ref(name), ORPHAN_IN_GRACE))
        else:
            del target[name]
            deltas[name] = Delta(name, have, None)
            changes.append(Change(eni_ref(name), "exists", True, False))

    for name in sorted(wanted):
        want = wanted[name]
        found = seen.get(name)
        if found is None:
            after = replace(
                want, primary=False, managed=True, owner=owner, delete_on_termination=False, id=""
            )
            target[name] = after
            deltas[name] = Delta(name, None, after)
            changes.extend(_created(eni_ref(name), after))
            if want.protect:
                marks.append(Mark(name, Marker.PROTECT))
            continue
        have = found
        if have.managed and (have.owner or DEFAULT_OWNER) != owner:
            unchanged.append(NoOp(eni_ref(name), elsewhere(have)))  # OwnedElsewhere
            continue
        adopted = not have.managed and not have.primary
        if adopted:
            adopted_names.append(name)
            changes.append(Change(eni_ref(name), "managed", False, True))
        in_sync = ADOPTED if adopted else IN_SYNC
        if want.protect != have.protect and not have.primary:
            marks.append(Mark(name, Marker.PROTECT, want.protect))
            in_sync = PROTECT_MARKED if want.protect else PROTECT_CLEARED
        if (
            want.server == have.server
            and want.eip == have.eip
            and want.subnet == have.subnet
            and (want.private_ip is None or want.private_ip == have.private_ip)
            and (
                want.security_groups == have.security_groups
                or sorted(want.security_groups) == sorted(have.security_groups)
            )
        ):  # in sync: the usual case, inlined
            unchanged.append(NoOp(f"NetworkInterface/{name}", in_sync))
            continue
        after = _applied(want, have, owner)
        target[name] = after
        deltas[name] = Delta(name, have, after)
        changes.extend(_fields(eni_ref(name), have, after))

    for name in sorted(desired.servers):
        groups = desired.servers[name].security_groups
        primary = primaries.get(name)
        if groups is None or primary is None:
            unchanged.append(NoOp(server_ref(name), SERVER_GROUPS_LEFT))
            continue
        current = target[primary.name]
        if same_groups(current.security_groups, groups):
            unchanged.append(NoOp(server_ref(name), IN_SYNC))
            continue
        after = replace(current, security_groups=groups)
        target[primary.name] = after
        deltas[primary.name] = Delta(primary.name, primary, after)
        changes.append(Change(server_ref(name), "securityGroups", primary.security_groups, groups))

    after_counts = dict(counts)
    for delta in deltas.values():
        if delta.before is not None and delta.before.server is not None:
            after_counts[delta.before.server] -= 1
        if delta.after is not None and delta.after.server is not None:
            after_counts[delta.after.server] = after_counts.get(delta.after.server, 0) + 1
    protected = {n for n, i in wanted.items() if i.protect}
    protected.update(protected_orphans)
    return Diff(
        target=Topology(
            servers=observed.servers,
            interfaces=target,
            policy=desired.policy,
            catalog=observed.catalog,
        ),
        deltas=tuple(deltas[n] for n in sorted(deltas)),
        changes=tuple(sorted(changes, key=_RESOURCE)),  # stable: field order kept
        unchanged=tuple(sorted(unchanged, key=_RESOURCE)),
        orphans=tuple(sorted(orphans)),
        protected_orphans=tuple(sorted(protected_orphans)),
        protected=frozenset(protected),
        observed_counts=counts,
        target_counts=after_counts,
        marks=(*(Mark(n, Marker.MANAGED) for n in adopted_names), *marks),
    )


def elsewhere(have: NetworkInterface) -> str:
    """Why an ENI another owner manages is left alone."""
    return f"managed by owner {have.managed_by}, left alone"


def _applied(want: NetworkInterface, have: NetworkInterface, owner: str) -> NetworkInterface:
    """The target state of an existing interface: the manifest's fields on the cloud's
    identity. A manifest without privateIp keeps the observed IP."""
    return NetworkInterface(
        name=have.name,
        subnet=want.subnet,
        private_ip=have.private_ip if want.private_ip is None else want.private_ip,
        security_groups=want.security_groups,
        eip=want.eip,
        server=want.server,
        protect=want.protect,
        primary=have.primary,
        managed=True if not have.primary else have.managed,
        owner=owner if not have.primary else have.owner,
        delete_on_termination=have.delete_on_termination,
        labels=want.labels,
        id=have.id,
        source=want.source,
    )


def _created(ref: str, new: NetworkInterface) -> Iterator[Change]:
    yield Change(ref, "exists", False, True)
    yield Change(ref, "subnet", None, new.subnet)
    if new.private_ip is not None:
        yield Change(ref, "privateIp", None, new.private_ip)
    yield Change(ref, "securityGroups", None, new.security_groups)
    if new.eip is not None:
        yield Change(ref, "eip", None, new.eip)
    if new.server is not None:
        yield Change(ref, "server", None, new.server)


def _fields(ref: str, have: NetworkInterface, want: NetworkInterface) -> Iterator[Change]:
    if have.subnet != want.subnet:
        yield Change(ref, "subnet", have.subnet, want.subnet)
    if have.private_ip != want.private_ip:
        yield Change(ref, "privateIp", have.private_ip, want.private_ip)
    if not same_groups(have.security_groups, want.security_groups):
        yield Change(ref, "securityGroups", have.security_groups, want.security_groups)
    if have.eip != want.eip:
        yield Change(ref, "eip", have.eip, want.eip)
    if have.server != want.server:
        yield Change(ref, "server", have.server, want.server)


@dataclass(frozen=True, slots=True)
class Detail:
    """What changed inside a list or mapping field.

    For a list (compared as a set, as the diff compares security groups): the items
    `added` and `removed`. For a mapping (labels): the keys `added`, `removed` and
    `changed` (whose value differs); their values are the change's before and after.
    Each in sorted order.
    """

    added: tuple[Any, ...] = ()
    removed: tuple[Any, ...] = ()
    changed: tuple[Any, ...] = ()


def details(changes: Sequence[Change]) -> tuple[Detail | None, ...]:
    """What each change of a list or mapping field added, removed and changed; None for
    a change whose before or after is not a list or mapping (a scalar field, or one side
    of a create or delete), or whose list items cannot form a set. One deepdiff call for
    all of them: a call's fixed cost is most of its cost (a batch of 2,000 takes half
    the time of 2,000 calls)."""
    old: dict[int, Any] = {}
    new: dict[int, Any] = {}
    for index, change in enumerate(changes):
        pair = _comparable(change.before, change.after)
        if pair is not None:
            old[index], new[index] = pair
    found: dict[int, dict[str, set[Any]]] = {i: {k: set() for k in _PARTS} for i in old}
    for kind, levels in (_deepdiff(old, new) if old else {}).items():
        for level in levels:
            index, *path = level.path(output_format="list")
            if isinstance(old[index], frozenset):  # a set: items added or removed
                added = kind == "set_item_added"
                found[index]["added" if added else "removed"].add(level.t2 if added else level.t1)
            elif len(path) == 1 and kind in _KEY_PARTS:
                found[index][_KEY_PARTS[kind]].add(path[0])
            elif path:  # a value changed, maybe deep inside: its top-level key changed
                found[index]["changed"].add(path[0])
    return tuple(
        Detail(*(_sorted(found[i][k]) for k in _PARTS)) if i in found else None
        for i in range(len(changes))
    )


_PARTS = ("added", "removed", "changed")
_KEY_PARTS = {"dictionary_item_added": "added", "dictionary_item_removed": "removed"}


def _comparable(before: Any, after: Any) -> tuple[Any, Any] | None:
    """Before and after as deepdiff should compare them: lists as frozensets, mappings
    as dicts; None when they are not both lists or both mappings."""
    if isinstance(before, list | tuple) and isinstance(after, list | tuple):
        try:
            return frozenset(before), frozenset(after)
        except TypeError:  # unhashable items: a hand-edited saved plan
            return None
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        return dict(before), dict(after)
    return None


def _deepdiff(before: Any, after: Any) -> Mapping[str, Any]:
    """deepdiff's tree view of before -> after: report type -> levels (t1, t2, path)."""
    from deepdiff import DeepDiff  # imported on first use: see the module docstring

    found: Mapping[str, Any] = DeepDiff(before, after, view="tree")
    return found


def _sorted(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(sorted(values, key=str))
