"""Tell drift from manifest changes (pure).

A difference between desired and observed has one of two causes:

- **manifest**: someone changed the manifests since the last successful apply
  (desired != last applied, for that resource and field);
- **drift**: the manifests say what they said at the last apply, yet the cloud
  differs (desired == last applied, observed != desired): someone changed the
  cloud outside enictl.

The last applied desired state is a `Snapshot`: a plain JSON-able mapping from
resource ("Server/web-1", "NetworkInterface/eni-a") to its declared fields, made
by `snapshot(topology)` (a failover ENI's standbys and policy too, and a placement
policy other than the default); `declared(snapshot)` turns one back into the desired
topology it was made of (what `get interfaces -o wide` knows of failover ENIs).
`controller.storage.lastapplied` stores it in the state dir after each successful
apply; this module only compares values.

`label_plan` sets each change's origin; `drifted` picks the drift ones, which a
`watch --detect-only` reconcile reports field by field (what a changed list gained
and lost is `controller.planning.diff.details`, shown by the views).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from controller.model import (
    FailoverPolicy,
    Fence,
    NetworkInterface,
    PlacementPolicy,
    Server,
    SubnetScope,
    Topology,
)
from controller.plan import Change, Plan

Snapshot = Mapping[str, Mapping[str, Any]]

MANIFEST = "manifest"
DRIFT = "drift"

# Field names a Change may use for the same declared field.
_ALIASES = {"attachment": "server", "attachedTo": "server", "serverName": "server"}
# Fields about the resource as a whole: only whether it is declared matters.
_PRESENCE_FIELDS = frozenset({"exists", "managed"})
# Fields compared as sets (the diff ignores their order).
_SET_FIELDS = frozenset({"securityGroups"})


def _json_value(value: Any) -> Any:
    """Tuples become lists, recursively, so snapshots compare equal after a JSON trip."""
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


def server_record(server: Server) -> dict[str, Any]:
    return {
        "flavor": server.flavor,
        "availabilityZone": server.availability_zone,
        "vpc": server.vpc,
        "subnet": server.subnet,
        "securityGroups": _json_value(server.security_groups),
    }


def interface_record(iface: NetworkInterface) -> dict[str, Any]:
    out = {
        "subnet": iface.subnet,
        "privateIp": iface.private_ip,
        "securityGroups": _json_value(iface.security_groups),
        "eip": iface.eip,
        "server": iface.server,
        "protect": iface.protect,
    }
    if iface.standbys:
        policy = iface.failover or FailoverPolicy()
        out["standbys"] = list(iface.standbys)
        out["failover"] = {
            "failback": policy.failback,
            "holdDownSeconds": policy.hold_down_seconds,
            "fence": policy.fence.value,
        }
    return out


_POLICY = "PlacementPolicy/"


def snapshot(desired: Topology) -> dict[str, dict[str, Any]]:
    """The declared fields of every resource of a desired topology, keyed by resource."""
    out: dict[str, dict[str, Any]] = {}
    if desired.policy.subnet_scope is not SubnetScope.SERVER_SUBNET:
        out[_POLICY + desired.policy.name] = {"subnetScope": desired.policy.subnet_scope.value}
    for name in sorted(desired.servers):
        out[f"Server/{name}"] = server_record(desired.servers[name])
    for name in sorted(desired.interfaces):
        iface = desired.interfaces[name]
        if not iface.primary:
            out[f"NetworkInterface/{name}"] = interface_record(iface)
    return out


def declared(snap: Snapshot) -> Topology:
    """The desired topology a snapshot was made of (sources and labels aside); records
    that do not read as one are left out (the record is advisory)."""
    servers: dict[str, Server] = {}
    interfaces: dict[str, NetworkInterface] = {}
    policy = PlacementPolicy()
    for resource, record in snap.items():
        kind, _, name = resource.partition("/")
        try:
            if kind == "Server":
                groups = record.get("securityGroups")
                servers[name] = Server(
                    name,
                    str(record["flavor"]),
                    str(record["availabilityZone"]),
                    str(record["vpc"]),
                    str(record["subnet"]),
                    None if groups is None else tuple(groups),
                )
            elif kind == "NetworkInterface":
                interfaces[name] = _interface(name, record)
            elif kind == _POLICY[:-1]:
                policy = PlacementPolicy(SubnetScope(record["subnetScope"]), name)
        except (KeyError, TypeError, ValueError):
            continue
    return Topology(servers=servers, interfaces=interfaces, policy=policy)


def _interface(name: str, record: Mapping[str, Any]) -> NetworkInterface:
    given = record.get("failover") or {}
    standbys = tuple(str(s) for s in record.get("standbys") or ())
    policy = None
    if standbys:
        policy = FailoverPolicy(
            bool(given.get("failback", False)),
            float(given.get("holdDownSeconds", FailoverPolicy().hold_down_seconds)),
            Fence(given.get("fence", Fence.NONE.value)),
        )
    return NetworkInterface(
        name,
        str(record["subnet"]),
        record.get("privateIp"),
        tuple(record.get("securityGroups") or ()),
        record.get("eip"),
        record.get("server"),
        bool(record.get("protect", False)),
        standbys=standbys,
        failover=policy,
    )


def _camel(field: str) -> str:
    field = _ALIASES.get(field, field)
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)


_MISSING = object()


def _declared(snap: Snapshot, resource: str, field: str) -> Any:
    """The declared value of `resource`.`field`; for `exists`/`managed` just that it is
    declared; the whole record when the field is not one the snapshot knows;
    `_MISSING` when the resource is not declared at all."""
    record = snap.get(resource)
    if record is None:
        return _MISSING
    key = _camel(field)
    if key in _PRESENCE_FIELDS:
        return True
    if key not in record:
        return _json_value(record)
    value = _json_value(record[key])
    if key in _SET_FIELDS and isinstance(value, list):
        return sorted(value, key=str)
    return value


def origin(change: Change, desired: Snapshot, last_applied: Snapshot) -> str:
    """ "manifest" when the declaration changed since the last apply, else "drift"."""
    now = _declared(desired, change.resource, change.field)
    then = _declared(last_applied, change.resource, change.field)
    if now is _MISSING and then is _MISSING:
        return DRIFT
    return DRIFT if now == then else MANIFEST


def label_changes(
    changes: Iterable[Change], desired: Snapshot, last_applied: Snapshot | None
) -> tuple[Change, ...]:
    """Each change with its origin set (one the planner gave it, `failover`, is kept);
    unchanged when nothing was ever applied."""
    if last_applied is None:
        return tuple(changes)
    return tuple(
        c if c.origin else dataclasses.replace(c, origin=origin(c, desired, last_applied))
        for c in changes
    )


def drifted(changes: Iterable[Change]) -> tuple[Change, ...]:
    """The changes made outside enictl (labelled "drift"), in their plan order: what a
    `watch --detect-only` report lists, field by field."""
    return tuple(c for c in changes if c.origin == DRIFT)


def label_plan(plan: Plan, desired: Topology, last_applied: Snapshot | None) -> Plan:
    """The plan with its changes labelled manifest or drift (see the module docstring)."""
    if last_applied is None or not plan.changes:
        return plan
    changes = label_changes(plan.changes, snapshot(desired), last_applied)
    return dataclasses.replace(plan, changes=changes)
