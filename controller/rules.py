"""The rules of SPEC section 2, as pure functions that report every violation found.

Two kinds of entry points:

- `check(desired, observed, diff)`: every rule over the target of a diff (the final
  state the plan must reach), plus the plan-time warnings. Each violation names the
  resource (`Server/web-1`, `NetworkInterface/eni-a`), the manifest `source`
  (file:line:col, "" for a resource no manifest declares), a message and a hint.
- the local rules (`placement`, `groups`, `flavor_limit`, `ip_in_subnet`): one
  resource at a time, O(1). The plan simulator calls them after each step on what
  the step touched, which is equivalent to re-checking the whole state (every
  invariant is local to a server, an interface, an EIP or an address) and keeps a
  step's check independent of the topology's size. `check_state` composes them over a
  whole single state.

`DuplicateName` and `UnknownServer` are mostly caught by the manifest loader; the
functions here stay total (`duplicate_names` is also usable by the loader).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from controller.diff import Diff, eni_ref, server_ref
from controller.model import (
    Catalog,
    NetworkInterface,
    PlacementPolicy,
    Server,
    Subnet,
    SubnetScope,
    Topology,
)
from controller.plan import Code, Severity, Violation

ERROR = Severity.ERROR
WARNING = Severity.WARNING
_SEVERITY_ORDER = {ERROR: 0, WARNING: 1}


def violation(
    code: Code, resource: str, source: str, message: str, hint: str = "", *, warning: bool = False
) -> Violation:
    return Violation(code, WARNING if warning else ERROR, resource, source, message, hint)


def source_of(value: Server | NetworkInterface | None) -> str:
    return "" if value is None or value.source is None else str(value.source)


def ordered(violations: Iterable[Violation]) -> list[Violation]:
    """Errors first, then by resource, code and message: a stable report order."""
    return sorted(
        set(violations),
        key=lambda v: (_SEVERITY_ORDER[v.severity], v.resource, v.code.value, v.message),
    )


def _did_you_mean(name: str, known: Iterable[str], kind: str) -> str:
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
    flavor = catalog.flavors.get(server.flavor)
    return None if flavor is None else flavor.max_interfaces


def flavor_limit(
    server: Server, count: int, catalog: Catalog, source: str, members: Sequence[str] = ()
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


def placement(
    name: str, subnet: Subnet, server: Server, policy: PlacementPolicy, source: str
) -> list[Violation]:
    """AZ, VPC and subnet rules for extension ENI `name` (in `subnet`) on `server`."""
    out: list[Violation] = []
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
    if subnet.availability_zone != server.availability_zone:
        out.append(
            violation(
                Code.AVAILABILITY_ZONE_MISMATCH,
                ref,
                source,
                f"{name} is in {subnet.availability_zone} (subnet {subnet.name}) but "
                f"{server.name} is in {server.availability_zone}",
                f"use a subnet in {server.availability_zone} or a server in "
                f"{subnet.availability_zone}",
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
                f"use subnet {server.subnet}, or allow any subnet of {server.vpc} with a "
                f"PlacementPolicy `subnetScope: vpc`",
            )
        )
    return out


def groups(
    resource: str, source: str, owner: str, names: Sequence[str], vpc: str, catalog: Catalog
) -> list[Violation]:
    """UnknownSecurityGroup / SecurityGroupVpcMismatch for `owner`'s groups in `vpc`."""
    out: list[Violation] = []
    for sg in names:
        found = catalog.security_groups.get(sg)
        if found is None:
            out.append(
                violation(
                    Code.UNKNOWN_SECURITY_GROUP,
                    resource,
                    source,
                    f"security group {sg} of {owner} does not exist in the cloud",
                    _did_you_mean(sg, catalog.security_groups, "security group"),
                )
            )
        elif found.vpc != vpc:
            out.append(
                violation(
                    Code.SECURITY_GROUP_VPC_MISMATCH,
                    resource,
                    source,
                    f"security group {sg} of {owner} belongs to VPC {found.vpc}, not to {vpc}",
                    f"use security groups of {vpc}",
                )
            )
    return out


