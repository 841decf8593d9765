"""Benchmark: `enictl plan -o json` end to end against the bare C-loader parse (issue 4).

The scenario is bench_plan.py's (`bench_plan.build`): 10,000 servers with their
primary ENI and 4 extension ENIs each (40,000), half of the servers full; 5% of the
extension ENIs move between servers (swaps, rotations, chains) and 1,000 new ENIs
are created, 200 with an EIP. Here it goes through files: the observed topology
becomes a CloudInventory (written with the C dumper, as bench_sim.py does) and the
desired one becomes manifests, 1,000 documents per file (50 files).

`enictl sim init` runs once (not timed). Then, in alternation for --rounds rounds,
each as a fresh subprocess with its start-up included:

- `enictl --state-dir S plan -o json MANIFESTS > /dev/null`;
- the floor: `python -c` running `yaml.load_all(f, Loader=yaml.CSafeLoader)` over
  the same files (reading them, building every document, keeping none);
- `python -c pass`, the interpreter's own start-up, for reference.

Wall time and peak RSS come from `os.wait4` for each child alone. Prints the best
wall time of each, the ratio plan / floor (target <= 1.5), the peak memory
(target <= 1 GiB), and where `enictl plan` spends its time: one more child runs
the command's pieces with timers (imports, load, observe, plan, drift labels,
render, write). `--profile N` also prints the N costliest functions (cProfile).

    .venv/bin/python bench/bench_plan_e2e.py [--servers 10000] [--rounds 3] [--profile 25]

(Below about 700 servers the scenario's 1,000 new ENIs no longer fit on the servers
with room, and `enictl plan` rejects the plan.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.model import NetworkInterface, Server, Topology

BIN = Path(sys.executable).parent
PER_FILE = 1000  # documents per manifest file
FLOOR = (
    "import sys, yaml\n"
    "n = 0\n"
    "for p in sys.argv[1:]:\n"
    "    with open(p, 'rb') as f:\n"
    "        for _ in yaml.load_all(f, Loader=yaml.CSafeLoader):\n"
    "            n += 1\n"
    "print(n)\n"
)


def inventory(observed: Topology) -> dict[str, Any]:
    """The CloudInventory document of an observed topology."""
    cat = observed.catalog
    servers, interfaces = [], []
    primary = {i.server: i for i in observed.interfaces.values() if i.primary}
    for s in observed.servers.values():
        p = primary[s.name]
        servers.append(
            {"name": s.name, "flavor": s.flavor, "availabilityZone": s.availability_zone,
             "vpc": s.vpc, "subnet": s.subnet, "status": "ACTIVE", "privateIp": p.private_ip,
             "securityGroups": list(p.security_groups)}
        )  # fmt: skip
    for i in observed.interfaces.values():
        if not i.primary:
            interfaces.append(
                {"name": i.name, "subnet": i.subnet, "privateIp": i.private_ip,
                 "securityGroups": list(i.security_groups), "server": i.server, "eip": i.eip,
                 "managed": i.managed, "deleteOnTermination": i.delete_on_termination}
            )  # fmt: skip
    spec = {
        "flavors": [
            {"name": f.name, "maxInterfaces": f.max_interfaces} for f in cat.flavors.values()
        ],
        "vpcs": [{"name": v.name, "cidr": v.cidr} for v in cat.vpcs.values()],
        "subnets": [
            {"name": n.name, "vpc": n.vpc, "cidr": n.cidr, "availabilityZone": n.availability_zone}
            for n in cat.subnets.values()
        ],
        "securityGroups": [{"name": g.name, "vpc": g.vpc} for g in cat.security_groups.values()],
        "eips": [{"name": e.name, "address": e.address} for e in cat.eips.values()],
        "servers": servers,
        "interfaces": interfaces,
    }
    return {"apiVersion": "enictl/v1", "kind": "CloudInventory", "metadata": {"name": "bench"},
            "spec": spec}  # fmt: skip


def server_doc(s: Server) -> dict[str, Any]:
    spec = {"flavor": s.flavor, "availabilityZone": s.availability_zone, "vpc": s.vpc,
            "subnet": s.subnet}  # fmt: skip
    return {"apiVersion": "enictl/v1", "kind": "Server", "metadata": {"name": s.name},
            "spec": spec}  # fmt: skip


def interface_doc(i: NetworkInterface) -> dict[str, Any]:
    spec: dict[str, Any] = {"subnet": i.subnet}
    if i.private_ip is not None:
        spec["privateIp"] = i.private_ip
    spec["securityGroups"] = list(i.security_groups)
    if i.eip is not None:
        spec["eip"] = i.eip
    if i.server is not None:
        spec["server"] = i.server
    return {"apiVersion": "enictl/v1", "kind": "NetworkInterface",
            "metadata": {"name": i.name}, "spec": spec}  # fmt: skip


def write(work: Path, servers: int, seed: int) -> None:
    """The inventory file and the manifest files of the scenario."""
    # Imported here, in the child that writes: the parent stays small (see main).
    import bench_plan  # the scenario, shared with the pure-core benchmark
    import yaml

    observed, desired = bench_plan.build(servers, seed)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    inv = work / "inventory.yaml"
    inv.write_text(yaml.dump(inventory(observed), Dumper=dumper, sort_keys=False))
    docs = [server_doc(s) for s in desired.servers.values()]
    docs += [interface_doc(i) for i in desired.interfaces.values()]
    folder = work / "manifests"
    folder.mkdir()
    for start in range(0, len(docs), PER_FILE):
        path = folder / f"part-{start // PER_FILE:03d}.yaml"
        chunk = docs[start : start + PER_FILE]
        path.write_text(yaml.dump_all(chunk, Dumper=dumper, sort_keys=False, explicit_start=True))


def run(argv: list[str], cwd: Path) -> tuple[float, float, int, bytes]:
    """(wall seconds, CPU seconds, peak RSS in bytes, stdout) of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{argv[:4]} failed ({child.returncode}): {err.read().decode()}")
        out.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return wall, cpu, usage.ru_maxrss * 1024, out.read()


