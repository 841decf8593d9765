"""The plan simulator: applies steps, checks every rule after each, and proves that
every execution the dependencies allow (not only the serial one) is safe."""

from __future__ import annotations

from dataclasses import replace

from controller.model import SubnetScope, Topology
from controller.plan import Action, Code, Step
from controller.planning import simulator
from tests.builders import standard

C, U, UB, B = Action.CREATE, Action.UPDATE, Action.UNBIND_EIP, Action.BIND_EIP
A, D, X = Action.ATTACH, Action.DETACH, Action.DELETE


def codes(observed: Topology, *steps: Step, **kw: object) -> list[str]:
    return [p.code for p in simulator.simulate(observed, steps, **kw).problems]  # type: ignore[arg-type]


def swap_cloud() -> Topology:
    cloud = standard().server("a", "s2").server("b", "s2")
    return cloud.eni("x", server="a").eni("y", server="b").build()


def test_a_safe_swap_passes_and_ends_swapped() -> None:
    """Detach both, then attach each after both detaches: accepted, state swapped."""
    obs = swap_cloud()
    result = simulator.simulate(obs, [
        Step(1, D, "x", "a"), Step(2, D, "y", "b"),
        Step(3, A, "x", "b", depends_on=(1, 2)), Step(4, A, "y", "a", depends_on=(1, 2)),
    ])  # fmt: skip
    assert result.ok, result.problems
    assert (result.final.interfaces["x"].server, result.final.interfaces["y"].server) == ("b", "a")


def test_serially_safe_but_concurrently_unsafe_attach_is_caught() -> None:
    """An attach that may start before the detach freeing its slot is flagged, even
    though the serial order is safe."""
    obs = swap_cloud()
    found = simulator.simulate(obs, [
        Step(1, D, "x", "a"), Step(2, D, "y", "b"),
        Step(3, A, "x", "b", depends_on=(1,)), Step(4, A, "y", "a", depends_on=(1, 2)),
    ]).problems  # fmt: skip
    assert [(p.step, p.code) for p in found] == [(0, "FlavorLimitExceeded")]
    assert "attaches 3" in found[0].message


def test_transitive_dependencies_count() -> None:
    """A slot freed by a detach reached through another step is a valid dependency."""
    obs = swap_cloud()
    assert codes(obs,
        Step(1, D, "x", "a"), Step(2, D, "y", "b", depends_on=(1,)),
        Step(3, A, "x", "b", depends_on=(2,)), Step(4, A, "y", "a", depends_on=(2,)),
    ) == []  # fmt: skip


def test_two_attaches_on_one_freed_slot_are_caught() -> None:
    """Two attaches that both rely on the same single detach exceed the limit."""
    cloud = standard().server("a", "s2").server("b", "s3")
    obs = cloud.eni("x", server="a").eni("p").eni("q").build()
    found = codes(obs,
        Step(1, D, "x", "a"), Step(2, A, "p", "a", depends_on=(1,)),
        Step(3, A, "q", "b"),
    )  # fmt: skip
    assert found == []
    over = codes(obs, Step(1, D, "x", "a"), Step(2, A, "p", "a", depends_on=(1,)),
                 Step(3, A, "q", "a", depends_on=(1,)))  # fmt: skip
    assert "FlavorLimitExceeded" in over


def test_server_over_its_limit_needs_surplus_detaches() -> None:
    """On a server over its limit by one, an attach must wait for two detaches."""
    cloud = standard().server("a", "s4")
    obs = cloud.eni("p", server="a").eni("q", server="a").eni("r", server="a").eni("n").build()
    obs = replace(obs, servers={"a": replace(obs.servers["a"], flavor="s3")})
    one = codes(obs, Step(1, D, "p", "a"), Step(2, D, "q", "a"),
                Step(3, A, "n", "a", depends_on=(1,)))  # fmt: skip
    both = codes(obs, Step(1, D, "p", "a"), Step(2, D, "q", "a"),
                 Step(3, A, "n", "a", depends_on=(1, 2)))  # fmt: skip
    assert "FlavorLimitExceeded" in one and both == []


def test_unordered_eip_steps_are_caught() -> None:
    """A bind that does not depend on the unbind freeing its EIP may run first."""
    obs = standard().server("a").eni("x", eip="eip-1").eni("y").build()
    assert codes(obs, Step(1, UB, "x", eip="eip-1"), Step(2, B, "y", eip="eip-1")) == ["Unordered"]
    assert codes(obs, Step(1, UB, "x", eip="eip-1"),
                 Step(2, B, "y", eip="eip-1", depends_on=(1,))) == []  # fmt: skip


def test_delete_must_depend_on_the_detach() -> None:
    """Detach then delete without a dependency is unordered."""
    obs = standard().server("a").eni("x", server="a").build()
    assert codes(obs, Step(1, D, "x", "a"), Step(2, X, "x")) == ["Unordered"]


def test_create_gives_a_placeholder_id_and_checks_the_subnet() -> None:
    """A create makes a managed ENI with id new:<name>; its address must be free."""
    obs = standard().server("a").eni("x", ip="10.0.1.50").build()
    result = simulator.simulate(obs, [Step(1, C, "n", subnet="sn-a", security_groups=("sg-a",))])
    assert result.ok and result.final.interfaces["n"].id == "new:n"
    assert result.final.interfaces["n"].managed
    taken = codes(obs, Step(1, C, "n", subnet="sn-a", private_ip="10.0.1.50"))
    outside = codes(obs, Step(1, C, "n", subnet="sn-a", private_ip="10.0.9.1"))
    assert (taken, outside) == (["IpInUse"], ["IpOutOfSubnet"])


