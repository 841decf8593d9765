"""Reading the whole simulated cloud into a `Topology`, in a constant number of queries.

Ten queries, however big the cloud: one per catalog table (and one more for VPC
names), one for the other ports (DHCP, VIPs, ...: `Catalog.ports`), one for the
servers, one for all ENIs (their security groups included) and one for the bound EIPs.
No query per server or per port, and no SQL join: the joins happen in Python on small
id -> name dicts.

The pins come back as they are stored: a subnet's `availability_zone` "" fits any AZ,
a security group's `vpc` "" is regional; a flavor without a NIC limit has
`max_interfaces` None, and the simulated cloud knows no per-server limit either
(`Server.nic_limit` stays None). A server of a `bare_metal` flavor is a BMS.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from controller.gcpause import gc_paused
from controller.model import (
    DEFAULT_OWNER,
    Catalog,
    Eip,
    Flavor,
    NetworkInterface,
    Port,
    SecurityGroup,
    Server,
    ServerKind,
    Subnet,
    Topology,
    Vpc,
)
from controller.providers.sim import store

T = TypeVar("T")

# Plain scans, no joins: the joins happen in Python on small dicts (id -> name), which
# is several times faster than SQLite joining on text UUID keys row by row.
_SERVERS = (
    "SELECT id, name, flavor_id, availability_zone, vpc_id, status, status_since FROM servers"
)
_PORTS = """
SELECT id, name, subnet_id, ip, is_primary, managed, delete_on_termination, server_id,
       security_groups, protected, owner, failover_at
