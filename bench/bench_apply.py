"""Apply makespan against its lower bound, on the simulated cloud with job latency.

For each scenario the script builds a simulated cloud, plans with the real planner,
computes the plan's lower bound on makespan, executes the plan with the real executor
and measures the wall time, all in the same run:

- `attach`: N servers (flavor limit 2) and N unattached ENIs; each ENI goes to its own
  server: N independent attach steps.
- `swap`: 2N full servers (limit 2: primary + one ENI) in pairs; each pair swaps its
  ENIs. The planner parks nothing (no free slot exists): per pair two detaches, then
  two attaches.

Lower bound, with latency L per job (attach/detach) and parallelism P, synchronous
calls counted as free: the largest of
  - the critical path (the longest dependency chain of jobs) x L,
  - ceil(jobs / P) x L (P workers, each job occupying one for L),
  - the most jobs on one server x L (one NIC operation per server at a time).

The executor runs with the journal on, as `enictl apply` does (each record fsync'ed).
Also reported: cloud calls per step by kind (submits, polls, observes, ...).

    .venv/bin/python bench/bench_apply.py [--latency-ms 200] [--parallelism 50]
        [--attaches 1000] [--swaps 200]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.execution import executor
from controller.model import Topology
from controller.plan import Action, Plan
from controller.planning import planner
from controller.providers.sim.cloud import init_cloud
from controller.providers.sim.faults import Faults
from controller.storage import journal

JOB_ACTIONS = (Action.ATTACH, Action.DETACH)


def inventory(servers: int, interfaces: list[tuple[str, str | None]]) -> dict[str, Any]:
    return {
        "flavors": [{"name": "f2", "maxInterfaces": 2}],
        "vpcs": [{"name": "vpc", "cidr": "10.0.0.0/16"}],
        "subnets": [
            {"name": "net", "vpc": "vpc", "cidr": "10.0.0.0/16", "availabilityZone": "az1"}
        ],
        "securityGroups": [{"name": "sg", "vpc": "vpc"}],
        "eips": [],
        "servers": [
            {
                "name": f"s{i:05d}",
                "flavor": "f2",
                "availabilityZone": "az1",
                "vpc": "vpc",
                "subnet": "net",
            }
            for i in range(servers)
        ],
        "interfaces": [
            {"name": name, "subnet": "net", "server": server, "managed": True}
            for name, server in interfaces
        ],
    }


def desired_from(observed: Topology, moves: dict[str, str | None]) -> Topology:
    """The observed extension ENIs, with `moves` applied to their server."""
    interfaces = {
        name: replace(i, server=moves.get(name, i.server), id="")
        for name, i in observed.interfaces.items()
        if not i.primary
    }
    servers = {n: replace(s, id="") for n, s in observed.servers.items()}
    return Topology(servers=servers, interfaces=interfaces, policy=observed.policy)


def lower_bound(plan: Plan, latency: float, parallelism: int) -> float:
    """The makespan no schedule can beat (see the module docstring)."""
    weight = {s.id: (latency if s.action in JOB_ACTIONS else 0.0) for s in plan.steps}
    finish: dict[int, float] = {}
    for s in plan.steps:  # plans list a step after the steps it depends on
        finish[s.id] = weight[s.id] + max((finish[d] for d in s.depends_on), default=0.0)
    critical = max(finish.values(), default=0.0)
    jobs = sum(1 for s in plan.steps if s.action in JOB_ACTIONS)
    per_server = Counter(s.server for s in plan.steps if s.action in JOB_ACTIONS)
    return max(
        critical,
        math.ceil(jobs / parallelism) * latency,
        max(per_server.values(), default=0) * latency,
    )


def run(
    name: str, spec: dict[str, Any], moves_of: Any, latency_ms: int, parallelism: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        cloud = init_cloud(state, spec)
        cloud.set_faults(Faults(latency_ms=latency_ms))
        observed = cloud.observe()
        plan = planner.plan(desired_from(observed, moves_of(observed)), observed)
        assert plan.applyable and plan.steps, plan.violations
        bound = lower_bound(plan, latency_ms / 1000.0, parallelism)
        book = journal.Journal.open(state)  # as `enictl apply` does: every record fsync'ed
        t0 = time.perf_counter()
        records = book.begin_run("bench", steps=len(plan.steps))
        result = executor.execute(plan, cloud, observed, parallelism=parallelism, journal=records)
        records.finish("ok")
        took = time.perf_counter() - t0
        book.close()
        assert result.ok, [r.line() for r in result.failed[:5]]
        after = cloud.observe()
        left = planner.plan(desired_from(observed, moves_of(observed)), after)
        assert not left.steps, f"{len(left.steps)} steps left"
        cloud.close()
    steps = len(plan.steps)
    return {
        "scenario": name,
        "steps": steps,
        "summary": {k: v for k, v in plan.summary().items() if v},
        "bound": bound,
        "measured": took,
        "ratio": took / bound if bound else float("nan"),
        "calls_per_step": {k: v / steps for k, v in sorted(result.calls.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=50)
    parser.add_argument("--attaches", type=int, default=1000)
    parser.add_argument("--swaps", type=int, default=200)
    args = parser.parse_args()

    n = args.attaches
    attach_spec = inventory(n, [(f"e{i:05d}", None) for i in range(n)])

    def attach_moves(observed: Topology) -> dict[str, str | None]:
        return {f"e{i:05d}": f"s{i:05d}" for i in range(n)}

    k = args.swaps
    swap_spec = inventory(2 * k, [(f"e{i:05d}", f"s{i:05d}") for i in range(2 * k)])

    def swap_moves(observed: Topology) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for p in range(k):
            a, b = 2 * p, 2 * p + 1
            out[f"e{a:05d}"], out[f"e{b:05d}"] = f"s{b:05d}", f"s{a:05d}"
        return out

    print(f"latency {args.latency_ms} ms per job, parallelism {args.parallelism}")
    print(f"{'scenario':<14}{'steps':>7}{'bound s':>10}{'real s':>10}{'ratio':>8}  calls per step")
    for name, spec, moves in (
        (f"{n} attaches", attach_spec, attach_moves),
        (f"{k} swaps", swap_spec, swap_moves),
    ):
        row = run(name, spec, moves, args.latency_ms, args.parallelism)
        calls = ", ".join(f"{k} {v:.2f}" for k, v in row["calls_per_step"].items())
        print(
            f"{row['scenario']:<14}{row['steps']:>7}{row['bound']:>10.2f}"
            f"{row['measured']:>10.2f}{row['ratio']:>8.3f}  {calls}"
        )
        print(f"{'':<14}plan: {row['summary']}")


if __name__ == "__main__":
    main()
