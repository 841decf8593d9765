"""The planner: ordered, dependency-linked steps that keep every rule true at every
step and under concurrency, for failovers, swaps, rotations, chains, EIP moves,
adoption, pruning and protection; deterministic output; a fingerprint of the cloud."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from controller.model import Topology
from controller.plan import Action, Code, Plan, Severity, Step
from controller.planning import diff, planner, simulator
from tests.builders import as_declared, declared, desired, eni, moved, standard, step, steps_of

A, D = Action.ATTACH, Action.DETACH


def checked(want: Topology, obs: Topology, *, prune: bool = False) -> Plan:
    """Plan, and check the plan with the simulator as an outside oracle too."""
    plan = planner.plan(want, obs, prune=prune)
    assert plan.applyable, plan.violations
    protected = frozenset(n for n, i in want.interfaces.items() if i.protect)
    result = simulator.simulate(obs, plan.steps, policy=want.policy, protected=protected)
    assert result.ok, result.problems
    return plan


def test_failover_moves_the_interface_to_the_standby() -> None:
    """Failover: the ENI (with its EIP) is detached from web-1 and attached to standby."""
    cloud = standard().server("web-1").server("standby")
    obs = cloud.eni("app", server="web-1", eip="eip-1").build()
    plan = checked(desired(obs, ["web-1", "standby"], [moved(obs, "app", "standby")]), obs)
    assert steps_of(plan) == [("detach", "app", "web-1"), ("attach", "app", "standby")]
    assert [s.depends_on for s in plan.steps] == [(), (1,)]
    assert plan.steps[0].reason == "app moves to standby"
    assert plan.summary()["detach"] == 1 and plan.summary()["bind-eip"] == 0


def test_swap_between_two_full_servers_does_not_deadlock() -> None:
    """A swap between full servers: one detach waits, then each attach takes a freed slot."""
    cloud = standard().server("a", "s2").server("b", "s2")
    obs = cloud.eni("x", server="a").eni("y", server="b").build()
    plan = checked(desired(obs, "ab", [moved(obs, "x", "b"), moved(obs, "y", "a")]), obs)
    assert steps_of(plan) == [("detach", "x", "a"), ("detach", "y", "b"),
                              ("attach", "x", "b"), ("attach", "y", "a")]  # fmt: skip
    assert step(plan, A, "x").depends_on == (1, 2)
    assert step(plan, A, "y").depends_on == (1, 2)


@pytest.mark.parametrize("length", [3, 4, 7])
def test_rotation_of_full_servers_walks_the_cycle(length: int) -> None:
    """A rotation: one ENI of the cycle waits detached; each other ENI is re-attached
    right after its own detach; every attach needs only its own and one other detach."""
    names = [f"s{i}" for i in range(length)]
    cloud = standard()
    for i, name in enumerate(names):
        cloud.server(name, "s2").eni(f"e{i}", server=name)
    obs = cloud.build()
    want = [moved(obs, f"e{i}", names[(i + 1) % length]) for i in range(length)]
    plan = checked(desired(obs, names, want), obs)
    assert plan.steps[0].action is D
    waiting = plan.steps[0].interface
    last = [s for s in plan.steps if s.action is D][-1]
    for s in plan.steps[1:]:
        if s.action is D and s is not last:
            follow = plan.steps[s.id]  # the step right after it (ids are 1-based)
            assert (follow.action, follow.interface) == (A, s.interface)
    assert [(s.action, s.interface) for s in plan.steps[-2:]] == [
        (A, waiting),
        (A, last.interface),
    ]
    for s in plan.steps:
        if s.action is A:
            assert len(s.depends_on) == 2
            assert step(plan, D, s.interface).id in s.depends_on


def test_chain_moves_each_interface_into_the_slot_freed_before_it() -> None:
    """A chain (c has room, b and a are full): the last move goes first, nobody waits."""
    cloud = standard().server("a", "s2").server("b", "s2").server("c", "s3")
    obs = cloud.eni("x", server="a").eni("y", server="b").build()
    plan = checked(desired(obs, "abc", [moved(obs, "x", "b"), moved(obs, "y", "c")]), obs)
    assert steps_of(plan) == [("detach", "y", "b"), ("attach", "y", "c"),
                              ("detach", "x", "a"), ("attach", "x", "b")]  # fmt: skip
    assert step(plan, A, "y").depends_on == (1,)
    assert step(plan, A, "x").depends_on == (1, 3)


def test_moved_interface_waits_only_for_its_own_slot() -> None:
    """An attach depends on its own detach and the one detach whose slot it takes,
    not on every detach of the plan."""
    cloud = standard()
    for s in ("a", "b", "c", "d"):
        cloud.server(s, "s2")
    obs = cloud.eni("x", server="a").eni("y", server="b").eni("u", server="c").build()
    obs = cloud.eni("v", server="d").build()
    want = [moved(obs, "x", "b"), moved(obs, "y", "a"), moved(obs, "u", "d"), moved(obs, "v", "c")]
    plan = checked(desired(obs, "abcd", want), obs)
    ids = {(s.action, s.interface): s.id for s in plan.steps}
    assert set(step(plan, A, "x").depends_on) == {ids[D, "x"], ids[D, "y"]}
    assert set(step(plan, A, "u").depends_on) == {ids[D, "u"], ids[D, "v"]}


def test_free_slots_go_to_moving_interfaces_before_new_ones() -> None:
    """With one free slot and a slot freed later, the moving ENI takes the free one."""
    cloud = standard().server("a", "s2").server("b", "s3").server("c", "s3")
    obs = cloud.eni("x", server="a").eni("y", server="b").build()
    want = [moved(obs, "x", "b"), moved(obs, "y", "c"), eni("n", server="b")]
    plan = checked(desired(obs, "abc", want), obs)
    ids = {(s.action, s.interface): s.id for s in plan.steps}
    assert step(plan, A, "x").depends_on == (ids[D, "x"],)
    assert set(step(plan, A, "n").depends_on) == {ids[Action.CREATE, "n"], ids[D, "y"]}


def test_new_interface_is_created_before_it_is_attached_and_bound() -> None:
    """Create comes first; the EIP bind and the attach depend on it."""
    obs = standard().server("web-1").build()
    plan = checked(desired(obs, ["web-1"], [eni("n", server="web-1", eip="eip-1")]), obs)
    assert steps_of(plan) == [("create", "n", None), ("bind-eip", "n", "eip-1"),
                              ("attach", "n", "web-1")]  # fmt: skip
    assert [s.depends_on for s in plan.steps] == [(), (1,), (1,)]
    assert plan.steps[0].subnet == "sn-a" and plan.steps[0].private_ip is None


def test_eip_moves_between_interfaces_after_its_unbind() -> None:
    """An EIP moving from a to b is unbound from a before it is bound to b."""
    obs = standard().server("web-1").eni("a", eip="eip-1").eni("b").build()
    want = [replace(as_declared(obs, "a")[0], eip=None), replace(as_declared(obs, "b")[0],
                                                               eip="eip-1")]  # fmt: skip
    plan = checked(desired(obs, ["web-1"], want), obs)
    assert steps_of(plan) == [("unbind-eip", "a", "eip-1"), ("bind-eip", "b", "eip-1")]
    assert plan.steps[1].depends_on == (1,)
    assert plan.steps[0].reason == "eip-1 moves to b"


def test_eips_swap_between_two_interfaces() -> None:
    """Two ENIs exchanging EIPs: both unbinds first, each bind after both."""
    obs = standard().server("web-1").eni("a", eip="eip-1").eni("b", eip="eip-2").build()
    a, b = as_declared(obs, "a", "b")
    plan = checked(desired(obs, ["web-1"], [replace(a, eip="eip-2"), replace(b, eip="eip-1")]), obs)
    assert [s.action for s in plan.steps].count(Action.BIND_EIP) == 2
    for s in plan.steps:
        if s.action is Action.BIND_EIP:
            assert len(s.depends_on) == 2


def test_security_groups_update_anytime_and_before_an_attach() -> None:
    """An update has no dependency; the ENI's attach waits for it (new groups first)."""
    obs = standard().server("web-1").eni("a").build()
    plan = checked(desired(obs, ["web-1"], [eni("a", server="web-1", sgs=("sg-b",))]), obs)
    assert steps_of(plan) == [("update", "a", None), ("attach", "a", "web-1")]
    assert plan.steps[0].depends_on == () and plan.steps[1].depends_on == (1,)
    assert plan.steps[0].security_groups == ("sg-b",)


