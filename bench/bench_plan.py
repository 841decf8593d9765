"""Benchmark of the pure planning core: diff + rules + ordering + self-check.

Topologies are built in memory (no YAML, no provider): 10,000 servers, each with its
primary ENI and 4 extension ENIs (40,000 extension ENIs, 50,000 interfaces in all);
half the servers are full (flavor max 5 NICs), half have room (max 8). 5% of the
extension ENIs (2,000) move: their servers are permuted within each subnet, which
makes swaps, rotations and chains between full servers; 1,000 new ENIs are created
and attached where there is room, 200 of them with an EIP. Every ENI and server is
declared, as a manifest set would.

Prints, for the same run: a baseline (copying both topologies' interface maps and
reading every interface's planning fields once), each phase, and `planner.plan()`
end to end (best of --repeat). Target: plan() <= 1 s.

    .venv/bin/python bench/bench_plan.py [--servers 10000] [--repeat 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import time
from collections.abc import Callable
from typing import Any

from controller.model import (
    Catalog,
    Eip,
    Flavor,
    NetworkInterface,
    PlacementPolicy,
    SecurityGroup,
    Server,
    Source,
    Subnet,
    SubnetScope,
    Topology,
    Vpc,
)
from controller.planning import diff, planner, rules, scope

PER_SERVER = 4
SUBNETS = 100


def build(servers: int, seed: int) -> tuple[Topology, Topology]:
    """(observed, desired) at the benchmark's scale."""
    rng = random.Random(seed)
    flavors = {"full": Flavor("full", 1 + PER_SERVER), "roomy": Flavor("roomy", 8)}
    subnets = {
        f"sn{i}": Subnet(f"sn{i}", "vpc", f"10.{i}.0.0/16", f"az{i % 3}", id=f"id-sn{i}")
        for i in range(SUBNETS)
    }
    sgs = {f"sg{i}": SecurityGroup(f"sg{i}", "vpc", id=f"id-sg{i}") for i in range(20)}
    eips = {f"eip{i}": Eip(f"eip{i}", f"198.51.{i // 250}.{i % 250}") for i in range(2000)}
    catalog = Catalog(flavors, {"vpc": Vpc("vpc", "10.0.0.0/8")}, subnets, sgs, eips)
    seen_servers: dict[str, Server] = {}
    seen: dict[str, NetworkInterface] = {}
    for s in range(servers):
        name, sn = f"srv{s}", subnets[f"sn{s % SUBNETS}"]
        flavor = "full" if s % 2 == 0 else "roomy"
        seen_servers[name] = Server(
            name, flavor, sn.availability_zone, "vpc", sn.name, ("sg0",), id=f"id-{name}"
        )
        host = 10 + s // SUBNETS * 8
        seen[f"{name}-primary"] = NetworkInterface(
            f"{name}-primary", sn.name, _ip(sn, host), ("sg0",), server=name, primary=True,
            delete_on_termination=True, id=f"id-{name}-p",
        )  # fmt: skip
        for k in range(PER_SERVER):
            eni = f"{name}-e{k}"
            seen[eni] = NetworkInterface(
                eni, sn.name, _ip(sn, host + 1 + k), (f"sg{k % 20}",), server=name,
                managed=True, id=f"id-{eni}",
            )  # fmt: skip
    observed = Topology(seen_servers, seen, catalog=catalog)

    extension = [i for i in seen.values() if not i.primary]
    moving = rng.sample(extension, len(extension) // 20)
    by_subnet: dict[str, list[NetworkInterface]] = {}
    for iface in moving:
        by_subnet.setdefault(iface.subnet, []).append(iface)
    want: dict[str, NetworkInterface] = {}
    line = iter(range(1, 10**7))
    for iface in extension:
        want[iface.name] = _declared(iface, iface.server, next(line))
    for members in by_subnet.values():
        seats = [m.server for m in members]
        rng.shuffle(seats)
        for member, seat in zip(members, seats, strict=True):
            want[member.name] = _declared(member, seat, next(line))
    roomy = [s for s in seen_servers.values() if s.flavor == "roomy"]
    for n in range(1000):
        server = roomy[n % len(roomy)]
        want[f"new{n}"] = NetworkInterface(
            f"new{n}", server.subnet, None, ("sg1",), f"eip{n}" if n < 200 else None,
            server.name, source=Source("manifests/bench.yaml", next(line), 1),
        )  # fmt: skip
    declared = {
        s.name: Server(s.name, s.flavor, s.availability_zone, s.vpc, s.subnet,
                       source=Source("manifests/servers.yaml", i + 1, 1))
        for i, s in enumerate(seen_servers.values())
    }  # fmt: skip
    desired = Topology(declared, want, PlacementPolicy(SubnetScope.SERVER_SUBNET))
    return observed, desired


def _ip(subnet: Subnet, host: int) -> str:
    base = subnet.cidr.split(".")
    return f"{base[0]}.{base[1]}.{host // 250}.{host % 250 + 1}"


def _declared(iface: NetworkInterface, server: str | None, line: int) -> NetworkInterface:
    return NetworkInterface(
        iface.name, iface.subnet, iface.private_ip, iface.security_groups, iface.eip, server,
        source=Source("manifests/enis.yaml", line, 1),
    )  # fmt: skip


def best(repeat: int, fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall, cpu) seconds of the fastest of `repeat` runs, and the result. The cyclic
    garbage collector is paused during each run, as `planner.plan()` does."""
    runs, result = [], None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            result = fn()
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        finally:
            gc.enable()
    wall, cpu = min(runs)
    return wall, cpu, result


def baseline(observed: Topology, desired: Topology) -> int:
    """Copy both interface maps and read each interface's planning fields once."""
    total = 0
    for topology in (observed, desired):
        copy = dict(topology.interfaces)
        for iface in copy.values():
            fields = (iface.subnet, iface.private_ip, iface.security_groups, iface.eip)
            total += len(fields) + (iface.server is not None)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    observed, desired = build(args.servers, args.seed)
    extension = sum(1 for i in observed.interfaces.values() if not i.primary)
    print(
        f"scale: {len(observed.servers)} servers, {extension} extension ENIs "
        f"({len(observed.interfaces)} interfaces), {len(desired.interfaces)} declared"
    )

    base = best(args.repeat, lambda: baseline(observed, desired))
    t_diff = best(args.repeat, lambda: diff.diff(desired, observed))
    d = t_diff[2]
    t_rules = best(args.repeat, lambda: rules.check(desired, observed, d))
    t_order = best(args.repeat, lambda: planner.order(d, observed))
    steps = t_order[2]
    t_prove = best(args.repeat, lambda: planner.prove(observed, steps, d))
    t_fp = best(args.repeat, lambda: planner.observed_fingerprint(observed))
    t_scope = best(
        args.repeat,
        lambda: scope.fingerprint(scope.of(desired, observed, orphans=d.orphans), prune=False),
    )
    t_plan = best(args.repeat, lambda: planner.plan(desired, observed))
    plan = t_plan[2]
    t_json = best(args.repeat, lambda: json.dumps(plan.as_json(), sort_keys=True))
    assert plan.applyable and not t_rules[2], t_rules[2][:3]

    summary = {k: v for k, v in plan.summary().items() if v}
    print(f"plan: {len(plan.steps)} steps {summary}, {len(plan.changes)} changes, "
          f"{len(t_json[2]) // 1024} KiB of JSON")  # fmt: skip
    rows = [
        ("baseline: copy + read both topologies", base),
        ("diff", t_diff),
        ("rules", t_rules),
        ("ordering (drafts, slots, numbering)", t_order),
        ("self-check (plan simulator)", t_prove),
        ("whole-cloud fingerprint (watch's cache key)", t_fp),
        ("plan's part of the cloud + its fingerprint", t_scope),
        ("planner.plan() end to end", t_plan),
        ("json.dumps(plan.as_json()) (not in plan())", t_json),
    ]
    head = f"best of {args.repeat}"
    print(f"  {head:<44} {'wall':>9}  {'cpu':>9}  {'x baseline (cpu)':>16}")
    for label, (wall, cpu, _) in rows:
        print(f"  {label:<44} {wall * 1000:6.0f} ms  {cpu * 1000:6.0f} ms  {cpu / base[1]:12.1f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = "met" if t_plan[0] <= 1.0 else "MISSED"
    print(f"peak RSS of the process: {peak:.0f} MiB; target plan() <= 1000 ms wall: {verdict}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
