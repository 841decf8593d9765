"""A CloudInventory spec -> the cloud it describes, and every way it does not fit together.

`check(spec)` reads the spec (any shape: `fields.Reader` locates wrong types) and checks
what only the whole inventory can tell, the way a real cloud would have it:

- names are unique per kind (ENIs and primary ENIs share one name space) and every
  reference resolves (flavor, VPC, subnet, security group, EIP, server);
- VPC and subnet CIDRs are IPv4 networks, subnets nest in their VPC and do not
  overlap inside it;
- an ENI is in its server's VPC; a subnet pinned to an AZ (`availabilityZone`) holds
  ENIs of servers in that AZ only, and a security group pinned to a VPC (`vpc`) serves
  ports of that VPC only (without a pin: any AZ of the VPC, regional);
- a private IP lies in its subnet (`IpOutOfSubnet`), is not one of the subnet's
  reserved addresses (`IpReserved`; a `dhcp` port is the system's and may hold one),
  and is held once (`IpInUse`); an EIP address is a usable unicast address, held once;
  an EIP is bound to one ENI at most;
- no server carries more NICs than its flavor allows (a flavor without
  `maxInterfaces` states no limit); a server of a `bareMetal` flavor is a BMS.

Explicit addresses are placed first; then primaries (in server order) and extension
ENIs without one get the lowest free usable address of their subnet, in document order.
The result is a `Topology` with names and no ids: the catalog (its `ports` included),
the servers, and every ENI (the primaries as `<server>-primary` unless the server sets
`primaryInterface`). `status` defaults to ACTIVE, `managed`, `protect` and
`deleteOnTermination` to false; a primary ENI is deleted with its server.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller import addresses
from controller.addresses import Place
from controller.cloudinventory.fields import OWNERS, Issue, Path, Reader
from controller.model import (
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

SYSTEM_OWNERS = frozenset({"dhcp"})  # ports the cloud itself puts on reserved addresses


@dataclass(frozen=True, slots=True)
class Checked:
    """The cloud an inventory describes and what is wrong with it (nothing: `ok`)."""

    topology: Topology
    issues: tuple[Issue, ...]

    @property
    def ok(self) -> bool:
        return not self.issues


@dataclass
class _Nic:
    """An ENI (a primary or an extension one) while addresses are being placed."""

    path: Path
    name: str
    subnet: str
    ip: int | None
    server: str | None
    primary: bool
    groups: tuple[str, ...]
    eip: str | None
    managed: bool = False
    protect: bool = False
    delete_on_termination: bool = False


@dataclass
class _Check:
    r: Reader = field(default_factory=Reader)
    flavors: dict[str, Flavor] = field(default_factory=dict)
    vpcs: dict[str, Vpc] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    pools: dict[str, addresses.Pool] = field(default_factory=dict)
    groups: dict[str, SecurityGroup] = field(default_factory=dict)
    eips: dict[str, Eip] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)
    nics: list[_Nic] = field(default_factory=list)
    ports: list[tuple[Path, str, int | None, str]] = field(default_factory=list)


def check(spec: object) -> Checked:
    """The cloud `spec` describes and every issue; see the module docstring."""
    c = _Check()
    body = c.r.spec(spec)
    _catalog(c, body)
    _servers(c, body)
    _interfaces(c, body)
    _ports(c, body)
    _names_and_eips(c)
    _limits(c)
    _addresses(c)
    return Checked(_topology(c), tuple(c.r.issues))


def _unknown(c: _Check, path: Path, code: str, what: str, name: str) -> None:
    c.r.issue(path, f"{what} '{name}' is not in the inventory", code)


def _catalog(c: _Check, spec: Mapping[str, Any]) -> None:
    """Flavors, VPCs, subnets, security groups and EIPs: unique, references resolved."""
    r = c.r
    seen: dict[str, Path] = {}
    for where, e in r.entries(spec, "flavors"):
        name, limit = r.text(e, "name", where), r.count(e, "maxInterfaces", where)
        bare_metal = r.flag(e, "bareMetal", where)
        if r.unique(seen, name, where, "flavor"):
            c.flavors[name] = Flavor(name, limit, bare_metal=bare_metal)
    seen = {}
    outer: dict[str, Any] = {}
    for where, e in r.entries(spec, "vpcs"):
        name, cidr = r.text(e, "name", where), r.text(e, "cidr", where)
        net = addresses.network(cidr) if cidr else None
        if cidr and net is None:
            r.issue((*where, "cidr"), _bad_cidr(cidr), "InvalidCidr")
        if r.unique(seen, name, where, "VPC"):
            c.vpcs[name], outer[name] = Vpc(name, cidr), net
    _subnets(c, spec, outer)
    seen = {}
    for where, e in r.entries(spec, "securityGroups"):
        name, vpc = r.text(e, "name", where), r.text(e, "vpc", where, required=False)
        if vpc and vpc not in c.vpcs:
            _unknown(c, (*where, "vpc"), "UnknownVpc", "VPC", vpc)
        if r.unique(seen, name, where, "security group"):
            c.groups[name] = SecurityGroup(name, vpc)
    seen = {}
    taken: dict[str, str] = {}
    for where, e in r.entries(spec, "eips"):
        name, address = r.text(e, "name", where), r.text(e, "address", where)
        problem = addresses.unicast_problem(address) if address else None
        if problem is not None:
            r.issue((*where, "address"), problem, "InvalidIp")
        elif address and taken.setdefault(address, name) != name:
            r.issue(
                (*where, "address"),
                f"{address} is already the address of {taken[address]}",
                "IpInUse",
            )
        if r.unique(seen, name, where, "EIP"):
            c.eips[name] = Eip(name, address)


def _subnets(c: _Check, spec: Mapping[str, Any], outer: Mapping[str, Any]) -> None:
    """Subnets: in a known VPC, an IPv4 network inside it, overlapping no other of it."""
    r, seen = c.r, dict[str, Path]()
    blocks: list[tuple[str, int, int, str, Path]] = []  # vpc, start, end, name, path
    for where, e in r.entries(spec, "subnets"):
        name, vpc = r.text(e, "name", where), r.text(e, "vpc", where)
        cidr, zone = r.text(e, "cidr", where), r.text(e, "availabilityZone", where, required=False)
        net = addresses.network(cidr) if cidr else None
        if vpc and vpc not in c.vpcs:
            _unknown(c, (*where, "vpc"), "UnknownVpc", "VPC", vpc)
        if cidr and net is None:
            r.issue((*where, "cidr"), _bad_cidr(cidr), "InvalidCidr")
        elif net is not None and outer.get(vpc) is not None and not net.subnet_of(outer[vpc]):
            r.issue((*where, "cidr"), f"{net} is not inside {vpc} ({outer[vpc]})", "InvalidCidr")
        if not r.unique(seen, name, where, "subnet"):
            continue
        c.subnets[name] = Subnet(name, vpc, cidr, zone)
        if net is not None:
            c.pools[name] = addresses.Pool(net)
            start, end = int(net.network_address), int(net.broadcast_address)
            blocks.append((vpc, start, end, name, (*where, "cidr")))
    blocks.sort()
    for vpc, group in itertools.groupby(blocks, key=lambda b: b[0]):
        reach: tuple[int, str] | None = None  # the furthest end so far, and whose
        for _vpc, start, end, name, path in group:
            if reach is not None and start <= reach[0]:
                other = c.subnets[reach[1]]
                r.issue(
                    path,
                    f"{c.subnets[name].cidr} overlaps subnet {other.name} ({other.cidr}) in {vpc}",
                    "InvalidCidr",
                )
            if reach is None or end > reach[0]:
                reach = (end, name)


def _bad_cidr(cidr: str) -> str:
    return f"'{cidr}' is not an IPv4 network in CIDR notation (like 10.0.0.0/16, host bits zero)"


def _ip(c: _Check, e: Mapping[str, Any], where: Path) -> int | None:
    text = c.r.text(e, "privateIp", where, required=False)
    address = addresses.parse_ip(text) if text else None
    if text and address is None:
        c.r.issue(
            (*where, "privateIp"), f"'{text}' is not an IPv4 address (like 10.0.1.15)", "InvalidIp"
        )
    return address


def _servers(c: _Check, spec: Mapping[str, Any]) -> None:
    r = c.r
    seen: dict[str, Path] = {}
    for where, e in r.entries(spec, "servers"):
        name, flavor = r.text(e, "name", where), r.text(e, "flavor", where)
        zone, vpc = r.text(e, "availabilityZone", where), r.text(e, "vpc", where)
        subnet = r.text(e, "subnet", where)
        status = r.text(e, "status", where, required=False) or "ACTIVE"
        primary = r.text(e, "primaryInterface", where, required=False) or f"{name}-primary"
        groups = r.names(e, "securityGroups", where)
        if flavor and flavor not in c.flavors:
            _unknown(c, (*where, "flavor"), "UnknownFlavor", "flavor", flavor)
        if vpc and vpc not in c.vpcs:
            _unknown(c, (*where, "vpc"), "UnknownVpc", "VPC", vpc)
        nic = _Nic(
            where,
            primary,
            subnet,
            _ip(c, e, where),
            name,
            True,
            groups,
            r.text(e, "eip", where, required=False) or None,
            delete_on_termination=True,
        )
        if not r.unique(seen, name, where, "server"):
            continue
        bare_metal = flavor in c.flavors and c.flavors[flavor].bare_metal
        server = Server(name, flavor, zone, vpc, subnet, groups, status)
        if bare_metal:
            server = Server(name, flavor, zone, vpc, subnet, groups, status, kind=ServerKind.BMS)
        c.servers[name] = server
        c.nics.append(nic)
        _placement(c, nic, server if vpc in c.vpcs else None)


def _placement(c: _Check, nic: _Nic, server: Server | None) -> None:
    """An ENI's subnet and security groups: known, and fit for its server (or subnet)."""
    where, r = nic.path, c.r
    subnet = c.subnets.get(nic.subnet)
    if subnet is None:
        if nic.subnet:
            _unknown(c, (*where, "subnet"), "UnknownSubnet", "subnet", nic.subnet)
    elif server is not None and subnet.vpc != server.vpc:
        message = f"subnet {subnet.name} is in {subnet.vpc}, server {server.name} in {server.vpc}"
        r.issue((*where, "subnet"), message, "VpcMismatch")
    elif server is not None and subnet.availability_zone not in ("", server.availability_zone):
        message = (
            f"subnet {subnet.name} is pinned to {subnet.availability_zone}, server "
            f"{server.name} is in {server.availability_zone}"
        )
        r.issue((*where, "subnet"), message, "AvailabilityZoneMismatch")
    vpc = subnet.vpc if subnet is not None else ""
    for j, name in enumerate(nic.groups):
        group = c.groups.get(name)
        if group is None:
            _unknown(
                c, (*where, "securityGroups", j), "UnknownSecurityGroup", "security group", name
            )
        elif vpc and group.vpc not in ("", vpc):
            message = f"security group {name} is pinned to {group.vpc}, the port is in {vpc}"
            r.issue((*where, "securityGroups", j), message, "SecurityGroupVpcMismatch")


