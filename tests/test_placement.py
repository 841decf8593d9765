"""The failover policy as a pure function (SPEC 4a): where `planning.placement` puts each
failover ENI, for the golden situations, and a property over generated clouds."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.model import FailoverPolicy, Fence, NetworkInterface, Topology
from controller.plan import Code, Plan, Severity
from controller.planning import invariants, placement, planner, simulator
from tests.builders import Cloud, desired, eni, standard, steps_of

T0 = 1_800_000_000.0  # the clock of these cases: some time in 2027
HOLD = 60.0


def _cloud(web1: str = "ACTIVE", web2: str = "ACTIVE", web3: str = "ACTIVE") -> Cloud:
    cloud = standard().server("web-1", status=web1).server("web-2", status=web2)
    return cloud.server("web-3", status=web3)


def _svc(**fields: object) -> NetworkInterface:
    base = eni("svc", server="web-1", standbys=("web-2", "web-3"), eip="eip-1")
    return replace(base, **fields)  # type: ignore[arg-type]


def _plan(cloud: Cloud, *interfaces: NetworkInterface, now: float = T0) -> Plan:
    observed = cloud.build()
    want = desired(observed, sorted(observed.servers), interfaces)
    return planner.plan(want, observed, now=now)


def _placed(plan: Plan, name: str = "svc") -> str | None:
    return next(f.server for f in plan.failover if f.interface == name)


def _codes(plan: Plan) -> list[str]:
    return [v.code.value for v in plan.violations]


def test_a_shutoff_server_fails_over_to_the_first_standby() -> None:
    """web-1 SHUTOFF: the ENI (and its EIP) moves to web-2, told as a failover."""
    plan = _plan(_cloud(web1="SHUTOFF").eni("svc", server="web-1", eip="eip-1"), _svc())
    assert steps_of(plan) == [("detach", "svc", "web-1"), ("attach", "svc", "web-2")]
    assert plan.steps[1].reason == "svc fails over from web-1 to web-2: web-1 SHUTOFF"
    found = plan.failover[0]
    assert (found.server, found.current, found.moves) == ("web-2", "web-1", True)
    assert [c.origin for c in plan.changes if c.field == "server"] == ["failover"]
    assert plan.applyable and _codes(plan) == []


def test_a_healthy_server_keeps_its_eni_and_standbys_are_checked() -> None:
    """Nothing moves off a healthy server; each standby's readiness is reported."""
    plan = _plan(_cloud(web3="SHUTOFF").eni("svc", server="web-1", eip="eip-1"), _svc())
    assert plan.steps == () and _placed(plan) == "web-1"
    assert [(s.server, s.ready, s.reason) for s in plan.failover[0].standbys] == [
        ("web-2", True, ""),
        ("web-3", False, "SHUTOFF"),
    ]
    assert _codes(plan) == ["FailoverUnready"]
    assert "web-3 could not take svc now: SHUTOFF" in plan.violations[0].message


def test_sticky_without_failback() -> None:
    """Back on its feet, web-1 does not get the ENI back: it stays on web-2."""
    cloud = _cloud().eni("svc", server="web-2", eip="eip-1", failover_at=T0 - 3600)
    plan = _plan(cloud, _svc())
    assert plan.steps == () and _placed(plan) == "web-2"
    assert plan.failover[0].reason == "web-1 ACTIVE again, no failback"


def test_failback_waits_for_the_hold_down() -> None:
    """With failback, the ENI returns once web-1 has been ACTIVE for the hold-down and
    the last move is that old; before, it stays and the plan says when to look again."""
    policy = FailoverPolicy(failback=True, hold_down_seconds=HOLD)
    cloud = standard().server("web-1", status_since=T0 - 10).server("web-2").server("web-3")
    cloud = cloud.eni("svc", server="web-2", eip="eip-1", failover_at=T0 - 30)
    early = _plan(cloud, _svc(failover=policy))
    assert early.steps == () and early.recheck_at == T0 - 10 + HOLD
    assert early.failover[0].reason.startswith("web-1 ACTIVE again; failback at ")
    late = _plan(cloud, _svc(failover=policy), now=T0 + HOLD)
    assert steps_of(late) == [("detach", "svc", "web-2"), ("attach", "svc", "web-1")]
    assert late.failover[0].reason == "failback: web-1 ACTIVE"


def test_a_full_first_standby_is_skipped_for_the_second() -> None:
    """web-2 has no free NIC slot: the ENI goes to web-3, and web-2 is reported unready."""
    cloud = standard().server("web-1", status="SHUTOFF").server("web-2", "s2").server("web-3")
    cloud = cloud.eni("svc", server="web-1", eip="eip-1").eni("x", server="web-2", managed=False)
    plan = _plan(cloud, _svc())
    assert _placed(plan) == "web-3"
    assert "no free NIC slot (2 of 2)" in plan.violations[0].message


