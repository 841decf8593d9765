"""Benchmark: `enictl plan` end to end against the bare C-loader parse (issue 4).

The scenario is bench_plan.py's (`bench_plan.build`): 10,000 servers with their
primary ENI and 4 extension ENIs each (40,000), half of the servers full; 5% of the
extension ENIs move between servers (swaps, rotations, chains) and 1,000 new ENIs
are created, 200 with an EIP ("moves"). A second scenario, "changed fields", is the
same plus --changed existing ENIs whose security groups change (half gain a group,
half swap theirs for another: the changes whose text shows what was added and
removed, computed by deepdiff) and a quarter as many binding an EIP. Here it goes
through files: the observed topology becomes a CloudInventory (written with the C
dumper, as bench_sim.py does) and each desired one becomes manifests, 1,000
documents per file (50 files).

`enictl sim init` runs once (not timed). Then, in alternation for --rounds rounds,
each as a fresh subprocess with its start-up included:

- `python -c pass`, the interpreter's own start-up, for reference;
- per scenario, the floor: `python -c` running `yaml.load_all(f, Loader=yaml.CSafeLoader)`
  over its files (reading them, building every document, keeping none);
- per scenario, `enictl --state-dir S plan -o json MANIFESTS > /dev/null` and the
  text plan (`-o text`, what a person or a CI log reads);
- with `--before DIR`, the same enictl commands with DIR first on PYTHONPATH (a
  checkout of an older commit: `git archive REV | tar -x -C DIR`), so that before and
  after are measured in the same run, next to the same floor.

Wall time, CPU time and peak RSS come from `os.wait4` for each child alone. Prints
the best of each, the ratio of each plan to its scenario's floor (target <= 1.5 for
`-o json`), the peak memory (target <= 1 GiB), and where `enictl plan` spends its
time per scenario: one more child runs the command's pieces with timers (imports,
load, observe, plan, drift labels, render, write). `--profile N` also prints the N
costliest functions of the moves scenario's JSON plan (cProfile).

    .venv/bin/python bench/bench_plan_e2e.py [--servers 10000] [--rounds 3] [--changed 2000]
        [--before DIR] [--profile 25]

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

SCENARIOS = ("moves", "changed fields")

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


def changed_fields(observed: Topology, desired: Topology, count: int, seed: int) -> Topology:
    """`desired` with `count` existing ENIs given other security groups (half gain sg19,
    half swap theirs for the next group) and `count // 4` of them an EIP of their own."""
    import random
    from dataclasses import replace

    rng = random.Random(seed)
    wanted = dict(desired.interfaces)
    names = sorted(n for n, i in observed.interfaces.items() if not i.primary)
    for n, name in enumerate(rng.sample(names, count)):
        want = wanted[name]
        (group,) = observed.interfaces[name].security_groups
        if n % 2 == 0:
            groups: tuple[str, ...] = (group, "sg19") if group != "sg19" else ("sg18", group)
        else:
            groups = (f"sg{(int(group[2:]) + 1) % 20}",)
        eip = f"eip{1000 + n // 4}" if n % 4 == 0 and want.eip is None else want.eip
        wanted[name] = replace(want, security_groups=groups, eip=eip)
    return replace(desired, interfaces=wanted)


def write(work: Path, servers: int, seed: int, changed: int) -> None:
    """The inventory file and each scenario's manifest folder."""
    # Imported here, in the child that writes: the parent stays small (see main).
    import bench_plan  # the scenario, shared with the pure-core benchmark
    import yaml

    observed, desired = bench_plan.build(servers, seed)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    inv = work / "inventory.yaml"
    inv.write_text(yaml.dump(inventory(observed), Dumper=dumper, sort_keys=False))
    wanted = {"moves": desired, "changed fields": changed_fields(observed, desired, changed, seed)}
    for scenario, topology in wanted.items():
        docs = [server_doc(s) for s in topology.servers.values()]
        docs += [interface_doc(i) for i in topology.interfaces.values()]
        folder = work / folder_name(scenario)
        folder.mkdir()
        for start in range(0, len(docs), PER_FILE):
            path = folder / f"part-{start // PER_FILE:03d}.yaml"
            chunk = docs[start : start + PER_FILE]
            text = yaml.dump_all(chunk, Dumper=dumper, sort_keys=False, explicit_start=True)
            path.write_text(text)


def folder_name(scenario: str) -> str:
    return "manifests-" + scenario.replace(" ", "-")


