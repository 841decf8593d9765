"""Seeding a simulated cloud from a CloudInventory spec (SPEC section 7).

The JSON Schema checks shapes; this module checks what only the whole inventory can
tell: references resolve, names are unique, addresses lie in their subnets and are
free, EIPs are bound once, servers stay within their flavor's NIC limit and their
ENIs share their VPC. Every problem is reported (not only the first), located by the
inventory file and the field's path (`spec.servers[3].flavor`).

Explicit private IPs are placed first; then servers and interfaces without one get
the lowest free address of their subnet, in document order.
"""

from __future__ import annotations

import ipaddress
import itertools
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.errors import ManifestError, Problem
from controller.providers.sim import sections, store


@dataclass
class _Port:
    name: str
    subnet: str
    where: str
    ip: int | None
    primary: bool
    managed: bool
    server: str | None
    delete_on_termination: bool
    security_groups: list[str] = field(default_factory=list)
    eip: str | None = None
    protect: bool = False


@dataclass(frozen=True, slots=True)
class Seeded:
    """How many resources of each kind the new cloud holds."""

    counts: Mapping[str, int]


def populate(conn: sqlite3.Connection, spec: Mapping[str, Any], *, source: str) -> Seeded:
    """Check `spec` and insert it into an empty cloud (inside the caller's transaction)."""
    r = sections.Reader(source)
    if not isinstance(spec, Mapping):
        raise ManifestError([Problem(source, "the inventory's spec must be a mapping")])
    for key in sorted(set(spec) - set(sections.SECTIONS), key=str):
        r.problem(f"spec.{key}", "unknown field")

    flavors: dict[str, int] = {}
    seen: dict[str, str] = {}
    for where, e in r.entries(spec, "flavors"):
        name, limit = r.text(e, "name", where), e.get("maxInterfaces")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            r.problem(f"{where}.maxInterfaces", "must be an integer >= 1")
            limit = 1
        if r.unique(seen, name, where, "flavor"):
            flavors[name] = limit

    vpcs: dict[str, ipaddress.IPv4Network | None] = {}
    seen = {}
    for where, e in r.entries(spec, "vpcs"):
        name, cidr = r.text(e, "name", where), r.text(e, "cidr", where)
        net = r.network(cidr, f"{where}.cidr") if cidr else None
        if r.unique(seen, name, where, "VPC"):
            vpcs[name] = net

    subnets: dict[str, tuple[str, store.AddressPool | None, str]] = {}
    seen = {}
    for where, e in r.entries(spec, "subnets"):
        name, vpc = r.text(e, "name", where), r.text(e, "vpc", where)
        cidr, az = r.text(e, "cidr", where), r.text(e, "availabilityZone", where)
        net = r.network(cidr, f"{where}.cidr") if cidr else None
        if vpc and vpc not in vpcs:
            r.problem(f"{where}.vpc", f"unknown VPC {vpc!r}", code="UnknownVpc")
        elif net is not None and (outer := vpcs.get(vpc)) is not None and not net.subnet_of(outer):
            r.problem(f"{where}.cidr", f"{cidr} is not inside VPC {vpc} ({outer})")
        if r.unique(seen, name, where, "subnet"):
            subnets[name] = (vpc, store.AddressPool(cidr) if net else None, az)
    _check_overlaps(r, spec, subnets)

    groups: dict[str, str] = {}
    seen = {}
    for where, e in r.entries(spec, "securityGroups"):
        name, vpc = r.text(e, "name", where), r.text(e, "vpc", where)
        if vpc and vpc not in vpcs:
            r.problem(f"{where}.vpc", f"unknown VPC {vpc!r}", code="UnknownVpc")
        if r.unique(seen, name, where, "security group"):
            groups[name] = vpc

    eips: dict[str, str] = {}
    seen = {}
    addresses: dict[str, str] = {}
    for where, e in r.entries(spec, "eips"):
        name, address = r.text(e, "name", where), r.text(e, "address", where)
        if address and store.parse_ip(address) is None:
            r.problem(f"{where}.address", f"{address!r} is not an IPv4 address")
        elif address:
            r.unique(addresses, address, where, "EIP address")
        if r.unique(seen, name, where, "EIP"):
            eips[name] = address

    servers: dict[str, tuple[str, str, str, str]] = {}  # name -> flavor, az, vpc, status
    ports: list[_Port] = []
    seen = {}
    for where, e in r.entries(spec, "servers"):
        name = r.text(e, "name", where)
        flavor, az = r.text(e, "flavor", where), r.text(e, "availabilityZone", where)
        vpc, subnet = r.text(e, "vpc", where), r.text(e, "subnet", where)
        status = r.text(e, "status", where, required=False) or "ACTIVE"
        if flavor and flavor not in flavors:
            r.problem(f"{where}.flavor", f"unknown flavor {flavor!r}", code="UnknownFlavor")
        if vpc and vpc not in vpcs:
            r.problem(f"{where}.vpc", f"unknown VPC {vpc!r}", code="UnknownVpc")
        if subnet in subnets and vpc and subnets[subnet][0] != vpc:
            r.problem(
                f"{where}.subnet",
                f"subnet {subnet} is in VPC {subnets[subnet][0]}, not {vpc}",
                code="VpcMismatch",
            )
        if not r.unique(seen, name, where, "server"):
            continue
        servers[name] = (flavor, az, vpc, status)
        primary = r.text(e, "primaryInterface", where, required=False) or f"{name}-primary"
        ports.append(_port(r, e, where, primary, subnet, server=name, primary=True))

    for where, e in r.entries(spec, "interfaces"):
        server = r.text(e, "server", where, required=False) or None
        if server is not None and server not in servers:
            r.problem(f"{where}.server", f"unknown server {server!r}", code="UnknownServer")
            server = None
        iface = _port(
            r,
            e,
            where,
            r.text(e, "name", where),
            r.text(e, "subnet", where),
            server=server,
            primary=False,
        )
        iface.managed = r.flag(e, "managed", where)
        iface.delete_on_termination = r.flag(e, "deleteOnTermination", where)
        iface.protect = r.flag(e, "protect", where)
        ports.append(iface)

    _check_ports(r, ports, subnets, groups, eips, servers, flavors)
    if r.problems:
        raise ManifestError(r.problems)
    _insert(conn, flavors, vpcs, subnets, groups, eips, servers, ports)
    counts = {
        "flavors": len(flavors),
        "vpcs": len(vpcs),
        "subnets": len(subnets),
        "securityGroups": len(groups),
        "eips": len(eips),
        "servers": len(servers),
        "interfaces": len(ports),
    }
    return Seeded(counts=counts)


