"""Seeding a simulated cloud from a CloudInventory (SPEC section 7).

The inventory is checked by the one CloudInventory checker
(`controller.cloudinventory.checks`), which also places every address; this module
only refuses what it found (every problem at once, each located by the inventory file
and the field's path, `spec.servers[3].flavor`) and inserts the resulting cloud.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller import addresses
from controller.cloudinventory import checks
from controller.errors import ManifestError, Problem
from controller.model import Topology
from controller.providers.sim import store


@dataclass(frozen=True, slots=True)
class Seeded:
    """How many resources of each kind the new cloud holds."""

    counts: Mapping[str, int]


def checked(spec: object, *, source: str) -> Topology:
    """The cloud a CloudInventory `spec` describes; ManifestError with every problem."""
    found = checks.check(spec)
    if not found.ok:
        raise ManifestError(
            [Problem(source, i.message, code=i.code, field=i.field) for i in found.issues]
        )
    return found.topology


def populate(
    conn: sqlite3.Connection, inventory: Mapping[str, Any] | Topology, *, source: str
) -> Seeded:
    """Insert an inventory into an empty cloud (inside the caller's transaction): a spec
    (checked here) or the Topology `cloudinventory.checks` made of one."""
    cloud = inventory if isinstance(inventory, Topology) else checked(inventory, source=source)
    _insert(conn, cloud)
    cat = cloud.catalog
    counts = {
        "flavors": len(cat.flavors),
        "vpcs": len(cat.vpcs),
        "subnets": len(cat.subnets),
        "securityGroups": len(cat.security_groups),
        "eips": len(cat.eips),
        "servers": len(cloud.servers),
        "interfaces": len(cloud.interfaces),
        "ports": len(cat.ports),
    }
    return Seeded(counts=counts)


def _insert(conn: sqlite3.Connection, cloud: Topology) -> None:
    cat = cloud.catalog

    def ids(kind: str, names: Iterable[str]) -> dict[str, str]:
        return {name: store.named_id(kind, name) for name in names}

    flavor_ids = {name: name for name in cat.flavors}  # a flavor's id is its name, as on Huawei
    vpc_ids = ids("vpc", cat.vpcs)
    subnet_ids, group_ids = ids("subnet", cat.subnets), ids("security-group", cat.security_groups)
    server_ids, eip_ids = ids("server", cloud.servers), ids("eip", cat.eips)
    port_ids = ids("port", cloud.interfaces)
    conn.executemany(
        "INSERT INTO flavors VALUES (?, ?, ?, ?)",
        [
            (flavor_ids[f.name], f.name, f.max_interfaces, int(f.bare_metal))
            for f in cat.flavors.values()
        ],
    )
    conn.executemany(
        "INSERT INTO vpcs VALUES (?, ?, ?)",
        [(vpc_ids[v.name], v.name, v.cidr) for v in cat.vpcs.values()],
    )
    conn.executemany(
        "INSERT INTO subnets VALUES (?, ?, ?, ?, ?)",
        [
            (subnet_ids[s.name], s.name, vpc_ids[s.vpc], s.cidr, s.availability_zone)
            for s in cat.subnets.values()
        ],
    )
    conn.executemany(
        "INSERT INTO security_groups VALUES (?, ?, ?)",
        [
            (group_ids[g.name], g.name, vpc_ids[g.vpc] if g.vpc else None)
            for g in cat.security_groups.values()
        ],
    )
    conn.executemany(
        "INSERT INTO servers(id, name, flavor_id, availability_zone, vpc_id, status)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                server_ids[s.name],
                s.name,
                flavor_ids[s.flavor],
                s.availability_zone,
                vpc_ids[s.vpc],
                s.status,
            )
            for s in cloud.servers.values()
        ],
    )
    conn.executemany(
        "INSERT INTO ports(id, name, subnet_id, ip, ip_int, is_primary, managed, server_id,"
        " delete_on_termination, security_groups, protected, owner)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                port_ids[i.name],
                i.name,
                subnet_ids[i.subnet],
                i.private_ip,
                addresses.parse_ip(i.private_ip),
                int(i.primary),
                int(i.managed),
                server_ids[i.server] if i.server else None,
                int(i.delete_on_termination),
                store.join_ids(group_ids[g] for g in i.security_groups),
                int(i.protect),
                i.owner if i.managed else "",
            )
            for i in cloud.interfaces.values()
        ],
    )
    conn.executemany(
        "INSERT INTO other_ports VALUES (?, ?, ?, ?, ?)",
        [
            (
                store.named_id("other-port", f"{p.subnet}/{p.private_ip}"),
                subnet_ids[p.subnet],
                p.private_ip,
                addresses.parse_ip(p.private_ip),
                p.owner,
            )
            for p in cat.ports
        ],
    )
    bound = {i.eip: port_ids[i.name] for i in cloud.interfaces.values() if i.eip}
    conn.executemany(
        "INSERT INTO eips VALUES (?, ?, ?, ?)",
        [(eip_ids[e.name], e.name, e.address, bound.get(e.name)) for e in cat.eips.values()],
    )
