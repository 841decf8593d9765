"""Property tests: for random clouds and random desired topologies, a plan is either
rejected with violations that the desired state really breaks (checked by an
independent, naive oracle below), or it is safe at every step, under any concurrency
its dependencies allow, and ends exactly at the desired state."""

from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import replace

import pytest
from builders import Cloud, declared, eni
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.model import NetworkInterface, Server, SubnetScope, Topology
from controller.plan import Action, Plan, Severity
from controller.planning import planner, simulator

AZS = ("az1", "az2")
OWNERS = ("dhcp", "vip", "loadbalancer")


Scenario = tuple[Topology, Topology, bool]


def _catalog(
    draw: st.DrawFn, *, flavors: int, smallest: int, eips: int, unknown: bool = False
) -> Cloud:
    """Up to `flavors` flavors (max NICs from `smallest` to 4; with `unknown`, sometimes
    none stated), one or two VPCs of one or two subnets each (each pinned to a drawn AZ
    or to none) with two security groups each (the second pinned or regional), up to
    `eips` EIPs, and up to two other ports (DHCP, VIP, ...) holding addresses."""
    cloud = Cloud()
    for i in range(draw(st.integers(1, flavors))):
        limit = draw(st.integers(smallest, 4))
        cloud.flavor(f"f{i}", None if unknown and draw(st.integers(0, 4)) == 0 else limit)
    for v in range(draw(st.integers(1, 2))):
        for s in range(draw(st.integers(1, 2))):
            cloud.subnet(f"sn{v}{s}", vpc=f"vpc{v}", az=draw(st.sampled_from(("", *AZS))))
        cloud.sg(f"sg{v}a", vpc=f"vpc{v}").sg(f"sg{v}b", vpc=draw(st.sampled_from((f"vpc{v}", ""))))
    for e in range(draw(st.integers(0, eips))):
        cloud.eip(f"eip{e}")
    for _ in range(draw(st.integers(0, 2))):
        subnet = draw(st.sampled_from(sorted(cloud.subnets)))
        cloud.port(subnet, cloud.next_ip(subnet), draw(st.sampled_from(OWNERS)))
    return cloud


def _groups(cloud: Cloud, vpc: str) -> list[str]:
    """The security groups an ENI of `vpc` may use: pinned to it, or regional."""
    return [g for g in sorted(cloud.sgs) if cloud.sgs[g].vpc in ("", vpc)]


