"""Generated planner scenarios, and what a plan for one must do; shared by the property
tests (tests/test_plan_properties.py) and the resume tests (tests/test_plan_resume.py).

A scenario is (observed, desired, prune): `clean_scenarios` draws a valid desired
state that permutes attachments on often-full servers, `wild_scenarios` one that
breaks rules often. `expected_final` is the state a plan must reach, computed naively
from the SPEC (independently of the planner); `run_concurrently` replays a plan's
steps in a random order its dependencies allow and asserts no flavor limit is passed.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import replace

from hypothesis import strategies as st

from controller.model import NetworkInterface, Server, ServerKind, SubnetScope, Topology
from controller.plan import Action, Plan
from tests.builders import Cloud, declared, eni

AZS = ("az1", "az2")
OWNERS = ("dhcp", "vip", "loadbalancer")


Scenario = tuple[Topology, Topology, bool]


def _catalog(
    draw: st.DrawFn, *, flavors: int, smallest: int, eips: int, unknown: bool = False
) -> Cloud:
    """Up to `flavors` flavors (max NICs from `smallest` to 4; with `unknown`, sometimes
    none stated; a third of them BMS flavors), one or two VPCs of one or two subnets
    each (each pinned to a drawn AZ or to none) with two security groups each (the
    second pinned or regional), up to `eips` EIPs, and up to two other ports (DHCP,
    VIP, ...) holding addresses."""
    cloud = Cloud()
    for i in range(draw(st.integers(1, flavors))):
        limit = draw(st.integers(smallest, 4))
        bare_metal = draw(st.integers(0, 2)) == 0  # mixed ECS / BMS clouds
        cloud.flavor(f"f{i}", None if unknown and draw(st.integers(0, 4)) == 0 else limit,
                     bare_metal=bare_metal)  # fmt: skip
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
    creates (sometimes reusing a pruned orphan's address; on a BMS, one attach that
    creates the port) and moves EIPs; a BMS's NICs stay or are detached, never moved."""
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

    def on_bms(server: str | None) -> bool:
        return server is not None and cloud.servers[server].kind is ServerKind.BMS

    for i in extension:
        if i.name in chosen:
            if on_bms(i.server):  # a BMS NIC stays there or is detached, never moves
                place[i.name] = i.server if draw(st.integers(0, 3)) > 0 else None
                if place[i.name] is not None:
                    counts[i.server] += 1  # type: ignore[index]
            elif i.server is not None and draw(st.integers(0, 6)) > 0:
                by_subnet.setdefault(i.subnet, []).append(i.name)
            else:
                place[i.name] = None
    for members in by_subnet.values():
        seats = [observed.interfaces[m].server for m in members]
        for member, seat in zip(members, draw(st.permutations(seats)), strict=True):
            place[member] = seat
            assert seat is not None
            counts[seat] += 1

    def seat_in(subnet: str, new: bool = False) -> str | None:
        """A server of `subnet` with room (a BMS only for a new ENI)."""
        fits = [
            s
            for s in servers
            if cloud.servers[s].subnet == subnet and counts[s] < limit(s) and (new or not on_bms(s))
        ]
        seat = draw(st.sampled_from([None, *fits]))
        if seat is not None:
            counts[seat] += 1
        return seat

    for name in sorted(place):
        if (
            place[name] is None
            and draw(st.booleans())
            and not on_bms(observed.interfaces[name].server)
        ):
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
        wanted.append(eni(f"n{k}", subnet, seat_in(subnet, new=True), ip=ip, sgs=groups_of(subnet),
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