@lru_cache(maxsize=4096)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def ip_in_subnet(name: str, ip: str, subnet: Subnet, source: str) -> Violation | None:
    """IpOutOfSubnet when `ip` is not an address of `subnet`'s CIDR."""
    net = _network(subnet.cidr)
    try:
        inside = net is not None and ipaddress.ip_address(ip) in net
    except ValueError:
        inside = False
    if inside:
        return None
    return violation(
        Code.IP_OUT_OF_SUBNET,
        eni_ref(name),
        source,
        f"{name}'s private IP {ip} is not in subnet {subnet.name} ({subnet.cidr})",
        f"choose an address in {subnet.cidr}, or omit privateIp to let the cloud choose",
    )


def address_key(iface: NetworkInterface, catalog: Catalog) -> tuple[str, str] | None:
    """Private IPs are unique per VPC: (vpc, ip), or None without an address."""
    if iface.private_ip is None:
        return None
    subnet = catalog.subnets.get(iface.subnet)
    return (subnet.vpc if subnet is not None else f"?{iface.subnet}", iface.private_ip)


def duplicate_names(entries: Iterable[tuple[str, str, str]]) -> list[Violation]:
    """DuplicateName for every (kind, name, source) whose kind and name came before."""
    first: dict[tuple[str, str], str] = {}
    out: list[Violation] = []
    for kind, name, source in entries:
        if (kind, name) not in first:
            first[(kind, name)] = source
            continue
        earlier = first[(kind, name)]
        out.append(
            violation(
                Code.DUPLICATE_NAME,
                f"{kind}/{name}",
                source,
                f"{kind} {name} is declared twice (first at {earlier or 'an unknown place'})",
                "names are unique per kind across all manifest files: rename or remove one",
            )
        )
    return out


# -- whole states --------------------------------------------------------------------


def check_state(topology: Topology) -> list[Violation]:
    """The invariants over one state: flavor limits, placement of managed attached
    ENIs, security groups of managed ENIs, EIP and address uniqueness."""
    cat, servers, policy = topology.catalog, topology.servers, topology.policy
    out: list[Violation] = []
    counts = topology.attached_counts()
    for name, count in counts.items():
        server = servers.get(name)
        found = None if server is None else flavor_limit(server, count, cat, "")
        if found is not None:
            out.append(found)
    eips: dict[str, str] = {}
    addresses: dict[tuple[str, str], str] = {}
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
            out.append(_eip_in_use(iface.name, "", iface.eip, f"{eips[iface.eip]}"))
        key = address_key(iface, cat)
        if key is not None and addresses.setdefault(key, iface.name) != iface.name:
            out.append(_ip_in_use(iface.name, "", key, addresses[key]))
    return ordered(out)


def _eip_in_use(name: str, source: str, eip: str, holder: str) -> Violation:
    return violation(
        Code.EIP_IN_USE,
        eni_ref(name),
        source,
        f"EIP {eip} of {name} is also bound to {holder}",
        "an EIP is bound to at most one ENI: pick another EIP, or unbind it from the other "
        "ENI in its manifest",
    )


def _ip_in_use(name: str, source: str, key: tuple[str, str], holder: str) -> Violation:
    return violation(
        Code.IP_IN_USE,
        eni_ref(name),
        source,
        f"private IP {key[1]} of {name} is already used by {holder} in VPC {key[0]}",
        "choose another address, or omit privateIp to let the cloud choose",
    )


