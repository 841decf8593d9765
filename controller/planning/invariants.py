"""The invariants every state must keep, one resource at a time (SPEC section 2).

Each function checks one thing in O(1): a server's NIC count against its limit
(`flavor_limit`; the limit is the flavor's, else the server's own, `limit_of`), an
extension ENI's placement on its server (`placement`: VPC, subnet scope, and the AZ
where the subnet is pinned to one), security groups in a VPC (`groups`: only groups
pinned to a VPC can be of another), an address usable in its subnet (`ip_usable`: in
the CIDR, not reserved), an address held by no other port (`taken_addresses` indexes
the catalog's other ports), an existing ENI never moved onto or off a BMS
(`bare_metal_move`). `rules.check` applies them to the target of a diff; the plan
simulator applies them after each step to what the step touched, which is the same
as re-checking the whole state (every invariant is local to a server, an interface,
an EIP or an address) at a cost independent of the topology's size. `check_state`
applies them all to one whole state.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from controller import addresses
from controller.addresses import Place
from controller.model import (
    Catalog,
    NetworkInterface,
    PlacementPolicy,
    Port,
    Server,
    Source,
    Subnet,
    SubnetScope,
    Topology,
)
from controller.plan import Code, Severity, Violation
from controller.planning.diff import eni_ref, server_ref

ERROR = Severity.ERROR
WARNING = Severity.WARNING
_SEVERITY_ORDER = {ERROR: 0, WARNING: 1}


Where = Source | str | None  # a manifest place; turned into text only for a violation


def violation(
    code: Code, resource: str, source: Where, message: str, hint: str = "", *, warning: bool = False
) -> Violation:
    where = "" if source is None else str(source)
    return Violation(code, WARNING if warning else ERROR, resource, where, message, hint)


def ordered(violations: Iterable[Violation]) -> list[Violation]:
    """Errors first, then by resource, code and message: a stable report order."""
    return sorted(
        set(violations),
        key=lambda v: (_SEVERITY_ORDER[v.severity], v.resource, v.code.value, v.message),
    )


def did_you_mean(name: str, known: Iterable[str], kind: str) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]}?"
    if not names:
        return f"the cloud has no {kind}s"
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return f"the cloud's {kind}s: {shown}"


# -- local rules: one resource, O(1) -------------------------------------------------


def limit_of(server: Server, catalog: Catalog) -> int | None:
    """The server's NIC limit: its flavor's, else its own (`nic_limit`); None when
    nothing tells it."""
    flavor = catalog.flavors.get(server.flavor)
    if flavor is not None and flavor.max_interfaces is not None:
        return flavor.max_interfaces
    return server.nic_limit


def flavor_limit(
    server: Server, count: int, catalog: Catalog, source: Where, members: Sequence[str] = ()
) -> Violation | None:
    """FlavorLimitExceeded when `server` would carry `count` NICs."""
    limit = limit_of(server, catalog)
    if limit is None or count <= limit:
        return None
    shown = ", ".join(members[:8]) + (", ..." if len(members) > 8 else "")
    carries = f" ({shown})" if shown else ""
    return violation(
        Code.FLAVOR_LIMIT_EXCEEDED,
        server_ref(server.name),
        source,
        f"{server.name} ({server.flavor}, max {limit} NICs) would carry {count}{carries}",
        f"move {count - limit} of its ENIs to another server or detach them, or use a flavor "
        f"with more NICs than {server.flavor}",
    )


def unknown_limit(
    server: Server, catalog: Catalog, source: Where, attaching: Sequence[str]
) -> Violation | None:
    """UnknownFlavor when ENIs would attach to `server` but nothing tells its NIC limit:
    its flavor states none and the cloud reports none for the server."""
    if limit_of(server, catalog) is not None:
        return None
    shown = ", ".join(attaching[:8]) + (", ..." if len(attaching) > 8 else "")
    return violation(
        Code.UNKNOWN_FLAVOR,
        server_ref(server.name),
        source,
        f"flavor {server.flavor} of {server.name} states no NIC limit and the cloud reports "
        f"none for {server.name}: enictl cannot keep it within its limit while attaching "
        f"{shown}",
        f"attach to a server whose flavor states its NIC limit "
        f"({'baremetal:net_num' if server.bare_metal else 'quota:vif_max_num'}) or leave "
        f"spec.server unset; in a simulated cloud, give flavor {server.flavor} maxInterfaces",
    )


def bare_metal_move(
    name: str, source: Where, before: Server | None, after: Server | None
) -> Violation | None:
    """BareMetalMove when existing ENI `name` would go from `before` (None: unattached) to
    `after` (a server) and either is a BMS: the BMS API creates the ports it attaches and
    cannot attach an existing one, so the IP could not be kept."""
    if after is None or not (after.bare_metal or (before is not None and before.bare_metal)):
        return None
    if before is not None and before.bare_metal:
        where = f"{after.name}" + (" (another BMS)" if after.bare_metal else "")
        message = (
            f"{name} is on BMS {before.name} and cannot move to {where}: a BMS NIC leaves "
            f"only by being detached, and no BMS takes an existing port"
        )
        hint = (
            f"declare a new NetworkInterface (another name) on {after.name} and remove this "
            f"one (it is detached and deleted with --prune), or keep spec.server: {before.name}"
        )
    else:
        now = f"attached to {before.name}" if before is not None else "unattached"
        message = (
            f"{name} exists ({now}) and cannot move onto BMS {after.name}: the BMS API only "
            f"attaches NICs it creates, so its IP could not be kept"
        )
        keep = f"spec.server: {before.name}" if before is not None else "spec.server unset"
        hint = (
            f"declare a new NetworkInterface (another name) on {after.name}: enictl creates it "
            f"there through the BMS API; or keep {keep}"
        )
    return violation(Code.BARE_METAL_MOVE, eni_ref(name), source, message, hint)


# One hint for every SubnetMismatch, so that a cloud whose ENIs mostly sit outside their
# servers' primary subnets is told the policy and its remedy once (views group them).
SUBNET_SCOPE_HINT = (
    "the default PlacementPolicy (subnetScope: server-subnet) keeps an ENI in its server's "
    "primary subnet; to allow any subnet of the server's VPC, as Huawei Cloud does, declare "
    "a PlacementPolicy with subnetScope: vpc (enictl export adds one), or use the primary subnet"
)


def placement(
    name: str, subnet: Subnet, server: Server, policy: PlacementPolicy, source: Where
) -> list[Violation]:
    """AZ, VPC and subnet rules for extension ENI `name` (in `subnet`) on `server`."""
    out: list[Violation] = []
    zone = subnet.availability_zone  # the AZ the subnet is pinned to, "" for any
    if (
        subnet.vpc == server.vpc
        and (not zone or zone == server.availability_zone)
        and (subnet.name == server.subnet or policy.subnet_scope is SubnetScope.VPC)
    ):
        return out
    ref = eni_ref(name)
    if subnet.vpc != server.vpc:
        out.append(
            violation(
                Code.VPC_MISMATCH,
                ref,
                source,
                f"{name} is in VPC {subnet.vpc} (subnet {subnet.name}) but {server.name} is in "
                f"VPC {server.vpc}",
                f"an ENI can only be attached to a server of its own VPC: use a subnet of "
                f"{server.vpc} or a server in {subnet.vpc}",
            )
        )
    if zone and zone != server.availability_zone:
        out.append(
            violation(
                Code.AVAILABILITY_ZONE_MISMATCH,
                ref,
                source,
                f"{name}'s subnet {subnet.name} is pinned to {zone} but {server.name} is in "
                f"{server.availability_zone}",
                f"use a subnet pinned to {server.availability_zone} or to no AZ, or a server "
                f"in {zone}",
            )
        )
    if (
        subnet.vpc == server.vpc
        and policy.subnet_scope is SubnetScope.SERVER_SUBNET
        and subnet.name != server.subnet
    ):
        out.append(
            violation(
                Code.SUBNET_MISMATCH,
                ref,
                source,
                f"{name} is in subnet {subnet.name} but {server.name}'s primary subnet is "
                f"{server.subnet} (subnetScope: server-subnet)",
                SUBNET_SCOPE_HINT,
            )
        )
    return out


def groups(
    resource: str, source: Where, owner: str, names: Sequence[str], vpc: str, catalog: Catalog
) -> list[Violation]:
    """UnknownSecurityGroup / SecurityGroupVpcMismatch for `owner`'s groups in `vpc` (a
    regional group, pinned to no VPC, fits every VPC)."""
    out: list[Violation] = []
    known = catalog.security_groups
    for sg in names:
        found = known.get(sg)
        if found is not None and found.vpc in ("", vpc):
            continue
        if found is None:
            out.append(
                violation(
                    Code.UNKNOWN_SECURITY_GROUP,
                    resource,
                    source,
                    f"security group {sg} of {owner} does not exist in the cloud",
                    did_you_mean(sg, catalog.security_groups, "security group"),
                )
            )
        else:
            out.append(
                violation(
                    Code.SECURITY_GROUP_VPC_MISMATCH,
                    resource,
                    source,
                    f"security group {sg} of {owner} is pinned to VPC {found.vpc}, not to {vpc}",
                    f"use security groups pinned to {vpc} or regional ones",
                )
            )
    return out


def ip_usable(name: str, ip: str, subnet: Subnet, source: Where) -> Violation | None:
    """IpOutOfSubnet when `ip` is not an address of `subnet`'s CIDR, IpReserved when it
    is one of the subnet's reserved addresses (`controller.addresses`)."""
    place = addresses.place(ip, subnet.cidr)
    if place is Place.USABLE:
        return None
    if place is Place.RESERVED:
        return violation(
            Code.IP_RESERVED,
            eni_ref(name),
            source,
            f"{name}'s private IP {ip} is reserved in subnet {subnet.name} "
            f"({addresses.reserved_text(subnet.cidr)} are the cloud's)",
            "choose another address of the subnet, or omit privateIp to let the cloud choose",
        )
    return violation(
        Code.IP_OUT_OF_SUBNET,
        eni_ref(name),
        source,
        f"{name}'s private IP {ip} is not in subnet {subnet.name} ({subnet.cidr})",
        f"choose an address in {subnet.cidr}, or omit privateIp to let the cloud choose",
    )


