"""From Huawei Cloud's list answers to enictl's observed Topology (pure, no I/O).

The huaweicloud provider pages through nine listings (ECS servers and flavors; BMS
servers and flavors; VPC VPCs, subnets, security groups and v3 ports; EIP public IPs)
and hands the raw JSON objects to `topology()`, with the NIC limits of the few servers
whose flavor states none (`Listings.nic_limits`, from their `os-interface`). Everything
else enictl needs is in those pages, so observing costs a number of calls that grows
with pages, never with servers. What a real account returns is read as it is meant:

- security groups are regional: the v1 listing's `vpc_id` is only a hint (the VPC
  reference says so), never a pin, so `SecurityGroup.vpc` is "";
- a subnet's `availability_zone` is only a hint too: a subnet fits every AZ of its
  VPC, so `Subnet.availability_zone` is "" (no pin);
- servers are the ECS listing's and the BMS listing's together, a BMS of kind
  `ServerKind.BMS` (its flavor, from the BMS flavors listing, `bare_metal`);
- a port is an ENI when its server (`device_id`) is in the ECS or BMS listing and its
  `device_owner` is `compute:<az>` (a BMS's NICs too: unconfirmed), or when it is
  unattached with no owner at all.
  Every other port (DHCP `network:dhcp`, virtual IP `neutron:VIP_PORT`, load balancers
  `neutron:LOADBALANCER*`, NAT gateways `network:nat_gateway`, routers, bare-metal and
  servers the listing does not show) still holds addresses: each of its IPv4 addresses
  in a listed subnet is a `Catalog.ports` entry (`OWNERS`), so that no ENI is planned
  onto it;
- an ENI's address is its first IPv4 `private_ips` entry (IPv6 entries are skipped);
  in a server's `addresses`, only `fixed` entries count (a `floating` entry is the
  EIP bound to that port);
- a port is primary when `binding:vif_details.primary_interface` says so (unconfirmed
  for every flavor), or when the server's `addresses` entry for it has `primary: true`
  (ECS), or it is the first of a BMS's `metadata.baremetalPortIDList` (unconfirmed);
- a port is managed when it carries the tag `enictl-managed` (VPC v3 tags, which the
  v3 port listing includes), by the owner its value names (`true`: the owner
  `default`; `controller.owners`); protected (`protect`, never deleted by prune) when it
  carries `enictl-protect=true`; its `failover_at` is the tag
  `enictl-failover-at=<epoch seconds>` (when the failover policy last moved it);
- a server's `status_since` is its `updated` time: the last change of the server, so
  at the latest when its status changed;
- a flavor's NIC limit (primary included) is `quota:vif_max_num`, else
  `instance_vnic:max_count`, else `baremetal:net_num` among its extra specs (strings);
  a flavor that states none has `max_interfaces=None`, and a server of it gets
  `nic_limit` from its `os-interface` (attached NICs + `attachableQuantity.free_nic`),
  or None when that is unknown too (the planner then refuses attaches there);
- `delete_on_termination` is a property of the attachment that only the per-server
  `os-interface` call shows. Observing does not make that call: an attached port is
  reported with `delete_on_termination=True` ("may be true"), so that enictl always
  clears the flag before a detach that the port must survive (one PUT per moved ENI,
  the same thing terraform-provider-huaweicloud does); an unattached port has no
  attachment and reports False.

Names are what users see, so every resource needs one: servers, ports, subnets,
security groups and VPCs by `name`, EIPs by `alias` or, when unnamed, by their public
address. An unnamed primary port is called `<server>-primary` (as in the simulated
cloud), any other unnamed resource by its id. The cloud does not keep names unique; on
a clash the resource with the smallest id keeps the name and the others become
`<name>~<first 8 characters of the id>`, deterministically.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from controller import owners
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

JsonDict = Mapping[str, Any]
T = TypeVar("T")
_first, _second = operator.itemgetter(0), operator.itemgetter(1)

MANAGED_TAG_KEY = "enictl-managed"
MANAGED_TAG_VALUE = "true"
PROTECT_TAG_KEY = "enictl-protect"  # value "true": prune never deletes the port
FAILOVER_TAG_KEY = "enictl-failover-at"  # value: epoch seconds of the last failover move
VIF_MAX_SPEC = "quota:vif_max_num"
VNIC_MAX_SPEC = "instance_vnic:max_count"
BAREMETAL_NICS_SPEC = "baremetal:net_num"
LIMIT_SPECS = (VIF_MAX_SPEC, VNIC_MAX_SPEC, BAREMETAL_NICS_SPEC)
# Other ports' `device_owner` (exact, or its part before ":" + "*") -> Port.owner.
OWNERS = {
    "network:dhcp": "dhcp",
    "neutron:VIP_PORT": "vip",
    "neutron:LOADBALANCER": "loadbalancer",
    "neutron:LOADBALANCERV2": "loadbalancer",
    "neutron:LOADBALANCERV3": "loadbalancer",
    "network:nat_gateway": "nat",
    "network:router_interface_distributed": "router",
    "network:router_centralized_snat": "router",
    "network:router_interface": "router",
    "compute:*": "server",  # a server the ECS listing does not show
    "baremetal:*": "baremetal",
}


@dataclass(frozen=True, slots=True)
class Listings:
    """Every item of every listing, as the API returned them (JSON objects)."""

    servers: Sequence[JsonDict] = ()
    ports: Sequence[JsonDict] = ()
    flavors: Sequence[JsonDict] = ()
    vpcs: Sequence[JsonDict] = ()
    subnets: Sequence[JsonDict] = ()
    security_groups: Sequence[JsonDict] = ()
    publicips: Sequence[JsonDict] = ()
    nic_limits: Mapping[str, int] = field(default_factory=dict)  # server id -> from os-interface
    bms_servers: Sequence[JsonDict] = ()  # the BMS API's listings
    bms_flavors: Sequence[JsonDict] = ()


def unique_names(
    items: Iterable[T], name_of: Callable[[T], str], id_of: Callable[[T], str]
) -> dict[str, T]:
    """Items keyed by a unique name (see the module docstring for clashes)."""
    by_name: dict[str, T] = {}
    for item_id, item in sorted(((id_of(i), i) for i in items), key=_first):
        name = name_of(item) or item_id
        if name in by_name:
            name = f"{name}~{item_id[:8]}"
        by_name[name] = item
    return dict(sorted(by_name.items(), key=_first))


def flavor_limit(flavor: JsonDict) -> int | None:
    """The flavor's NIC limit (primary included) from its extra specs, or None."""
    specs = flavor.get("os_extra_specs") or {}
    for key in LIMIT_SPECS:
        value = specs.get(key)
        if value is not None and str(value).strip().isdigit():
            return int(str(value).strip())
    return None


