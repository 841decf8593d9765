"""Resuming a half-done apply: re-planning from any state a crashed apply can leave
behind reaches the same desired state, safely, and replays nothing already done.

A crashed apply (kill -9 mid-run) leaves the cloud with the steps whose dependencies
were met partly done. The next apply first finishes every job the dead run had in
flight (`controller.execution.recovery`: polled to completion, or, when the job id was lost,
waited for until its effect shows; a call that never reached the cloud has no effect),
so the cloud it observes is the observed state with a dependency-closed set of steps
applied. In that state, as the real cloud leaves it:

- ENIs created by the run exist, maybe not attached yet, with the address the cloud
  picked (the lowest free one of the subnet, as the simulated cloud does);
- ENIs attached by the run have deleteOnTermination true (the simulated cloud's
  pessimistic default for a new attachment);
- moved ENIs may be detached and waiting for a slot, servers half through a rotation.

From there the planner must produce a plan that passes its simulator (else it raises
"planner bug"), keeps every rule at every step under any concurrency, ends at the
desired state, and whose steps are a subset of what was left to do. Crashes are
chained: the resumed plan is itself interrupted again.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.model import NetworkInterface, SubnetScope, Topology
from controller.plan import Action, Plan, Step
from controller.planning import planner, simulator
from tests.builders import Cloud, declared, eni
from tests.scenarios import Scenario, clean_scenarios, expected_final, run_concurrently

ROOT = Path(__file__).parent
MIXED = ROOT / "data" / "apply" / "mixed"

Work = tuple[str, str, str | None, str | None]  # (action, interface, server, eip)


@st.composite
def full_server_moves(draw: st.DrawFn) -> Scenario:
    """Full servers (plus sometimes one with room) whose ENIs are permuted among their
    seats: swaps, rotations and chains; some ENIs are declared detached and new ones
    take their seats; EIPs travel with their ENIs, some move between ENIs."""
    cloud = Cloud().flavor("f2", 2).flavor("f3", 3).flavor("f4", 4)
    cloud.subnet("sn").sg("sg-a").sg("sg-b")
    for e in range(3):
        cloud.eip(f"eip{e}")
    count = draw(st.integers(2, 6))
    limits: dict[str, int] = {}
    seats: list[str] = []
    eips = list(cloud.eips)
    for s in range(count):
        flavor = draw(st.sampled_from(sorted(cloud.flavors)))
        name = f"s{s}"
        cloud.server(name, flavor, "sn")
        limits[name] = cloud.flavors[flavor].max_interfaces
        room = 1 if s == 0 and draw(st.booleans()) else 0  # a chain ends in a free slot
        for _ in range(limits[name] - 1 - room):
            eip = eips.pop() if eips and draw(st.integers(0, 3)) == 0 else None
            cloud.eni(f"e{len(seats)}", "sn", name, eip=eip, sgs=("sg-a",))
            seats.append(name)
        seats += [name] * room
    observed = cloud.build()
    interfaces = dict(observed.interfaces)
    for name, iface in interfaces.items():  # some attachments would delete their ENI
        if not iface.primary and draw(st.booleans()):
            interfaces[name] = replace(iface, delete_on_termination=True)
    observed = replace(observed, interfaces=interfaces)

    enis = [f"e{i}" for i in range(len(seats)) if f"e{i}" in interfaces]
    order = draw(st.permutations(seats))
    wanted: list[NetworkInterface] = []
    placed: dict[str, int] = {}
    for name, seat in zip(enis, order, strict=False):
        have = interfaces[name]
        server: str | None = seat
        if draw(st.integers(0, 5)) == 0:
            server = None  # declared detached: its seat goes to a new ENI, or stays free
        else:
            placed[seat] = placed.get(seat, 0) + 1
        groups = ("sg-b",) if draw(st.integers(0, 4)) == 0 else have.security_groups
        wanted.append(eni(name, "sn", server, ip=have.private_ip, sgs=groups, eip=have.eip))
    free = [s for s in sorted(limits) for _ in range(limits[s] - 1 - placed.get(s, 0))]
    for n in range(draw(st.integers(0, min(2, len(free))))):
        seat = draw(st.sampled_from(free))
        free.remove(seat)
        ip = cloud.next_ip("sn") if draw(st.booleans()) else None
        wanted.append(eni(f"n{n}", "sn", seat, ip=ip))
    held = {i.eip for i in wanted if i.eip}
    spare = [e for e in cloud.eips if e not in held]
    if spare and wanted and draw(st.booleans()):  # an EIP moves onto an ENI that has none
        target = draw(st.sampled_from([i for i in wanted if i.eip is None] or [wanted[0]]))
        if target.eip is None:
            wanted[wanted.index(target)] = replace(target, eip=spare[0])
    desired = Topology(
        servers={s: declared(observed, s) for s in limits},
        interfaces={i.name: i for i in wanted},
        policy=replace(Topology().policy, subnet_scope=SubnetScope.SERVER_SUBNET),
    )
    return observed, desired, False


# -- what a crash leaves behind --------------------------------------------------------


def crashed(observed: Topology, plan: Plan, rng: random.Random) -> tuple[Topology, set[int]]:
    """The cloud after an apply of `plan` died at a random moment and recovery finished
    its jobs: a dependency-closed set of steps done, as the real cloud shows it."""
    done: set[int] = set()
    budget = rng.randint(0, len(plan.steps))
    for step in plan.steps:  # id order is a topological order
        if len(done) >= budget:
            break
        if all(d in done for d in step.depends_on) and rng.random() < 0.8:
            done.add(step.id)
    # the steps in flight at the crash: recovery polls each job to completion (or waits
    # for its effect when the job id was lost); a call that never left had no effect
    ready = [s for s in plan.steps if s.id not in done and set(s.depends_on) <= done]
    for step in ready:
        if rng.random() < 0.3:
            done.add(step.id)
    steps = [s for s in plan.steps if s.id in done]
    renumbered = {s.id: n for n, s in enumerate(steps, 1)}
    prefix = [
        replace(s, id=renumbered[s.id], depends_on=tuple(renumbered[d] for d in s.depends_on))
        for s in steps
    ]
    result = simulator.simulate(observed, prefix)
    assert result.ok, result.problems
    return as_the_cloud_shows(result.final, prefix), done


def as_the_cloud_shows(state: Topology, done: list[Step]) -> Topology:
    """Created ENIs get the address the cloud picked; a new attachment has
    deleteOnTermination true (both as the simulated cloud does)."""
    interfaces = dict(state.interfaces)
    taken = {i.private_ip for i in interfaces.values() if i.private_ip is not None}
    for step in done:
        iface = interfaces.get(step.interface)
        if iface is None:
            continue
        if step.action is Action.CREATE and iface.private_ip is None:
            subnet = state.catalog.subnets[iface.subnet]
            address = next(
                str(a)
                for a in ipaddress.ip_network(subnet.cidr).hosts()
                if str(a) not in taken and int(a) % 256 > 1
            )
            taken.add(address)
            interfaces[iface.name] = replace(iface, private_ip=address)
        elif step.action is Action.ATTACH and iface.server is not None:
            interfaces[iface.name] = replace(iface, delete_on_termination=True)
    return replace(state, interfaces=interfaces)


def work(plan: Plan, skip: frozenset[int] | set[int] = frozenset()) -> list[Work]:
    """What the plan does, step by step, without ids and dependencies."""
    return [(s.action.value, s.interface, s.server, s.eip) for s in plan.steps if s.id not in skip]


def check_resume(scenario: Scenario, seed: int, crashes: int = 3) -> None:
    observed, desired, prune = scenario
    plan = planner.plan(desired, observed, prune=prune)
    if not plan.applyable:
        return
    goal = expected_final(desired, observed, prune)
    protected = frozenset(n for n, i in desired.interfaces.items() if i.protect)
    rng = random.Random(seed)
    state = observed
    for _ in range(crashes):
        state, done = crashed(state, plan, rng)
        left = work(plan, done)
        resumed = planner.plan(desired, state, prune=prune)  # "planner bug" would raise here
        assert resumed.applyable, [str(v.message) for v in resumed.violations]
        result = simulator.simulate(
            state, resumed.steps, policy=desired.policy, protected=protected
        )
        assert result.ok, result.problems
        assert not simulator.mismatches(result.final, goal)
        extra = [w for w in work(resumed) if w not in left]
        assert not extra, f"the resumed plan does more than was left: {extra}"
        run_concurrently(state, resumed, rng)
        plan = resumed
        if not plan.steps:
            break


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
resumable = st.one_of(full_server_moves(), full_server_moves(), clean_scenarios())


@FAST
@given(resumable, st.integers(0, 2**32))
def test_a_half_done_apply_resumes_safely(scenario: Scenario, seed: int) -> None:
    """From any state a crashed apply leaves (chained crashes), the re-plan passes the
    simulator, ends at the desired state and only does what was left to do."""
    check_resume(scenario, seed)


@pytest.mark.slow
@SLOW
@given(resumable, st.integers(0, 2**32))
def test_a_half_done_apply_resumes_safely_long(scenario: Scenario, seed: int) -> None:
    """The same over many more cases (run with -m slow)."""
    check_resume(scenario, seed)


def test_every_half_done_state_of_the_crash_test_replans(tmp_path: Path) -> None:
    """The crash test's scenario (a failover, a rotation of three full servers, a new ENI
    with an EIP): every dependency-closed set of its plan's steps re-plans safely."""
    from controller.manifests import loader
    from controller.providers.sim.cloud import init_cloud

    cloud = init_cloud(tmp_path, loader.load_inventory(MIXED / "inventory.yaml"))
    try:
        observed = cloud.observe()
    finally:
        cloud.close()
    desired = loader.load([str(MIXED / "manifests")]).topology
    plan = planner.plan(desired, observed)
    goal = expected_final(desired, observed, False)
    states = 0
    for mask in range(1 << len(plan.steps)):
        done = {s.id for s in plan.steps if mask >> (s.id - 1) & 1}
        if any(not set(s.depends_on) <= done for s in plan.steps if s.id in done):
            continue
        steps = [s for s in plan.steps if s.id in done]
        ids = {s.id: n for n, s in enumerate(steps, 1)}
        prefix = [replace(s, id=ids[s.id], depends_on=tuple(ids[d] for d in s.depends_on))
                  for s in steps]  # fmt: skip
        state = as_the_cloud_shows(simulator.simulate(observed, prefix).final, prefix)
        resumed = planner.plan(desired, state)
        result = simulator.simulate(state, resumed.steps, policy=desired.policy)
        assert result.ok and not simulator.mismatches(result.final, goal), sorted(done)
        assert all(w in work(plan, done) for w in work(resumed)), sorted(done)
        states += 1
    assert states > len(plan.steps)  # 162 down-sets of its 10 steps when written


