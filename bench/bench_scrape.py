"""Benchmark: does scraping `enictl watch --listen` slow the apply or the failover it watches?

A real `enictl watch --json` process on a fresh simulated cloud for each round, with
NIC job latency L (default 200 ms) and parallelism P (default 50):

- **apply makespan**: N servers (limit 3) and N unattached managed ENIs, manifests
  that put each ENI on its own server: the start reconcile applies N attach steps
  (default 1,000); the figure is the executor's own `elapsed` (`apply-done`).
- **failover** (with `--failovers F`): F failover ENIs, each on a holder with a
  standby of its own; all holders go SHUTOFF at once (the console, in process), and
  the figure is from that change to the watch's last `failover` event (the health
  probe every `--health-interval` s, default 0.5, detects it), beside the slowest
  failover's own seconds (detection to attached).

Each scenario alternates, round by round, the watch without --listen (`off`, the
baseline), with --listen never asked (`idle`), with --listen while this process GETs
/metrics every 10 ms over one kept-alive connection (`scraped`: as Prometheus would,
1,500 times more often; its answer times are reported), and with `--page`, the same
against the status page `/` (`page`).

    .venv/bin/python bench/bench_scrape.py [--steps 1000] [--latency-ms 200]
        [--parallelism 50] [--rounds 3] [--every-ms 10] [--page] [--failovers 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from controller.providers.sim.cloud import open_cloud

ENICTL = Path(sys.executable).parent / "enictl"


def inventory(n: int, *, failover: bool = False) -> dict[str, Any]:
    """N servers and N managed ENIs (unattached; with `failover`, each on its holder
    h<i> with a standby s<i> of its own: 2N servers)."""
    servers = [f"s{i:05d}" for i in range(n)] + (
        [f"h{i:05d}" for i in range(n)] if failover else []
    )
    return {
        "apiVersion": "enictl/v1",
        "kind": "CloudInventory",
        "metadata": {"name": "scrape"},
        "spec": {
            "flavors": [{"name": "f3", "maxInterfaces": 3}],
            "vpcs": [{"name": "vpc", "cidr": "10.0.0.0/16"}],
            "subnets": [{"name": "net", "vpc": "vpc", "cidr": "10.0.0.0/16"}],
            "securityGroups": [{"name": "sg"}],
            "eips": [],
            "servers": [
                {
                    "name": name,
                    "flavor": "f3",
                    "availabilityZone": "az1",
                    "vpc": "vpc",
                    "subnet": "net",
                    "privateIp": _ip(k),
                }
                for k, name in enumerate(servers)
            ],
            "interfaces": [
                {
                    "name": f"e{i:05d}",
                    "subnet": "net",
                    "privateIp": _ip(len(servers) + i),
                    "managed": True,
                    **({"server": f"h{i:05d}"} if failover else {}),
                }
                for i in range(n)
            ],
        },
    }


def _ip(k: int) -> str:
    return f"10.0.{2 + k // 250}.{2 + k % 250}"


def manifests(n: int, *, failover: bool = False) -> str:
    """Each ENI e<i> on s<i>; with `failover`, on h<i> with the standby s<i>."""
    docs: list[dict[str, Any]] = []
    spec = {"flavor": "f3", "availabilityZone": "az1", "vpc": "vpc", "subnet": "net"}
    servers = [f"s{i:05d}" for i in range(n)] + (
        [f"h{i:05d}" for i in range(n)] if failover else []
    )
    for server in servers:
        docs.append(
            {
                "apiVersion": "enictl/v1",
                "kind": "Server",
                "metadata": {"name": server},
                "spec": spec,
            }
        )
    for i in range(n):
        iface: dict[str, Any] = {"subnet": "net", "privateIp": _ip(len(servers) + i)}
        iface |= (
            {"server": f"h{i:05d}", "standbys": [f"s{i:05d}"]}
            if failover
            else {"server": f"s{i:05d}"}
        )
        docs.append(
            {
                "apiVersion": "enictl/v1",
                "kind": "NetworkInterface",
                "metadata": {"name": f"e{i:05d}"},
                "spec": iface,
            }
        )
    return yaml.safe_dump_all(docs, sort_keys=False)


class Scraper(threading.Thread):
    """GETs `path` every `every` seconds over one kept-alive connection until stopped."""

    def __init__(self, url: str, path: str, every: float) -> None:
        super().__init__(daemon=True)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.path, self.every = path, every
        self.stop = threading.Event()
        self.times: list[float] = []
        self.bytes = 0

    def run(self) -> None:
        next_at = time.perf_counter()
        while not self.stop.is_set():
            t0 = time.perf_counter()
            self.conn.request("GET", self.path)
            response = self.conn.getresponse()
            self.bytes += len(response.read())
            assert response.status == 200, response.status
            self.times.append(time.perf_counter() - t0)
            next_at += self.every
            self.stop.wait(max(0.0, next_at - time.perf_counter()))
        self.conn.close()


class Watch:
    """A real `enictl watch --json` on a fresh simulated cloud; its events on a queue, and
    a scraper started at its first event when the mode asks for one."""

    def __init__(self, work: Path, n: int, opts: argparse.Namespace, mode: str, *, failover: bool):
        (work / "inventory.yaml").write_text(
            yaml.safe_dump(inventory(n, failover=failover), sort_keys=False)
        )
        (work / "manifests").mkdir()
        (work / "manifests" / "all.yaml").write_text(manifests(n, failover=failover))
        self.state = work / "state"
        base = [str(ENICTL), "--state-dir", str(self.state)]
        for args in (
            ["init", str(work / "inventory.yaml")],
            ["faults", "--job-ms", str(opts.latency_ms)],
        ):
            subprocess.run([*base, "sim", *args], check=True, capture_output=True)
        args = [
            "watch",
            str(work / "manifests"),
            "--json",
            "--interval",
            "3600",
            "--parallelism",
            str(opts.parallelism),
            "--health-interval",
            str(opts.health_interval),
        ]
        if mode != "off":
            args += ["--listen", "127.0.0.1:0"]
        env = {**os.environ, "NO_COLOR": "1"}
        self.proc = subprocess.Popen([*base, *args], stdout=subprocess.PIPE, text=True, env=env)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        started = self.next(lambda e: e["event"] == "watch-started")
        self.scraper: Scraper | None = None
        if mode in ("scraped", "page"):
            path = "/metrics" if mode == "scraped" else "/"
            self.scraper = Scraper(started["listen"], path, opts.every_ms / 1000)
            self.scraper.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def next(self, match: Any) -> dict[str, Any]:
        while True:
            event = self.events.get(timeout=600)
            if match(event):
                return event

    def close(self) -> dict[str, Any]:
        """Stop the scraper and the watch; the scraper's figures."""
        row: dict[str, Any] = {}
        if self.scraper is not None:
            self.scraper.stop.set()
            self.scraper.join(timeout=30)
            ordered = sorted(self.scraper.times)
            if ordered:
                row = {
                    "scrapes": len(ordered),
                    "p50_ms": 1000 * statistics.median(ordered),
                    "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
                    "kib": self.scraper.bytes / len(ordered) / 1024,
                }
        self.proc.terminate()
        self.proc.wait(timeout=120)
        return row