def test_a_full_standby_is_taken_when_the_plan_frees_its_slot() -> None:
    """web-2 is full, but the plan moves its other ENI away: the slot is free for svc."""
    cloud = standard().server("web-1", status="SHUTOFF").server("web-2", "s2").server("web-3")
    cloud = cloud.eni("svc", server="web-1", eip="eip-1").eni("x", server="web-2")
    plan = _plan(cloud, _svc(), eni("x", server="web-3", ip=cloud.interfaces["x"].private_ip))
    assert _placed(plan) == "web-2"
    assert plan.applyable


def test_all_standbys_down_is_blocked() -> None:
    """No server can take it: the ENI stays and FailoverBlocked names why for each."""
    cloud = _cloud(web1="SHUTOFF", web2="SHUTOFF", web3="ERROR").eni("svc", server="web-1")
    plan = _plan(cloud, _svc(eip=None))
    assert plan.steps == () and _placed(plan) == "web-1"
    blocked = [v for v in plan.violations if v.code is Code.FAILOVER_BLOCKED]
    assert len(blocked) == 1 and blocked[0].severity is Severity.WARNING
    assert "web-2 SHUTOFF, web-3 ERROR" in blocked[0].message


def test_error_with_fence_none_stays_and_says_what_to_do() -> None:
    """In ERROR the cloud refuses NIC changes: with fence none nothing is planned on web-1
    (no ServerNotReady wait), and FailoverBlocked hints at fence: stop."""
    plan = _plan(_cloud(web1="ERROR").eni("svc", server="web-1"), _svc(eip=None))
    assert plan.steps == () and _placed(plan) == "web-1"
    assert _codes(plan) == ["FailoverBlocked"]
    assert "fence: stop" in plan.violations[0].hint


def test_error_with_fence_stop_stops_then_moves() -> None:
    """fence: stop hard-stops web-1 first; the detach waits for it; no ServerNotReady."""
    policy = FailoverPolicy(fence=Fence.STOP)
    plan = _plan(_cloud(web1="ERROR").eni("svc", server="web-1"), _svc(eip=None, failover=policy))
    assert steps_of(plan) == [
        ("stop-server", "svc", "web-1"),
        ("detach", "svc", "web-1"),
        ("attach", "svc", "web-2"),
    ]
    assert plan.steps[1].depends_on == (1,)
    assert plan.summary()["stop-server"] == 1 and _codes(plan) == []


def test_a_deleted_server_is_down_and_only_a_warning() -> None:
    """web-1 is declared but gone (its ENI survived, detached): the ENI goes to web-2 and
    UnknownServer is a warning, not an error."""
    observed = _cloud().eni("svc", eip="eip-1").build()
    gone = replace(observed, servers={n: s for n, s in observed.servers.items() if n != "web-1"})
    want = desired(observed, sorted(observed.servers), [_svc()])
    plan = planner.plan(want, gone, now=T0)
    assert plan.applyable and _placed(plan) == "web-2"
    assert steps_of(plan) == [("attach", "svc", "web-2")]
    unknown = [v for v in plan.violations if v.code is Code.UNKNOWN_SERVER]
    assert [v.severity for v in unknown] == [Severity.WARNING]


def test_a_rebooting_holder_keeps_it_and_a_building_standby_is_skipped() -> None:
    """BUILD/REBOOT is healthy enough to keep the ENI, not to take it."""
    keep = _plan(_cloud(web1="REBOOT").eni("svc", server="web-1", eip="eip-1"), _svc())
    assert keep.steps == () and _placed(keep) == "web-1"
    skip = _plan(_cloud(web1="SHUTOFF", web2="BUILD").eni("svc", server="web-1"), _svc(eip=None))
    assert _placed(skip) == "web-3"


def test_two_enis_for_one_last_slot_go_by_name() -> None:
    """Both fail over and web-2 has one free slot: the first by name takes it, the other
    goes to web-3 (the same inputs always give the same placement)."""
    cloud = standard().server("web-1", "s4", status="SHUTOFF").server("web-2", "s2")
    cloud = cloud.server("web-3").eni("a", server="web-1").eni("b", server="web-1")
    enis = [eni(n, server="web-1", standbys=("web-2", "web-3")) for n in ("b", "a")]
    plan = _plan(cloud, *enis)
    assert (_placed(plan, "a"), _placed(plan, "b")) == ("web-2", "web-3")


