"""From Huawei Cloud's list answers to enictl's observed Topology (pure, no I/O).

The huaweicloud provider pages through seven listings (ECS servers and flavors; VPC
VPCs, subnets, security groups and v3 ports; EIP public IPs) and hands the raw JSON
objects to `topology()`. Everything enictl needs is in those pages, so observing costs
a number of calls that grows with pages, never with servers:

- a port's server is its `device_id` (ports whose `device_owner` is `compute:<az>`);
  ports owned by anything else (DHCP, routers, load balancers) are not ENIs and are
  ignored, and so are ports of servers the ECS listing did not show (e.g. BMS);
- a port is primary when `binding:vif_details.primary_interface` says so (unconfirmed
  for every flavor), or when the server's `addresses` entry for it has `primary: true`;
- a port is managed when it carries the tag `enictl-managed=true` (VPC v3 tags, which
  the v3 port listing includes (unconfirmed));
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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from controller.errors import PermanentProviderError
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

JsonDict = Mapping[str, Any]
T = TypeVar("T")

MANAGED_TAG_KEY = "enictl-managed"
MANAGED_TAG_VALUE = "true"
VIF_MAX_SPEC = "quota:vif_max_num"
VNIC_MAX_SPEC = "instance_vnic:max_count"
FLAVOR_LIMIT_UNKNOWN = "FlavorLimitUnknown"


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


def unique_names(
    items: Iterable[T], name_of: Callable[[T], str], id_of: Callable[[T], str]
) -> dict[str, T]:
    """Items keyed by a unique name (see the module docstring for clashes)."""
    by_name: dict[str, T] = {}
    for item in sorted(items, key=id_of):
        name = name_of(item) or id_of(item)
        if name in by_name:
            name = f"{name}~{id_of(item)[:8]}"
        by_name[name] = item
    return dict(sorted(by_name.items()))


def flavor_limit(flavor: JsonDict) -> int | None:
    """The flavor's NIC limit (primary included) from its extra specs, or None."""
    specs = flavor.get("os_extra_specs") or {}
    for key in (VIF_MAX_SPEC, VNIC_MAX_SPEC):
        value = specs.get(key)
        if value is not None and str(value).strip().isdigit():
            return int(str(value).strip())
    return None


def is_managed(port: JsonDict) -> bool:
    return any(
        tag.get("key") == MANAGED_TAG_KEY and str(tag.get("value")) == MANAGED_TAG_VALUE
        for tag in port.get("tags") or ()
    )


def _id(item: JsonDict) -> str:
    return str(item.get("id") or "")


def _name(item: JsonDict) -> str:
    return str(item.get("name") or "")


def _names_by_id(named: Mapping[str, JsonDict]) -> dict[str, str]:
    return {_id(item): name for name, item in named.items()}


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
    flavors = unique_names(listings.flavors, _name, _id)
    flavor_name = _names_by_id(flavors)
    servers = unique_names(listings.servers, _name, _id)
    server_name = _names_by_id(servers)

    primary_ports = {
        str(address.get("OS-EXT-IPS:port_id"))
        for server in listings.servers
        for addresses in (server.get("addresses") or {}).values()
        for address in addresses
        if address.get("primary")
    }
    ports = [p for p in listings.ports if _is_eni(p, server_name)]

    def port_name(port: JsonDict) -> str:
        if _name(port):
            return _name(port)
        if _is_primary(port, primary_ports) and str(port.get("device_id")) in server_name:
            return f"{server_name[str(port['device_id'])]}-primary"
        return ""

    interfaces: dict[str, NetworkInterface] = {}
    for name, port in unique_names(ports, port_name, _id).items():
        attached_to = server_name.get(str(port.get("device_id") or ""))
        ips = [
            str(ip.get("ip_address"))
            for ip in port.get("private_ips") or ()
            if ip.get("ip_address")
        ]
        interfaces[name] = NetworkInterface(
            name=name,
            subnet=subnet_name.get(str(port.get("virsubnet_id")), str(port.get("virsubnet_id"))),
            private_ip=next((ip for ip in ips if ":" not in ip), None),
            security_groups=tuple(group_name.get(g, g) for g in port.get("security_groups") or ()),
            eip=eip_by_port.get(_id(port)),
            server=attached_to,
            primary=attached_to is not None and _is_primary(port, primary_ports),
            managed=is_managed(port),
            delete_on_termination=attached_to is not None,
            id=_id(port),
        )

    primaries = {i.server: i for i in interfaces.values() if i.primary and i.server}
    observed_servers: dict[str, Server] = {}
    for name, server in servers.items():
        flavor = server.get("flavor") or {}
        flavor_key = str(flavor.get("name") or flavor_name.get(str(flavor.get("id")), ""))
        if flavor_key in flavors and flavor_limit(flavors[flavor_key]) is None:
            raise PermanentProviderError(
                FLAVOR_LIMIT_UNKNOWN,
                f"flavor {flavor_key} (of server {name}) states no NIC limit: neither "
                f"{VIF_MAX_SPEC} nor {VNIC_MAX_SPEC} is among its extra specs",
            )
        primary = primaries.get(name)
        vpc_id = str((server.get("metadata") or {}).get("vpc_id") or "")
        observed_servers[name] = Server(
            name=name,
            flavor=flavor_key,
            availability_zone=str(server.get("OS-EXT-AZ:availability_zone") or ""),
            vpc=vpc_name.get(vpc_id, vpc_id),
            subnet=primary.subnet if primary else "",
            security_groups=primary.security_groups if primary else (),
            status=str(server.get("status") or ""),
            id=_id(server),
        )

    catalog = Catalog(
        flavors={
            name: Flavor(name, limit, _id(f))
            for name, f in flavors.items()
            if (limit := flavor_limit(f)) is not None
        },
        vpcs={name: Vpc(name, str(v.get("cidr") or ""), _id(v)) for name, v in vpcs.items()},
        subnets={
            name: Subnet(
                name,
                vpc_name.get(str(s.get("vpc_id")), str(s.get("vpc_id") or "")),
                str(s.get("cidr") or ""),
                str(s.get("availability_zone") or ""),
                _id(s),
            )
            for name, s in subnets.items()
        },
        security_groups={
            name: SecurityGroup(name, vpc_name.get(str(g.get("vpc_id")), ""), _id(g))
            for name, g in groups.items()
        },
        eips={
            name: Eip(name, str(e.get("public_ip_address") or ""), _id(e))
            for name, e in eips.items()
        },
    )
    return Topology(servers=observed_servers, interfaces=interfaces, catalog=catalog)


def _is_eni(port: JsonDict, server_name: Mapping[str, str]) -> bool:
    """A port enictl manages or counts: on a listed server, or unattached and unowned."""
    device_id = str(port.get("device_id") or "")
    owner = str(port.get("device_owner") or "")
    if not device_id:
        return not owner
    return owner.startswith("compute:") and device_id in server_name


def _is_primary(port: JsonDict, primary_ports: set[str]) -> bool:
    details = port.get("binding:vif_details") or {}
    return bool(details.get("primary_interface")) or _id(port) in primary_ports
