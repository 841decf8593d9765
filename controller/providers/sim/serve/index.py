"""One observation of the simulated cloud, indexed for answering API calls (pure).

`Index.of(topology, project_id)` builds, once per observation, the lookups every answer
needs: resources by id, the NICs of each server, the port each EIP is bound to, the
other ports (DHCP, virtual IPs, load balancers, ...) beside the ENIs. It also derives
what the simulated cloud does not keep but Huawei Cloud's answers carry, always the
same way for the same cloud: the Neutron subnet id behind a VPC subnet, MAC addresses,
the device id of another port's owner, the gateway of a subnet.

The JSON writers of `compute` and `network` share the small text helpers at the end:
the two listings that grow with the cloud are written as JSON text directly.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.model import Eip, NetworkInterface, Port, Server, Subnet, Topology

JsonDict = dict[str, Any]
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://enictl.invalid/sim/neutron")
CREATED = "2026-01-01T00:00:00Z"  # every resource of the simulated cloud is this old
CREATED_PLAIN = "2026-01-01T00:00:00"  # the VPC APIs' format: no zone suffix
ENTERPRISE_PROJECT = "0"  # the default enterprise project holds everything


@functools.lru_cache(maxsize=4096)
def neutron_subnet_id(subnet_id: str) -> str:
    """The (different) Neutron IPv4 subnet id behind a VPC subnet id."""
    return derived_id("neutron-subnet", subnet_id)


@functools.lru_cache(maxsize=4096)
def derived_id(kind: str, of: str) -> str:
    """A stable UUID for something the simulated cloud does not keep (a DHCP agent, an
    image, a user): the same for the same `kind` and `of`."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{of}"))


def mac_address(port_id: str) -> str:
    digest = hashlib.sha256(port_id.encode()).hexdigest()
    return f"fa:16:3e:{digest[0:2]}:{digest[2:4]}:{digest[4:6]}"


def gateway_ip(cidr: str) -> str:
    """A subnet's gateway: its first host address, as Huawei Cloud picks by default."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return ""
    return str(network.network_address + 1) if network.num_addresses > 2 else ""


@dataclass(frozen=True, slots=True)
class Index:
    """A Topology with lookups by id and by server, built once per observation (linear)."""

    topology: Topology
    project_id: str
    interfaces_by_id: Mapping[str, NetworkInterface]
    others_by_id: Mapping[str, Sequence[Port]]  # port id -> its addresses (one Port each)
    servers_by_id: Mapping[str, Server]
    attached: Mapping[str, Sequence[NetworkInterface]]  # server name -> its NICs, primary first
    eip_ports: Mapping[str, NetworkInterface]  # EIP name -> the port it is bound to
    port_eips: Mapping[str, Eip]  # port id -> the EIP bound to it
    used: Mapping[str, int]  # subnet name -> addresses that ports hold in it
    json_memo: dict[tuple[str, ...], str]  # security group names -> JSON array of their ids

    @classmethod
    def of(cls, topology: Topology, project_id: str) -> Index:
        attached: dict[str, list[NetworkInterface]] = {}
        for iface in topology.interfaces.values():
            if iface.server is not None:
                attached.setdefault(iface.server, []).append(iface)
        for nics in attached.values():
            nics.sort(key=lambda i: (not i.primary, i.name))
        others: dict[str, list[Port]] = {}
        for port in topology.catalog.ports:
            others.setdefault(port.id, []).append(port)
        eips = topology.catalog.eips
        eip_ports = {i.eip: i for i in topology.interfaces.values() if i.eip}
        used: dict[str, int] = {}
        for iface in topology.interfaces.values():
            if iface.private_ip:
                used[iface.subnet] = used.get(iface.subnet, 0) + 1
        for port in topology.catalog.ports:
            used[port.subnet] = used.get(port.subnet, 0) + 1
        return cls(
            topology,
            project_id,
            {i.id: i for i in topology.interfaces.values()},
            others,
            {s.id: s for s in topology.servers.values()},
            attached,
            eip_ports,
            {port.id: eips[name] for name, port in eip_ports.items() if name in eips},
            used,
            {},
        )

    def subnet(self, name: str) -> Subnet | None:
        return self.topology.catalog.subnets.get(name)

    def subnet_id(self, name: str) -> str:
        subnet = self.subnet(name)
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
            found = self.json_memo[names] = array(q(i) for i in self.sg_ids(names))
        return found

    def interfaces_on(self, server: str) -> Sequence[NetworkInterface]:
        return self.attached.get(server, ())

    def interface_by_id(self, port_id: str) -> NetworkInterface | None:
        return self.interfaces_by_id.get(port_id)

    def other_port(self, port_id: str) -> Sequence[Port]:
        return self.others_by_id.get(port_id, ())

    def server_by_id(self, server_id: str) -> Server | None:
        return self.servers_by_id.get(server_id)

    def nic_limit(self, server: Server) -> int | None:
        """The server's NIC limit: its flavor's, else its own, else unknown."""
        flavor = self.topology.catalog.flavors.get(server.flavor)
        limit = flavor.max_interfaces if flavor else None
        return limit if limit is not None else server.nic_limit


# ---------------------------------------------------------------- JSON text


q: Callable[[str], str] = json.encoder.encode_basestring_ascii  # a JSON string literal


def nullable(text: str | None) -> str:
    return "null" if text is None else q(text)


def boolean(value: bool) -> str:
    return "true" if value else "false"


def array(items: Iterable[str]) -> str:
    return "[" + ",".join(items) + "]"