FROM ports
"""
_EIPS = "SELECT port_id, name FROM eips WHERE port_id IS NOT NULL"


def catalog(conn: sqlite3.Connection) -> Catalog:
    """Flavors, VPCs, subnets, security groups and EIPs, keyed by name; the other ports."""
    vpc_names = dict(conn.execute("SELECT id, name FROM vpcs").fetchall())
    vpc_names[None] = ""  # a regional security group
    subnet_names = dict(conn.execute("SELECT id, name FROM subnets").fetchall())
    return Catalog(
        flavors={
            name: Flavor(name=name, max_interfaces=limit, id=id_, bare_metal=bool(bms))
            for id_, name, limit, bms in conn.execute(
                "SELECT id, name, max_interfaces, bare_metal FROM flavors ORDER BY name"
            )
        },
        vpcs={
            name: Vpc(name=name, cidr=cidr, id=id_)
            for id_, name, cidr in conn.execute("SELECT id, name, cidr FROM vpcs ORDER BY name")
        },
        subnets={
            name: Subnet(name=name, vpc=vpc_names[vpc_id], cidr=cidr, availability_zone=az, id=id_)
            for id_, name, vpc_id, cidr, az in conn.execute(
                "SELECT id, name, vpc_id, cidr, availability_zone FROM subnets ORDER BY name"
            )
        },
        security_groups={
            name: SecurityGroup(name=name, vpc=vpc_names[vpc_id], id=id_)
            for id_, name, vpc_id in conn.execute(
                "SELECT id, name, vpc_id FROM security_groups ORDER BY name"
            )
        },
        eips={
            name: Eip(name=name, address=address, id=id_)
            for id_, name, address in conn.execute(
                "SELECT id, name, address FROM eips ORDER BY name"
            )
        },
        ports=tuple(
            Port(id=id_, subnet=subnet, private_ip=ip, owner=owner)
            for subnet, _, id_, ip, owner in sorted(
                (subnet_names[subnet_id], ip_int, id_, ip, owner)
                for id_, subnet_id, ip, ip_int, owner in conn.execute(
                    "SELECT id, subnet_id, ip, ip_int, owner FROM other_ports"
                )
            )
        ),
    )


def topology(conn: sqlite3.Connection) -> Topology:
    """The whole cloud (call inside one read transaction for a consistent snapshot).

    The cyclic garbage collector is paused meanwhile: the values built here hold no
    cycles, and its passes over 100,000 fresh objects cost a sixth of the time."""
    with gc_paused():
        return _topology(conn)


def _topology(conn: sqlite3.Connection) -> Topology:
    cat = catalog(conn)
    subnet_names = {s.id: s.name for s in cat.subnets.values()}
    group_names = {g.id: g.name for g in cat.security_groups.values()}
    flavor_names = {f.id: f.name for f in cat.flavors.values()}
    bare_metal = {f.id for f in cat.flavors.values() if f.bare_metal}
    vpc_names = {v.id: v.name for v in cat.vpcs.values()}
    server_rows = conn.execute(_SERVERS).fetchall()
    server_names = {row[0]: row[1] for row in server_rows}
    eip_names = dict(conn.execute(_EIPS).fetchall())
    group_tuples: dict[str, tuple[str, ...]] = {}  # few distinct lists: resolve each once
    primaries: dict[str, tuple[str, tuple[str, ...]]] = {}  # server id -> subnet, groups
    interfaces: dict[str, NetworkInterface] = {}
    port_rows = conn.execute(_PORTS).fetchall()
    port_rows.sort(key=_by_name)
    for (
        id_,
        name,
        subnet_id,
        ip,
        primary,
        managed,
        dot,
        server_id,
        groups,
        prot,
        owner,
        moved,
    ) in port_rows:
        port_groups = group_tuples.get(groups)
        if port_groups is None:
            port_groups = tuple(group_names[g] for g in store.split_ids(groups))
            group_tuples[groups] = port_groups
        subnet = subnet_names[subnet_id]
        if primary and server_id is not None:
            primaries[server_id] = (subnet, port_groups)
        interfaces[name] = _interface(
            id_,
            name,
            subnet,
            ip,
            port_groups,
            eip_names.get(id_),
            server_names[server_id] if server_id is not None else None,
            bool(primary),
            bool(managed),
            bool(dot) and server_id is not None,
            bool(prot),
            owner or (DEFAULT_OWNER if managed else ""),  # '': managed before owners existed
            moved,
        )
    server_rows.sort(key=_by_name)
    servers: dict[str, Server] = {}
    for id_, name, flavor_id, az, vpc_id, status, since in server_rows:
        subnet, primary_groups = primaries.get(id_, ("", ()))
        servers[name] = Server(
            name=name,
            flavor=flavor_names[flavor_id],
            availability_zone=az,
            vpc=vpc_names[vpc_id],
            subnet=subnet,
            security_groups=primary_groups,
            status=status,
            id=id_,
            kind=ServerKind.BMS if flavor_id in bare_metal else ServerKind.ECS,
            status_since=since,
        )
    return Topology(servers=servers, interfaces=interfaces, catalog=cat)


def _by_name(row: tuple[Any, ...]) -> str:
    return str(row[1])


def _maker(cls: type[T], names: Sequence[str]) -> Callable[..., T]:
    """A positional constructor for a frozen slots dataclass that fills its slots
    directly: about three times faster than the generated `__init__` (50,000 interfaces
    per observe at the 10,000-server scale). The other fields get their defaults.
    Falls back to the class itself if it ever validates in `__post_init__`."""
    if hasattr(cls, "__post_init__") or not hasattr(cls, "__slots__"):
        return lambda *values: cls(**dict(zip(names, values, strict=True)))
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    setters = [getattr(cls, name).__set__ for name in names]
    constants = [
        (getattr(cls, f.name).__set__, f.default)
        for f in fields.values()
        if f.name not in names and f.default is not dataclasses.MISSING
    ]
    factories = [
        (getattr(cls, f.name).__set__, f.default_factory)
        for f in fields.values()
        if f.name not in names and f.default is dataclasses.MISSING
    ]
    new = object.__new__

    def make(*values: Any) -> T:
        obj = new(cls)
        for set_, value in zip(setters, values, strict=True):
            set_(obj, value)
        for set_, value in constants:
            set_(obj, value)
        for set_, factory in factories:
            set_(obj, factory())  # type: ignore[operator]
        return obj

    return make


_interface = _maker(
    NetworkInterface,
    (
        "id",
        "name",
        "subnet",
        "private_ip",
        "security_groups",
        "eip",
        "server",
        "primary",
        "managed",
        "delete_on_termination",
        "protect",
        "owner",
        "failover_at",
    ),
)
