"""From Huawei Cloud listings to a Topology: what a real account returns, read as meant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from huaweicloudsdkcore.exceptions import exceptions as sdk
from huaweicloudsdkcore.exceptions.exception_handler import DefaultExceptionHandler

from controller.model import Port
from controller.providers.base import JobStatus
from controller.providers.huaweicloud import adapter, errors, topology
from controller.providers.huaweicloud.topology import Listings

ACCOUNT = Path(__file__).parent / "data" / "huaweicloud"


def answer(name: str) -> Any:
    return json.loads((ACCOUNT / name).read_text())


def account(**changes: Any) -> Listings:
    """The account of tests/data/huaweicloud, as the provider's listings hold it."""
    servers = answer("servers.json")["servers"]
    flavors = answer("flavors.json")["flavors"]
    db1 = next(s["id"] for s in servers if s["name"] == "db-1")
    fields: dict[str, Any] = {
        "servers": servers,
        "flavors": flavors,
        "vpcs": answer("vpcs.json")["vpcs"],
        "subnets": answer("subnets.json")["subnets"],
        "security_groups": answer("security-groups.json")["security_groups"],
        "ports": answer("ports.json")["ports"],
        "publicips": answer("publicips.json")["publicips"],
        "nic_limits": {db1: topology.nic_limit(answer("os-interface-db-1.json"))},
    }
    return Listings(**{**fields, **changes})


@pytest.fixture(scope="module")
def observed() -> Any:
    return topology.topology(account())


def test_security_groups_are_regional(observed: Any) -> None:
    """v1's vpc_id is only a hint: no group is pinned, even one that names another VPC."""
    groups = observed.catalog.security_groups
    assert {name: g.vpc for name, g in groups.items()} == {"sg-legacy": "", "sg-web": ""}
    assert observed.interfaces["eni-app"].security_groups == ("sg-web", "sg-legacy")


def test_a_subnets_availability_zone_is_not_a_pin(observed: Any) -> None:
    """A subnet that names an AZ (or none) fits every AZ of its VPC."""
    subnets = observed.catalog.subnets
    assert {n: s.availability_zone for n, s in subnets.items()} == {
        "subnet-app": "",
        "subnet-web": "",
    }
    assert observed.servers["web-1"].availability_zone == "cn-north-4a"


def test_every_other_port_keeps_its_addresses(observed: Any) -> None:
    """DHCP, virtual IP, load balancer, NAT and unlisted servers' ports are not ENIs, but
    each IPv4 address they hold is in Catalog.ports with its owner."""
    held = {(p.subnet, p.private_ip): p.owner for p in observed.catalog.ports}
    assert held == {
        ("subnet-web", "192.168.0.254"): "dhcp",
        ("subnet-web", "192.168.0.100"): "vip",
        ("subnet-app", "192.168.1.5"): "loadbalancer",
        ("subnet-app", "192.168.1.6"): "loadbalancer",
        ("subnet-web", "192.168.0.200"): "nat",
        ("subnet-web", "192.168.0.50"): "server",
    }
    assert all(isinstance(p, Port) and p.id for p in observed.catalog.ports)
    assert set(observed.interfaces) == {"db-1-eth0", "eni-app", "eni-spare", "web-1-primary"}


def test_ipv6_and_floating_addresses_are_skipped(observed: Any) -> None:
    """An ENI's address is its IPv4 one; a server's floating entry is its EIP, not a NIC."""
    eni = observed.interfaces["eni-app"]
    assert (eni.private_ip, eni.primary, eni.server) == ("192.168.1.20", False, "web-1")
    primary = observed.interfaces["web-1-primary"]
    assert (primary.private_ip, primary.eip, primary.primary) == ("192.168.0.10", "eip-web", True)


def test_primaries_from_vif_details_or_the_servers_addresses(observed: Any) -> None:
    """web-1's primary says so in binding:vif_details; db-1's only in its addresses."""
    assert observed.interfaces["db-1-eth0"].primary
    assert observed.servers["db-1"].subnet == "subnet-web"
    assert observed.servers["web-1"].security_groups == ("sg-web",)


def test_flavor_limits_and_the_os_interface_fallback(observed: Any) -> None:
    """quota:vif_max_num, else instance_vnic:max_count; a flavor stating neither has no
    limit, and its server takes os-interface's NICs + free_nic as its own."""
    flavors = observed.catalog.flavors
    assert {n: f.max_interfaces for n, f in flavors.items()} == {
        "c7.large.2": 4,
        "s3.medium.2": 3,
        "x1.custom.2": None,
    }
    assert (observed.servers["db-1"].nic_limit, observed.servers["web-1"].nic_limit) == (3, None)
    assert topology.servers_without_limit(account().servers, account().flavors) == [
        observed.servers["db-1"].id
    ]