def _interfaces(c: _Check, spec: Mapping[str, Any]) -> None:
    r = c.r
    for where, e in r.entries(spec, "interfaces"):
        server_name = r.text(e, "server", where, required=False) or None
        server = c.servers.get(server_name) if server_name else None
        if server_name and server is None:
            _unknown(c, (*where, "server"), "UnknownServer", "server", server_name)
            server_name = None
        nic = _Nic(
            where,
            r.text(e, "name", where),
            r.text(e, "subnet", where),
            _ip(c, e, where),
            server_name,
            False,
            r.names(e, "securityGroups", where),
            r.text(e, "eip", where, required=False) or None,
            r.flag(e, "managed", where),
            r.flag(e, "protect", where),
            r.flag(e, "deleteOnTermination", where),
        )
        c.nics.append(nic)
        _placement(c, nic, server if server is not None and server.vpc in c.vpcs else None)


def _ports(c: _Check, spec: Mapping[str, Any]) -> None:
    r = c.r
    for where, e in r.entries(spec, "ports"):
        subnet, owner = r.text(e, "subnet", where), r.text(e, "owner", where)
        if subnet and subnet not in c.subnets:
            _unknown(c, (*where, "subnet"), "UnknownSubnet", "subnet", subnet)
        if owner and owner not in OWNERS:
            r.issue((*where, "owner"), f"'{owner}' is not one of {', '.join(OWNERS)}")
        if e.get("privateIp") is None:
            r.issue((*where, "privateIp"), "required")
        c.ports.append((where, subnet, _ip(c, e, where), owner))


