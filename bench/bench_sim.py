"""Simulated cloud at scale: `sim init` and one full `observe()` on a big inventory.

Generates a CloudInventory of N servers (default 10,000), each with its primary ENI,
and E extension ENIs per server (default 4: 40,000 extension ENIs, 50,000 ports in
all; three of each server's four are attached, the fourth is detached), 16 subnets,
20 security groups and 1,000 bound EIPs. Then, in the same run:

- `load`: reading and validating the YAML file (`controller.manifests.loader.load_inventory`:
  schema, consistency, line numbers);
- `init`: `init_cloud()` on the checked inventory `load` returns (id generation,
  inserts: the one CloudInventory checker ran in `load`);
- `enictl sim init`: the whole command in process (load + init + summary);
- `observe`: one full `SimCloud.observe()` (the best and the median of --repeat runs);
- baseline on the same database: observe's own queries fetching their rows and
  building nothing (the cost of SQLite alone, what any observe must pay).

Wall and CPU seconds are both printed: on a shared machine the CPU time of this
process is the steadier figure.

    .venv/bin/python bench/bench_sim.py [--servers 10000] [--enis-per-server 4] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.cli import main as enictl
from controller.manifests.loader import load_inventory
from controller.providers.sim import observation, store
from controller.providers.sim.cloud import init_cloud

SUBNETS, GROUPS, EIPS = 16, 20, 1000


def inventory(servers: int, per_server: int) -> dict[str, Any]:
    """A consistent inventory: every address explicit, three ENIs of four attached."""
    per_subnet = -(-servers // SUBNETS)
    prefix = 32 - max(8, (per_subnet * (1 + per_server) + 5 - 1).bit_length())  # 5 reserved
    subnets = list(ipaddress.IPv4Network("10.0.0.0/8").subnets(new_prefix=prefix))[:SUBNETS]
    spec: dict[str, Any] = {
        "flavors": [{"name": "s6.xlarge.2", "maxInterfaces": per_server + 1}],
        "vpcs": [{"name": "vpc-big", "cidr": "10.0.0.0/8"}],
        "subnets": [
            {
                "name": f"subnet-{k}",
                "vpc": "vpc-big",
                "cidr": str(net),
                "availabilityZone": f"az{k % 3 + 1}",
            }
            for k, net in enumerate(subnets)
        ],
        "securityGroups": [{"name": f"sg-{g}", "vpc": "vpc-big"} for g in range(GROUPS)],
        "eips": [
            {"name": f"eip-{e}", "address": str(ipaddress.IPv4Address("198.18.0.0") + e)}
            for e in range(EIPS)
        ],
        "servers": [],
        "interfaces": [],
    }
    cursor = [int(net.network_address) + 2 for net in subnets]
    for s in range(servers):
        k = s % SUBNETS
        spec["servers"].append(
            {
                "name": f"srv-{s}",
                "flavor": "s6.xlarge.2",
                "availabilityZone": f"az{k % 3 + 1}",
                "vpc": "vpc-big",
                "subnet": f"subnet-{k}",
                "status": "ACTIVE",
                "privateIp": str(ipaddress.IPv4Address(cursor[k])),
                "securityGroups": [f"sg-{s % GROUPS}"],
            }
        )
        cursor[k] += 1
        for e in range(per_server):
            n = s * per_server + e
            spec["interfaces"].append(
                {
                    "name": f"eni-{n}",
                    "subnet": f"subnet-{k}",
                    "privateIp": str(ipaddress.IPv4Address(cursor[k])),
                    "securityGroups": [f"sg-{n % GROUPS}", f"sg-{(n + 7) % GROUPS}"],
                    "server": f"srv-{s}" if e < per_server - 1 else None,
                    "eip": f"eip-{n}" if n < EIPS else None,
                    "managed": n % 2 == 0,
                    "deleteOnTermination": False,
                }
            )
            cursor[k] += 1
    return spec


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def floor_rows(conn: Any) -> int:
    """The rows observe reads, with the same queries, nothing built."""
    return sum(len(conn.execute(q).fetchall()) for q in (observation._PORTS, observation._SERVERS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--enis-per-server", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    spec = inventory(args.servers, args.enis_per_server)
    document = {
        "apiVersion": "enictl/v1",
        "kind": "CloudInventory",
        "metadata": {"name": "bench"},
        "spec": spec,
    }
    path = work / "inventory.yaml"
    path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False))
    ports = args.servers * (1 + args.enis_per_server)
    print(
        f"inventory: {args.servers:,} servers, {args.servers * args.enis_per_server:,} "
        f"extension ENIs ({ports:,} ports with the primaries), "
        f"{path.stat().st_size / 1e6:.1f} MB of YAML"
    )

    load = timed(lambda: load_inventory(path))
    init = timed(lambda: init_cloud(work / "state", load[2]))
    cloud = init[2]
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        cli = timed(lambda: enictl(["--state-dir", str(work / "cli"), "sim", "init", str(path)]))
    assert cli[2] == 0, "enictl sim init failed"

    runs = [timed(cloud.observe) for _ in range(args.repeat)]
    topology = runs[-1][2]
    assert len(topology.interfaces) == ports and len(topology.servers) == args.servers
    conn = store.connect(store.db_path(work / "state"))
    floor = min((timed(lambda: floor_rows(conn)) for _ in range(args.repeat)), key=lambda r: r[0])
    conn.close()
    cloud.close()
    shutil.rmtree(work)

    best = min(runs, key=lambda r: r[0])
    median = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    print(f"{'step':<38}{'wall s':>8}{'cpu s':>8}")
    for label, (wall, cpu, _) in (
        ("load + validate inventory", load),
        ("init_cloud (inserts)", init),
        ("enictl sim init (whole command)", cli),
        (f"observe, best of {args.repeat}", best),
        (f"observe, median of {args.repeat}", median),
        ("baseline: same queries, rows only", floor),
    ):
        print(f"{label:<38}{wall:>8.3f}{cpu:>8.3f}")
    verdict = "under" if best[0] < 1.0 else "OVER"
    print(
        f"observe is {verdict} the 1 s target: {best[0] / floor[0]:.1f}x the time of its own "
        f"queries alone, {best[0] / ports * 1e6:.1f} us per port"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