@st.composite
def clean_scenarios(draw: st.DrawFn) -> Scenario:
    """(observed, desired, prune): a cloud with servers often full, and a valid desired
    state that permutes attachments (swaps, rotations, chains), detaches, attaches,
    creates (sometimes reusing a pruned orphan's address) and moves EIPs."""
    cloud = _catalog(draw, flavors=2, smallest=2, eips=4)
    subnets, flavors, eips = sorted(cloud.subnets), sorted(cloud.flavors), sorted(cloud.eips)
    for s in range(draw(st.integers(2, 5))):
        cloud.server(f"s{s}", draw(st.sampled_from(flavors)), draw(st.sampled_from(subnets)),
                     az=draw(st.sampled_from(AZS)))  # fmt: skip
    servers = sorted(cloud.servers)

    def limit(server: str) -> int:
        found = cloud.flavors[cloud.servers[server].flavor].max_interfaces
        assert found is not None
        return found

    def groups_of(subnet: str) -> tuple[str, ...]:
        pool = _groups(cloud, cloud.subnets[subnet].vpc)
        return tuple(draw(st.lists(st.sampled_from(pool), max_size=2, unique=True)))

    spare_eips = list(eips)
    n = 0
    for server in servers:
        for _ in range(draw(st.integers(0, limit(server) - 1))):
            eip = draw(st.sampled_from([None, *spare_eips])) if spare_eips else None
            if eip is not None:
                spare_eips.remove(eip)
            cloud.eni(f"e{n}", cloud.servers[server].subnet, server, eip=eip,
                      sgs=groups_of(cloud.servers[server].subnet),
                      managed=draw(st.integers(0, 4)) > 0,
                      protect=draw(st.integers(0, 9)) == 0)  # fmt: skip
            n += 1
    for _ in range(draw(st.integers(0, 2))):
        cloud.eni(f"e{n}", draw(st.sampled_from(subnets)), managed=draw(st.booleans()))
        n += 1
    observed = cloud.build()
    prune = draw(st.booleans())

    extension = [i for i in observed.interfaces.values() if not i.primary]
    chosen = {i.name for i in extension if draw(st.integers(0, 3)) > 0}
    staying = [
        i for i in extension
        if i.name not in chosen and (not i.managed or not prune or i.protect)
    ]  # fmt: skip
    counts = {s: 1 for s in servers}
    for i in staying:
        if i.server is not None:
            counts[i.server] += 1
    place: dict[str, str | None] = {}
    by_subnet: dict[str, list[str]] = {}
    for i in extension:
        if i.name in chosen:
            if i.server is not None and draw(st.integers(0, 6)) > 0:
                by_subnet.setdefault(i.subnet, []).append(i.name)
            else:
                place[i.name] = None
    for members in by_subnet.values():
        seats = [observed.interfaces[m].server for m in members]
        for member, seat in zip(members, draw(st.permutations(seats)), strict=True):
            place[member] = seat
            assert seat is not None
            counts[seat] += 1

    def seat_in(subnet: str) -> str | None:
        fits = [s for s in servers if cloud.servers[s].subnet == subnet and counts[s] < limit(s)]
        seat = draw(st.sampled_from([None, *fits]))
        if seat is not None:
            counts[seat] += 1
        return seat

    for name in sorted(place):
        if place[name] is None and draw(st.booleans()):
            place[name] = seat_in(observed.interfaces[name].subnet)
    freed = [i.private_ip for i in extension if prune and i.managed and not i.protect
             and i.name not in chosen]  # fmt: skip
    held = {i.eip for i in staying if i.eip is not None}
    pool = [e for e in draw(st.permutations(eips)) if e not in held]

    def eip_for(current: str | None) -> str | None:
        choice = draw(st.integers(0, 3))
        if choice == 0 and current is not None and current in pool:
            pool.remove(current)
            return current
        if choice == 1 and pool:
            return pool.pop()
        return None

    wanted = []
    for name in sorted(chosen):
        have = observed.interfaces[name]
        wanted.append(eni(name, have.subnet, place[name], sgs=groups_of(have.subnet),
                          eip=eip_for(have.eip), protect=draw(st.integers(0, 4)) == 0,
                          ip=draw(st.sampled_from([None, have.private_ip]))))  # fmt: skip
    for k in range(draw(st.integers(0, 3))):
        subnet = draw(st.sampled_from(subnets))
        ip = draw(st.sampled_from([None, cloud.next_ip(subnet), *freed]))
        if ip in freed:
            subnet = next(i.subnet for i in extension if i.private_ip == ip)
            freed.remove(ip)
        wanted.append(eni(f"n{k}", subnet, seat_in(subnet), ip=ip, sgs=groups_of(subnet),
                          eip=eip_for(None)))  # fmt: skip
    declared_servers = [declared(observed, s) for s in servers]
    declared_servers = [
        replace(s, security_groups=groups_of(s.subnet)) if draw(st.booleans()) else s
        for s in declared_servers
    ]
    desired = Topology(
        servers={s.name: s for s in declared_servers},
        interfaces={i.name: i for i in wanted},
        policy=replace(Topology().policy, subnet_scope=draw(st.sampled_from(SubnetScope))),
    )
    return observed, desired, prune


