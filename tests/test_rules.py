"""The rules of SPEC section 2: every code, with its resource, source, message and hint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from controller.model import SubnetScope, Topology
from controller.plan import Code, Severity, Violation
from controller.planning import diff, invariants, planner, rules
from tests.builders import as_declared, declared, desired, eni, moved, standard

Case = Callable[[], tuple[Topology, Topology]]


def _full() -> tuple[Topology, Topology]:
    obs = standard().server("web-1", "s2").eni("eni-a", server="web-1").server("web-2").build()
    return obs, desired(obs, ["web-1"], [eni("eni-b", server="web-1")])


def _primary() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").server("web-2").build()
    return obs, desired(obs, ["web-1", "web-2"], [eni("web-1-primary", server="web-2")])


def _placed(subnet: str, scope: SubnetScope = SubnetScope.SERVER_SUBNET) -> Case:
    def case() -> tuple[Topology, Topology]:
        obs = standard().server("web-1").build()
        return obs, desired(obs, ["web-1"], [eni("eni-a", subnet, "web-1")], scope)

    return case


def _sg_vpc() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").build()
    return obs, desired(obs, ["web-1"], [eni("eni-a", sgs=("sg-x",))])


def _immutable() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").eni("eni-a").build()
    return obs, desired(obs, ["web-1"], [eni("eni-a", "sn-b")])


def _server_mismatch() -> tuple[Topology, Topology]:
    obs = standard().server("web-1", "s3").build()
    return obs, desired(obs, [declared(obs, "web-1", flavor="s4")])


def _not_ready() -> tuple[Topology, Topology]:
    obs = standard().server("web-1", status="BUILD").build()
    return obs, desired(obs, ["web-1"], [eni("eni-a", server="web-1")])


def _unknown_server() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").build()
    return obs, desired(obs, ["web-1"], [eni("eni-a", server="web-9")])


def _unknown(**fields: object) -> Case:
    def case() -> tuple[Topology, Topology]:
        obs = standard().server("web-1").build()
        return obs, desired(obs, ["web-1"], [replace(eni("eni-a"), **fields)])  # type: ignore[arg-type]

    return case


def _unknown_flavor() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").build()
    return obs, desired(obs, [declared(obs, "web-1", flavor="s9")])


def _ip_in_use() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").eni("legacy", ip="10.0.1.50", managed=False).build()
    return obs, desired(obs, ["web-1"], [eni("eni-a", ip="10.0.1.50")])


def _eip_in_use() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").eni("legacy", eip="eip-1", managed=False).build()
    return obs, desired(obs, ["web-1"], [eni("eni-a", eip="eip-1")])


def _duplicate() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").build()
    first, second = eni("eni-a"), eni("eni-a", "sn-b")
    want = desired(obs, ["web-1"])
    return obs, replace(want, interfaces={"eni-a": first, "eni-a#2": second})


def _bare_metal_move() -> tuple[Topology, Topology]:
    cloud = standard().flavor("bm3", 3, bare_metal=True).server("web-1").server("bm-1", "bm3")
    obs = cloud.eni("eni-a", server="web-1").build()
    return obs, desired(obs, ["web-1", "bm-1"], [eni("eni-a", server="bm-1")])


def _unready() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").server("web-2", status="SHUTOFF")
    return obs.eni("eni-a", server="web-1").build(), desired(
        obs.build(), ["web-1", "web-2"], [eni("eni-a", server="web-1", standbys=("web-2",))]
    )


def _blocked() -> tuple[Topology, Topology]:
    obs = standard().server("web-1", status="SHUTOFF").server("web-2", status="ERROR")
    return obs.eni("eni-a", server="web-1").build(), desired(
        obs.build(), ["web-1", "web-2"], [eni("eni-a", server="web-1", standbys=("web-2",))]
    )


def _protected() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").eni("old", server="web-1", protect=True).build()
    return obs, desired(obs, ["web-1"])


def _many_orphans() -> tuple[Topology, Topology]:
    cloud = standard().server("web-1")
    for i in range(11):
        cloud.eni(f"old-{i}")
    obs = cloud.build()
    return obs, desired(obs, ["web-1"])


def _owned_elsewhere() -> tuple[Topology, Topology]:
    obs = standard().server("web-1").build()
    theirs = replace(eni("eni-a"), managed=True, owner="team-b", id="id-eni-a")
    obs = replace(obs, interfaces={**obs.interfaces, "eni-a": theirs})
    return obs, desired(obs, ["web-1"], [eni("eni-a")])


CASES: dict[Code, tuple[Case, str]] = {
    Code.PRIMARY_INTERFACE_IMMUTABLE: (_primary, "NetworkInterface/web-1-primary"),
    Code.FLAVOR_LIMIT_EXCEEDED: (_full, "Server/web-1"),
    Code.AVAILABILITY_ZONE_MISMATCH: (_placed("sn-c", SubnetScope.VPC), "NetworkInterface/eni-a"),
    Code.VPC_MISMATCH: (_placed("sn-x"), "NetworkInterface/eni-a"),
    Code.SUBNET_MISMATCH: (_placed("sn-b"), "NetworkInterface/eni-a"),
    Code.SECURITY_GROUP_VPC_MISMATCH: (_sg_vpc, "NetworkInterface/eni-a"),
    Code.IMMUTABLE_FIELD: (_immutable, "NetworkInterface/eni-a"),
    Code.SERVER_MISMATCH: (_server_mismatch, "Server/web-1"),
    Code.BARE_METAL_MOVE: (_bare_metal_move, "NetworkInterface/eni-a"),
    Code.SERVER_NOT_READY: (_not_ready, "Server/web-1"),
    Code.UNKNOWN_SERVER: (_unknown_server, "NetworkInterface/eni-a"),
    Code.UNKNOWN_SUBNET: (_unknown(subnet="sn-nope"), "NetworkInterface/eni-a"),
    Code.UNKNOWN_SECURITY_GROUP: (_unknown(security_groups=("sg-nope",)), "NetworkInterface/eni-a"),
    Code.UNKNOWN_EIP: (_unknown(eip="eip-nope"), "NetworkInterface/eni-a"),
    Code.UNKNOWN_FLAVOR: (_unknown_flavor, "Server/web-1"),
    Code.IP_OUT_OF_SUBNET: (_unknown(private_ip="10.9.9.9"), "NetworkInterface/eni-a"),
    Code.IP_RESERVED: (_unknown(private_ip="10.0.1.254"), "NetworkInterface/eni-a"),
    Code.IP_IN_USE: (_ip_in_use, "NetworkInterface/eni-a"),
    Code.EIP_IN_USE: (_eip_in_use, "NetworkInterface/eni-a"),
    Code.DUPLICATE_NAME: (_duplicate, "NetworkInterface/eni-a"),
    Code.PROTECTED_INTERFACE: (_protected, "NetworkInterface/old"),
    Code.PRUNE_LIMIT_EXCEEDED: (_many_orphans, "Plan/prune"),
    Code.OWNED_ELSEWHERE: (_owned_elsewhere, "NetworkInterface/eni-a"),
    Code.FAILOVER_UNREADY: (_unready, "NetworkInterface/eni-a"),
    Code.FAILOVER_BLOCKED: (_blocked, "NetworkInterface/eni-a"),
}
WARNINGS = {
    Code.SERVER_NOT_READY,
    Code.PROTECTED_INTERFACE,
    Code.FAILOVER_UNREADY,
    Code.FAILOVER_BLOCKED,
}


def test_every_code_has_a_case() -> None:
    """The table below covers every violation code of the SPEC."""
    assert set(CASES) == set(Code)


def _found(code: Code, case: Case) -> tuple[Violation, Topology]:
    observed, want = case()
    prune = code in (Code.PROTECTED_INTERFACE, Code.PRUNE_LIMIT_EXCEEDED)
    plan = planner.plan(want, observed, prune=prune)
    hits = [v for v in plan.violations if v.code is code]
    assert len(hits) == 1, plan.violations
    assert plan.applyable is (code in WARNINGS)
    return hits[0], want


@pytest.mark.parametrize("code", list(Code), ids=lambda c: c.value)
def test_each_code_is_reported_with_resource_source_message_and_hint(code: Code) -> None:
    """Each rule reports its code, severity, resource, manifest source, message, hint."""
    case, resource = CASES[code]
    found, want = _found(code, case)
    assert found.resource == resource
    assert found.severity is (Severity.WARNING if code in WARNINGS else Severity.ERROR)
    kind, name = resource.split("/")
    declared_value = (want.servers if kind == "Server" else want.interfaces).get(name)
    if code is Code.DUPLICATE_NAME:
        declared_value = want.interfaces["eni-a#2"]
    expected = "" if declared_value is None else str(declared_value.source)
    assert found.source == expected
    assert name in found.message
    assert found.hint


def test_subnet_mismatch_hints_at_the_vpc_scope() -> None:
    """SubnetMismatch names both subnets and hints at `subnetScope: vpc`."""
    found, _ = _found(Code.SUBNET_MISMATCH, _placed("sn-b"))
    assert "sn-b" in found.message and "sn-a" in found.message
    assert "subnetScope: vpc" in found.hint


def test_vpc_scope_allows_another_subnet_of_the_vpc() -> None:
    """Under subnetScope: vpc an ENI in another subnet of the server's VPC is fine."""
    observed, want = _placed("sn-b", SubnetScope.VPC)()
    assert planner.plan(want, observed).violations == ()


