"""Huawei Cloud's JSON shapes for the simulated cloud: pure functions of an observed Topology.

`enictl sim serve` answers ECS, VPC and EIP list calls with these. Field names and
nesting follow Huawei Cloud's API reference (ECS `cloudservers/detail`, `os-interface`,
`jobs`; VPC v1 `subnets`, `security-groups`, `vpcs`, `ports`; VPC v3 `ports`; EIP v1
`publicips`). Only the fields enictl reads are filled with meaning; a few others are
present with plausible constant values so that the SDK's models see a familiar shape.

The two listings that grow with the cloud, ECS servers and VPC v3 ports, are written
as JSON text directly (`server_json`, `port_v3_json`): a 10,000-server cloud has
50,000 ports, and building a dict per port to encode it afterwards cost four times
as much. Every other answer is a dict.

Ids the simulated cloud does not have (the Neutron subnet id behind a VPC subnet, MAC
addresses) are derived deterministically from the ids it has.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.model import NetworkInterface, Server, Topology
from controller.providers.base import Job
from controller.providers.huaweicloud.topology import (
    FAILOVER_TAG_KEY,
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    PROTECT_TAG_KEY,
)

JsonDict = dict[str, Any]
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://enictl.invalid/sim/neutron")
CREATED = "2026-01-01T00:00:00Z"


@functools.lru_cache(maxsize=4096)
def neutron_subnet_id(subnet_id: str) -> str:
    """The (different) Neutron IPv4 subnet id behind a VPC subnet id."""
    return str(uuid.uuid5(_NAMESPACE, subnet_id))


def mac_address(port_id: str) -> str:
    digest = hashlib.sha256(port_id.encode()).hexdigest()
    return f"fa:16:3e:{digest[0:2]}:{digest[2:4]}:{digest[4:6]}"


@dataclass(frozen=True, slots=True)
class Index:
    """A Topology with lookups by id and by server, built once per request (linear)."""

    topology: Topology
    project_id: str
    interfaces_by_id: Mapping[str, NetworkInterface]
    servers_by_id: Mapping[str, Server]
    attached: Mapping[str, Sequence[NetworkInterface]]  # server name -> its NICs, primary first
    eip_ports: Mapping[str, NetworkInterface]  # EIP name -> the port it is bound to
    json_memo: dict[tuple[str, ...], str]  # security group names -> JSON array of their ids

    @classmethod
    def of(cls, topology: Topology, project_id: str) -> Index:
        attached: dict[str, list[NetworkInterface]] = {}
        for iface in topology.interfaces.values():
            if iface.server is not None:
                attached.setdefault(iface.server, []).append(iface)
        for nics in attached.values():
            nics.sort(key=lambda i: (not i.primary, i.name))
        return cls(
            topology,
            project_id,
            {i.id: i for i in topology.interfaces.values()},
            {s.id: s for s in topology.servers.values()},
            attached,
            {i.eip: i for i in topology.interfaces.values() if i.eip},
            {},
        )

    def subnet_id(self, name: str) -> str:
        subnet = self.topology.catalog.subnets.get(name)
        return subnet.id if subnet else ""

    def vpc_id(self, name: str) -> str:
        vpc = self.topology.catalog.vpcs.get(name)
        return vpc.id if vpc else ""

    def server_id(self, name: str | None) -> str:
        server = self.topology.servers.get(name) if name else None
        return server.id if server else ""

    def sg_ids(self, names: Sequence[str]) -> list[str]:
        groups = self.topology.catalog.security_groups
        return [groups[n].id for n in names if n in groups]

    def sg_ids_json(self, names: tuple[str, ...]) -> str:
        """`sg_ids` as a JSON array (memoised: clouds reuse a few lists of groups)."""
        found = self.json_memo.get(names)
        if found is None:
            found = self.json_memo[names] = _array(_q(i) for i in self.sg_ids(names))
        return found

    def interfaces_on(self, server: str) -> Sequence[NetworkInterface]:
        return self.attached.get(server, ())

    def interface_by_id(self, port_id: str) -> NetworkInterface | None:
        return self.interfaces_by_id.get(port_id)

    def server_by_id(self, server_id: str) -> Server | None:
        return self.servers_by_id.get(server_id)


# ---------------------------------------------------------------- ECS


def server_json(index: Index, srv: Server) -> str:
    """A server as ECS `cloudservers/detail` shows it, as JSON text."""
    vpc_id = _q(index.vpc_id(srv.vpc))
    addresses = _array(
        f'{{"version":"4","addr":{_nullable(iface.private_ip)},"OS-EXT-IPS:type":"fixed",'
        f'"OS-EXT-IPS-MAC:mac_addr":"{mac_address(iface.id)}","OS-EXT-IPS:port_id":{_q(iface.id)},'
        f'"primary":{_bool(iface.primary)}}}'
        for iface in index.interfaces_on(srv.name)
    )
    flavor = index.topology.catalog.flavors.get(srv.flavor)
    groups = index.topology.catalog.security_groups
    security_groups = _array(
        f'{{"id":{_q(groups[name].id)},"name":{_q(name)}}}'
        for name in srv.security_groups or ()
        if name in groups
    )
    project = _q(index.project_id)
    updated = CREATED if srv.status_since is None else iso_time(srv.status_since)
    return (
        f'{{"id":{_q(srv.id)},"name":{_q(srv.name)},"status":{_q(srv.status)},'
        f'"flavor":{{"id":{_q(flavor.id if flavor else srv.flavor)},"name":{_q(srv.flavor)}}},'
        f'"OS-EXT-AZ:availability_zone":{_q(srv.availability_zone)},'
        f'"metadata":{{"vpc_id":{vpc_id}}},'
        f'"addresses":{{{vpc_id + ":" + addresses if addresses != "[]" else ""}}},'
        f'"security_groups":{security_groups},"tenant_id":{project},'
        f'"created":"{CREATED}","updated":"{updated}","locked":false,"tags":[]}}'
    )


def iso_time(epoch: float) -> str:
    """`2026-12-04T10:42:07Z`, as ECS writes `created` / `updated` (whole seconds)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def interface_attachment(index: Index, iface: NetworkInterface) -> JsonDict:
    """One row of `os-interface`: the attachment of a port to its server."""
    subnet_id = index.subnet_id(iface.subnet)
    return {
        "port_state": "ACTIVE",
        "fixed_ips": [{"subnet_id": neutron_subnet_id(subnet_id), "ip_address": iface.private_ip}],
        "net_id": subnet_id,
        "port_id": iface.id,
        "mac_addr": mac_address(iface.id),
        "delete_on_termination": iface.delete_on_termination,
        "driver_mode": "virtio",
    }