def address_key(iface: NetworkInterface | Port, catalog: Catalog) -> tuple[str, str] | None:
    """Private IPs are unique per VPC: (vpc, ip), or None without an address."""
    if iface.private_ip is None:
        return None
    subnet = catalog.subnets.get(iface.subnet)
    return (subnet.vpc if subnet is not None else f"?{iface.subnet}", iface.private_ip)


def taken_addresses(catalog: Catalog) -> dict[tuple[str, str], str]:
    """The (vpc, ip) keys the catalog's other ports hold, each with how a message names
    its holder (`vip port 8412765a-...`)."""
    out: dict[tuple[str, str], str] = {}
    for port in catalog.ports:
        key = address_key(port, catalog)
        if key is not None:
            out.setdefault(key, f"{port.owner} port {port.id}".rstrip())
    return out


# -- whole states --------------------------------------------------------------------


def check_state(topology: Topology) -> list[Violation]:
    """The invariants over one state: flavor limits, placement of managed attached
    ENIs, security groups of managed ENIs, EIP and address uniqueness (the other
    ports' addresses included)."""
    cat, servers, policy = topology.catalog, topology.servers, topology.policy
    out: list[Violation] = []
    counts = topology.attached_counts()
    for name, count in counts.items():
        server = servers.get(name)
        found = None if server is None else flavor_limit(server, count, cat, "")
        if found is not None:
            out.append(found)
    eips: dict[str, str] = {}
    holders = taken_addresses(topology.catalog)
    for iface in topology.interfaces.values():
        subnet = cat.subnets.get(iface.subnet)
        server = None if iface.server is None else servers.get(iface.server)
        if iface.managed and not iface.primary and subnet is not None:
            if server is not None:
                out.extend(placement(iface.name, subnet, server, policy, ""))
            out.extend(
                groups(eni_ref(iface.name), "", iface.name, iface.security_groups, subnet.vpc, cat)
            )
        if iface.eip is not None and eips.setdefault(iface.eip, iface.name) != iface.name:
            out.append(eip_in_use(iface.name, "", iface.eip, f"{eips[iface.eip]}"))
        key = address_key(iface, cat)
        if key is not None and holders.setdefault(key, iface.name) != iface.name:
            out.append(ip_in_use(iface.name, "", key, holders[key]))
    return ordered(out)


def eip_in_use(name: str, source: Where, eip: str, holder: str) -> Violation:
    return violation(
        Code.EIP_IN_USE,
        eni_ref(name),
        source,
        f"EIP {eip} of {name} is also bound to {holder}",
        "an EIP is bound to at most one ENI: pick another EIP, or unbind it from the other "
        "ENI in its manifest",
    )


def ip_in_use(name: str, source: Where, key: tuple[str, str], holder: str) -> Violation:
    return violation(
        Code.IP_IN_USE,
        eni_ref(name),
        source,
        f"private IP {key[1]} of {name} is already used by {holder} in VPC {key[0]}",
        "choose another address, or omit privateIp to let the cloud choose",
    )
