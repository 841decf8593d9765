"""Reading the whole simulated cloud into a `Topology`, in a constant number of queries.

Eight queries, however big the cloud: one per catalog table, one for the servers
(joined to their primary port for the subnet), one for all ports (joined to subnet,
server and EIP) and one for every port's security groups. No query per server or
per port, so a 10,000-server cloud reads in well under a second.
"""

from __future__ import annotations

import sqlite3

from controller.model import (
    Catalog,
    Eip,
    Flavor,
    NetworkInterface,
    SecurityGroup,
    Server,
    Subnet,
    Topology,
    Vpc,
)

_SERVERS = """
SELECT s.id, s.name, f.name, s.availability_zone, v.name, s.status, sn.name, p.id
FROM servers s
JOIN flavors f ON f.id = s.flavor_id
JOIN vpcs v ON v.id = s.vpc_id
LEFT JOIN ports p ON p.server_id = s.id AND p.is_primary = 1
LEFT JOIN subnets sn ON sn.id = p.subnet_id
ORDER BY s.name
"""

_PORTS = """
SELECT p.id, p.name, sn.name, p.ip, p.is_primary, p.managed, p.delete_on_termination,
       s.name, e.name
FROM ports p
JOIN subnets sn ON sn.id = p.subnet_id
LEFT JOIN servers s ON s.id = p.server_id
LEFT JOIN eips e ON e.port_id = p.id
ORDER BY p.name
"""

_PORT_GROUPS = """
SELECT ps.port_id, g.name
FROM port_security_groups ps JOIN security_groups g ON g.id = ps.sg_id
ORDER BY ps.port_id, ps.position
"""


def catalog(conn: sqlite3.Connection) -> Catalog:
    """Flavors, VPCs, subnets, security groups and EIPs, keyed by name."""
    vpc_names = dict(conn.execute("SELECT id, name FROM vpcs").fetchall())
    return Catalog(
        flavors={
            name: Flavor(name=name, max_interfaces=limit, id=id_)
            for id_, name, limit in conn.execute(
                "SELECT id, name, max_interfaces FROM flavors ORDER BY name"
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
    )


def topology(conn: sqlite3.Connection) -> Topology:
    """The whole cloud (call inside one read transaction for a consistent snapshot)."""
    groups: dict[str, list[str]] = {}
    for port_id, group in conn.execute(_PORT_GROUPS):
        groups.setdefault(port_id, []).append(group)
    primary_groups: dict[str, tuple[str, ...]] = {}
    interfaces: dict[str, NetworkInterface] = {}
    for id_, name, subnet, ip, primary, managed, dot, server, eip in conn.execute(_PORTS):
        port_groups = tuple(groups.get(id_, ()))
        if primary:
            primary_groups[id_] = port_groups
        interfaces[name] = NetworkInterface(
            name=name,
            subnet=subnet,
            private_ip=ip,
            security_groups=port_groups,
            eip=eip,
            server=server,
            primary=bool(primary),
            managed=bool(managed),
            delete_on_termination=bool(dot) and server is not None,
            id=id_,
        )
    servers: dict[str, Server] = {}
    for id_, name, flavor, az, vpc, status, subnet, primary_id in conn.execute(_SERVERS):
        servers[name] = Server(
            name=name,
            flavor=flavor,
            availability_zone=az,
            vpc=vpc,
            subnet=subnet or "",
            security_groups=primary_groups.get(primary_id, ()),
            status=status,
            id=id_,
        )
    return Topology(servers=servers, interfaces=interfaces, catalog=catalog(conn))