SWAP = """\
apiVersion: enictl/v1
kind: CloudInventory
metadata: {name: swap}
spec:
  flavors: [{name: f2, maxInterfaces: 2}]
  vpcs: [{name: vpc, cidr: 10.0.0.0/16}]
  subnets: [{name: sn, vpc: vpc, cidr: 10.0.1.0/24, availabilityZone: az1}]
  servers:
    - {name: s0, flavor: f2, availabilityZone: az1, vpc: vpc, subnet: sn}
    - {name: s1, flavor: f2, availabilityZone: az1, vpc: vpc, subnet: sn}
  interfaces:
    - {name: a, subnet: sn, server: s0, managed: true}
    - {name: b, subnet: sn, server: s1, managed: true}
"""


def test_an_attach_whose_job_id_was_lost_is_waited_for_before_re_planning(
    tmp_path: Path,
) -> None:
    """Mid-swap crash: both ENIs detached, `a`'s attach to s1 submitted (the cloud counts
    it, observe does not show it yet) but its job id never reached the journal.
    Recovery waits until the attach shows, so the re-plan attaches only `b`, and the
    cloud refuses nothing (no second attach of `a`, no attach into a slot it holds)."""
    from controller.execution import recovery
    from controller.manifests import loader
    from controller.providers.sim.cloud import SimCloud, init_cloud
    from controller.providers.sim.faults import Faults
    from controller.storage import journal
    from tests.fakeclock import FakeClock, patience

    (tmp_path / "inventory.yaml").write_text(SWAP)
    clock = FakeClock()
    clock.now = 1_000.0
    cloud = init_cloud(tmp_path, loader.load_inventory(tmp_path / "inventory.yaml"))
    cloud = SimCloud(cloud.path, clock=clock)
    cloud.set_faults(Faults(latency_ms=2000))
    observed = cloud.observe()
    desired = Topology(
        servers={n: replace(s, security_groups=None) for n, s in observed.servers.items()},
        interfaces={
            "a": replace(observed.interfaces["a"], server="s1"),
            "b": replace(observed.interfaces["b"], server="s0"),
        },
    )
    plan = planner.plan(desired, observed)
    assert work(plan) == [("detach", "a", "s0", None), ("detach", "b", "s1", None),
                          ("attach", "a", "s1", None), ("attach", "b", "s0", None)]  # fmt: skip
    ids = {n: i.id for n, i in observed.interfaces.items()}
    sid = {n: s.id for n, s in observed.servers.items()}
    for name, server in (("a", "s0"), ("b", "s1")):
        job = cloud.detach(sid[server], ids[name])
        clock.now += 2.5
        assert cloud.job(job).status.value == "SUCCESS"
    book = journal.Journal.open(tmp_path)
    book.begin_run("sha256:p", steps=4).job_intent(3, "attach", sid["s1"], ids["a"])
    cloud.attach(sid["s1"], ids["a"])  # the dead run's call; its job id was never written
    assert cloud.observe().interfaces["a"].server is None  # in flight: not shown yet
    found = recovery.recover(cloud, book, patience=patience(clock), settle=30.0)
    assert found is not None and found.unsettled == 0
    resumed = planner.plan(desired, cloud.observe())
    assert work(resumed) == [("attach", "b", "s0", None)]
    assert [e for e in cloud.log() if e.result == "error"] == []
    cloud.close()