def test_server_security_groups_update_its_primary_interface() -> None:
    """A Server's securityGroups become an update of its primary ENI."""
    obs = standard().server("web-1", sgs=("sg-a",)).build()
    plan = checked(desired(obs, [declared(obs, "web-1", security_groups=("sg-b",))]), obs)
    assert steps_of(plan) == [("update", "web-1-primary", None)]
    assert "web-1's primary ENI" in plan.steps[0].reason


def test_adoption_of_an_existing_interface_needs_no_step() -> None:
    """An unmanaged ENI named by a manifest is adopted without any step, yet the plan
    has changes: apply must tag it (SPEC section 4)."""
    obs = standard().server("web-1").eni("a", server="web-1", managed=False).build()
    plan = checked(desired(obs, ["web-1"], as_declared(obs, "a")), obs)
    assert plan.steps == () and plan.adopt == ("a",) and plan.has_changes
    assert [c.field for c in plan.changes] == ["managed"]
    assert plan.as_json()["adopt"] == ["a"] and Plan.from_json(plan.as_json()).adopt == ("a",)


def test_managed_and_primary_interfaces_are_not_adopted() -> None:
    """Only unmanaged extension ENIs are adopted: a managed one, or a server's primary ENI
    named by a manifest, is not; once tagged, the plan has no changes."""
    obs = (
        standard().server("web-1").eni("a", server="web-1", managed=False).eni("m", server="web-1")
    ).build()
    want = desired(
        obs, ["web-1"], [*as_declared(obs, "a", "m"), as_declared(obs, "web-1-primary")[0]]
    )
    assert planner.plan(want, obs).adopt == ("a",)
    tagged = replace(
        obs, interfaces={**obs.interfaces, "a": replace(obs.interfaces["a"], managed=True)}
    )
    plan = planner.plan(want, tagged)
    assert plan.adopt == () and not plan.has_changes