def test_no_failover_enis_is_the_plain_planner() -> None:
    """Without standbys nothing changes: no failover entries, the manifests as they are."""
    observed = _cloud(web1="SHUTOFF").eni("svc", server="web-1").build()
    want = desired(observed, ["web-1"], [eni("svc", server="web-1")])
    decision = placement.place(want, observed, now=T0)
    assert decision.desired is want and decision.failovers == ()


# -- the property -------------------------------------------------------------------

STATUSES = ("ACTIVE", "ACTIVE", "SHUTOFF", "ERROR", "BUILD")
SERVERS = ("s-1", "s-2", "s-3", "s-4")


@st.composite
def situations(draw: st.DrawFn) -> tuple[Topology, Topology, float]:
    """A cloud of four servers of random flavors and statuses (one maybe deleted), ENIs
    with and without standbys on random servers, random failover times and policies."""
    cloud = standard()
    for name in SERVERS:
        flavor = draw(st.sampled_from(("s2", "s3", "s4")))
        since = draw(st.sampled_from((None, T0 - 1000, T0 - 30)))
        cloud.server(name, flavor, status=draw(st.sampled_from(STATUSES)), status_since=since)
    wanted: list[NetworkInterface] = []
    for i in range(draw(st.integers(1, 5))):
        name = f"eni-{i}"
        holder = draw(st.sampled_from((None, *SERVERS)))
        limit = {"s2": 2, "s3": 3, "s4": 4}
        if holder is not None:
            used = sum(1 for x in cloud.interfaces.values() if x.server == holder)
            if used >= limit[cloud.servers[holder].flavor]:
                holder = None
        at = draw(st.sampled_from((None, T0 - 1000, T0 - 10)))
        cloud.eni(name, server=holder, failover_at=at)
        ip = cloud.interfaces[name].private_ip
        home = draw(st.sampled_from((None, *SERVERS)))
        if draw(st.booleans()):
            standbys = tuple(draw(st.permutations(SERVERS))[: draw(st.integers(1, 3))])
            policy = FailoverPolicy(
                failback=draw(st.booleans()),
                hold_down_seconds=draw(st.sampled_from((0.0, 60.0))),
                fence=draw(st.sampled_from(tuple(Fence))),
            )
            wanted.append(eni(name, server=home, ip=ip, standbys=standbys, failover=policy))
        else:
            wanted.append(eni(name, server=holder, ip=ip))
    observed = cloud.build()
    want = desired(observed, SERVERS, wanted)
    if draw(st.booleans()):  # a declared server deleted: its ports survived, detached
        dead = draw(st.sampled_from(SERVERS))
        observed = replace(
            observed,
            servers={n: s for n, s in observed.servers.items() if n != dead},
            interfaces={
                n: replace(i, server=None) if i.server == dead else i
                for n, i in observed.interfaces.items()
                if not (i.primary and i.server == dead)
            },
        )
    return observed, want, draw(st.sampled_from((T0, T0 + 100)))


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(situations())
def test_placement_keeps_every_rule_never_leaves_a_healthy_holder_and_is_deterministic(
    case: tuple[Topology, Topology, float],
) -> None:
    """Any cloud: the plan is the same twice; an applyable plan's steps pass the plan
    simulator (every rule after every step) and end where the policy placed each ENI;
    a failover ENI leaves a healthy server it may stay on only to fail back home, and
    only ever goes to an ACTIVE server."""
    _check_placement(case)


@pytest.mark.slow
@SLOW
@given(situations())
def test_placement_property_at_length(case: tuple[Topology, Topology, float]) -> None:
    """The same property over 3,000 generated clouds (`-m slow`)."""
    _check_placement(case)


def _check_placement(case: tuple[Topology, Topology, float]) -> None:
    observed, want, now = case
    plan = planner.plan(want, observed, now=now)
    assert plan == planner.plan(want, observed, now=now)
    for found in plan.failover:
        have = observed.interfaces[found.interface]
        holder = observed.servers.get(have.server) if have.server else None
        target = want.interfaces[found.interface]
        if found.server != have.server and found.server is not None:
            assert observed.servers[found.server].healthy, found
        if holder is not None and not holder.down and have.server in target.candidates:
            assert found.server in (have.server, target.server), found
    if not plan.applyable:
        return
    placed = {f.interface: f.server for f in plan.failover}
    result = simulator.simulate(observed, plan.steps, policy=want.policy)
    assert result.ok, result.problems
    for name, server in placed.items():
        assert result.final.interfaces[name].server == server
    assert invariants.check_state(result.final) == []