def test_flavor_limit_names_flavor_limit_count_and_hints_at_a_move() -> None:
    """FlavorLimitExceeded names the flavor, its limit and the count; hints at moving."""
    found, _ = _found(Code.FLAVOR_LIMIT_EXCEEDED, _full)
    assert found.message.startswith("web-1 (s2, max 2 NICs) would carry 3")
    assert "move" in found.hint and "flavor" in found.hint


def test_unmanaged_interfaces_count_toward_the_flavor_limit() -> None:
    """Unmanaged ENIs fill a server: a declared attach beyond the limit is refused."""
    cloud = standard().server("web-1", "s3")
    obs = cloud.eni("u1", server="web-1", managed=False).eni("u2", server="web-1", managed=False)
    plan = planner.plan(
        desired(obs.build(), ["web-1"], [eni("eni-a", server="web-1")]), obs.build()
    )
    assert [v.code for v in plan.violations] == [Code.FLAVOR_LIMIT_EXCEEDED]
    assert "u1" in plan.violations[0].message and not plan.steps


def test_all_violations_are_reported_not_just_the_first() -> None:
    """One manifest breaking several rules gets one violation per rule."""
    obs = standard().server("web-1").build()
    bad = eni("eni-a", "sn-x", "web-1", sgs=("sg-a", "sg-nope"), eip="eip-9", ip="10.0.9.9")
    codes = {v.code for v in planner.plan(desired(obs, ["web-1"], [bad]), obs).violations}
    assert codes == {
        Code.VPC_MISMATCH,
        Code.SECURITY_GROUP_VPC_MISMATCH,
        Code.UNKNOWN_SECURITY_GROUP,
        Code.UNKNOWN_EIP,
        Code.IP_OUT_OF_SUBNET,
    }


