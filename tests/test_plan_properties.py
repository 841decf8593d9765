"""Property tests: for random clouds and random desired topologies, a plan is either
rejected with violations that the desired state really breaks (checked by an
independent, naive oracle: `broken_rules` below; the scenarios and the state a plan
must reach are in tests/scenarios.py), or it is safe at every step, under any
concurrency its dependencies allow, and ends exactly at the desired state."""

from __future__ import annotations

import ipaddress
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.model import SubnetScope, Topology
from controller.plan import Severity
from controller.planning import planner, simulator
from tests.scenarios import clean_scenarios, expected_final, run_concurrently, wild_scenarios

# -- the independent oracle -------------------------------------------------------------


def broken_rules(desired: Topology, observed: Topology, prune: bool) -> set[tuple[str, str]]:
    """(code, resource) of every error rule the desired state breaks."""
    cat, out = observed.catalog, set()
    for name, s in desired.servers.items():
        ref = f"Server/{name}"
        if s.flavor not in cat.flavors:
            out.add(("UnknownFlavor", ref))
        if s.subnet not in cat.subnets:
            out.add(("UnknownSubnet", ref))
        real = observed.servers.get(name)
        if real is None:
            out.add(("UnknownServer", ref))
        elif (s.flavor, s.availability_zone, s.vpc, s.subnet) != (
            real.flavor, real.availability_zone, real.vpc, real.subnet,
        ):  # fmt: skip
            out.add(("ServerMismatch", ref))
        for g in s.security_groups or ():
            if g not in cat.security_groups:
                out.add(("UnknownSecurityGroup", ref))
            elif real is not None and cat.security_groups[g].vpc not in ("", real.vpc):
                out.add(("SecurityGroupVpcMismatch", ref))
    final = expected_final(desired, observed, prune).interfaces
    for name, want in desired.interfaces.items():
        ref, have = f"NetworkInterface/{name}", observed.interfaces.get(name)
        sn = cat.subnets.get(want.subnet)
        if sn is None:
            out.add(("UnknownSubnet", ref))
        for g in want.security_groups:
            if g not in cat.security_groups:
                out.add(("UnknownSecurityGroup", ref))
            elif sn is not None and cat.security_groups[g].vpc not in ("", sn.vpc):
                out.add(("SecurityGroupVpcMismatch", ref))
        if want.eip is not None and want.eip not in cat.eips:
            out.add(("UnknownEip", ref))
        real = observed.servers.get(want.server or "")
        if want.server is not None and want.server not in desired.servers:
            out.add(("UnknownServer", ref))
        elif real is not None and sn is not None:
            if sn.vpc != real.vpc:
                out.add(("VpcMismatch", ref))
            if sn.availability_zone not in ("", real.availability_zone):  # pinned elsewhere
                out.add(("AvailabilityZoneMismatch", ref))
            if (
                desired.policy.subnet_scope is SubnetScope.SERVER_SUBNET
                and sn.vpc == real.vpc
                and sn.name != real.subnet
            ):
                out.add(("SubnetMismatch", ref))
        if have is not None:
            if have.primary and have.server != want.server:
                out.add(("PrimaryInterfaceImmutable", ref))
            before = observed.servers.get(have.server or "")
            on_or_off = (real is not None and real.bare_metal) or (
                before is not None and before.bare_metal
            )
            if not have.primary and want.server not in (None, have.server) and on_or_off:
                out.add(("BareMetalMove", ref))  # a BMS takes no existing port
            if have.subnet != want.subnet or want.private_ip not in (None, have.private_ip):
                out.add(("ImmutableField", ref))
        ip = want.private_ip
        new_ip = ip is not None and (have is None or have.private_ip != ip)
        moved = ip is not None and have is not None and have.subnet != want.subnet
        place = _place(ip, sn.cidr) if ip is not None and sn is not None else "usable"
        if (new_ip or moved) and place != "usable":
            out.add(("IpOutOfSubnet" if place == "outside" else "IpReserved", ref))
        if new_ip and sn is not None and place == "usable":
            for port in cat.ports:
                psn = cat.subnets[port.subnet]
                if port.private_ip == ip and psn.vpc == sn.vpc:
                    out.add(("IpInUse", ref))
            for other, iface in final.items():
                osn = cat.subnets.get(iface.subnet)
                if (
                    other != name
                    and iface.private_ip == want.private_ip
                    and osn is not None
                    and osn.vpc == sn.vpc
                ):
                    out.add(("IpInUse", ref))
        if want.eip is not None and any(i.eip == want.eip for n, i in final.items() if n != name):
            out.add(("EipInUse", ref))
    targets = set(desired.servers) | {i.server for i in desired.interfaces.values() if i.server}
    for name in targets:
        real = observed.servers.get(name)
        if real is None or real.flavor not in cat.flavors:
            continue
        limit = cat.flavors[real.flavor].max_interfaces or real.nic_limit
        count = sum(1 for i in final.values() if i.server == name)
        attaching = any(
            i.server == name and getattr(observed.interfaces.get(n), "server", None) != name
            for n, i in final.items()
        )
        if limit is None and attaching:
            out.add(("UnknownFlavor", f"Server/{name}"))
        if limit is not None and count > limit:
            out.add(("FlavorLimitExceeded", f"Server/{name}"))
    return out


def _place(ip: str, cidr: str) -> str:
    """usable, reserved (the first two and the last three) or outside the CIDR."""
    net, address = ipaddress.ip_network(cidr), ipaddress.ip_address(ip)
    if address not in net:
        return "outside"
    offset = int(address) - int(net.network_address)
    return "reserved" if offset < 2 or offset > net.num_addresses - 4 else "usable"


def check_scenario(observed: Topology, desired: Topology, prune: bool, seed: int) -> None:
    plan = planner.plan(desired, observed, prune=prune)
    again = planner.plan(desired, observed, prune=prune)
    assert json.dumps(plan.as_json(), sort_keys=True) == json.dumps(again.as_json(), sort_keys=True)
    broken = broken_rules(desired, observed, prune)
    errors = {(v.code.value, v.resource) for v in plan.violations if v.severity is Severity.ERROR}
    assert errors <= broken, f"reported but not broken: {errors - broken}"
    if not plan.applyable:
        assert not plan.steps
        return
    assert not broken, f"broken but not reported: {broken}"
    protected = frozenset(n for n, i in desired.interfaces.items() if i.protect)
    result = simulator.simulate(observed, plan.steps, policy=desired.policy, protected=protected)
    assert result.ok, result.problems
    wrong = simulator.mismatches(result.final, expected_final(desired, observed, prune))
    assert not wrong, wrong
    rng = random.Random(seed)
    for _ in range(3):
        run_concurrently(observed, plan, rng)


scenarios = st.one_of(clean_scenarios(), clean_scenarios(), clean_scenarios(), wild_scenarios())

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(scenarios, st.integers(0, 2**32))
def test_plans_are_safe_or_rightly_rejected(
    scenario: tuple[Topology, Topology, bool], seed: int
) -> None:
    """Every plan is rejected for a real broken rule or safe at every step and converges."""
    check_scenario(*scenario, seed)


@pytest.mark.slow
@SLOW
@given(scenarios, st.integers(0, 2**32))
def test_plans_are_safe_or_rightly_rejected_long(
    scenario: tuple[Topology, Topology, bool], seed: int
) -> None:
    """The same property over many more generated cases (run with -m slow)."""
    check_scenario(*scenario, seed)