def holders_index(
    interfaces: Mapping[str, NetworkInterface], catalog: Catalog
) -> tuple[dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """Who holds each EIP and each (vpc, address) in a state."""
    eips: dict[str, list[str]] = {}
    addresses: dict[tuple[str, str], list[str]] = {}
    for iface in interfaces.values():
        if iface.eip is not None:
            eips.setdefault(iface.eip, []).append(iface.name)
        key = address_key(iface, catalog)
        if key is not None:
            addresses.setdefault(key, []).append(iface.name)
    return eips, addresses


# -- the desired state ---------------------------------------------------------------


def check(desired: Topology, observed: Topology, diff: Diff) -> list[Violation]:
    """Every rule over the diff's target state (the desired state applied to the
    observed one), and the plan-time warnings; errors first, in a stable order."""
    out = _names(desired)
    out += _servers(desired, observed)
    out += _interfaces(desired, observed)
    eips, addresses = holders_index(diff.target.interfaces, observed.catalog)
    out += _in_use(desired, observed, diff, eips, addresses)
    out += _limits(desired, observed, diff)
    out += _warnings(desired, observed, diff)
    return ordered(out)


def _names(desired: Topology) -> list[Violation]:
    entries: list[tuple[str, str, str]] = []
    for kind, values in (("Server", desired.servers), ("NetworkInterface", desired.interfaces)):
        named: Iterable[Server | NetworkInterface] = values.values()
        entries.extend((kind, v.name, source_of(v)) for v in named)
    return duplicate_names(entries)


def _servers(desired: Topology, observed: Topology) -> list[Violation]:
    cat = observed.catalog
    out: list[Violation] = []
    for name in sorted(desired.servers):
        want = desired.servers[name]
        ref, src = server_ref(name), source_of(want)
        if want.flavor not in cat.flavors:
            out.append(
                violation(
                    Code.UNKNOWN_FLAVOR,
                    ref,
                    src,
                    f"flavor {want.flavor} of {name} does not exist in the cloud",
                    _did_you_mean(want.flavor, cat.flavors, "flavor"),
                )
            )
        if want.subnet not in cat.subnets:
            out.append(_unknown_subnet(ref, src, name, want.subnet, cat))
        have = observed.servers.get(name)
        if want.security_groups is not None:
            vpc = want.vpc if have is None else have.vpc
            owner = f"{name}'s primary ENI"
            out.extend(groups(ref, src, owner, want.security_groups, vpc, cat))
        if have is None:
            out.append(
                violation(
                    Code.UNKNOWN_SERVER,
                    ref,
                    src,
                    f"server {name} is declared but does not exist in the cloud",
                    "enictl never creates servers: check the name, or create the server first",
                )
            )
            continue
        for field, mine, theirs in (
            ("flavor", want.flavor, have.flavor),
            ("availabilityZone", want.availability_zone, have.availability_zone),
            ("vpc", want.vpc, have.vpc),
            ("subnet", want.subnet, have.subnet),
        ):
            if mine != theirs:
                out.append(
                    violation(
                        Code.SERVER_MISMATCH,
                        ref,
                        src,
                        f"{name}'s {field} is {mine} in the manifest but {theirs} in the cloud",
                        f"enictl never changes servers: set spec.{field}: {theirs}",
                    )
                )
    return out


def _unknown_subnet(ref: str, src: str, owner: str, subnet: str, cat: Catalog) -> Violation:
    return violation(
        Code.UNKNOWN_SUBNET,
        ref,
        src,
        f"subnet {subnet} of {owner} does not exist in the cloud",
        _did_you_mean(subnet, cat.subnets, "subnet"),
    )


def _interfaces(desired: Topology, observed: Topology) -> list[Violation]:
    cat, policy = observed.catalog, desired.policy
    out: list[Violation] = []
    for name, want in desired.interfaces.items():
        ref, src = eni_ref(name), source_of(want)
        have = observed.interfaces.get(name)
        subnet = cat.subnets.get(want.subnet)
        if subnet is None:
            out.append(_unknown_subnet(ref, src, name, want.subnet, cat))
        else:
            out.extend(groups(ref, src, name, want.security_groups, subnet.vpc, cat))
        if want.eip is not None and want.eip not in cat.eips:
            out.append(
                violation(
                    Code.UNKNOWN_EIP,
                    ref,
                    src,
                    f"EIP {want.eip} of {name} does not exist in the cloud",
                    _did_you_mean(want.eip, cat.eips, "EIP"),
                )
            )
        if want.server is not None:
            server = observed.servers.get(want.server)
            if want.server not in desired.servers:
                out.append(
                    violation(
                        Code.UNKNOWN_SERVER,
                        ref,
                        src,
                        f"{name} names server {want.server}, which no Server manifest declares",
                        f"declare {want.server} with a Server manifest, or fix spec.server",
                    )
                )
            elif server is not None and subnet is not None:
                out.extend(placement(name, subnet, server, policy, src))
        if have is not None:
            out.extend(_immutable(name, src, want, have))
        if (
            want.private_ip is not None
            and subnet is not None
            and (have is None or have.private_ip != want.private_ip or have.subnet != subnet.name)
        ):
            found = ip_in_subnet(name, want.private_ip, subnet, src)
            if found is not None:
                out.append(found)
    return out


def _immutable(
    name: str, src: str, want: NetworkInterface, have: NetworkInterface
) -> list[Violation]:
    ref = eni_ref(name)
    out: list[Violation] = []
    if have.primary and want.server != have.server:
        where = "detach it" if want.server is None else f"move it to {want.server}"
        out.append(
            violation(
                Code.PRIMARY_INTERFACE_IMMUTABLE,
                ref,
                src,
                f"{name} is the primary ENI of {have.server}; the manifest would {where}",
                f"a primary ENI is never detached, moved or deleted: set spec.server: "
                f"{have.server}, or remove this manifest (a Server's spec.securityGroups sets "
                f"its primary ENI's security groups)",
            )
        )
    for field, mine, theirs in (
        ("subnet", want.subnet, have.subnet),
        ("privateIp", want.private_ip, have.private_ip),
    ):
        if mine is not None and mine != theirs:
            out.append(
                violation(
                    Code.IMMUTABLE_FIELD,
                    ref,
                    src,
                    f"{name}'s {field} cannot change ({theirs} -> {mine}): replacing the ENI "
                    f"would lose its IP",
                    f"keep spec.{field}: {theirs}, or declare a new NetworkInterface under "
                    f"another name",
                )
            )
    return out


def _in_use(
    desired: Topology,
    observed: Topology,
    diff: Diff,
    eips: Mapping[str, list[str]],
    addresses: Mapping[tuple[str, str], list[str]],
) -> list[Violation]:
    cat = observed.catalog
    out: list[Violation] = []
    for name, want in desired.interfaces.items():
        src = source_of(want)
        if want.eip is not None:
            out.extend(
                _eip_in_use(name, src, want.eip, _describe(other, desired, observed, diff))
                for other in eips.get(want.eip, ())
                if other != name
            )
        have = observed.interfaces.get(name)
        if want.private_ip is None or (have is not None and have.private_ip == want.private_ip):
            continue
        key = address_key(diff.target.interfaces[name], cat)
        if key is not None:
            out.extend(
                _ip_in_use(name, src, key, _describe(other, desired, observed, diff))
                for other in addresses.get(key, ())
                if other != name
            )
    return out


def _describe(name: str, desired: Topology, observed: Topology, diff: Diff) -> str:
    """How an interface that holds something is owned, for a message."""
    if name in desired.interfaces:
        return f"{name} (declared)"
    have = observed.interfaces[name]
    if have.primary:
        return f"{name} (primary ENI of {have.server}, left alone)"
    if not have.managed:
        return f"{name} (unmanaged, left alone)"
    if name in diff.protected_orphans:
        return f"{name} (orphan with protect set, kept)"
    return f"{name} (orphan, kept: run with --prune to delete it)"


def _limits(desired: Topology, observed: Topology, diff: Diff) -> list[Violation]:
    counts = diff.target.attached_counts()
    touched = {d.after.server for d in diff.deltas if d.after is not None and d.after.server}
    out: list[Violation] = []
    members: dict[str, list[str]] | None = None
    for name in sorted(touched | desired.servers.keys()):
        server = observed.servers.get(name)
        if server is None:
            continue
        count = counts.get(name, 0)
        limit = limit_of(server, observed.catalog)
        if limit is None or count <= limit:
            continue
        if members is None:
            members = {}
            for iface in diff.target.interfaces.values():
                if iface.server is not None:
                    members.setdefault(iface.server, []).append(iface.name)
        on = sorted(members.get(name, ()))
        src = source_of(desired.servers.get(name))
        found = flavor_limit(server, count, observed.catalog, src, on)
        if found is not None:
            out.append(found)
    return out


def _warnings(desired: Topology, observed: Topology, diff: Diff) -> list[Violation]:
    out: list[Violation] = []
    busy: set[str] = set()
    for delta in diff.deltas:
        before = None if delta.before is None else delta.before.server
        after = None if delta.after is None else delta.after.server
        if before != after:
            busy.update(s for s in (before, after) if s is not None)
    for name in sorted(busy):
        server = observed.servers.get(name)
        if server is None or server.ready:
            continue
        out.append(
            violation(
                Code.SERVER_NOT_READY,
                server_ref(name),
                source_of(desired.servers.get(name)),
                f"{name} is {server.status}: attach and detach need ACTIVE or SHUTOFF",
                "apply waits for the server to become ready, then fails the step",
                warning=True,
            )
        )
    for name in diff.protected_orphans:
        out.append(
            violation(
                Code.PROTECTED_INTERFACE,
                eni_ref(name),
                "",
                f"orphan {name} has protect set: --prune keeps it",
                "delete it by hand, or clear its protect tag",
                warning=True,
            )
        )
    return out