def _port(
    r: sections.Reader,
    e: Mapping[str, Any],
    where: str,
    name: str,
    subnet: str,
    *,
    server: str | None,
    primary: bool,
) -> _Port:
    ip_text = r.text(e, "privateIp", where, required=False)
    ip = store.parse_ip(ip_text) if ip_text else None
    if ip_text and ip is None:
        r.problem(f"{where}.privateIp", f"{ip_text!r} is not an IPv4 address")
    return _Port(
        name=name,
        subnet=subnet,
        where=where,
        ip=ip,
        primary=primary,
        managed=False,
        server=server,
        delete_on_termination=primary,
        security_groups=r.names(e, "securityGroups", where),
        eip=r.text(e, "eip", where, required=False) or None,
    )


def _check_overlaps(
    r: sections.Reader, spec: Mapping[str, Any], subnets: Mapping[str, tuple[str, Any, str]]
) -> None:
    by_vpc: dict[str, list[tuple[int, int, str]]] = {}
    for name, (vpc, pool, _az) in subnets.items():
        if pool is not None:
            net = pool.network
            start, end = int(net.network_address), int(net.broadcast_address)
            by_vpc.setdefault(vpc, []).append((start, end, name))
    for blocks in by_vpc.values():
        blocks.sort()
        for (_s1, e1, n1), (s2, _e2, n2) in itertools.pairwise(blocks):
            if s2 <= e1:
                r.problem("spec.subnets", f"subnets {n1} and {n2} overlap")