def run(
    argv: list[str], cwd: Path, pythonpath: Path | None = None
) -> tuple[float, float, int, bytes]:
    """(wall seconds, CPU seconds, peak RSS in bytes, stdout) of one child process;
    `pythonpath` goes first on its PYTHONPATH (another checkout's code)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, env=env)
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
from controller.manifests import loader
from controller.planning import drift, planner
from controller.storage import lastapplied
from controller.views import render
marks = [("imports (CLI, all commands)", time.perf_counter() - t0, time.process_time())]
state, paths = sys.argv[1], sys.argv[2:]
app = AppContext("sim", state)
def step(label, fn):
    began, cpu = time.perf_counter(), time.process_time()
    value = fn()
    marks.append((label, time.perf_counter() - began, time.process_time() - cpu))
    return value
loaded = step("manifests.load", lambda: loader.load(paths))
observed = step("provider.observe (incl. open)", lambda: app.provider().observe())
plan = step("planner.plan", lambda: planner.plan(loaded.topology, observed,
            manifests_digest=loaded.digest))
plan = step("drift labels (last-applied)", lambda: drift.label_plan(plan, loaded.topology,
            lastapplied.load_snapshot(app.state_dir)))
text = step("render.json_text", lambda: render.json_text(plan))
with open("/dev/null", "w") as sink:
    step("write to stdout", lambda: sink.write(text))
step("import deepdiff (on the first detail)", lambda: __import__("deepdiff"))
human = step("render.text (with the details)", lambda: render.text(plan, color=False))
for label, wall, cpu in marks:
    print(f"{label}\\t{wall:8.3f} s {cpu:8.3f} s")
print(f"plan\\t{len(plan.steps)} steps, {len(plan.changes)} changes, {len(text) >> 10} KiB JSON, "
      f"{sum(1 for line in human.splitlines() if line.startswith('  ~ ') and line.endswith(')'))} "
      "change rows with a detail")
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
    changed = "ENIs whose security groups change in the changed-fields scenario"
    parser.add_argument("--changed", type=int, default=2000, metavar="N", help=changed)
    before = "also run the enictl commands with DIR first on PYTHONPATH"
    parser.add_argument("--before", type=Path, metavar="DIR", help=before)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--write-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_to is not None:
        write(args.write_to, args.servers, args.seed, args.changed)
        return
    python, enictl = str(BIN / "python"), str(BIN / "enictl")
    old_code = None if args.before is None else args.before.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-plan-e2e-") as tmp:
        work = Path(tmp)
        # Written by a child: a child's peak RSS as Linux reports it starts from its
        # parent's RSS at fork time, so this process must stay small.
        generate = [python, __file__, "--write-to", tmp, "--servers", str(args.servers)]
        run([*generate, "--seed", str(args.seed), "--changed", str(args.changed)], work)
        inv = work / "inventory.yaml"
        files = {sc: sorted((work / folder_name(sc)).glob("*.yaml")) for sc in SCENARIOS}
        for scenario, found in files.items():
            size = sum(f.stat().st_size for f in found) / 1e6
            print(f"{scenario}: manifests {size:.1f} MB in {len(found)} files")
        print(f"inventory {inv.stat().st_size / 1e6:.1f} MB")
        init = run([enictl, "--state-dir", "state", "sim", "init", str(inv)], work)
        print(f"enictl sim init (not timed below): {init[0]:.1f} s")

        codes = {"after": None} if old_code is None else {"after": None, "before": old_code}
        commands: dict[str, tuple[list[str], Path | None]] = {
            "python -c pass (start-up)": ([python, "-c", "pass"], None)
        }
        for scenario, found in files.items():
            names = [str(f.relative_to(work)) for f in found]
            commands[f"{scenario}: floor"] = ([python, "-c", FLOOR, *names], None)
            for output in ("json", "text"):
                argv = [enictl, "--state-dir", "state", "plan", "-o", output, folder_name(scenario)]
                for code, path in codes.items():
                    commands[f"{scenario}: plan -o {output} ({code})"] = (argv, path)
        best: dict[str, tuple[float, float, int]] = {}
        for _ in range(args.rounds):
            for label, (argv, path) in commands.items():
                wall, cpu, rss, _out = run(argv, work, path)
                old = best.get(label, (float("inf"), float("inf"), 0))
                best[label] = (min(old[0], wall), min(old[1], cpu), max(old[2], rss))
        print(f"\nbest of {args.rounds}, each a fresh process (start-up included)")
        print(f"  {'':<38}{'wall s':>8}{'CPU s':>8}{'peak RSS MiB':>14}{'x floor (wall)':>16}")
        for label, (wall, cpu, rss) in best.items():
            floor = best.get(label.split(":")[0] + ": floor", (wall, cpu, 0))[0]
            print(f"  {label:<38}{wall:>8.2f}{cpu:>8.2f}{rss / 2**20:>14.0f}{wall / floor:>15.2f}x")
        plan_s, plan_cpu, _ = best["moves: plan -o json (after)"]
        floor_s, floor_cpu, _ = best["moves: floor"]
        start_s = best["python -c pass (start-up)"][0]
        ratio, bare = plan_s / floor_s, (plan_s - start_s) / (floor_s - start_s)
        print(
            f"ratio plan -o json / floor (moves): {ratio:.2f} wall "
            f"({'met' if ratio <= 1.5 else 'MISSED'}: target <= 1.5), {plan_cpu / floor_cpu:.2f} "
            f"CPU; without the interpreter's start-up in either: {bare:.2f} wall"
        )
        peak = max(rss for label, (_, _, rss) in best.items() if "plan" in label)
        print(f"peak memory of enictl plan: {peak / 2**20:.0f} MiB "
              f"({'met' if peak <= 2**30 else 'MISSED'}: target <= 1024 MiB)")  # fmt: skip

        for scenario in SCENARIOS:
            *_, out = run([python, "-c", BREAKDOWN, "state", folder_name(scenario)], work)
            print(f"\nwhere enictl plan spends its time, {scenario} (one child; wall, CPU):")
            for line in out.decode().splitlines():
                label, value = line.split("\t")
                print(f"  {label:<40}{value}")
        if args.profile:
            argv = ["--state-dir", "state", "plan", "-o", "json", folder_name("moves")]
            child = subprocess.run(
                [python, "-c", PROFILE, str(args.profile), *argv],
                cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True,
            )  # fmt: skip
            print(child.stderr)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
