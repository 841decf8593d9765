"""Seeding the simulated cloud from a CloudInventory, and observing it whole."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from controller.errors import ManifestError, UsageError
from controller.model import NetworkInterface
from controller.providers.sim import store
from controller.providers.sim.cloud import init_cloud, open_cloud
from tests.sim_support import small_spec


def test_observe_is_complete(tmp_path: Path) -> None:
    """Servers, interfaces and the catalog carry every field the planner needs."""
    topology = init_cloud(tmp_path, small_spec()).observe()
    web1 = topology.servers["web-1"]
    assert (web1.flavor, web1.availability_zone, web1.vpc, web1.subnet, web1.status) == (
        "s6.large.2",
        "az1",
        "vpc-prod",
        "subnet-web",
        "ACTIVE",
    )
    assert web1.security_groups == ("sg-web",)
    assert topology.servers["build-1"].status == "BUILD"
    legacy = topology.interfaces["legacy-1"]
    assert legacy == NetworkInterface(
        name="legacy-1",
        subnet="subnet-web",
        private_ip="10.0.1.50",
        security_groups=("sg-web",),
        eip="eip-1",
        server="web-1",
        primary=False,
        managed=False,
        delete_on_termination=False,
        id=legacy.id,
    )
    primary = topology.interfaces["web-2-eth0"]
    assert (primary.primary, primary.server, primary.subnet) == (True, "web-2", "subnet-web")
    assert topology.interfaces["spare-2"].managed is True
    assert topology.interfaces["spare-1"].server is None
    catalog = topology.catalog
    assert catalog.flavors["s6.small.1"].max_interfaces == 2
    assert catalog.subnets["subnet-other"].vpc == "vpc-other"
    assert catalog.subnets["subnet-other"].availability_zone == "az2"
    assert catalog.security_groups["sg-other"].vpc == "vpc-other"
    assert catalog.eips["eip-2"].address == "198.51.100.11"
    assert catalog.vpcs["vpc-prod"].cidr == "10.0.0.0/16"
    every_id = [s.id for s in topology.servers.values()] + [
        i.id for i in topology.interfaces.values()
    ]
    assert all(len(i) == 36 for i in every_id) and len(set(every_id)) == len(every_id)


def test_ids_are_deterministic(tmp_path: Path) -> None:
    """The same inventory gives the same ids, so tests can be reproduced."""
    first = init_cloud(tmp_path / "a", small_spec()).observe()
    second = init_cloud(tmp_path / "b", small_spec()).observe()
    assert first == second


def test_explicit_addresses_are_placed_before_chosen_ones(tmp_path: Path) -> None:
    """A server without privateIp does not take an address an interface asks for later."""
    spec = small_spec()
    del spec["servers"][1]["privateIp"]
    spec["interfaces"].append({"name": "wants-2", "subnet": "subnet-web", "privateIp": "10.0.1.2"})
    topology = init_cloud(tmp_path, spec).observe()
    assert topology.interfaces["wants-2"].private_ip == "10.0.1.2"
    assert topology.interfaces["web-2-eth0"].private_ip == "10.0.1.3"


def broken(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(small_spec())
    for section, entries in changes.items():
        spec[section] = spec.get(section, []) + entries
    return spec


def problems(tmp_path: Path, spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as exc:
        init_cloud(tmp_path, spec, source="inv.yaml")
    assert all(p.location == "inv.yaml" for p in exc.value.problems)
    return [(p.code, p.field) for p in exc.value.problems]


def test_every_inventory_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Unknown references, duplicates, bad addresses and limits come out together."""
    spec = broken(
        servers=[
            {
                "name": "web-1",
                "flavor": "s6.large.2",
                "availabilityZone": "az1",
                "vpc": "vpc-prod",
                "subnet": "subnet-web",
            },
            {
                "name": "odd",
                "flavor": "xl",
                "availabilityZone": "az1",
                "vpc": "vpc-prod",
                "subnet": "subnet-web",
                "privateIP": "10.0.1.99",
            },
        ],
        interfaces=[
            {"name": "far", "subnet": "subnet-web", "privateIp": "10.0.2.9"},
            {"name": "dup-ip", "subnet": "subnet-web", "privateIp": "10.0.1.50"},
            {"name": "gw", "subnet": "subnet-web", "privateIp": "10.0.1.1"},
            {"name": "twice", "subnet": "subnet-web", "eip": "eip-1"},
            {"name": "cross", "subnet": "subnet-other", "server": "web-2"},
            {"name": "sg", "subnet": "subnet-web", "securityGroups": ["sg-other", "sg-nope"]},
            {"name": "lost", "subnet": "subnet-nope", "server": "nobody"},
            {"name": "full-1", "subnet": "subnet-web", "server": "web-2"},
        ],
    )
    found = problems(tmp_path, spec)
    assert ("DuplicateName", "spec.servers[4].name") in found
    assert ("UnknownFlavor", "spec.servers[5].flavor") in found
    assert ("InvalidInventory", "spec.servers[5].privateIP") in found
    assert ("IpOutOfSubnet", "spec.interfaces[5].privateIp") in found
    assert ("IpInUse", "spec.interfaces[6].privateIp") in found
    assert ("IpReserved", "spec.interfaces[7].privateIp") in found  # the gateway
    assert ("EipInUse", "spec.interfaces[8].eip") in found
    assert ("VpcMismatch", "spec.interfaces[9].subnet") in found
    assert ("SecurityGroupVpcMismatch", "spec.interfaces[10].securityGroups[0]") in found
    assert ("UnknownSecurityGroup", "spec.interfaces[10].securityGroups[1]") in found
    assert ("UnknownServer", "spec.interfaces[11].server") in found
    assert ("UnknownSubnet", "spec.interfaces[11].subnet") in found
    assert ("FlavorLimitExceeded", "spec.interfaces[12].server") in found