def nic_limit(os_interface: JsonDict) -> int | None:
    """A server's NIC limit from its ECS `os-interface` answer: the NICs it has plus
    `attachableQuantity.free_nic`, or None when the answer does not say."""
    free = (os_interface.get("attachableQuantity") or {}).get("free_nic")
    if not isinstance(free, int) or isinstance(free, bool) or free < 0:
        return None
    return len(os_interface.get("interfaceAttachments") or ()) + free


def _flavor_key(server: JsonDict, flavor_name: Mapping[str, str]) -> str:
    """The flavor a server's `flavor` names: its name, else the flavor with its id (ECS
    shows a flavor's name as its id, too)."""
    flavor = server.get("flavor") or {}
    name = str(flavor.get("name") or "")
    return name or flavor_name.get(str(flavor.get("id") or ""), str(flavor.get("id") or ""))


def servers_without_limit(servers: Sequence[JsonDict], flavors: Sequence[JsonDict]) -> list[str]:
    """The ids of the servers whose flavor is listed but states no NIC limit: only
    their own `os-interface` can tell."""
    unknown = {_name(f) for f in flavors if flavor_limit(f) is None}
    by_id = {_id(f): _name(f) for f in flavors}
    return sorted(_id(s) for s in servers if _flavor_key(s, by_id) in unknown)


def managed_by(port: JsonDict) -> str | None:
    """The owner the port's `enictl-managed` tag names (`true`: the default owner), or
    None when it has none (`controller.owners`)."""
    for tag in port.get("tags") or ():
        if tag.get("key") == MANAGED_TAG_KEY:
            return owners.from_tag_value(tag.get("value"))
    return None


def is_protected(port: JsonDict) -> bool:
    return any(
        tag.get("key") == PROTECT_TAG_KEY and str(tag.get("value")) == MANAGED_TAG_VALUE
        for tag in port.get("tags") or ()
    )


def server_statuses(servers: Iterable[JsonDict]) -> dict[str, str]:
    """Each server's status by its name (the names `topology()` gives them)."""
    named = unique_names(servers, _name, _id)
    return {name: str(server.get("status") or "") for name, server in named.items()}