def _names_and_eips(c: _Check) -> None:
    """ENI names (primaries' and extension ENIs' together) unique; EIPs known, bound once."""
    first: dict[str, _Nic] = {}
    bound: dict[str, str] = {}
    for nic in c.nics:
        key = "primaryInterface" if nic.primary else "name"
        if nic.name and first.setdefault(nic.name, nic) is not nic:
            other = first[nic.name]
            what = (
                f"the primary ENI of {other.server}"
                if other.primary
                else Issue(other.path, "").field
            )
            c.r.issue((*nic.path, key), f"ENI '{nic.name}' is also {what}", "DuplicateName")
        if nic.eip is None:
            continue
        if nic.eip not in c.eips:
            _unknown(c, (*nic.path, "eip"), "UnknownEip", "EIP", nic.eip)
        elif bound.setdefault(nic.eip, nic.name) != nic.name:
            message = f"EIP {nic.eip} is already bound to {bound[nic.eip]}"
            c.r.issue((*nic.path, "eip"), message, "EipInUse")


def _limits(c: _Check) -> None:
    """FlavorLimitExceeded once per server, at the extension ENI that goes over."""
    carried: dict[str, list[_Nic]] = {}
    for nic in c.nics:
        if nic.server is not None:
            carried.setdefault(nic.server, []).append(nic)
    for name, nics in carried.items():
        flavor = c.flavors.get(c.servers[name].flavor)
        limit = None if flavor is None else flavor.max_interfaces
        if limit is not None and len(nics) > limit:
            message = (
                f"{name} ({flavor.name if flavor else ''}, max {limit} NICs) would carry "
                f"{len(nics)}"
            )
            c.r.issue((*nics[limit].path, "server"), message, "FlavorLimitExceeded")