def test_catalog_problems(tmp_path: Path) -> None:
    """Bad CIDRs, subnets outside or overlapping, unknown VPCs, bad EIP addresses."""
    spec = broken(
        vpcs=[{"name": "bad", "cidr": "10.0.0.1/16"}],
        subnets=[
            {"name": "out", "vpc": "vpc-prod", "cidr": "10.1.0.0/24", "availabilityZone": "az1"},
            {"name": "lap", "vpc": "vpc-prod", "cidr": "10.0.1.128/25", "availabilityZone": "az1"},
            {"name": "orphan", "vpc": "nope", "cidr": "10.7.0.0/24", "availabilityZone": "az1"},
        ],
        securityGroups=[{"name": "sg-x", "vpc": "nope"}],
        eips=[
            {"name": "eip-x", "address": "not-an-ip"},
            {"name": "eip-y", "address": "198.51.100.10"},
        ],
        flavors=[{"name": "tiny", "maxInterfaces": 0}],
    )
    found = problems(tmp_path, spec)
    assert ("InvalidCidr", "spec.vpcs[2].cidr") in found
    assert ("InvalidCidr", "spec.subnets[4].cidr") in found
    assert ("InvalidCidr", "spec.subnets[5].cidr") in found  # lap overlaps subnet-web
    assert ("UnknownVpc", "spec.subnets[6].vpc") in found
    assert ("UnknownVpc", "spec.securityGroups[3].vpc") in found
    assert ("InvalidIp", "spec.eips[2].address") in found
    assert ("IpInUse", "spec.eips[3].address") in found  # eip-1's address
    assert ("InvalidInventory", "spec.flavors[2].maxInterfaces") in found


def test_shapes_are_checked_without_a_traceback(tmp_path: Path) -> None:
    """Wrong types give located problems, never a crash."""
    found = problems(
        tmp_path,
        {
            "flavors": "many",
            "servers": [3, {"name": 5}],
            "interfaces": [
                {"name": "x", "subnet": "subnet-web", "managed": "yes", "securityGroups": "sg"}
            ],
            "extra": 1,
        },
    )
    assert ("InvalidInventory", "spec.extra") in found
    assert ("InvalidInventory", "spec.flavors") in found
    assert ("InvalidInventory", "spec.servers[0]") in found
    assert ("InvalidInventory", "spec.servers[1].name") in found
    assert ("InvalidInventory", "spec.interfaces[0].managed") in found
    assert ("InvalidInventory", "spec.interfaces[0].securityGroups") in found


