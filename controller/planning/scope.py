"""A plan's part of the cloud: what its steps and rules depend on (SPEC section 5).

A saved plan is stale when its part of the cloud changed, and only then. That part is:

- the servers it touches: the declared ones, those its declared ENIs are on now, and
  (with --prune) those its orphans are on; each with its placement, its status and
  the NICs attached to it (their names: a NIC attached or detached there is a change;
  what those NICs carry is not, unless the plan names them);
- the ENIs it names: every declared one (present or not), the list of orphans
  (`Owner/<owner>`: the ENIs this owner manages that no manifest mentions) and, with
  --prune, each orphan's record;
- the EIPs and private addresses the declared ENIs ask for, and who holds them (the
  other ports of the catalog too: a load balancer's, DHCP's);
- the flavors, subnets and security groups all of these reference.

Anything else may change without making the plan stale: the security groups of an
unmanaged port that no manifest names, a server that no manifest touches, an EIP no
ENI asks for. Planning depends on nothing else of the cloud, so two clouds with the
same scope get the same steps, violations and markers (`tests/test_safety_plans.py`
checks it by changing every field outside the scope).

`of()` gives the scope: `"Kind/name"` -> a row of field names and values, read
straight off the model values (tuples, so that fingerprinting 50,000 of them costs
about what the whole-cloud fingerprint did). `records()` turns it into the JSON a
saved plan keeps (`"Server/web-1"` -> `{"status": "ACTIVE", "interfaces": [...],
...}`, or `{"exists": false}` for a name the cloud does not have); `fingerprint()` is
a plan's `observedFingerprint` (over the rows and the planning options); `changes()`
says, field by field, what changed since a saved scope was taken. Fields carry the
manifests' names (`privateIp`, `securityGroups`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from controller.model import (
    DEFAULT_OWNER,
    Eip,
    Flavor,
    NetworkInterface,
    SecurityGroup,
    Server,
    Subnet,
    Topology,
)
from controller.plan import Change
from controller.planning.invariants import address_key, taken_addresses

Record = dict[str, Any]  # the JSON form of a row
Row = tuple[tuple[str, ...], tuple[Any, ...]]  # field names, values
Scope = dict[str, Row]

ABSENT: Row = (("exists",), (False,))
_LATER: Row = ((), ())  # a key whose row `_Reader.row` reads
_NEVER = frozenset({"name", "labels", "source"})  # identity and manifest-only fields
# an attachment's deleteOnTermination: no step depends on it (the executor reads it
# afresh before a detach) and the huaweicloud provider cannot observe it
_INTERFACE_SKIP = _NEVER | {"delete_on_termination"}
_ORPHAN_SKIP = _INTERFACE_SKIP | {"security_groups"}  # a deleted ENI's groups do not matter
_SERVER_SKIP = _NEVER | {"security_groups", "status_since"}  # groups: unless declared


def of(
    desired: Topology,
    observed: Topology,
    *,
    orphans: Collection[str] = (),
    prune: bool = False,
    owner: str = DEFAULT_OWNER,
    also: Iterable[str] = (),
) -> Scope:
    """The rows of the plan's part of `observed`. `orphans` are the managed ENIs no
    manifest mentions (listed always, their rows only with `prune`); `also` adds the
    rows of more keys (a saved scope's, so that `changes` sees what left it)."""
    reader = _Reader(desired, observed)
    rows: Scope = {}
    wanted, seen = desired.interfaces, observed.interfaces
    servers = set(desired.servers)
    groups: set[str] = set()
    subnets: set[str] = set()
    eips: set[str] = set()
    declared_names, declared = _DECLARED
    for name, want in wanted.items():  # the usual bulk of the scope: inlined
        have = seen.get(name)
        if have is None:
            rows["NetworkInterface/" + name] = ABSENT
        else:
            rows["NetworkInterface/" + name] = (declared_names, declared(have))
            if have.server is not None:
                servers.add(have.server)
        groups.update(want.security_groups)
        subnets.add(want.subnet)
        if want.eip is not None:
            eips.add(want.eip)
        if want.private_ip is not None and (have is None or have.private_ip != want.private_ip):
            rows[reader.address(want)] = _LATER  # a new address: who holds it now?
    rows["Owner/" + owner] = _LATER
    for name in orphans if prune else ():
        rows["NetworkInterface/" + name] = _LATER
        have = seen.get(name)
        if have is not None and have.server is not None:
            servers.add(have.server)
    flavors: set[str] = set()
    for name in servers:
        rows["Server/" + name] = reader.server(name)
        declared_server, running = desired.servers.get(name), observed.servers.get(name)
        for server in (declared_server, running):
            if server is not None:
                flavors.add(server.flavor)
        if declared_server is not None:
            subnets.add(declared_server.subnet)
            groups.update(declared_server.security_groups or ())
    for kind, names in (("SecurityGroup", groups), ("Subnet", subnets), ("Eip", eips),
                        ("Flavor", flavors)):  # fmt: skip
        for name in names:
            rows[f"{kind}/{name}"] = _LATER
    for key in also:
        rows.setdefault(key, _LATER)
    for key, row in rows.items():
        if row is _LATER:  # a key whose row is read by kind
            rows[key] = reader.row(key, orphans)
    return rows


def records(scope: Mapping[str, Row]) -> dict[str, Record]:
    """The JSON form of the rows: what a saved plan keeps."""
    return {key: _record(row) for key, row in scope.items()}


def fingerprint(scope: Mapping[str, Row], **options: Any) -> str:
    """sha256 over the rows and the planning `options` they were read for (`prune`:
    the same part of the cloud planned with --prune is another plan), stable across
    runs and providers (values are strings, numbers, booleans, None and tuples)."""
    items = [(key, scope[key][1]) for key in sorted(scope)]
    text = repr((sorted(options.items()), items))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def changes(before: Mapping[str, Mapping[str, Any]], now: Mapping[str, Row]) -> tuple[Change, ...]:
    """What differs, field by field, in the records of `before` (a saved scope) and
    their current rows in `now` (made with `of(..., also=before)`)."""
    out: list[Change] = []
    gone = _record(ABSENT)
    for key in sorted(before):
        old = before[key]
        new = _record(now.get(key, ABSENT))
        if old == new:
            continue
        if (old == gone) != (new == gone):
            out.append(Change(key, "exists", old != gone, new != gone))
            continue
        for field in sorted({*old, *new}):
            if old.get(field) != new.get(field):
                out.append(Change(key, field, old.get(field), new.get(field)))
    return tuple(out)


def describe(change: Change) -> str:
    """`Server/web-1 status: ACTIVE -> SHUTOFF`."""
    return f"{change.resource} {change.field}: {_shown(change.before)} -> {_shown(change.after)}"


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


class _Reader:
    """Rows of one observed cloud, by key; indexes built on first need."""

    def __init__(self, desired: Topology, observed: Topology) -> None:
        self.desired = desired
        self.observed = observed
        self._attached: dict[str, list[NetworkInterface]] | None = None
        self._holders: dict[str, list[str]] | None = None
        self._eips: dict[str, list[str]] | None = None

    def address(self, iface: NetworkInterface) -> str:
        key = address_key(iface, self.observed.catalog)
        assert key is not None
        return f"Address/{key[0]}/{key[1]}"

    def row(self, key: str, orphans: Collection[str]) -> Row:
        kind, _, name = key.partition("/")
        cat = self.observed.catalog
        if kind == "NetworkInterface":
            have = self.observed.interfaces.get(name)
            if have is None:
                return ABSENT
            names, read = _DECLARED if name in self.desired.interfaces else _ORPHAN
            return names, read(have)
        if kind == "Server":
            return self.server(name)
        if kind == "Owner":
            return ("orphans",), (tuple(sorted(orphans)),)
        if kind == "Address":
            return ("heldBy",), (tuple(sorted(self._holders_of().get(key, ()))),)
        if kind == "Eip":
            eip = cat.eips.get(name)
            if eip is None:
                return ABSENT
            names, read = _EIP
            return (*names, "boundTo"), (*read(eip), tuple(sorted(self._bound().get(name, ()))))
        table, (names, read) = {
            "Flavor": (cat.flavors, _FLAVOR),
            "Subnet": (cat.subnets, _SUBNET),
            "SecurityGroup": (cat.security_groups, _GROUP),
        }[kind]
        value = table.get(name)
        return ABSENT if value is None else (names, read(value))

    def server(self, name: str) -> Row:
        have = self.observed.servers.get(name)
        if have is None:
            return ABSENT
        names, read = _SERVER
        nics = self._attached_to().get(name, [])
        attached = tuple(sorted(i.name for i in nics))
        primary = next((i for i in nics if i.primary), None)
        row = (*names, "interfaces", "primary"), (*read(have), attached, primary and primary.name)
        declared = self.desired.servers.get(name)
        if declared is None or declared.security_groups is None:
            return row
        groups = None if primary is None else primary.security_groups  # what the diff reads
        return (*row[0], "securityGroups"), (*row[1], groups)

    def _attached_to(self) -> dict[str, list[NetworkInterface]]:
        if self._attached is None:
            self._attached = {}
            for iface in self.observed.interfaces.values():
                if iface.server is not None:
                    self._attached.setdefault(iface.server, []).append(iface)
        return self._attached

    def _holders_of(self) -> dict[str, list[str]]:
        """Address key -> who holds it now (ports enictl sees, and the other ports: a
        load balancer's, DHCP's), for the addresses asked for."""
        if self._holders is None:
            asked = {i.private_ip for i in self.desired.interfaces.values()} - {None}
            self._holders = {}
            for iface in self.observed.interfaces.values():
                if iface.private_ip in asked:
                    self._holders.setdefault(self.address(iface), []).append(iface.name)
            if asked and self.observed.catalog.ports:
                for (vpc, ip), holder in taken_addresses(self.observed.catalog).items():
                    if ip in asked:
                        self._holders.setdefault(f"Address/{vpc}/{ip}", []).append(holder)
        return self._holders

    def _bound(self) -> dict[str, list[str]]:
        """EIP name -> the observed ports it is bound to."""
        if self._eips is None:
            self._eips = {}
            for iface in self.observed.interfaces.values():
                if iface.eip is not None:
                    self._eips.setdefault(iface.eip, []).append(iface.name)
        return self._eips


Shape = tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]


def _shape(cls: type, skip: frozenset[str]) -> Shape:
    """A model class's field names (the manifests' spelling) and a getter of their
    values as one tuple (`operator.attrgetter`, in C), the `skip` fields left out:
    a field the model gains joins the scope by itself."""
    attrs = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    getter = operator.attrgetter(*attrs)
    read = getter if len(attrs) > 1 else lambda value: (getter(value),)
    return tuple(_camel(a) for a in attrs), read


def _record(row: Row) -> Record:
    names, values = row
    return {name: _json(value) for name, value in zip(names, values, strict=True)}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    return value


_DECLARED = _shape(NetworkInterface, _INTERFACE_SKIP)
_ORPHAN = _shape(NetworkInterface, _ORPHAN_SKIP)
_SERVER = _shape(Server, _SERVER_SKIP)
_EIP = _shape(Eip, _NEVER)
_FLAVOR = _shape(Flavor, _NEVER)
_SUBNET = _shape(Subnet, _NEVER)
_GROUP = _shape(SecurityGroup, _NEVER)
