"""Benchmark: rendering and saving a benchmark-scale plan, against a bare JSON dump.

Builds the plan of issue 4's scale by hand (2,000 ENIs moving in a ring between full
servers: 4,000 detach/attach steps; 1,000 new ENIs: 2,000 create/attach steps; their
field changes and 500 orphans), then times, best of several rounds,

    baseline: json.dumps(plan.as_json())            (compact, C encoder)

and each renderer (`-o text`, `-o markdown`, `-o json`, `-o yaml`), `savedplan.save`
and `savedplan.load`. Prints the seconds and the ratio to the baseline.

    .venv/bin/python bench/bench_render.py [--moves N] [--new N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from controller.plan import Action, Change, Plan, Step
from controller.storage import savedplan
from controller.views import render


def build(moves: int, new: int, orphans: int) -> Plan:
    steps: list[Step] = []
    changes: list[Change] = []
    for i in range(moves):
        src, dst = f"srv-{i}", f"srv-{(i + 1) % moves}"
        detach = len(steps) + 1
        steps.append(Step(detach, Action.DETACH, f"eni-{i}", server=src, reason=f"moves to {dst}"))
        steps.append(
            Step(
                detach + 1,
                Action.ATTACH,
                f"eni-{i}",
                server=dst,
                depends_on=(detach,),
                reason=f"eni-{i} moves from {src} to {dst}",
            )
        )
        changes.append(Change(f"NetworkInterface/eni-{i}", "server", src, dst, "manifest"))
    for i in range(new):
        create = len(steps) + 1
        steps.append(
            Step(
                create,
                Action.CREATE,
                f"new-{i}",
                subnet="subnet-1",
                security_groups=("sg-app",),
                reason="declared and does not exist",
            )
        )
        steps.append(
            Step(
                create + 1,
                Action.ATTACH,
                f"new-{i}",
                server=f"srv-{i}",
                depends_on=(create,),
                reason=f"new-{i} goes to srv-{i}",
            )
        )
        ref = f"NetworkInterface/new-{i}"
        changes += [
            Change(ref, "exists", False, True, "manifest"),
            Change(ref, "subnet", None, "subnet-1", "manifest"),
            Change(ref, "securityGroups", None, ["sg-app"], "manifest"),
            Change(ref, "server", None, f"srv-{i}", "manifest"),
        ]
    return Plan(
        manifests_digest="sha256:" + "a" * 64,
        observed_fingerprint="sha256:" + "b" * 64,
        steps=tuple(steps),
        changes=tuple(changes),
        orphans=tuple(f"old-{i}" for i in range(orphans)),
    )


def best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=2000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--orphans", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    plan = build(args.moves, args.new, args.orphans)
    print(
        f"plan: {len(plan.steps)} steps, {len(plan.changes)} changes, {len(plan.orphans)} orphans"
    )
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "plan.json"
        savedplan.save(target, plan, manifest_paths=["manifests"], prune=False, records={})
        cases: list[tuple[str, Callable[[], object]]] = [
            ("baseline json.dumps", lambda: json.dumps(plan.as_json())),
            ("-o text", lambda: render.text(plan, color=False)),
            ("-o text (colour)", lambda: render.text(plan, color=True)),
            ("-o markdown", lambda: render.markdown(plan)),
            ("-o json", lambda: render.json_text(plan)),
            ("-o yaml", lambda: render.yaml_text(plan)),
            (
                "savedplan.save",
                lambda: savedplan.save(target, plan, manifest_paths=["m"], prune=False, records={}),
            ),
            ("savedplan.load", lambda: savedplan.load(target)),
        ]
        base = 0.0
        for name, fn in cases:
            seconds = best(fn, args.rounds)
            base = base or seconds
            print(f"{name:22} {seconds:8.3f} s   {seconds / base:6.1f}x baseline")


if __name__ == "__main__":
    main()
