"""VPC's and EIP's JSON shapes for the simulated cloud: pure functions of an `index.Index`.

Field names, nesting and types follow Huawei Cloud's VPC and EIP API references and
the official SDK's models: VPC v1 `vpcs`, `subnets`, `security-groups` and `ports`
(`huaweicloudsdkvpc.v2.model`), VPC v3 `ports` and port tags (`...vpc.v3.model`),
EIP v1 `publicips` (`huaweicloudsdkeip.v2.model`). How the simulated cloud's own
notions show through them:

- security groups are regional on Huawei Cloud: a group shows no VPC (`vpc_id` "", the
  v1 field being only a hint), whatever the simulated cloud pins it to;
- a subnet shows the AZ it is pinned to as its `availability_zone` (Huawei's subnets
  name an AZ without being held to it), "" when it is not pinned; its gateway is its
  first host address and its free address count leaves out the five reserved ones;
- other ports (`Catalog.ports`) are listed beside the ENIs with the `device_owner` a
  real one of their kind has (`DEVICE_OWNERS`);
- an EIP shows `port_id` and `private_ip_address` only while it is bound, as the EIP
  reference says.

The v3 ports listing grows with the cloud, so a port is written as JSON text directly
(`port_v3_json`); every other answer is a dict.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Sequence
from typing import Any

from controller import owners
from controller.model import NetworkInterface, Port
from controller.providers.huaweicloud.topology import (
    FAILOVER_TAG_KEY,
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    PROTECT_TAG_KEY,
)
from controller.providers.sim.serve.index import (
    CREATED_PLAIN,
    ENTERPRISE_PROJECT,
    Index,
    boolean,
    derived_id,
    gateway_ip,
    mac_address,
    neutron_subnet_id,
    q,
)

JsonDict = dict[str, Any]
DNS = ("100.125.1.250", "100.125.21.250")  # Huawei Cloud's private DNS servers
RESERVED_ADDRESSES = 5  # network, gateway, two system addresses, broadcast
# Port.owner -> the device_owner a real port of that kind has.
DEVICE_OWNERS = {
    "dhcp": "network:dhcp",
    "vip": "neutron:VIP_PORT",
    "loadbalancer": "neutron:LOADBALANCERV3",
    "nat": "network:nat_gateway",
    "router": "network:router_interface_distributed",
    "baremetal": "baremetal:none",
}
OWNERLESS = frozenset({"vip"})  # kinds of port that no device holds


# ---------------------------------------------------------------- VPC v1


def vpc(index: Index, name: str) -> JsonDict:
    found = index.topology.catalog.vpcs[name]
    return {
        "id": found.id,
        "name": found.name,
        "cidr": found.cidr,
        "description": "",
        "status": "OK",
        "routes": [],
        "enterprise_project_id": ENTERPRISE_PROJECT,
        "tenant_id": index.project_id,
        "created_at": CREATED_PLAIN,
        "updated_at": CREATED_PLAIN,
    }


def subnet(index: Index, name: str, used: int) -> JsonDict:
    """A subnet; `used` is how many of its addresses ports hold."""
    found = index.topology.catalog.subnets[name]
    try:
        size = ipaddress.ip_network(found.cidr, strict=False).num_addresses
    except ValueError:
        size = 0
    return {
        "id": found.id,
        "name": found.name,
        "description": "",
        "cidr": found.cidr,
        "gateway_ip": gateway_ip(found.cidr),
        "ipv6_enable": False,
        "dhcp_enable": True,
        "primary_dns": DNS[0],
        "secondary_dns": DNS[1],
        "dnsList": list(DNS),
        "availability_zone": found.availability_zone,
        "vpc_id": index.vpc_id(found.vpc),
        "status": "ACTIVE",
        "neutron_network_id": found.id,
        "neutron_subnet_id": neutron_subnet_id(found.id),
        "extra_dhcp_opts": [],
        "scope": "center",
        "tenant_id": index.project_id,
        "created_at": CREATED_PLAIN,
        "updated_at": CREATED_PLAIN,
        "enable_network_address_usage_metrics": False,
        "available_ip_address_count": max(size - RESERVED_ADDRESSES - used, 0),
    }


def security_group(index: Index, name: str) -> JsonDict:
    found = index.topology.catalog.security_groups[name]
    return {
        "id": found.id,
        "name": found.name,
        "description": "",
        "vpc_id": "",
        "enterprise_project_id": ENTERPRISE_PROJECT,
        "security_group_rules": [],
    }


def port_v1(index: Index, iface: NetworkInterface) -> JsonDict:
    """An ENI as VPC v1 (`/v1/{project_id}/ports`) shows it."""
    subnet_id = index.subnet_id(iface.subnet)
    srv = index.topology.servers.get(iface.server) if iface.server else None
    details: JsonDict = {}
    if srv is not None:
        details = {"primary_interface": iface.primary, "port_filter": True}
    return {
        **_port_v1_common(iface.id, iface.name, subnet_id, [iface.private_ip or ""], index),
        "device_id": srv.id if srv else "",
        "device_owner": f"compute:{srv.availability_zone}" if srv else "",
        "status": "ACTIVE" if srv else "DOWN",
        "security_groups": index.sg_ids(iface.security_groups),
        "binding:vif_details": details,
        "zone_id": srv.availability_zone if srv else "",
    }


def other_port_v1(index: Index, held: Sequence[Port]) -> JsonDict:
    """Another port (DHCP, virtual IP, ...) as VPC v1 shows it."""
    first = held[0]
    subnet_id = index.subnet_id(first.subnet)
    return {
        **_port_v1_common(first.id, "", subnet_id, [p.private_ip for p in held], index),
        "device_id": _device_id(first, subnet_id),
        "device_owner": DEVICE_OWNERS.get(first.owner, first.owner),
        "status": "DOWN" if first.owner in OWNERLESS else "ACTIVE",
        "security_groups": [],
        "binding:vif_details": {},
        "zone_id": "",
    }


def _port_v1_common(
    port_id: str, name: str, subnet_id: str, addresses: list[str], index: Index
) -> JsonDict:
    neutron = neutron_subnet_id(subnet_id)
    return {
        "id": port_id,
        "name": name,
        "network_id": subnet_id,
        "admin_state_up": True,
        "mac_address": mac_address(port_id),
        "fixed_ips": [{"subnet_id": neutron, "ip_address": a} for a in addresses],
        "tenant_id": index.project_id,
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "binding:vnic_type": "normal",
        "binding:profile": {},
        "dns_assignment": [],
        "dns_name": "",
        "instance_id": "",
        "instance_type": "",
        "port_security_enabled": True,
        "enable_efi": False,
        "ipv6_bandwidth_id": "",
    }


def _device_id(port: Port, subnet_id: str) -> str:
    if port.owner in OWNERLESS:
        return ""
    return derived_id(port.owner, subnet_id if port.owner == "dhcp" else port.id)


# ---------------------------------------------------------------- VPC v3


def tags(iface: NetworkInterface) -> list[JsonDict]:
    """An ENI's port tags: enictl's markers, as the simulated cloud keeps them."""
    result: list[JsonDict] = json.loads(
        _tags_json(iface.managed_by, iface.protect, iface.failover_at)
    )
    return result


@functools.cache
def _tags_json(owner: str | None, protect: bool, failover_at: float | None = None) -> str:
    """`enictl-managed=<owner>` (`true` for the default owner), `enictl-protect=true`,
    `enictl-failover-at=<epoch seconds>` (when the failover policy last moved it)."""
    marks = [] if owner is None else [(MANAGED_TAG_KEY, owners.tag_value(owner))]
    if protect:
        marks.append((PROTECT_TAG_KEY, MANAGED_TAG_VALUE))
    if failover_at is not None:
        marks.append((FAILOVER_TAG_KEY, str(int(failover_at))))
    return "[" + ",".join(f'{{"key":"{k}","value":"{v}"}}' for k, v in marks) + "]"


def port_v3_json(index: Index, iface: NetworkInterface) -> str:
    """An ENI as VPC v3 (`/v3/{project_id}/ports`) shows it, tags included, as JSON text."""
    subnet = index.subnet(iface.subnet)
    subnet_id = subnet.id if subnet else ""
    srv = index.topology.servers.get(iface.server) if iface.server else None
    if srv is not None:
        device, status, zone, flavor = q(srv.id), "ACTIVE", q(srv.availability_zone), q(srv.flavor)
        owner = q(f"compute:{srv.availability_zone}")
        details = f'{{"primary_interface":{boolean(iface.primary)},"port_filter":true}}'
        vif_type, host = "ovs", derived_id("host", srv.availability_zone).replace("-", "")
    else:
        device, status, owner, zone, flavor, details = '""', "DOWN", '""', '""', '""', "{}"
        vif_type, host = "unbound", ""
    addresses = [iface.private_ip] if iface.private_ip else []
    return _port_v3_text(
        index,
        iface.id,
        iface.name,
        subnet_id,
        index.vpc_id(subnet.vpc) if subnet else "",
        addresses,
        index.sg_ids_json(iface.security_groups),
        f'"status":"{status}","device_id":{device},"device_owner":{owner},'
        f'"zone_id":{zone},"ecs_flavor":{flavor},"binding:vif_details":{details},'
        f'"binding:vif_type":"{vif_type}","binding:host_id":"{host}",'
        f'"tags":{_tags_json(iface.managed_by, iface.protect, iface.failover_at)}',
    )


def other_port_v3_json(index: Index, held: Sequence[Port]) -> str:
    """Another port (DHCP, virtual IP, ...) as VPC v3 shows it, as JSON text."""
    first = held[0]
    subnet = index.subnet(first.subnet)
    subnet_id = subnet.id if subnet else ""
    status = "DOWN" if first.owner in OWNERLESS else "ACTIVE"
    return _port_v3_text(
        index,
        first.id,
        "",
        subnet_id,
        index.vpc_id(subnet.vpc) if subnet else "",
        [p.private_ip for p in held],
        "[]",
        f'"status":"{status}","device_id":{q(_device_id(first, subnet_id))},'
        f'"device_owner":{q(DEVICE_OWNERS.get(first.owner, first.owner))},"zone_id":"",'
        f'"ecs_flavor":"","binding:vif_details":{{}},"binding:vif_type":"unbound",'
        f'"binding:host_id":"","tags":[]',
    )


def _port_v3_text(
    index: Index,
    port_id: str,
    name: str,
    subnet_id: str,
    vpc_id: str,
    addresses: list[str],
    groups: str,
    varying: str,
) -> str:
    neutron = neutron_subnet_id(subnet_id)
    ips = ",".join(f'{{"subnet_cidr_id":"{neutron}","ip_address":{q(a)}}}' for a in addresses)
    project = q(index.project_id)
    return (
        f'{{"id":{q(port_id)},"name":{q(name)},"description":"","admin_state_up":true,'
        f'"virsubnet_id":{q(subnet_id)},"vpc_id":{q(vpc_id)},"private_ips":[{ips}],'
        f'"security_groups":{groups},"mac_address":"{mac_address(port_id)}",{varying},'
        f'"instance_id":"","instance_type":"","instance_info":{{}},"project_id":{project},'
        f'"tenant_id":{project},"vpc_tenant_id":{project},"allowed_address_pairs":[],'
        f'"extra_dhcp_opts":[],"binding:profile":{{}},"binding:migration_info":{{}},'
        f'"binding:vnic_type":"normal","port_security_enabled":true,"enable_efi":false,'
        f'"position_type":"center","scope":"center","vtep_ip":"",'
        f'"created_at":"{CREATED_PLAIN}","updated_at":"{CREATED_PLAIN}"}}'
    )


# ---------------------------------------------------------------- EIP v1


def publicip(index: Index, name: str, *, updated: bool = False) -> JsonDict:
    """An EIP as EIP v1 shows it: in listings, or (`updated`) in the answer to
    UpdatePublicip, which leaves out the listing's border group, bandwidth types and tags."""
    found = index.topology.catalog.eips[name]
    bound = index.eip_ports.get(name)
    shown: JsonDict = {
        "id": found.id,
        "alias": found.name,
        "type": "5_bgp",
        "status": "ACTIVE" if bound else "DOWN",
        "public_ip_address": found.address,
        "tenant_id": index.project_id,
        "ip_version": 4,
        "bandwidth_id": derived_id("bandwidth", found.id),
        "bandwidth_name": f"bandwidth-{found.name}",
        "bandwidth_size": 5,
        "bandwidth_share_type": "PER",
        "create_time": "2026-01-01 00:00:00",
        "enterprise_project_id": ENTERPRISE_PROJECT,
        "public_border_group": "center",
        "allow_share_bandwidth_types": [],
        "tags": [],
    }
    if bound is not None:
        shown["port_id"] = bound.id
        shown["private_ip_address"] = bound.private_ip
    if updated:
        for listing_only in ("public_border_group", "allow_share_bandwidth_types", "tags"):
            del shown[listing_only]
    return shown