def apply_round(opts: argparse.Namespace, mode: str) -> dict[str, Any]:
    """The start reconcile applies `--steps` attaches: its makespan."""
    with tempfile.TemporaryDirectory() as tmp:
        watch = Watch(Path(tmp), opts.steps, opts, mode, failover=False)
        try:
            done = watch.next(lambda e: e["event"] == "apply-done")
        finally:
            row = watch.close()
    assert done["ok"], done.get("failed", [])[:3]
    return {"mode": mode, "figure": float(done["elapsed"]), "steps": int(done["done"]), **row}


def failover_round(opts: argparse.Namespace, mode: str) -> dict[str, Any]:
    """`--failovers` holders fail at once (SHUTOFF at the console): from the console
    change to the last failover ENI attached to its standby, by the watch's own events."""
    n = opts.failovers
    with tempfile.TemporaryDirectory() as tmp:
        watch = Watch(Path(tmp), n, opts, mode, failover=True)
        try:
            watch.next(lambda e: e["event"] == "reconcile")
            cloud = open_cloud(watch.state)
            t0 = time.time()
            for i in range(n):
                cloud.force_set_status(f"h{i:05d}", "SHUTOFF")
            cloud.close()
            seconds = [
                float(watch.next(lambda e: e["event"] == "failover")["seconds"]) for _ in range(n)
            ]
            took = time.time() - t0
        finally:
            row = watch.close()
    return {"mode": mode, "figure": took, "steps": n, "slowest": max(seconds), **row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every-ms", type=float, default=10.0)
    parser.add_argument("--health-interval", type=float, default=0.5)
    parser.add_argument("--page", action="store_true", help="also scrape the status page")
    parser.add_argument("--failovers", type=int, default=0, help="also N failovers at once")
    opts = parser.parse_args()
    modes = ["off", "idle", "scraped"] + (["page"] if opts.page else [])
    scenarios = [("apply makespan", apply_round)]
    if opts.failovers:
        scenarios.append(("failover: console to last attached", failover_round))
    for title, run in scenarios:
        rows: list[dict[str, Any]] = []
        for r in range(opts.rounds):
            for mode in modes:
                row = run(opts, mode)
                rows.append(row)
                extra = f", slowest failover {row['slowest']:.3f} s" if "slowest" in row else ""
                if "scrapes" in row:
                    extra += (
                        f"  {row['scrapes']} scrapes, p50 {row['p50_ms']:.1f} ms, "
                        f"p99 {row['p99_ms']:.1f} ms, {row['kib']:.1f} KiB each"
                    )
                print(f"round {r + 1} {mode:<8} {title} {row['figure']:.3f} s{extra}", flush=True)
        print(
            f"\n{title}: {opts.steps if run is apply_round else opts.failovers} ENIs, "
            f"L = {opts.latency_ms} ms, P = {opts.parallelism}, scrape every {opts.every_ms:g} ms; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        base = statistics.median(r["figure"] for r in rows if r["mode"] == "off")
        for mode in modes:
            spans = [r["figure"] for r in rows if r["mode"] == mode]
            med = statistics.median(spans)
            print(
                f"{mode:<8} median {med:.3f} s  ({min(spans):.3f}-{max(spans):.3f})  "
                f"{100 * (med / base - 1):+.1f}% against off"
            )
        print()


if __name__ == "__main__":
    main()
