"""A plan's part of the cloud: what its steps and rules depend on (SPEC section 5).

A saved plan is stale when its part of the cloud changed, and only then. That part is:

- the servers it touches: the declared ones, those its declared ENIs are on now, and
  (with --prune) those its orphans are on; each with its placement, its status and
  the NICs attached to it (their names: a NIC attached or detached there is a change;
  what those NICs carry is not, unless the plan names them);
- the ENIs it names: every declared one (present or not), the list of orphans
  (`Owner/default`: the managed ENIs no manifest mentions) and, with --prune, each
  orphan's record;
- the EIPs and private addresses the declared ENIs ask for, and who holds them;
- the flavors, subnets and security groups all of these reference.

Anything else may change without making the plan stale: the security groups of an
unmanaged port that no manifest names, a server that no manifest touches, an EIP no
ENI asks for. Planning depends on nothing else of the cloud, so two clouds with the
same scope get the same steps, violations and markers (`tests/test_safety_plans.py`
checks it by changing every field outside the scope).

`of()` gives the scope as records: a JSON-able mapping `"Kind/name"` -> `{field:
value}` (`"Server/web-1"` -> `{"status": "ACTIVE", "interfaces": [...], ...}`), or
`{"exists": false}` for a name the cloud does not have. `fingerprint()` is a plan's
`observedFingerprint` (over the records and the planning options); `changes()` says,
field by field, what changed since a saved scope was taken. Fields carry the
manifests' names (`privateIp`, `securityGroups`).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from controller.model import NetworkInterface, Topology
from controller.plan import Change
from controller.planning.invariants import address_key

Record = dict[str, Any]
Scope = dict[str, Record]

ABSENT: Record = {"exists": False}
OWNER = "default"
_NEVER = frozenset({"name", "labels", "source"})  # identity and manifest-only fields
# an attachment's deleteOnTermination: no step depends on it (the executor reads it
# afresh before a detach) and the huaweicloud provider cannot observe it
_INTERFACE_SKIP = _NEVER | {"delete_on_termination"}
_ORPHAN_SKIP = _INTERFACE_SKIP | {"security_groups"}  # a deleted ENI's groups do not matter
_SERVER_SKIP = _NEVER | {"security_groups"}  # unless the manifest declares the primary's


def of(
    desired: Topology,
    observed: Topology,
    *,
    orphans: Collection[str] = (),
    prune: bool = False,
    also: Iterable[str] = (),
) -> Scope:
    """The records of the plan's part of `observed`. `orphans` are the managed ENIs no
    manifest mentions (listed always, their records only with `prune`); `also` adds
    the records of more keys (a saved scope's, so that `changes` sees what left it)."""
    reader = _Reader(desired, observed)
    keys: dict[str, None] = {}  # ordered set
    wanted, seen = desired.interfaces, observed.interfaces
    servers = set(desired.servers)
    for name, want in wanted.items():
        keys[_eni(name)] = None
        have = seen.get(name)
        if have is not None and have.server is not None:
            servers.add(have.server)
        for group in want.security_groups:
            keys[f"SecurityGroup/{group}"] = None
        keys[f"Subnet/{want.subnet}"] = None
        if want.eip is not None:
            keys[f"Eip/{want.eip}"] = None
        if want.private_ip is not None:
            keys[reader.address(want)] = None
    keys[f"Owner/{OWNER}"] = None
    for name in orphans if prune else ():
        keys[_eni(name)] = None
        have = seen.get(name)
        if have is not None and have.server is not None:
            servers.add(have.server)
    for name in servers:
        keys[f"Server/{name}"] = None
        declared, running = desired.servers.get(name), observed.servers.get(name)
        for flavor in {s.flavor for s in (declared, running) if s is not None}:
            keys[f"Flavor/{flavor}"] = None
        if declared is not None:
            keys[f"Subnet/{declared.subnet}"] = None
            for group in declared.security_groups or ():
                keys[f"SecurityGroup/{group}"] = None
    for key in also:
        keys[key] = None
    return {key: reader.record(key, orphans) for key in sorted(keys)}


def fingerprint(scope: Mapping[str, Mapping[str, Any]], **options: Any) -> str:
    """sha256 over the records and the planning `options` they were read for (`prune`:
    the same part of the cloud planned with --prune is another plan), stable across
    runs and providers."""
    text = json.dumps([scope, options], sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def changes(
    before: Mapping[str, Mapping[str, Any]], now: Mapping[str, Mapping[str, Any]]
) -> tuple[Change, ...]:
    """What differs, field by field, in the records of `before` (a saved scope) and
    their current values in `now` (made with `of(..., also=before)`)."""
    out: list[Change] = []
    for key in sorted(before):
        old, new = before[key], now.get(key, ABSENT)
        if old == new:
            continue
        if (old == ABSENT) != (new == ABSENT):
            out.append(Change(key, "exists", old != ABSENT, new != ABSENT))
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


def _eni(name: str) -> str:
    return f"NetworkInterface/{name}"


class _Reader:
    """Records of one observed cloud, by key; indexes built on first need."""

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

    def record(self, key: str, orphans: Collection[str]) -> Record:
        kind, _, name = key.partition("/")
        cat = self.observed.catalog
        if kind == "Server":
            return self._server(name)
        if kind == "NetworkInterface":
            have = self.observed.interfaces.get(name)
            skip = _INTERFACE_SKIP if name in self.desired.interfaces else _ORPHAN_SKIP
            return ABSENT if have is None else _fields(have, skip)
        if kind == "Owner":
            return {"orphans": sorted(orphans)}
        if kind == "Address":
            return {"heldBy": sorted(self._holders_of().get(key, ()))}
        if kind == "Eip":
            eip = cat.eips.get(name)
            if eip is None:
                return ABSENT
            return {**_fields(eip, _NEVER), "boundTo": sorted(self._bound().get(name, ()))}
        table: Mapping[str, Any] = {
            "Flavor": cat.flavors,
            "Subnet": cat.subnets,
            "SecurityGroup": cat.security_groups,
        }.get(kind, {})
        value = table.get(name)
        return ABSENT if value is None else _fields(value, _NEVER)

    def _server(self, name: str) -> Record:
        have = self.observed.servers.get(name)
        if have is None:
            return ABSENT
        declared = self.desired.servers.get(name)
        sgs_declared = declared is not None and declared.security_groups is not None
        record = _fields(have, _NEVER if sgs_declared else _SERVER_SKIP)
        nics = self._attached_to().get(name, [])
        record["interfaces"] = sorted(i.name for i in nics)
        record["primary"] = next((i.name for i in nics if i.primary), None)
        return record

    def _attached_to(self) -> dict[str, list[NetworkInterface]]:
        if self._attached is None:
            self._attached = {}
            for iface in self.observed.interfaces.values():
                if iface.server is not None:
                    self._attached.setdefault(iface.server, []).append(iface)
        return self._attached

    def _holders_of(self) -> dict[str, list[str]]:
        """Address key -> the observed ports that hold it, for the addresses asked for."""
        if self._holders is None:
            asked = {i.private_ip for i in self.desired.interfaces.values()} - {None}
            self._holders = {}
            for iface in self.observed.interfaces.values():
                if iface.private_ip in asked:
                    self._holders.setdefault(self.address(iface), []).append(iface.name)
        return self._holders

    def _bound(self) -> dict[str, list[str]]:
        """EIP name -> the observed ports it is bound to."""
        if self._eips is None:
            self._eips = {}
            for iface in self.observed.interfaces.values():
                if iface.eip is not None:
                    self._eips.setdefault(iface.eip, []).append(iface.name)
        return self._eips


def _fields(value: Any, skip: Collection[str]) -> Record:
    """A model value's fields as JSON values, keyed by their manifest names."""
    return {
        _camel(f.name): _json(getattr(value, f.name))
        for f in dataclasses.fields(value)
        if f.name not in skip
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _json(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list | frozenset | set):
        items = [_json(v) for v in value]
        return items if isinstance(value, tuple | list) else sorted(items)
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    return value