def failover_time(port: JsonDict) -> float | None:
    """The `enictl-failover-at` tag's epoch seconds; None without it (or unreadable)."""
    for tag in port.get("tags") or ():
        if tag.get("key") == FAILOVER_TAG_KEY:
            value = str(tag.get("value") or "")
            return float(value) if value.isdigit() else None
    return None


def epoch(text: object) -> float | None:
    """ECS's `2026-12-04T10:42:07Z` (or with an offset) as epoch seconds; None if not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _id(item: JsonDict) -> str:
    return str(item.get("id") or "")


def _name(item: JsonDict) -> str:
    return str(item.get("name") or "")


def _names_by_id(named: Mapping[str, JsonDict]) -> dict[str, str]:
    return {_id(item): name for name, item in named.items()}


def port_owner(device_owner: str) -> str:
    """`Port.owner` of a port that is not an ENI (see OWNERS); its owner string otherwise."""
    found = OWNERS.get(device_owner) or OWNERS.get(device_owner.partition(":")[0] + ":*")
    return found or device_owner or "unknown"


def topology(listings: Listings) -> Topology:
    """The observed Topology (with ids everywhere) of one set of listings."""
    vpcs = unique_names(listings.vpcs, _name, _id)
    vpc_name = _names_by_id(vpcs)
    subnets = unique_names(listings.subnets, _name, _id)
    subnet_name = _names_by_id(subnets)
    groups = unique_names(listings.security_groups, _name, _id)
    group_name = _names_by_id(groups)
    eips = unique_names(
        listings.publicips, lambda e: str(e.get("alias") or e.get("public_ip_address") or ""), _id
    )
    eip_by_port = {str(e["port_id"]): name for name, e in eips.items() if e.get("port_id")}
    bare_metal = {_id(f) for f in listings.bms_flavors} | {_id(s) for s in listings.bms_servers}
    flavors = unique_names([*listings.flavors, *listings.bms_flavors], _name, _id)
    flavor_name = _names_by_id(flavors)
    servers = unique_names([*listings.servers, *listings.bms_servers], _name, _id)
    server_name = _names_by_id(servers)

    primary_ports = {
        str(address.get("OS-EXT-IPS:port_id"))
        for server in listings.servers
        for addresses in (server.get("addresses") or {}).values()
        for address in addresses
        if address.get("primary") and address.get("OS-EXT-IPS:type", "fixed") == "fixed"
    }
    primary_ports.update(filter(None, map(_first_bms_port, listings.bms_servers)))
    interfaces, others = _ports(
        listings.ports, server_name, subnet_name, group_name, eip_by_port, primary_ports
    )

    primaries = {i.server: i for i in interfaces.values() if i.primary and i.server}
    limits = {name: flavor_limit(f) for name, f in flavors.items()}
    observed_servers: dict[str, Server] = {}
    for name, server in servers.items():
        flavor_key = _flavor_key(server, flavor_name)
        primary = primaries.get(name)
        vpc_id = str((server.get("metadata") or {}).get("vpc_id") or "")
        flavor_says = limits.get(flavor_key) is not None
        own_limit = None if flavor_says else listings.nic_limits.get(_id(server))
        observed_servers[name] = Server(
            name=name,
            flavor=flavor_key,
            availability_zone=str(server.get("OS-EXT-AZ:availability_zone") or ""),
            vpc=vpc_name.get(vpc_id, vpc_id),
            subnet=primary.subnet if primary else "",
            security_groups=primary.security_groups if primary else (),
            status=str(server.get("status") or ""),
            id=_id(server),
            nic_limit=own_limit,
            kind=ServerKind.BMS if _id(server) in bare_metal else ServerKind.ECS,
            status_since=epoch(server.get("updated")),
        )

    catalog = Catalog(
        flavors={
            name: Flavor(name, limits[name], _id(f), bare_metal=_id(f) in bare_metal)
            for name, f in flavors.items()
        },
        vpcs={name: Vpc(name, str(v.get("cidr") or ""), _id(v)) for name, v in vpcs.items()},
        subnets={
            name: Subnet(
                name,
                vpc_name.get(str(s.get("vpc_id")), str(s.get("vpc_id") or "")),
                str(s.get("cidr") or ""),
                id=_id(s),
            )
            for name, s in subnets.items()
        },
        security_groups={name: SecurityGroup(name, id=_id(g)) for name, g in groups.items()},
        eips={
            name: Eip(name, str(e.get("public_ip_address") or ""), _id(e))
            for name, e in eips.items()
        },
        ports=others,
    )
    return Topology(servers=observed_servers, interfaces=interfaces, catalog=catalog)


def _ports(
    ports: Iterable[JsonDict],
    server_name: Mapping[str, str],
    subnet_name: Mapping[str, str],
    group_name: Mapping[str, str],
    eip_by_port: Mapping[str, str],
    primary_ports: set[str],
) -> tuple[dict[str, NetworkInterface], tuple[Port, ...]]:
    """The ENIs among the ports, by unique name, and the other ports' addresses. This
    runs for every port of the project, so it reads each field once and resolves each
    distinct list of security groups once.

    A port is an ENI when it is on a listed server with a `compute:<az>` owner, or
    unattached with no owner at all (see the module docstring)."""
    found: list[tuple[str, str, JsonDict, str | None, bool]] = []  # id, name, port, ...
    others: list[Port] = []
    for port in ports:
        device_id = str(port.get("device_id") or "")
        owner = str(port.get("device_owner") or "")
        attached_to: str | None = None
        port_id = str(port.get("id") or "")
        if device_id or owner:
            attached_to = server_name.get(device_id) if device_id else None
            if attached_to is None or not owner.startswith("compute:"):
                others.extend(_held(port, port_id, port_owner(owner), subnet_name))
                continue
        details = port.get("binding:vif_details") or {}
        primary = attached_to is not None and (
            bool(details.get("primary_interface")) or port_id in primary_ports
        )
        name = str(port.get("name") or "") or (f"{attached_to}-primary" if primary else "")
        found.append((port_id, name, port, attached_to, primary))
    group_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
    interfaces: dict[str, NetworkInterface] = {}
    for name, (port_id, _, port, attached_to, primary) in unique_names(
        found, _second, _first
    ).items():
        ids = tuple(port.get("security_groups") or ())
        groups = group_tuples.get(ids)
        if groups is None:
            groups = group_tuples[ids] = tuple(group_name.get(g, g) for g in ids)
        subnet_id = str(port.get("virsubnet_id"))
        manager = managed_by(port)
        interfaces[name] = NetworkInterface(
            name=name,
            subnet=subnet_name.get(subnet_id, subnet_id),
            private_ip=_ipv4(port),
            security_groups=groups,
            eip=eip_by_port.get(port_id),
            server=attached_to,
            primary=primary,
            managed=manager is not None,
            owner=manager or "",
            protect=is_protected(port),
            delete_on_termination=attached_to is not None,
            id=port_id,
            failover_at=failover_time(port),
        )
    others.sort(key=lambda p: (p.subnet, _address_key(p.private_ip), p.id))
    return interfaces, tuple(others)


def _first_bms_port(server: JsonDict) -> str:
    """A BMS's primary NIC: the first of `metadata.baremetalPortIDList` ("[id, id]"), as
    a BMS's `addresses` say nothing of it (unconfirmed that the list starts with it)."""
    text = str((server.get("metadata") or {}).get("baremetalPortIDList") or "")
    return text.strip("[] ").split(",")[0].strip()


def _held(
    port: JsonDict, port_id: str, owner: str, subnet_name: Mapping[str, str]
) -> Iterable[Port]:
    """The addresses a port that is not an ENI holds in listed subnets (IPv4 only)."""
    subnet = subnet_name.get(str(port.get("virsubnet_id") or ""))
    if subnet is None:
        return ()
    return [Port(port_id, subnet, address, owner) for address in _ipv4s(port)]


def _ipv4s(port: JsonDict) -> list[str]:
    """The port's IPv4 addresses, in order (IPv6 entries and empty ones skipped)."""
    found = []
    for ip in port.get("private_ips") or ():
        address = ip.get("ip_address") if isinstance(ip, Mapping) else None
        if address and _is_ipv4(str(address)):
            found.append(str(address))
    return found


def _is_ipv4(address: str) -> bool:
    """Cheap, for every port of the project: an IPv6 address has colons, an IPv4 one
    three dots."""
    return ":" not in address and address.count(".") == 3


def _address_key(address: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in address.split("."))


def _ipv4(port: JsonDict) -> str | None:
    """The port's first IPv4 address."""
    found = _ipv4s(port)
    return found[0] if found else None