def test_declared_server_absent_from_the_cloud_is_unknown() -> None:
    """A Server manifest naming no cloud server is UnknownServer on the Server."""
    obs = standard().server("web-1").build()
    ghost = replace(declared(obs, "web-1"), name="web-9")
    found = planner.plan(desired(obs, [ghost]), obs).violations
    assert [(v.code, v.resource) for v in found] == [(Code.UNKNOWN_SERVER, "Server/web-9")]


def test_server_security_groups_must_be_in_the_servers_vpc() -> None:
    """A Server's securityGroups belong to its VPC."""
    obs = standard().server("web-1").build()
    want = desired(obs, [declared(obs, "web-1", security_groups=("sg-x",))])
    found = planner.plan(want, obs).violations
    assert [(v.code, v.resource) for v in found] == [
        (Code.SECURITY_GROUP_VPC_MISMATCH, "Server/web-1")
    ]


def test_eip_named_by_two_manifests_is_reported_on_both() -> None:
    """Two declared ENIs with the same EIP both get EipInUse, each naming the other."""
    obs = standard().server("web-1").build()
    want = desired(obs, ["web-1"], [eni("a", eip="eip-1"), eni("b", eip="eip-1")])
    found = [v for v in planner.plan(want, obs).violations if v.code is Code.EIP_IN_USE]
    assert [(v.resource, "declared" in v.message) for v in found] == [
        ("NetworkInterface/a", True),
        ("NetworkInterface/b", True),
    ]


