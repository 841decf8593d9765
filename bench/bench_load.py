"""Benchmark: `manifests.load` against a bare C-loader YAML parse of the same files.

Generates 10,000 Servers and 40,000 NetworkInterfaces (4 per server, with private
IPs, security groups, labels) into a temporary folder of 50 files, then times, in
alternation and several rounds, the baseline

    for each file: list(yaml.load_all(file_bytes, Loader=yaml.CSafeLoader))

and `controller.manifests.loader.load([folder])` (parse, schema check, model, sources,
digest). Both include reading the files. Prints the best CPU time and wall time of
each and the ratio load / bare (target: <= 1.3). Last, one bad document is appended
to one file and `manifests.validate` timed once: the cost of locating problems.

    .venv/bin/python bench/bench_load.py [--servers N] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from controller.manifests import loader

SERVER = """\
---
apiVersion: enictl/v1
kind: Server
metadata:
  name: srv-{i}
  labels: {{role: app, shard: s{shard}}}
spec:
  flavor: s6.xlarge.2
  availabilityZone: az{az}
  vpc: vpc-prod
  subnet: subnet-{az}
  securityGroups: [sg-app]
"""

INTERFACE = """\
---
apiVersion: enictl/v1
kind: NetworkInterface
metadata:
  name: eni-{n}
  labels:
    role: svc
spec:
  subnet: subnet-{az}
  privateIp: 10.{az}.{hi}.{lo}
  securityGroups: [sg-svc, sg-mgmt]
  eip: {eip}
  server: srv-{i}
  protect: false
"""


def generate(folder: Path, servers: int, per_file: int = 200) -> int:
    """Write the manifest set; return the number of bytes written."""
    total = 0
    for start in range(0, servers, per_file):
        chunks = []
        for i in range(start, min(start + per_file, servers)):
            az = i % 3 + 1
            chunks.append(SERVER.format(i=i, shard=i % 50, az=az))
            for j in range(4):
                n = i * 4 + j
                eip = f"eip-{n}" if j == 0 else "null"
                hi, lo = divmod(n // 3, 250)
                chunks.append(INTERFACE.format(n=n, i=i, az=az, hi=hi % 250, lo=lo + 2, eip=eip))
        text = "".join(chunks)
        (folder / f"shard-{start // per_file:03d}.yaml").write_text(text)
        total += len(text)
    return total


def bare_parse(folder: Path) -> int:
    yaml_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    count = 0
    for path in sorted(folder.glob("*.yaml")):
        count += len(list(yaml.load_all(path.read_bytes(), Loader=yaml_loader)))
    return count


def enictl_load(folder: Path) -> int:
    loaded = loader.load([folder])
    return len(loaded.topology.servers) + len(loaded.topology.interfaces)


def timed(fn: Callable[[Path], int], folder: Path) -> tuple[float, float, int]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    count = fn(folder)
    return time.process_time() - cpu, time.perf_counter() - wall, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="enictl-bench-") as tmp:
        folder = Path(tmp)
        size = generate(folder, args.servers)
        print(
            f"{args.servers} servers + {4 * args.servers} interfaces, "
            f"{size / 1e6:.1f} MB in {len(list(folder.glob('*.yaml')))} files"
        )
        print(f"C loader: {'yes' if hasattr(yaml, 'CSafeLoader') else 'NO (pure Python)'}")
        enictl_load(folder)  # warm up: compile the schema validators once
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.rounds):
            for name, fn in (("bare C-loader parse", bare_parse), ("manifests.load", enictl_load)):
                cpu, wall, count = timed(fn, folder)
                assert count == 5 * args.servers, (name, count)
                old = best.get(name, (float("inf"), float("inf")))
                best[name] = (min(old[0], cpu), min(old[1], wall))
        for name, (cpu, wall) in best.items():
            print(f"{name:22} cpu {cpu:6.2f} s   wall {wall:6.2f} s")
        bare, load = best["bare C-loader parse"], best["manifests.load"]
        print(
            f"ratio load / bare:     cpu {load[0] / bare[0]:6.2f}     wall {load[1] / bare[1]:6.2f}"
        )
        with (folder / "shard-000.yaml").open("a") as broken:  # the error path, once
            broken.write(INTERFACE.format(n=0, i=0, az=1, hi=0, lo=300, eip="null"))
        cpu, wall, count = timed(lambda f: len(loader.validate([f]).problems), folder)
        print(
            f"{'validate, 1 bad doc':22} cpu {cpu:6.2f} s   wall {wall:6.2f} s   ({count} problems)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
