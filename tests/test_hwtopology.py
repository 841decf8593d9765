"""From Huawei Cloud listings to a Topology: names, ownership, primaries, flavor limits."""

from __future__ import annotations

from typing import Any

import pytest

from controller.providers.huaweicloud import topology
from controller.providers.huaweicloud.topology import Listings

VPC = {"id": "v1", "name": "vpc-a", "cidr": "10.0.0.0/16"}
SUBNET = {
    "id": "s1",
    "name": "sub-a",
    "vpc_id": "v1",
    "cidr": "10.0.1.0/24",
    "availability_zone": "az1",
}
FLAVOR = {"id": "f1", "name": "c7.large", "os_extra_specs": {"quota:vif_max_num": "4"}}


def server(sid: str, name: str, primary_port: str = "") -> dict[str, Any]:
    addresses = (
        {"v1": [{"OS-EXT-IPS:port_id": primary_port, "primary": True}]} if primary_port else {}
    )
    return {
        "id": sid,
        "name": name,
        "status": "ACTIVE",
        "flavor": {"id": "f1", "name": "c7.large"},
        "OS-EXT-AZ:availability_zone": "az1",
        "metadata": {"vpc_id": "v1"},
        "addresses": addresses,
    }


def port(
    pid: str, name: str = "", device: str = "", owner: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "virsubnet_id": "s1",
        "private_ips": [{"ip_address": f"10.0.1.{len(pid) + 10}"}],
        "security_groups": [],
        "device_id": device,
        "device_owner": owner or ("compute:az1" if device else ""),
        **extra,
    }


def listings(**kw: Any) -> Listings:
    base: dict[str, Any] = {"vpcs": [VPC], "subnets": [SUBNET], "flavors": [FLAVOR]}
    return Listings(**{**base, **kw})


def test_unnamed_primary_is_named_after_its_server() -> None:
    """An unnamed primary port becomes `<server>-primary`; the server gets its subnet."""
    topo = topology.topology(
        listings(servers=[server("i1", "web-1", "p1")], ports=[port("p1", device="i1")])
    )
    assert topo.interfaces["web-1-primary"].primary
    assert topo.servers["web-1"].subnet == "sub-a"
    assert topo.servers["web-1"].flavor == "c7.large"


def test_primary_flag_from_vif_details_alone() -> None:
    """binding:vif_details.primary_interface marks the primary even without server addresses."""
    details = {"binding:vif_details": {"primary_interface": True}}
    topo = topology.topology(
        listings(servers=[server("i1", "web-1")], ports=[port("p1", "eth0", "i1", **details)])
    )
    assert topo.interfaces["eth0"].primary and topo.interfaces["eth0"].server == "web-1"


def test_clashing_names_are_made_unique_deterministically() -> None:
    """Two ports named alike: the smaller id keeps the name, the other gets `~<id prefix>`."""
    ports = [port("bbbbbbbb-2", "eni"), port("aaaaaaaa-1", "eni")]
    topo = topology.topology(listings(ports=ports))
    assert topo.interfaces["eni"].id == "aaaaaaaa-1"
    assert topo.interfaces["eni~bbbbbbbb"].id == "bbbbbbbb-2"
    assert topology.topology(listings(ports=list(reversed(ports)))) == topo


def test_ports_that_are_not_enis_are_ignored() -> None:
    """DHCP/router ports, and ports of servers not listed (e.g. BMS), are not ENIs."""
    ports = [
        port("p1", "dhcp", device="net", owner="network:dhcp"),
        port("p2", "bms-nic", device="unknown-server"),
        port("p3", "free"),
    ]
    topo = topology.topology(listings(ports=ports))
    assert list(topo.interfaces) == ["free"]


def test_managed_tag_eip_alias_and_address() -> None:
    """The enictl-managed tag marks ownership; EIPs are named by alias, else by address."""
    tags = {"tags": [{"key": "enictl-managed", "value": "true"}]}
    eips = [
        {"id": "e1", "alias": "eip-web", "public_ip_address": "198.51.100.1", "port_id": "p1"},
        {"id": "e2", "public_ip_address": "198.51.100.2"},
    ]
    topo = topology.topology(listings(ports=[port("p1", "eni", **tags)], publicips=eips))
    assert topo.interfaces["eni"].managed and topo.interfaces["eni"].eip == "eip-web"
    assert set(topo.catalog.eips) == {"eip-web", "198.51.100.2"}


def test_attached_ports_report_delete_on_termination_as_possible() -> None:
    """Unknown without a per-server call: attached ports say True, free ones False."""
    topo = topology.topology(
        listings(servers=[server("i1", "web-1")], ports=[port("p1", "a", "i1"), port("p2", "b")])
    )
    assert topo.interfaces["a"].delete_on_termination is True
    assert topo.interfaces["b"].delete_on_termination is False


@pytest.mark.parametrize(
    ("specs", "limit"),
    [
        ({"quota:vif_max_num": "8"}, 8),
        ({"instance_vnic:max_count": "5"}, 5),
        ({"quota:vif_max_num": " 3 ", "instance_vnic:max_count": "9"}, 3),
        ({}, None),
        ({"quota:vif_max_num": "many"}, None),
    ],
)
def test_flavor_limit_from_extra_specs(specs: dict[str, str], limit: int | None) -> None:
    """quota:vif_max_num (a string) first, then instance_vnic:max_count, else unknown."""
    assert topology.flavor_limit({"os_extra_specs": specs}) == limit


def test_a_flavor_without_limit_is_observed_with_an_unknown_limit() -> None:
    """A flavor without NIC specs is kept with max_interfaces None (the planner refuses
    to attach to its servers), whether a server uses it or not."""
    bare = {"id": "f1", "name": "c7.large", "os_extra_specs": {}}
    old = {"id": "f0", "name": "old.tiny", "os_extra_specs": {}}
    topo = topology.topology(listings(flavors=[bare, old], servers=[server("i1", "web-1")]))
    assert {n: f.max_interfaces for n, f in topo.catalog.flavors.items()} == {
        "c7.large": None,
        "old.tiny": None,
    }
    assert topo.servers["web-1"].flavor == "c7.large"