BREAKDOWN = """\
import sys, time, io
t0 = time.perf_counter()
from controller.cli import main
from controller.cli.context import AppContext
from controller import drift, lastapplied, manifests, planner, render
marks = [("imports (CLI, all commands)", time.perf_counter() - t0, time.process_time())]
state, paths = sys.argv[1], sys.argv[2:]
app = AppContext("sim", state)
def step(label, fn):
    began, cpu = time.perf_counter(), time.process_time()
    value = fn()
    marks.append((label, time.perf_counter() - began, time.process_time() - cpu))
    return value
loaded = step("manifests.load", lambda: manifests.load(paths))
observed = step("provider.observe (incl. open)", lambda: app.provider().observe())
plan = step("planner.plan", lambda: planner.plan(loaded.topology, observed,
            manifests_digest=loaded.digest))
plan = step("drift labels (last-applied)", lambda: drift.label_plan(plan, loaded.topology,
            lastapplied.load_snapshot(app.state_dir)))
text = step("render.json_text", lambda: render.json_text(plan))
with open("/dev/null", "w") as sink:
    step("write to stdout", lambda: sink.write(text))
for label, wall, cpu in marks:
    print(f"{label}\\t{wall:8.3f} s {cpu:8.3f} s")
print(f"plan\\t{len(plan.steps)} steps, {len(plan.changes)} changes, {len(text) >> 10} KiB")
"""

PROFILE = """\
import cProfile, pstats, sys
from controller.cli import main
profiler = cProfile.Profile()
profiler.enable()
main(sys.argv[2:])
profiler.disable()
pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(int(sys.argv[1]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--write-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_to is not None:
        write(args.write_to, args.servers, args.seed)
        return
    python, enictl = str(BIN / "python"), str(BIN / "enictl")
    with tempfile.TemporaryDirectory(prefix="bench-plan-e2e-") as tmp:
        work = Path(tmp)
        # Written by a child: a child's peak RSS as Linux reports it starts from its
        # parent's RSS at fork time, so this process must stay small.
        generate = [python, __file__, "--write-to", tmp, "--servers", str(args.servers)]
        run([*generate, "--seed", str(args.seed)], work)
        inv, files = work / "inventory.yaml", sorted((work / "manifests").glob("*.yaml"))
        size = sum(f.stat().st_size for f in files)
        print(f"manifests: {size / 1e6:.1f} MB in {len(files)} files; "
              f"inventory {inv.stat().st_size / 1e6:.1f} MB")  # fmt: skip
        init = run([enictl, "--state-dir", "state", "sim", "init", str(inv)], work)
        print(f"enictl sim init (not timed below): {init[0]:.1f} s")

        names = [str(f.relative_to(work)) for f in files]
        commands = {
            "python -c pass (start-up)": [python, "-c", "pass"],
            "floor: CSafeLoader load_all": [python, "-c", FLOOR, *names],
            "enictl plan -o json": [enictl, "--state-dir", "state", "plan", "-o", "json",
                                    "manifests"],
        }  # fmt: skip
        best: dict[str, tuple[float, float, int]] = {}
        for _ in range(args.rounds):
            for label, argv in commands.items():
                wall, cpu, rss, _out = run(argv, work)
                old = best.get(label, (float("inf"), float("inf"), 0))
                best[label] = (min(old[0], wall), min(old[1], cpu), max(old[2], rss))
        print(f"\nbest of {args.rounds}, each a fresh process (start-up included)")
        print(f"  {'':<34}{'wall s':>8}{'CPU s':>8}{'peak RSS MiB':>14}")
        for label, (wall, cpu, rss) in best.items():
            print(f"  {label:<34}{wall:>8.2f}{cpu:>8.2f}{rss / 2**20:>14.0f}")
        plan_s, plan_cpu, plan_rss = best["enictl plan -o json"]
        floor_s, floor_cpu, _ = best["floor: CSafeLoader load_all"]
        start_s = best["python -c pass (start-up)"][0]
        ratio, bare = plan_s / floor_s, (plan_s - start_s) / (floor_s - start_s)
        print(
            f"ratio plan / floor: {ratio:.2f} wall ({'met' if ratio <= 1.5 else 'MISSED'}: "
            f"target <= 1.5), {plan_cpu / floor_cpu:.2f} CPU; "
            f"without the interpreter's start-up in either: {bare:.2f} wall"
        )
        print(f"peak memory of enictl plan: {plan_rss / 2**20:.0f} MiB "
              f"({'met' if plan_rss <= 2**30 else 'MISSED'}: target <= 1024 MiB)")  # fmt: skip

        *_, out = run([python, "-c", BREAKDOWN, "state", "manifests"], work)
        print("\nwhere enictl plan spends its time (one run in one child; wall, CPU):")
        for line in out.decode().splitlines():
            label, value = line.split("\t")
            print(f"  {label:<34}{value}")
        if args.profile:
            argv = ["--state-dir", "state", "plan", "-o", "json", "manifests"]
            child = subprocess.run(
                [python, "-c", PROFILE, str(args.profile), *argv],
                cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True,
            )  # fmt: skip
            print(child.stderr)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
