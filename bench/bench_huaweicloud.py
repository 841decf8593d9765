"""Observing through the Huawei Cloud SDK against `enictl sim serve`, at scale.

For each cloud size the script builds a simulated cloud with `bench_sim.inventory`
(N servers, E extension ENIs each: three of four attached, 16 subnets, 20 security
groups, 1,000 bound EIPs, half the ENIs tagged managed), serves it over Huawei's
HTTP API and measures in the same run:

- baseline: the embedded provider's `observe()` (`--provider sim`), best of 3;
- the huaweicloud provider's `observe()` through the SDK, signed HTTP and the server:
  - `first`: the first observe after the server starts (it reads the cloud and
    builds its listings);
  - `unchanged`: best of --repeat (3) observes of an unchanged cloud (the server
    answers every page from the observation it kept);
  - `changed`: best of --repeat observes, each after a console change to one port
    (the server reads the cloud again, as after every apply step);
- the number of calls one observe makes (`observe` lines in `sim log`: pages, never
  servers).

Each figure is wall seconds, then CPU seconds (this process, plus the server process
when it runs apart): on a shared machine the CPU time is the steadier figure.

The server runs as its own process (`enictl sim serve`), as it does for users; with
`--in-process` it answers from a thread of this process instead, as in the tests (the
two then share one interpreter lock).

    .venv/bin/python bench/bench_huaweicloud.py [--servers 2000 10000]
        [--enis-per-server 4] [--page-size 1000] [--repeat 3] [--in-process]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sim import inventory

from controller.providers.huaweicloud import adapter
from controller.providers.sim.cloud import init_cloud
from controller.providers.sim.serve import httpserver

Cpu = Callable[[], float]
TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> Cpu:
    """CPU seconds used so far by another process (Linux /proc)."""

    def read() -> float:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    return read


@contextmanager
def served(state: Path, in_process: bool) -> Iterator[tuple[dict[str, str], Cpu]]:
    """The client environment of a `sim serve` for `state` (a process, or a thread),
    and the server's CPU clock (0 for a thread: this process's clock counts it)."""
    if in_process:
        running = httpserver.start(state)
        try:
            yield running.client_env(), lambda: 0.0
        finally:
            running.stop()
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_")}
    command = [sys.executable, "-m", "controller", "--state-dir", str(state)]
    process = subprocess.Popen(
        [*command, "sim", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" at ")[1].split()[0]
        yield httpserver.ServeSettings.from_env({}).client_env(url), process_cpu(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def best(
    runs: int,
    action: Callable[[], Any],
    before: Callable[[], Any] = lambda: None,
    server_cpu: Cpu = lambda: 0.0,
) -> tuple[float, float]:
    """The best wall time and the best CPU time of `runs` runs of `action`."""
    walls, cpus = [], []
    for _ in range(runs):
        before()
        wall, cpu, other = time.perf_counter(), time.process_time(), server_cpu()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu + server_cpu() - other)
    return min(walls), min(cpus)


def show(label: str, figures: tuple[float, float], baseline: tuple[float, float]) -> str:
    (wall, cpu), (base_wall, base_cpu) = figures, baseline
    ratios = f"{wall / base_wall:4.1f}x / {cpu / base_cpu:4.1f}x"
    return f"{label:9} {wall:5.2f} s / {cpu:5.2f} s CPU ({ratios})"


def measure(servers: int, per_server: int, page_size: int, repeat: int, in_process: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        cloud = init_cloud(state, inventory(servers, per_server))
        truth = cloud.observe()
        baseline = best(3, cloud.observe)
        with served(state, in_process) as (env, server_cpu):
            provider = adapter.from_environment(env, page_size=page_size)
            mark = max((e.seq for e in cloud.log()), default=0)
            seen: list[Any] = []
            first = best(1, lambda: seen.append(provider.observe()), server_cpu=server_cpu)
            calls = sum(1 for e in cloud.log(since=mark) if e.operation == "observe")
            unchanged = best(repeat, provider.observe, server_cpu=server_cpu)
            groups = iter([[f"sg-{n % 20}"] for n in range(1, repeat + 1)])
            changed = best(
                repeat,
                provider.observe,
                lambda: cloud.force_set_security_groups("eni-0", next(groups)),
                server_cpu,
            )
            provider.close()
        cloud.close()
    assert seen[0].servers.keys() == truth.servers.keys()
    assert seen[0].interfaces.keys() == truth.interfaces.keys()
    print(
        f"{servers} servers, {len(truth.interfaces)} ports, page {page_size}, {calls} calls\n"
        f"  sim observe {baseline[0]:5.2f} s / {baseline[1]:5.2f} s CPU\n"
        f"  huaweicloud {show('first', first, baseline)}\n"
        f"  huaweicloud {show('unchanged', unchanged, baseline)}\n"
        f"  huaweicloud {show('changed', changed, baseline)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--enis-per-server", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    mode = "in process (a thread)" if args.in_process else "its own process"
    print(f"sim serve in {mode}; {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for servers in args.servers:
        measure(servers, args.enis_per_server, args.page_size, args.repeat, args.in_process)


if __name__ == "__main__":
    main()