def test_eip_held_by_a_kept_orphan_says_how_to_free_it() -> None:
    """EipInUse against an orphan hints that --prune would free it."""
    obs = standard().server("web-1").eni("old", eip="eip-1").build()
    found, *_ = planner.plan(desired(obs, ["web-1"], [eni("a", eip="eip-1")]), obs).violations
    assert found.code is Code.EIP_IN_USE and "--prune" in found.message


def test_pruning_frees_an_eip_and_an_address_for_a_new_interface() -> None:
    """With --prune, an orphan's EIP and address are free for a declared ENI."""
    obs = standard().server("web-1").eni("old", ip="10.0.1.50", eip="eip-1").build()
    want = desired(obs, ["web-1"], [eni("a", ip="10.0.1.50", eip="eip-1")])
    assert planner.plan(want, obs, prune=True).violations == ()
    assert {v.code for v in planner.plan(want, obs).violations} == {
        Code.EIP_IN_USE,
        Code.IP_IN_USE,
    }


def test_moving_an_existing_interface_keeps_its_address_without_in_use_errors() -> None:
    """An existing ENI keeps its own IP: no IpInUse against itself."""
    obs = standard().server("web-1").server("web-2").eni("a", server="web-1").build()
    assert planner.plan(desired(obs, ["web-1", "web-2"], [moved(obs, "a", "web-2")]), obs).applyable


def test_check_state_finds_over_limit_servers_and_shared_eips() -> None:
    """check_state, over one whole state, reports limits and EIP uniqueness."""
    obs = standard().server("web-1", "s2").eni("a", server="web-1", eip="eip-1").build()
    ifaces = dict(obs.interfaces)
    ifaces["b"] = replace(ifaces["a"], name="b", private_ip="10.0.1.99")
    found = invariants.check_state(replace(obs, interfaces=ifaces))
    assert {v.code for v in found} == {Code.FLAVOR_LIMIT_EXCEEDED, Code.EIP_IN_USE}
    assert invariants.check_state(obs) == []


def test_duplicate_names_lists_every_repeat_with_the_first_place() -> None:
    """duplicate_names (also for the loader) reports each repeat, naming the first place."""
    found = rules.duplicate_names(
        [("Server", "a", "f:1:1"), ("NetworkInterface", "a", "f:2:1"), ("Server", "a", "g:3:1")]
    )
    assert [(v.resource, v.source) for v in found] == [("Server/a", "g:3:1")]
    assert "f:1:1" in found[0].message


def test_violations_come_errors_first_in_a_stable_order() -> None:
    """Errors precede warnings; the order does not depend on input order."""
    obs = standard().server("web-1", status="BUILD").build()
    want = desired(obs, ["web-1"], [eni("b", server="web-1"), eni("a", "sn-x", "web-1")])
    found = planner.plan(want, obs).violations
    assert [v.severity for v in found][-1] is Severity.WARNING
    assert found == tuple(rules.check(want, obs, diff.diff(want, obs)))


def test_in_sync_adopted_interfaces_raise_nothing() -> None:
    """Declaring the cloud exactly as it is is valid."""
    obs = standard().server("web-1").eni("a", server="web-1", managed=False).build()
    assert planner.plan(desired(obs, ["web-1"], as_declared(obs, "a")), obs).violations == ()


def test_only_the_interface_claiming_a_taken_address_is_reported() -> None:
    """A declared ENI keeping its address is not blamed when a new one claims it."""
    obs = standard().server("web-1").eni("a", ip="10.0.1.50").build()
    want = desired(obs, ["web-1"], [*as_declared(obs, "a"), eni("b", ip="10.0.1.50")])
    found = [(v.code, v.resource) for v in planner.plan(want, obs).violations]
    assert found == [(Code.IP_IN_USE, "NetworkInterface/b")]