@st.composite
def wild_scenarios(draw: st.DrawFn) -> Scenario:
    """(observed, desired, prune): a valid cloud and manifests that break rules often."""
    cloud = _catalog(draw, flavors=3, smallest=1, eips=3, unknown=True)
    subnets, flavors = sorted(cloud.subnets), sorted(cloud.flavors)
    sgs, eips = sorted(cloud.sgs), sorted(cloud.eips)
    for s in range(draw(st.integers(1, 4))):
        status = draw(st.sampled_from(("ACTIVE",) * 6 + ("SHUTOFF", "BUILD")))
        cloud.server(
            f"s{s}", draw(st.sampled_from(flavors)), draw(st.sampled_from(subnets)), status,
            az=draw(st.sampled_from(AZS)),
        )  # fmt: skip
    for s, server in list(cloud.servers.items()):  # the cloud may tell a server's own limit
        if cloud.flavors[server.flavor].max_interfaces is None and draw(st.booleans()):
            cloud.servers[s] = replace(server, nic_limit=draw(st.integers(1, 4)))
    servers = sorted(cloud.servers)

    def room(server: str) -> int:
        real = cloud.servers[server]
        found = cloud.flavors[real.flavor].max_interfaces or real.nic_limit
        return 9 if found is None else found  # the cloud knows a limit enictl does not

    def groups_of(subnet: str) -> tuple[str, ...]:
        if draw(st.integers(0, 19)) == 0:
            return (draw(st.sampled_from(sgs)),)  # maybe pinned to another VPC
        pool = _groups(cloud, cloud.subnets[subnet].vpc)
        return tuple(draw(st.lists(st.sampled_from(pool), max_size=2, unique=True)))

    free_eips = list(eips)
    counts = {s: 1 for s in servers}
    for e in range(draw(st.integers(0, 6))):
        subnet = draw(st.sampled_from(subnets))
        sn = cloud.subnets[subnet]
        fits = [
            s
            for s in servers
            if cloud.servers[s].vpc == sn.vpc
            and sn.availability_zone in ("", cloud.servers[s].availability_zone)
            and counts[s] < room(s)
        ]
        server = draw(st.sampled_from([None, *fits]))
        if server is not None:
            counts[server] += 1
        eip = draw(st.sampled_from([None, *free_eips])) if free_eips else None
        if eip is not None:
            free_eips.remove(eip)
        cloud.eni(f"e{e}", subnet, server, sgs=groups_of(subnet), eip=eip,
                  managed=draw(st.booleans()), protect=draw(st.integers(0, 4)) == 0)  # fmt: skip
    observed = cloud.build()

    declared_servers: list[Server] = []
    for s in servers:
        if draw(st.integers(0, 9)) == 0:
            continue
        want = declared(observed, s)
        if draw(st.integers(0, 24)) == 0:
            want = replace(want, flavor=draw(st.sampled_from([*flavors, "nope"])))
        if draw(st.integers(0, 3)) == 0:
            want = replace(want, security_groups=groups_of(want.subnet))
        declared_servers.append(want)
    if draw(st.integers(0, 24)) == 0:
        declared_servers.append(replace(declared(observed, servers[0]), name="ghost"))
    names = [s.name for s in declared_servers]

    def where(subnet: str) -> str | None:
        sn = cloud.subnets[subnet]
        good = [s for s in names if s in cloud.servers and cloud.servers[s].subnet == subnet]
        near = [s for s in names if s in cloud.servers and cloud.servers[s].vpc == sn.vpc]
        pool = draw(st.sampled_from([good or names, near or names, names, ["nowhere"]]))
        return draw(st.sampled_from([None, *pool])) if pool else None

    held = [p.private_ip for p in cloud.ports]

    def address(subnet: str, current: str | None) -> str | None:
        choice = draw(st.integers(0, 11))
        if choice < 6:
            return None if choice < 4 else current
        net = ipaddress.ip_network(cloud.subnets[subnet].cidr)
        if choice == 9:
            return "192.0.2.7"
        if choice == 10:  # reserved: the first two, the last three
            return str(net.network_address + draw(st.sampled_from((0, 1, 253, 254, 255))))
        if choice == 11 and held:
            return draw(st.sampled_from(held))  # another port's (maybe of another subnet)
        return str(net.network_address + draw(st.integers(10, 13)))

    wanted: list[NetworkInterface] = []
    for name, have in sorted(observed.interfaces.items()):
        if draw(st.integers(0, 9)) < (4 if not have.primary else 9):
            continue
        subnet = have.subnet if draw(st.integers(0, 19)) else draw(st.sampled_from(subnets))
        server = have.server if draw(st.booleans()) else where(subnet)
        eip = have.eip if draw(st.booleans()) else draw(st.sampled_from([None, *eips]))
        wanted.append(eni(name, subnet, server, ip=address(subnet, have.private_ip),
                          sgs=groups_of(subnet), eip=eip, protect=have.protect))  # fmt: skip
    for n in range(draw(st.integers(0, 4))):
        subnet = draw(st.sampled_from(subnets))
        eip = draw(st.sampled_from([None, None, *eips]))
        wanted.append(eni(f"n{n}", subnet, where(subnet), ip=address(subnet, None),
                          sgs=groups_of(subnet), eip=eip))  # fmt: skip
    scope = draw(st.sampled_from(SubnetScope))
    desired = Topology(
        servers={s.name: s for s in declared_servers},
        interfaces={i.name: i for i in wanted},
        policy=replace(Topology().policy, subnet_scope=scope),
    )
    return observed, desired, draw(st.booleans())


