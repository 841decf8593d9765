"""The PostgreSQL state backend: takeover after kill -9, clean handoff, cost per step.

All against a throwaway PostgreSQL on 127.0.0.1 (fsync on, as a real server), or
`--url` for another one, in the same run:

- takeover: a holder process is killed -9 at a random moment of its renewal cycle;
  the time until a waiting process holds the lease, p50 / p99 over `--runs`, next to
  the lease TTL (it can be no later than the TTL after the last renewal, and no
  earlier than TTL - renew interval);
- handoff: the holder releases (as a clean exit does); the time until the waiter
  holds it (a NOTIFY wakes it);
- per step: the same plan (`--steps` attaches, no job latency, one step at a time, so
  that storage costs add up instead of overlapping) applied with the state dir
  backend and with PostgreSQL, each under its lock with the fenced provider and its
  journal, as `enictl apply` runs it; the difference per step, and the cloud calls
  of each (they must be equal: fencing makes no cloud call).

    .venv/bin/python bench/bench_state.py [--runs 30] [--ttl 2] [--steps 300] [--url URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_apply import desired_from, inventory

from controller import apply
from controller.planning import planner
from controller.providers.sim.cloud import init_cloud
from controller.storage import fencing
from controller.storage.backend import LeaseTimings, StateBackend
from controller.storage.postgresql.store import PostgresBackend
from controller.storage.statedir import StateDirBackend
from tests import pgcluster

HOLD = (
    "import sys; from controller.storage.backend import LeaseTimings\n"
    "from controller.storage.postgresql.store import PostgresBackend\n"
    "b = PostgresBackend(sys.argv[1], timings=LeaseTimings.scaled(float(sys.argv[2])))\n"
    "held = b.acquire(command='bench holder')\n"
    "print('held', flush=True)\n"
    "sys.stdin.readline()\n"
    "held.release()\n"
)


def _holder(url: str, ttl: float) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, str(ttl)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def takeovers(url: str, ttl: float, runs: int, *, clean: bool) -> list[float]:
    """Seconds from the holder's death (or release) to the waiter holding the lease."""
    timings = LeaseTimings.scaled(ttl)
    rng = random.Random(7)
    took = []
    for _ in range(runs):
        child = _holder(url, ttl)
        time.sleep(rng.uniform(0.0, 2 * timings.renew_every))  # anywhere in its renewal cycle
        waiter = PostgresBackend(url, timings=timings)
        waiter.holder()  # connected, the schema checked: only the wait is measured
        assert child.stdin is not None
        if clean:
            child.stdin.close()
            gone = time.monotonic()
        else:
            child.kill()
            gone = time.monotonic()
        held = waiter.acquire(timeout=3 * ttl)
        took.append(time.monotonic() - gone)
        child.wait()
        held.release()
        waiter.close()
    return took


def _spec(steps: int) -> dict[str, Any]:
    return inventory(steps, [(f"e{i:05d}", None) for i in range(steps)])


def apply_once(backend: StateBackend, steps: int) -> tuple[float, dict[str, int]]:
    """Apply `steps` attaches under the backend's lock, fenced and journalled."""
    with tempfile.TemporaryDirectory() as tmp:
        cloud = init_cloud(Path(tmp), _spec(steps))
        observed = cloud.observe()
        moves = {f"e{i:05d}": f"s{i:05d}" for i in range(steps)}
        desired = desired_from(observed, moves)
        plan = planner.plan(desired, observed)
        prepared = apply.Prepared(plan, desired, observed, "bench", prune=False, saved=False)
        held = backend.acquire(command="bench")
        try:
            provider = fencing.FencedProvider(cloud, held)
            t0 = time.perf_counter()
            result = apply.run(prepared, provider, backend, parallelism=1)
            took = time.perf_counter() - t0
        finally:
            held.release()
        assert result.ok and len(result.done) == steps
        cloud.close()
        return took, dict(result.calls)


def per_step(url: str, steps: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        files = StateDirBackend(Path(tmp) / "state")
        database = PostgresBackend(url)
        apply_once(files, 5), apply_once(database, 5)  # warm up: imports, connections, schema
        dir_runs, pg_runs = [], []
        for _ in range(rounds):
            dir_runs.append(apply_once(files, steps))
            pg_runs.append(apply_once(database, steps))
        database.close()
    dir_s = min(t for t, _ in dir_runs)
    pg_s = min(t for t, _ in pg_runs)
    return {
        "dir": dir_s / steps,
        "pg": pg_s / steps,
        "added": (pg_s - dir_s) / steps,
        "same_calls": all(a[1] == b[1] for a, b in zip(dir_runs, pg_runs, strict=True)),
        "calls": dir_runs[0][1],
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--ttl", type=float, default=2.0, help="lease TTL for the takeovers")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="a PostgreSQL to use (default: start a throwaway one)")
    args = parser.parse_args()
    cluster = None if args.url else pgcluster.start(fsync=True)
    try:
        url = args.url or cluster.fresh_database()  # type: ignore[union-attr]
        timings = LeaseTimings.scaled(args.ttl)
        print(
            f"lease ttl {timings.ttl:g} s, renew every {timings.renew_every:.2f} s, "
            f"deadline {timings.renew_deadline:.2f} s; {args.runs} runs each"
        )
        for name, clean in (("takeover after kill -9", False), ("clean handoff", True)):
            took = takeovers(url, args.ttl, args.runs, clean=clean)
            print(
                f"{name:<24} p50 {_pct(took, 0.5) * 1000:8.1f} ms  p99 "
                f"{_pct(took, 0.99) * 1000:8.1f} ms  max {max(took) * 1000:8.1f} ms  "
                f"({statistics.mean(took) / timings.ttl:.2f} x ttl on average)"
            )
        row = per_step(url, args.steps, args.rounds)
        print(f"per applied step ({args.steps} attaches, parallelism 1, best of {args.rounds}):")
        print(f"  state dir  {row['dir'] * 1000:7.3f} ms   (baseline, same run)")
        print(f"  postgresql {row['pg'] * 1000:7.3f} ms   added {row['added'] * 1000:+.3f} ms")
        print(f"  cloud calls equal: {row['same_calls']}  ({row['calls']})")
    finally:
        if cluster is not None:
            cluster.remove()


if __name__ == "__main__":
    main()