def test_reserved_addresses_are_the_first_two_and_the_last_three() -> None:
    """IpReserved for .0 .1 .253 .254 .255 of a /24, never IpInUse or IpOutOfSubnet too;
    .2 and .252 are usable."""
    obs = standard().server("web-1").build()
    for last, codes in ((0, [Code.IP_RESERVED]), (1, [Code.IP_RESERVED]), (2, []),
                        (252, []), (253, [Code.IP_RESERVED]), (254, [Code.IP_RESERVED]),
                        (255, [Code.IP_RESERVED])):  # fmt: skip
        want = desired(obs, ["web-1"], [eni("eni-a", ip=f"10.0.1.{last}")])
        assert [v.code for v in planner.plan(want, obs).violations] == codes, last
    want = desired(obs, ["web-1"], [eni("eni-a", ip="10.0.1.254")])
    (found,) = planner.plan(want, obs).violations
    assert "10.0.1.0, .1, .253, .254, .255" in found.message and "omit privateIp" in found.hint


def test_an_address_held_by_another_port_is_in_use() -> None:
    """A DHCP or VIP port's address is IpInUse, naming the port; its neighbour is free."""
    obs = standard().server("web-1").port("sn-a", "10.0.1.7", "vip").build()
    want = desired(obs, ["web-1"], [eni("eni-a", ip="10.0.1.7"), eni("eni-b", ip="10.0.1.8")])
    found = planner.plan(want, obs).violations
    assert [(v.code, v.resource) for v in found] == [(Code.IP_IN_USE, "NetworkInterface/eni-a")]
    assert "already used by vip port id-vip-10.0.1.7 in VPC vpc-a" in found[0].message


def test_a_subnet_pinned_to_no_az_fits_every_az_of_its_vpc() -> None:
    """AvailabilityZoneMismatch only for a subnet pinned to another AZ."""
    cloud = standard().subnet("sn-any", az="").server("web-2", subnet="sn-c")  # web-2: az2
    obs = cloud.build()
    fine = desired(obs, ["web-2"], [eni("eni-a", "sn-any", "web-2")], SubnetScope.VPC)
    assert planner.plan(fine, obs).violations == ()
    pinned = desired(obs, ["web-2"], [eni("eni-a", "sn-a", "web-2")], SubnetScope.VPC)
    (found,) = planner.plan(pinned, obs).violations
    assert found.code is Code.AVAILABILITY_ZONE_MISMATCH and "pinned to az1" in found.message
    assert "pinned to az2 or to no AZ" in found.hint


def test_a_regional_security_group_fits_every_vpc() -> None:
    """SecurityGroupVpcMismatch only for a group pinned to another VPC."""
    obs = standard().sg("sg-any", vpc="").server("web-1").build()
    want = desired(obs, ["web-1"], [eni("eni-a", server="web-1", sgs=("sg-any",))])
    assert planner.plan(want, obs).violations == ()
    want = desired(obs, [declared(obs, "web-1", security_groups=("sg-any", "sg-a"))])
    assert planner.plan(want, obs).applyable


def test_an_attach_where_no_limit_is_known_is_refused() -> None:
    """A server whose flavor states no NIC limit and whose own limit is unknown takes no
    attach (UnknownFlavor naming flavor, server and ENI); a plan attaching elsewhere
    goes on; a server's own nic_limit stands in for its flavor's."""
    cloud = standard().flavor("old", None).server("web-1", "old").server("web-2")
    obs = cloud.build()
    want = desired(obs, ["web-1", "web-2"], [eni("eni-a", server="web-1")])
    plan = planner.plan(want, obs)
    assert [(v.code, v.resource) for v in plan.violations] == [
        (Code.UNKNOWN_FLAVOR, "Server/web-1")
    ]
    found = plan.violations[0]
    assert "flavor old of web-1 states no NIC limit" in found.message and "eni-a" in found.message
    assert found.source == str(want.servers["web-1"].source) and "maxInterfaces" in found.hint
    elsewhere = desired(obs, ["web-1", "web-2"], [eni("eni-a", server="web-2")])
    assert planner.plan(elsewhere, obs).applyable
    limited = replace(
        obs, servers={**obs.servers, "web-1": replace(obs.servers["web-1"], nic_limit=2)}
    )
    assert planner.plan(want, limited).applyable
    two = desired(obs, ["web-1"], [eni("eni-a", server="web-1"), eni("eni-b", server="web-1")])
    assert [v.code for v in planner.plan(two, limited).violations] == [Code.FLAVOR_LIMIT_EXCEEDED]