def test_a_server_whose_limit_nothing_tells_has_none() -> None:
    """No flavor spec and no os-interface answer: the server's nic_limit is None."""
    found = topology.topology(account(nic_limits={}))
    assert found.servers["db-1"].nic_limit is None
    assert found.catalog.flavors["x1.custom.2"].max_interfaces is None


def test_managed_and_protect_tags_eip_alias_and_address(observed: Any) -> None:
    """Tags mark ownership and protection ("false" is no protection); EIPs are named by
    alias, else by address."""
    app, spare = observed.interfaces["eni-app"], observed.interfaces["eni-spare"]
    assert (app.managed, app.protect, spare.managed, spare.protect) == (True, False, True, True)
    assert set(observed.catalog.eips) == {"eip-web", "203.0.113.8"}


def test_attached_ports_report_delete_on_termination_as_possible(observed: Any) -> None:
    """Unknown without a per-server call: attached ports say True, free ones False."""
    assert observed.interfaces["eni-app"].delete_on_termination is True
    assert observed.interfaces["eni-spare"].delete_on_termination is False


def test_clashing_names_are_made_unique_deterministically() -> None:
    """Two ports named alike: the smaller id keeps the name, the other gets `~<id prefix>`."""
    free = next(p for p in answer("ports.json")["ports"] if p["name"] == "eni-spare")
    twins = [{**free, "id": "bbbbbbbb-2"}, {**free, "id": "aaaaaaaa-1"}]
    topo = topology.topology(account(ports=twins))
    assert topo.interfaces["eni-spare"].id == "aaaaaaaa-1"
    assert topo.interfaces["eni-spare~bbbbbbbb"].id == "bbbbbbbb-2"
    assert topology.topology(account(ports=list(reversed(twins)))) == topo


def test_an_unnamed_primary_is_named_after_its_server(observed: Any) -> None:
    """An unnamed primary port becomes `<server>-primary`."""
    assert observed.interfaces["web-1-primary"].id == "7b5d615c-186d-4646-9cb8-444addfe9b92"


@pytest.mark.parametrize(
    ("specs", "limit"),
    [
        ({"quota:vif_max_num": "8"}, 8),
        ({"instance_vnic:max_count": "5"}, 5),
        ({"baremetal:net_num": "2"}, 2),
        ({"quota:vif_max_num": " 3 ", "instance_vnic:max_count": "9"}, 3),
        ({}, None),
        ({"quota:vif_max_num": "many"}, None),
    ],
)
def test_flavor_limit_from_extra_specs(specs: dict[str, str], limit: int | None) -> None:
    """quota:vif_max_num (a string) first, then instance_vnic:max_count, baremetal:net_num."""
    assert topology.flavor_limit({"os_extra_specs": specs}) == limit


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        ({"attachableQuantity": {"free_nic": 2}, "interfaceAttachments": [{}]}, 3),
        ({"attachableQuantity": {}, "interfaceAttachments": [{}]}, None),
        ({"attachableQuantity": {"free_nic": True}, "interfaceAttachments": []}, None),
    ],
)
def test_nic_limit_from_os_interface(body: dict[str, Any], limit: int | None) -> None:
    """os-interface: the NICs attached plus free_nic, when free_nic is a count."""
    assert topology.nic_limit(body) == limit


@pytest.mark.parametrize("case", answer("errors.json"), ids=lambda c: str(c["what"]))
def test_error_bodies_of_every_service_keep_their_code(case: dict[str, Any]) -> None:
    """The SDK reads each service's error body (nested or flat); the provider keeps its
    code and says whether a retry may help."""
    response = requests.Response()
    response.status_code = int(case["status"])
    response._content = json.dumps(case["body"]).encode()
    with pytest.raises(sdk.ServiceResponseException) as raised:
        DefaultExceptionHandler().handle_exception(requests.Request(), response)
    mapped = errors.classify(raised.value, sdk)
    assert (mapped.code, mapped.transient, mapped.status) == (
        case["code"],
        case["transient"],
        case["status"],
    )


def test_a_failed_nic_job_carries_its_sub_jobs_code_and_reason() -> None:
    """A FAIL whose code and reason sit only in the failed sub-job still surfaces both."""
    found = adapter.job_from_json("j", answer("job-fail.json"))
    assert (found.status, found.error_code) == (JobStatus.FAIL, "Ecs.0050")
    assert found.error_message == "The number of NICs exceeds the quota of the flavor."