def test_a_create_never_takes_a_reserved_or_another_ports_address() -> None:
    """Creating on a subnet's reserved address is IpReserved; on a VIP's, IpInUse."""
    obs = standard().server("a").port("sn-a", "10.0.1.7", "vip").build()
    reserved = codes(obs, Step(1, C, "n", subnet="sn-a", private_ip="10.0.1.255"))
    held = codes(obs, Step(1, C, "n", subnet="sn-a", private_ip="10.0.1.7"))
    assert (reserved, held) == (["IpReserved"], ["IpInUse"])
    assert codes(obs, Step(1, C, "n", subnet="sn-a", private_ip="10.0.1.8")) == []


def test_no_attach_where_no_limit_is_known() -> None:
    """An attach to a server whose flavor states no limit (and the cloud none for the
    server) is UnknownFlavor; a detach from it is fine."""
    obs = standard().flavor("old", None).server("a", "old").eni("x").eni("y", server="a").build()
    assert codes(obs, Step(1, A, "x", "a")) == ["UnknownFlavor"]
    assert codes(obs, Step(1, D, "y", "a")) == []
    known = replace(obs, servers={"a": replace(obs.servers["a"], nic_limit=3)})
    assert codes(known, Step(1, A, "x", "a")) == []


def test_attach_checks_a_pinned_az_only() -> None:
    """An ENI of a subnet pinned to az2 goes on no az1 server; one of an unpinned subnet
    goes anywhere in its VPC; a regional group fits any VPC."""
    cloud = standard().subnet("sn-any", az="").sg("sg-any", vpc="")
    obs = cloud.server("a").eni("far", "sn-c").eni("near", "sn-any").build()
    vpc = replace(obs.policy, subnet_scope=SubnetScope.VPC)
    assert codes(obs, Step(1, A, "far", "a"), policy=vpc) == ["AvailabilityZoneMismatch"]
    assert codes(obs, Step(1, A, "near", "a"), policy=vpc) == []
    assert codes(obs, Step(1, U, "near", security_groups=("sg-any",))) == []


def test_a_declared_address_is_taken_before_the_cloud_chooses_one_in_its_subnet() -> None:
    """A create whose address the cloud picks may take any free one: a create of the same
    subnet with a declared address must come first and be among its dependencies."""
    obs = standard().server("a").build()
    fixed = Step(1, C, "f", subnet="sn-a", private_ip="10.0.1.50")
    assert codes(obs, fixed, Step(2, C, "n", subnet="sn-a", depends_on=(1,))) == []
    assert codes(obs, fixed, Step(2, C, "n", subnet="sn-a")) == ["Unordered"]
    assert codes(obs, fixed, Step(2, C, "n", subnet="sn-b")) == []  # another subnet's pool
    late = codes(obs, Step(1, C, "n", subnet="sn-a"), replace(fixed, id=2))
    assert late == ["IpInUse"]


def test_invalid_steps_are_reported() -> None:
    """Attach of an attached ENI, detach from the wrong server, delete while attached."""
    obs = standard().server("a").server("b").eni("x", server="a").build()
    assert codes(obs, Step(1, A, "x", "b")) == ["InvalidStep"]
    assert codes(obs, Step(1, D, "x", "b")) == ["InvalidStep"]
    assert codes(obs, Step(1, X, "x")) == ["InvalidStep"]
    assert codes(obs, Step(1, U, "nope", security_groups=())) == ["InvalidStep"]


def test_primary_and_protected_interfaces_are_guarded() -> None:
    """Detaching a primary ENI and deleting a protected one are violations."""
    obs = standard().server("a").eni("x", protect=True).eni("y").build()
    assert codes(obs, Step(1, D, "a-primary", "a")) == [Code.PRIMARY_INTERFACE_IMMUTABLE.value]
    assert codes(obs, Step(1, X, "x")) == [Code.PROTECTED_INTERFACE.value]
    assert codes(obs, Step(1, X, "y"), protected=frozenset({"y"})) == ["ProtectedInterface"]


def test_attach_checks_placement_under_the_policy() -> None:
    """An attach into another subnet breaks server-subnet scope but not vpc scope."""
    obs = standard().server("a").eni("x", "sn-b").build()
    strict = codes(obs, Step(1, A, "x", "a"))
    loose = codes(
        obs, Step(1, A, "x", "a"), policy=replace(obs.policy, subnet_scope=SubnetScope.VPC)
    )
    assert (strict, loose) == (["SubnetMismatch"], [])


def test_update_checks_the_groups_vpc() -> None:
    """Security groups of another VPC are refused."""
    obs = standard().server("a").eni("x").build()
    assert codes(obs, Step(1, U, "x", security_groups=("sg-x",))) == ["SecurityGroupVpcMismatch"]


def test_numbering_and_dependencies_must_point_backwards() -> None:
    """Steps are numbered from 1 and depend only on earlier steps."""
    obs = standard().server("a").eni("x").build()
    assert codes(obs, Step(2, U, "x", security_groups=())) == ["BadDependency"]
    assert codes(obs, Step(1, U, "x", security_groups=(), depends_on=(1,))) == ["BadDependency"]


def test_mismatches_name_each_differing_field() -> None:
    """mismatches() lists every field that differs, and missing or extra interfaces."""
    obs = standard().server("a").eni("x", server="a").eni("y").build()
    other = replace(obs, interfaces={"x": replace(obs.interfaces["x"], server=None)})
    found = simulator.mismatches(obs, other)
    assert "x: server is 'a', expected None" in found
    assert "y: should not exist" in found and "a-primary: should not exist" in found