def interface_attachments(index: Index, srv: Server) -> JsonDict:
    """ListServerInterfaces: a server's attachments and how many more NICs it can take."""
    attached = index.interfaces_on(srv.name)
    flavor = index.topology.catalog.flavors.get(srv.flavor)
    limit = flavor.max_interfaces if flavor else 0
    out: JsonDict = {
        "interfaceAttachments": [interface_attachment(index, iface) for iface in attached],
    }
    if limit is not None:  # a simulated flavor without a NIC limit: the cloud does not say
        out["attachableQuantity"] = {"free_nic": max(limit - len(attached), 0)}
    return out


def flavor(index: Index, name: str) -> JsonDict:
    found = index.topology.catalog.flavors[name]
    specs = {} if found.max_interfaces is None else {"quota:vif_max_num": str(found.max_interfaces)}
    specs["ecs:performancetype"] = "normal"  # a simulated flavor may state no NIC limit
    return {
        "id": found.id or name,
        "name": found.name,
        "vcpus": "2",
        "ram": 4096,
        "disk": "0",
        "os-flavor-access:is_public": True,
        "links": [],
        "os_extra_specs": specs,
    }


_JOB_TYPES = {  # the stop ones are (unconfirmed): the ECS job types we read name no stop
    "attach": ("batchAddNics", "attachNic"),
    "detach": ("batchDeleteNics", "detachNic"),
    "stop": ("batchStopServers", "stopServer"),
}


def job(found: Job, kind: str, server_id: str, port_id: str) -> JsonDict:
    """ShowJob: the job and its single sub-job (one NIC, or one server, per batch here)."""
    job_type, sub_type = _JOB_TYPES.get(kind, _JOB_TYPES["detach"])
    finished = found.status.finished
    sub: JsonDict = {
        "status": found.status.value,
        "job_id": found.id + "-1",
        "job_type": sub_type,
        "begin_time": CREATED,
        "end_time": CREATED if finished else "",
        "entities": {"server_id": server_id, **({"nic_id": port_id} if port_id else {})},
        "error_code": found.error_code or None,
        "fail_reason": found.error_message or None,
    }
    return {
        "job_id": found.id,
        "job_type": job_type,
        "status": found.status.value,
        "begin_time": CREATED,
        "end_time": CREATED if finished else "",
        "entities": {"sub_jobs_total": 1, "sub_jobs": [sub]},
        "error_code": found.error_code or None,
        "fail_reason": found.error_message or None,
    }


# ---------------------------------------------------------------- VPC


def vpc(index: Index, name: str) -> JsonDict:
    found = index.topology.catalog.vpcs[name]
    return {"id": found.id, "name": found.name, "cidr": found.cidr, "status": "OK", "routes": []}