def test_init_refuses_to_replace_a_cloud_without_force(tmp_path: Path) -> None:
    """An existing cloud stays unless force=True."""
    init_cloud(tmp_path, small_spec())
    with pytest.raises(UsageError, match="--force"):
        init_cloud(tmp_path, small_spec())
    spec = small_spec()
    spec["servers"] = spec["servers"][:1]
    spec["interfaces"] = [i for i in spec["interfaces"] if i.get("server") in (None, "web-1")]
    assert len(init_cloud(tmp_path, spec, force=True).observe().servers) == 1


def test_a_bad_inventory_leaves_the_old_cloud_intact(tmp_path: Path) -> None:
    """init --force with a broken inventory fails and the previous cloud still works."""
    init_cloud(tmp_path, small_spec())
    with pytest.raises(ManifestError):
        init_cloud(
            tmp_path, broken(flavors=[{"name": "s6.large.2", "maxInterfaces": 2}]), force=True
        )
    assert len(open_cloud(tmp_path).observe().servers) == 4
    assert not (tmp_path / "cloud.db.new").exists()


def test_open_without_a_cloud_is_a_usage_error(tmp_path: Path) -> None:
    """The message tells the user how to create one."""
    with pytest.raises(UsageError, match="run `enictl sim init INVENTORY`"):
        open_cloud(tmp_path / "nothing")


def test_observe_uses_a_constant_number_of_queries(tmp_path: Path) -> None:
    """Observing 200 servers costs as many SQL statements as observing 4."""

    def statements(spec: dict[str, Any], where: Path) -> int:
        cloud = init_cloud(where, spec)
        seen: list[str] = []
        cloud._conn.set_trace_callback(seen.append)
        cloud.observe()
        cloud._conn.set_trace_callback(None)
        return len(seen)

    big = small_spec()
    big["subnets"].append(
        {"name": "subnet-big", "vpc": "vpc-prod", "cidr": "10.0.16.0/20", "availabilityZone": "az1"}
    )
    for n in range(200):
        big["servers"].append(
            {
                "name": f"s-{n}",
                "flavor": "s6.large.2",
                "availabilityZone": "az1",
                "vpc": "vpc-prod",
                "subnet": "subnet-big",
            }
        )
        big["interfaces"].append(
            {
                "name": f"e-{n}",
                "subnet": "subnet-big",
                "server": f"s-{n}",
                "securityGroups": ["sg-db", "sg-web"],
            }
        )
    assert statements(small_spec(), tmp_path / "small") == statements(big, tmp_path / "big")


def test_a_cloud_from_before_the_protect_marker_still_opens(tmp_path: Path) -> None:
    """A database without `ports.protected` gains it on open; its ports are unprotected."""
    init_cloud(tmp_path, small_spec())
    conn = store.connect(store.db_path(tmp_path))
    conn.execute("ALTER TABLE ports DROP COLUMN protected")
    conn.close()
    assert not any(i.protect for i in open_cloud(tmp_path).observe().interfaces.values())