def test_a_create_whose_address_the_cloud_picks_waits_for_declared_addresses() -> None:
    """The cloud may hand out any free address: a new ENI without privateIp is created
    after every new ENI of its subnet that declares one (else the cloud could give the
    declared address away, and the second create would fail with IpInUse)."""
    obs = standard().server("web-1").build()
    want = desired(obs, ["web-1"], [eni("a-any"), eni("b-ip", ip="10.0.1.2"), eni("c", "sn-b")])
    plan = checked(want, obs)
    assert step(plan, Action.CREATE, "b-ip").id in step(plan, Action.CREATE, "a-any").depends_on
    assert step(plan, Action.CREATE, "c").depends_on == ()  # another subnet


def test_prune_off_keeps_orphans_and_reports_them() -> None:
    """Without --prune an orphan has no step and is listed with its reason."""
    obs = standard().server("web-1").eni("old", server="web-1", eip="eip-1").build()
    plan = checked(desired(obs, ["web-1"]), obs)
    assert plan.steps == () and plan.orphans == ("old",)
    assert "--prune" in next(n.reason for n in plan.unchanged if n.resource.endswith("/old"))


def test_prune_unbinds_detaches_then_deletes_orphans() -> None:
    """With --prune an orphan's EIP is unbound and it is detached, then deleted."""
    obs = standard().server("web-1").eni("old", server="web-1", eip="eip-1").build()
    plan = checked(desired(obs, ["web-1"]), obs, prune=True)
    assert steps_of(plan) == [("unbind-eip", "old", "eip-1"), ("detach", "old", "web-1"),
                              ("delete", "old", None)]  # fmt: skip
    assert plan.steps[2].depends_on == (1, 2)


def test_pruned_address_is_reused_after_the_delete() -> None:
    """A new ENI taking a pruned orphan's address is created after the delete."""
    obs = standard().server("web-1").eni("old", ip="10.0.1.50").build()
    plan = checked(desired(obs, ["web-1"], [eni("new", ip="10.0.1.50")]), obs, prune=True)
    assert steps_of(plan) == [("delete", "old", None), ("create", "new", None)]
    assert plan.steps[1].depends_on == (1,)


def test_protected_interfaces_are_never_deleted() -> None:
    """A protected orphan survives --prune, with a ProtectedInterface warning."""
    obs = standard().server("web-1").eni("old", server="web-1", protect=True).build()
    plan = checked(desired(obs, ["web-1"]), obs, prune=True)
    assert plan.steps == ()
    assert [(v.code, v.severity) for v in plan.violations] == [
        (Code.PROTECTED_INTERFACE, Severity.WARNING)
    ]


def test_unmanaged_interfaces_filling_a_server_block_an_attach() -> None:
    """A server full of unmanaged ENIs refuses one more: rejected, no steps."""
    cloud = standard().server("web-1", "s3").server("web-2")
    obs = cloud.eni("u1", server="web-1", managed=False).eni("u2", server="web-1", managed=False)
    built = obs.eni("a", server="web-2").build()
    plan = planner.plan(desired(built, ["web-1", "web-2"], [moved(built, "a", "web-1")]), built)
    assert not plan.applyable and plan.steps == ()
    assert [v.code for v in plan.violations] == [Code.FLAVOR_LIMIT_EXCEEDED]
    assert plan.changes and plan.unchanged  # a rejected plan still says what it wanted


def test_detached_interface_frees_a_slot_for_a_move() -> None:
    """An ENI declared detached frees its slot: the incoming attach waits for it."""
    cloud = standard().server("a", "s2").server("b", "s2")
    obs = cloud.eni("old", server="a").eni("x", server="b").build()
    plan = checked(desired(obs, "ab", [moved(obs, "old", None), moved(obs, "x", "a")]), obs)
    assert steps_of(plan)[0] == ("detach", "old", "a")
    assert plan.steps[0].reason == "old is declared detached"
    assert 1 in step(plan, A, "x").depends_on