def subnet(index: Index, name: str) -> JsonDict:
    found = index.topology.catalog.subnets[name]
    return {
        "id": found.id,
        "name": found.name,
        "cidr": found.cidr,
        "vpc_id": index.vpc_id(found.vpc),
        "availability_zone": found.availability_zone,
        "status": "ACTIVE",
        "dhcp_enable": True,
        "neutron_network_id": found.id,
        "neutron_subnet_id": neutron_subnet_id(found.id),
        "tenant_id": index.project_id,
    }


def security_group(index: Index, name: str) -> JsonDict:
    found = index.topology.catalog.security_groups[name]
    return {
        "id": found.id,
        "name": found.name,
        "description": "",
        "vpc_id": index.vpc_id(found.vpc),
        "security_group_rules": [],
    }


def port_v1(index: Index, iface: NetworkInterface) -> JsonDict:
    """A port as VPC v1 (`/v1/{project_id}/ports`) shows it."""
    subnet_id = index.subnet_id(iface.subnet)
    server_id = index.server_id(iface.server)
    server_az = _server_az(index, iface)
    return {
        "id": iface.id,
        "name": iface.name,
        "network_id": subnet_id,
        "admin_state_up": True,
        "mac_address": mac_address(iface.id),
        "fixed_ips": [{"subnet_id": neutron_subnet_id(subnet_id), "ip_address": iface.private_ip}],
        "device_id": server_id,
        "device_owner": f"compute:{server_az}" if server_id else "",
        "tenant_id": index.project_id,
        "status": "ACTIVE" if server_id else "DOWN",
        "security_groups": index.sg_ids(iface.security_groups),
        "binding:vif_details": {"primary_interface": iface.primary} if server_id else {},
    }


def port_v3_json(index: Index, iface: NetworkInterface) -> str:
    """A port as VPC v3 (`/v3/{project_id}/ports`) shows it, tags included, as JSON text."""
    subnet = index.topology.catalog.subnets.get(iface.subnet)
    subnet_id = subnet.id if subnet else ""
    srv = index.topology.servers.get(iface.server) if iface.server else None
    if srv is not None:
        server_id, status, instance_type = _q(srv.id), "ACTIVE", "ecs"
        owner = _q(f"compute:{srv.availability_zone}")
        details = f'{{"primary_interface":{_bool(iface.primary)}}}'
    else:
        server_id, status, owner, instance_type, details = '""', "DOWN", '""', "", "{}"
    marks = [MANAGED_TAG_KEY] if iface.managed else []
    if iface.protect:
        marks.append(PROTECT_TAG_KEY)
    pairs = [(k, MANAGED_TAG_VALUE) for k in marks]
    if iface.failover_at is not None:
        pairs.append((FAILOVER_TAG_KEY, str(int(iface.failover_at))))
    tags = "[" + ",".join(f'{{"key":"{k}","value":"{v}"}}' for k, v in pairs) + "]"
    project = _q(index.project_id)
    return (
        f'{{"id":{_q(iface.id)},"name":{_q(iface.name)},"description":"","admin_state_up":true,'
        f'"virsubnet_id":{_q(subnet_id)},'
        f'"vpc_id":{_q(index.vpc_id(subnet.vpc) if subnet else "")},'
        f'"private_ips":[{{"subnet_cidr_id":"{neutron_subnet_id(subnet_id)}",'
        f'"ip_address":{_nullable(iface.private_ip)}}}],'
        f'"security_groups":{index.sg_ids_json(iface.security_groups)},"status":"{status}",'
        f'"device_id":{server_id},"device_owner":{owner},"instance_id":{server_id},'
        f'"instance_type":"{instance_type}","mac_address":"{mac_address(iface.id)}",'
        f'"binding:vif_details":{details},"project_id":{project},"tenant_id":{project},'
        f'"tags":{tags}}}'
    )


_q: Callable[[str], str] = json.encoder.encode_basestring_ascii  # a JSON string literal


def _nullable(text: str | None) -> str:
    return "null" if text is None else _q(text)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _array(items: Iterable[str]) -> str:
    return "[" + ",".join(items) + "]"


def _server_az(index: Index, iface: NetworkInterface) -> str:
    srv = index.topology.servers.get(iface.server) if iface.server else None
    return srv.availability_zone if srv else ""


# ---------------------------------------------------------------- EIP


def publicip(index: Index, name: str) -> JsonDict:
    found = index.topology.catalog.eips[name]
    bound = index.eip_ports.get(name)
    return {
        "id": found.id,
        "alias": found.name,
        "type": "5_bgp",
        "status": "ACTIVE" if bound else "DOWN",
        "public_ip_address": found.address,
        "private_ip_address": bound.private_ip if bound else None,
        "port_id": bound.id if bound else None,
        "tenant_id": index.project_id,
        "ip_version": 4,
        "bandwidth_size": 5,
        "bandwidth_share_type": "PER",
        "create_time": "2026-01-01 00:00:00",
    }