def _check_ports(
    r: sections.Reader,
    ports: Sequence[_Port],
    subnets: Mapping[str, tuple[str, store.AddressPool | None, str]],
    groups: Mapping[str, str],
    eips: Mapping[str, str],
    servers: Mapping[str, tuple[str, str, str, str]],
    flavors: Mapping[str, int],
) -> None:
    names: dict[str, str] = {}
    used: dict[str, set[int]] = {name: set() for name in subnets}
    bound: dict[str, str] = {}
    attached: dict[str, int] = {}
    for p in ports:
        field_name = "primaryInterface" if p.primary else "name"
        if p.name in names:
            r.problem(
                f"{p.where}.{field_name}",
                f"duplicate interface name {p.name!r} (also {names[p.name]})",
                code="DuplicateName",
            )
        names[p.name] = p.where
        if p.subnet not in subnets:
            if p.subnet:
                r.problem(f"{p.where}.subnet", f"unknown subnet {p.subnet!r}", code="UnknownSubnet")
            continue
        vpc, pool, _az = subnets[p.subnet]
        if p.server is not None:
            attached[p.server] = attached.get(p.server, 0) + 1
            server_vpc = servers[p.server][2]
            if not p.primary and server_vpc and vpc != server_vpc:
                r.problem(
                    f"{p.where}.subnet",
                    f"subnet {p.subnet} is in VPC {vpc}, server {p.server} in {server_vpc}",
                    code="VpcMismatch",
                )
        for index, group in enumerate(p.security_groups):
            if group not in groups:
                r.problem(
                    f"{p.where}.securityGroups[{index}]",
                    f"unknown security group {group!r}",
                    code="UnknownSecurityGroup",
                )
            elif groups[group] != vpc:
                r.problem(
                    f"{p.where}.securityGroups[{index}]",
                    f"security group {group} is in VPC {groups[group]}, not {vpc}",
                    code="SecurityGroupVpcMismatch",
                )
        if p.eip is not None:
            if p.eip not in eips:
                r.problem(f"{p.where}.eip", f"unknown EIP {p.eip!r}", code="UnknownEip")
            elif p.eip in bound:
                r.problem(
                    f"{p.where}.eip",
                    f"EIP {p.eip} is already bound to {bound[p.eip]}",
                    code="EipInUse",
                )
            else:
                bound[p.eip] = p.name
        if p.ip is not None and pool is not None:
            if not pool.contains(p.ip) or p.ip == pool.gateway:
                reason = "is the subnet's gateway" if p.ip == pool.gateway else "is not usable in"
                r.problem(
                    f"{p.where}.privateIp",
                    f"{store.ip_text(p.ip)} {reason} {p.subnet} ({pool.network})",
                    code="IpOutOfSubnet",
                )
            elif p.ip in used[p.subnet]:
                r.problem(
                    f"{p.where}.privateIp",
                    f"{store.ip_text(p.ip)} is already in use",
                    code="IpInUse",
                )
            else:
                used[p.subnet].add(p.ip)
    for server, count in attached.items():
        limit = flavors.get(servers[server][0])
        if limit is not None and count > limit:
            r.problem(
                "spec.interfaces",
                f"server {server} would carry {count} NICs, its flavor allows {limit}",
                code="FlavorLimitExceeded",
            )
    cursors: dict[str, int] = {}
    for p in ports:
        if p.ip is not None or p.subnet not in subnets:
            continue
        pool = subnets[p.subnet][1]
        if pool is None:
            continue
        candidate = cursors.get(p.subnet, pool.first)
        while candidate in used[p.subnet]:
            candidate += 1
        if candidate > pool.last:
            r.problem(f"{p.where}.subnet", f"subnet {p.subnet} has no free address left")
            continue
        p.ip = candidate
        used[p.subnet].add(candidate)
        cursors[p.subnet] = candidate + 1


def _insert(
    conn: sqlite3.Connection,
    flavors: Mapping[str, int],
    vpcs: Mapping[str, ipaddress.IPv4Network | None],
    subnets: Mapping[str, tuple[str, store.AddressPool | None, str]],
    groups: Mapping[str, str],
    eips: Mapping[str, str],
    servers: Mapping[str, tuple[str, str, str, str]],
    ports: Sequence[_Port],
) -> None:
    def ids(kind: str, names: Iterable[str]) -> dict[str, str]:
        return {name: store.named_id(kind, name) for name in names}

    flavor_ids, vpc_ids, subnet_ids = (
        {name: name for name in flavors},  # a flavor's id is its name, as on Huawei Cloud
        ids("vpc", vpcs),
        ids("subnet", subnets),
    )
    group_ids, server_ids, eip_ids = (
        ids("security-group", groups),
        ids("server", servers),
        ids("eip", eips),
    )
    port_ids = ids("port", (p.name for p in ports))
    conn.executemany(
        "INSERT INTO flavors VALUES (?, ?, ?)", [(flavor_ids[n], n, m) for n, m in flavors.items()]
    )
    conn.executemany(
        "INSERT INTO vpcs VALUES (?, ?, ?)", [(vpc_ids[n], n, str(c)) for n, c in vpcs.items()]
    )
    conn.executemany(
        "INSERT INTO subnets VALUES (?, ?, ?, ?, ?)",
        [
            (subnet_ids[n], n, vpc_ids[v], str(p.network if p else ""), az)
            for n, (v, p, az) in subnets.items()
        ],
    )
    conn.executemany(
        "INSERT INTO security_groups VALUES (?, ?, ?)",
        [(group_ids[n], n, vpc_ids[v]) for n, v in groups.items()],
    )
    conn.executemany(
        "INSERT INTO servers VALUES (?, ?, ?, ?, ?, ?)",
        [
            (server_ids[n], n, flavor_ids[f], az, vpc_ids[v], st)
            for n, (f, az, v, st) in servers.items()
        ],
    )
    conn.executemany(
        "INSERT INTO ports(id, name, subnet_id, ip, ip_int, is_primary, managed, server_id,"
        " delete_on_termination, security_groups, protected)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                port_ids[p.name],
                p.name,
                subnet_ids[p.subnet],
                store.ip_text(p.ip or 0),
                p.ip,
                int(p.primary),
                int(p.managed),
                server_ids[p.server] if p.server else None,
                int(p.delete_on_termination and p.server is not None),
                store.join_ids(group_ids[g] for g in p.security_groups),
                int(p.protect),
            )
            for p in ports
        ],
    )
    bound = {p.eip: port_ids[p.name] for p in ports if p.eip}
    conn.executemany(
        "INSERT INTO eips VALUES (?, ?, ?, ?)",
        [(eip_ids[n], n, a, bound.get(n)) for n, a in eips.items()],
    )