def test_server_already_over_its_limit_attaches_after_every_detach() -> None:
    """A server over its limit (flavor changed): each attach waits for every detach."""
    cloud = standard().server("a", "s4").server("b", "s4")
    for name in ("p", "q", "r"):
        cloud.eni(name, server="a")
    obs = cloud.eni("x", server="b").build()
    obs = replace(obs, servers={**obs.servers, "a": replace(obs.servers["a"], flavor="s3")})
    want = [moved(obs, "p", "b"), moved(obs, "q", "b"), moved(obs, "x", "a"),
            *as_declared(obs, "r")]  # fmt: skip
    servers = [declared(obs, "a"), declared(obs, "b")]
    plan = checked(desired(obs, servers, want), obs)
    ids = {(s.action, s.interface): s.id for s in plan.steps}
    assert set(step(plan, A, "x").depends_on) >= {ids[D, "p"], ids[D, "q"], ids[D, "x"]}


def test_not_ready_servers_warn_but_do_not_block() -> None:
    """ServerNotReady is a warning: the plan stays applyable."""
    obs = standard().server("web-1", status="SHUTOFF").server("web-2", status="BUILD").build()
    plan = checked(desired(obs, ["web-1", "web-2"], [eni("n", server="web-2")]), obs)
    assert [(v.code, v.resource) for v in plan.violations] == [
        (Code.SERVER_NOT_READY, "Server/web-2")
    ]


def test_rejected_plans_carry_violations_and_no_steps() -> None:
    """A plan with an error violation is not applyable and has no steps."""
    obs = standard().server("web-1").build()
    plan = planner.plan(desired(obs, ["web-1"], [eni("n", "sn-x", "web-1")]), obs)
    assert not plan.applyable and plan.steps == ()
    assert plan.as_json()["applyable"] is False


def _shuffled(topology: Topology) -> Topology:
    return replace(
        topology,
        servers=dict(reversed(list(topology.servers.items()))),
        interfaces=dict(reversed(list(topology.interfaces.items()))),
    )


def test_same_inputs_give_byte_identical_plans() -> None:
    """The plan JSON is byte-identical across runs and dict orders."""
    cloud = standard()
    for i in range(6):
        cloud.server(f"s{i}", "s2").eni(f"e{i}", server=f"s{i}")
    obs = cloud.build()
    want = desired(obs, [f"s{i}" for i in range(6)],
                   [moved(obs, f"e{i}", f"s{(i + 2) % 6}") for i in range(6)])  # fmt: skip
    first = planner.plan(want, obs, manifests_digest="sha256:m")
    again = planner.plan(_shuffled(want), _shuffled(obs), manifests_digest="sha256:m")
    dump = json.dumps(first.as_json(), sort_keys=True)
    assert dump == json.dumps(again.as_json(), sort_keys=True)
    assert first.as_json()["manifestsDigest"] == "sha256:m"


def test_fingerprint_is_stable_and_sees_what_matters() -> None:
    """The fingerprint ignores dict order and changes with an attachment or a status."""
    obs = standard().server("web-1").eni("a", server="web-1").build()
    fp = planner.observed_fingerprint(obs)
    assert fp.startswith("sha256:") and fp == planner.observed_fingerprint(_shuffled(obs))
    detached = replace(obs, interfaces={**obs.interfaces, "a": moved(obs, "a", None)})
    stopped = replace(obs, servers={"web-1": replace(obs.servers["web-1"], status="SHUTOFF")})
    assert (
        len({fp, planner.observed_fingerprint(detached), planner.observed_fingerprint(stopped)})
        == 3
    )


def test_self_check_rejects_an_unsafe_plan() -> None:
    """prove() raises AssertionError when the steps break a rule (a planner bug)."""
    obs = standard().server("a", "s2").eni("x", server="a").build()
    d = diff.diff(desired(obs, ["a"], [eni("n", server="a")]), obs)
    unsafe = (
        Step(1, Action.CREATE, "n", subnet="sn-a", security_groups=()),
        Step(2, Action.ATTACH, "n", "a", depends_on=(1,)),
    )
    with pytest.raises(AssertionError, match="FlavorLimitExceeded"):
        planner.prove(obs, unsafe, d)


def test_manifest_naming_a_primary_interface_may_keep_it_in_place() -> None:
    """A NetworkInterface manifest for a primary ENI on its own server only updates it."""
    obs = standard().server("web-1").build()
    primary = replace(as_declared(obs, "web-1-primary")[0], security_groups=("sg-a",))
    plan = checked(desired(obs, ["web-1"], [primary]), obs)
    assert steps_of(plan) == [("update", "web-1-primary", None)]