def test_the_database_runs_in_wal_mode(tmp_path: Path) -> None:
    """WAL lets readers and one writer share the file across processes."""
    init_cloud(tmp_path, small_spec())
    conn = store.connect(store.db_path(tmp_path))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_pins_ports_and_unknown_limits_are_observed(tmp_path: Path) -> None:
    """Unpinned subnets and regional groups read "", a flavor without maxInterfaces None
    (and no server limit), and the other ports come back with their owners."""
    spec = small_spec()
    spec["flavors"].append({"name": "old.flavor"})
    spec["subnets"].append({"name": "subnet-any", "vpc": "vpc-prod", "cidr": "10.0.4.0/24"})
    spec["securityGroups"].append({"name": "sg-any"})
    spec["ports"] = [
        {"subnet": "subnet-web", "privateIp": "10.0.1.254", "owner": "dhcp"},
        {"subnet": "subnet-any", "privateIp": "10.0.4.2", "owner": "loadbalancer"},
    ]
    spec["interfaces"].append({"name": "picked", "subnet": "subnet-any"})
    topology = init_cloud(tmp_path, spec).observe()
    catalog = topology.catalog
    assert catalog.subnets["subnet-any"].availability_zone == ""
    assert catalog.subnets["subnet-web"].availability_zone == "az1"
    assert (catalog.security_groups["sg-any"].vpc, catalog.security_groups["sg-web"].vpc) == (
        "",
        "vpc-prod",
    )
    assert catalog.flavors["old.flavor"].max_interfaces is None
    assert all(s.nic_limit is None for s in topology.servers.values())
    assert [(p.subnet, p.private_ip, p.owner) for p in catalog.ports] == [
        ("subnet-any", "10.0.4.2", "loadbalancer"),
        ("subnet-web", "10.0.1.254", "dhcp"),
    ]
    assert all(len(p.id) == 36 for p in catalog.ports)
    assert topology.interfaces["picked"].private_ip == "10.0.4.3"  # around the balancer


def test_ports_are_checked(tmp_path: Path) -> None:
    """A port needs a known subnet, a known owner and an address: usable (only the DHCP
    port may sit on a reserved one) and its own."""
    found = problems(
        tmp_path,
        broken(
            ports=[
                {"subnet": "subnet-web", "privateIp": "10.0.1.254", "owner": "dhcp"},
                {"subnet": "subnet-web", "privateIp": "10.0.1.253", "owner": "vip"},
                {"subnet": "subnet-web", "privateIp": "10.0.1.50", "owner": "nat"},
                {"subnet": "subnet-web", "privateIp": "10.0.2.5", "owner": "vip"},
                {"subnet": "subnet-nope", "privateIp": "10.0.1.5", "owner": "router"},
                {"subnet": "subnet-web", "owner": "vip"},
            ]
        ),
    )
    assert found == [
        ("UnknownSubnet", "spec.ports[4].subnet"),
        ("InvalidInventory", "spec.ports[4].owner"),
        ("InvalidInventory", "spec.ports[5].privateIp"),
        ("IpReserved", "spec.ports[1].privateIp"),
        ("IpInUse", "spec.ports[2].privateIp"),  # legacy-1's
        ("IpOutOfSubnet", "spec.ports[3].privateIp"),
    ]


def test_pins_are_checked_only_where_they_exist(tmp_path: Path) -> None:
    """An ENI of an unpinned subnet may sit on a server of any AZ and use a regional
    group; a pinned subnet or group of another AZ or VPC is refused."""
    spec = broken(
        subnets=[
            {"name": "subnet-any", "vpc": "vpc-prod", "cidr": "10.0.4.0/24"},
            {
                "name": "subnet-az2",
                "vpc": "vpc-prod",
                "cidr": "10.0.5.0/24",
                "availabilityZone": "az2",
            },
        ],
        securityGroups=[{"name": "sg-any"}],
        interfaces=[
            {
                "name": "fine",
                "subnet": "subnet-any",
                "server": "web-1",
                "securityGroups": ["sg-any"],
            },
            {
                "name": "far",
                "subnet": "subnet-az2",
                "server": "build-1",
                "securityGroups": ["sg-other"],
            },
        ],
    )
    assert problems(tmp_path, spec) == [
        ("AvailabilityZoneMismatch", "spec.interfaces[6].subnet"),
        ("SecurityGroupVpcMismatch", "spec.interfaces[6].securityGroups[0]"),
    ]


def test_a_cloud_from_before_other_ports_still_opens(tmp_path: Path) -> None:
    """A database without `other_ports` gains the table on open; it holds no ports."""
    init_cloud(tmp_path, small_spec())
    conn = store.connect(store.db_path(tmp_path))
    conn.execute("DROP TABLE other_ports")
    conn.close()
    assert open_cloud(tmp_path).observe().catalog.ports == ()