def _addresses(c: _Check) -> None:
    """Explicit addresses checked and taken first, then the rest placed (module docstring)."""
    used: dict[str, dict[int, str]] = {name: {} for name in c.pools}
    explicit: list[tuple[Path, str, int, str, bool]] = []  # path, subnet, ip, holder, system
    explicit += [(n.path, n.subnet, n.ip, n.name, False) for n in c.nics if n.ip is not None]
    explicit += [
        (p, s, ip, f"a {o} port", o in SYSTEM_OWNERS) for p, s, ip, o in c.ports if ip is not None
    ]
    for path, subnet, ip, holder, system in explicit:
        pool = c.pools.get(subnet)
        if pool is None:
            continue
        where, text = (*path, "privateIp"), addresses.ip_text(ip)
        place = pool.place(ip)
        if place is Place.OUTSIDE:
            c.r.issue(where, f"{text} is not in {subnet} ({pool.network})", "IpOutOfSubnet")
        elif place is Place.RESERVED and not system:
            message = (
                f"{text} is reserved in {subnet} ({addresses.reserved_text(str(pool.network))})"
            )
            c.r.issue(where, message, "IpReserved")
        elif used[subnet].setdefault(ip, holder) != holder:
            c.r.issue(where, f"{text} is already used by {used[subnet][ip]}", "IpInUse")
    cursors: dict[str, int] = {}
    for nic in c.nics:
        pool = c.pools.get(nic.subnet)
        if nic.ip is not None or pool is None:
            continue
        taken = used[nic.subnet]
        candidate = cursors.get(nic.subnet, pool.first)
        while candidate in taken:
            candidate += 1
        if candidate > pool.last:
            c.r.issue(
                (*nic.path, "subnet"), f"subnet {nic.subnet} has no free address left", "SubnetFull"
            )
            continue
        nic.ip = candidate
        taken[candidate] = nic.name
        cursors[nic.subnet] = candidate + 1


def _topology(c: _Check) -> Topology:
    first: dict[str, _Nic] = {}
    interfaces = {
        n.name: NetworkInterface(
            name=n.name,
            subnet=n.subnet,
            private_ip=None if n.ip is None else addresses.ip_text(n.ip),
            security_groups=n.groups,
            eip=n.eip,
            server=n.server,
            protect=n.protect,
            primary=n.primary,
            managed=n.managed,
            delete_on_termination=n.delete_on_termination and n.server is not None,
        )
        for n in c.nics
        if first.setdefault(n.name, n) is n  # the first of duplicate names counts
    }
    ports = tuple(
        Port("", subnet, addresses.ip_text(ip), owner)
        for _, subnet, ip, owner in c.ports
        if ip is not None
    )
    catalog = Catalog(c.flavors, c.vpcs, c.subnets, c.groups, c.eips, ports)
    return Topology(servers=c.servers, interfaces=interfaces, catalog=catalog)