# -- the independent oracle -------------------------------------------------------------


def expected_final(desired: Topology, observed: Topology, prune: bool) -> Topology:
    """The state the plan must reach, computed naively from the SPEC."""
    final: dict[str, NetworkInterface] = {}
    for name, have in observed.interfaces.items():
        if name in desired.interfaces:
            continue
        if prune and have.managed and not have.primary and not have.protect:
            continue
        final[name] = have
    for name, want in desired.interfaces.items():
        have = observed.interfaces.get(name)
        ip = want.private_ip if want.private_ip is not None or have is None else have.private_ip
        final[name] = replace(want, private_ip=ip)
    for server in desired.servers.values():
        if server.security_groups is None:
            continue
        for name, iface in final.items():
            real = observed.interfaces.get(name)
            if real is not None and real.primary and real.server == server.name:
                final[name] = replace(iface, security_groups=server.security_groups)
    return Topology(observed.servers, final, desired.policy, observed.catalog)


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


def run_concurrently(observed: Topology, plan: Plan, rng: random.Random) -> None:
    """Execute the plan in a random order the dependencies allow, with random overlap;
    an attach holds its slot from its start, a detach frees it on completion."""
    steps = {s.id: s for s in plan.steps}
    occupied = observed.attached_counts()
    limits = {
        name: observed.catalog.flavors[s.flavor].max_interfaces or s.nic_limit or 0
        for name, s in observed.servers.items()
    }  # 0: nothing tells the limit, so no plan attaches there
    done: set[int] = set()
    running: list[int] = []
    waiting = sorted(steps)
    while waiting or running:
        ready = [i for i in waiting if all(d in done for d in steps[i].depends_on)]
        if ready and (not running or rng.random() < 0.6):
            i = rng.choice(ready)
            waiting.remove(i)
            running.append(i)
            s = steps[i]
            if s.action is Action.ATTACH and s.server is not None:
                occupied[s.server] = occupied.get(s.server, 0) + 1
                assert occupied[s.server] <= limits[s.server], (s, plan.steps)
            continue
        i = running.pop(rng.randrange(len(running)))
        done.add(i)
        s = steps[i]
        if s.action is Action.DETACH and s.server is not None:
            occupied[s.server] -= 1


# -- the properties -------------------------------------------------------------------


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
