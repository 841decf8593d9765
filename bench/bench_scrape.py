"""Benchmark: does scraping `enictl watch --listen` slow the apply it watches?

A real `enictl watch --json` process on a simulated cloud of N servers (flavor limit
2) and N unattached managed ENIs, with manifests that put each ENI on its own server:
its start reconcile applies N attach steps (default 1,000) with job latency L
(default 200 ms) and parallelism P (default 50). The makespan is the executor's own
`elapsed` of that apply (the `apply-done` event). In the same run, alternating, each
round on a fresh cloud:

- `off`: watch without --listen (no endpoints, no metering);
- `idle`: watch with --listen, never asked;
- `scraped`: watch with --listen while this process GETs /metrics every 10 ms over
  one kept-alive connection (as Prometheus would, only 1,500 times more often),
  from the first event to the apply's end; its answer times are reported too.
- `page` (with --page): the same, GETting the status page (/) instead.

    .venv/bin/python bench/bench_scrape.py [--steps 1000] [--latency-ms 200]
        [--parallelism 50] [--rounds 3] [--every-ms 10] [--page]
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

ENICTL = Path(sys.executable).parent / "enictl"


def inventory(n: int) -> dict[str, Any]:
    return {
        "apiVersion": "enictl/v1",
        "kind": "CloudInventory",
        "metadata": {"name": "scrape"},
        "spec": {
            "flavors": [{"name": "f2", "maxInterfaces": 2}],
            "vpcs": [{"name": "vpc", "cidr": "10.0.0.0/16"}],
            "subnets": [{"name": "net", "vpc": "vpc", "cidr": "10.0.0.0/16"}],
            "securityGroups": [{"name": "sg"}],
            "eips": [],
            "servers": [
                {
                    "name": f"s{i:05d}",
                    "flavor": "f2",
                    "availabilityZone": "az1",
                    "vpc": "vpc",
                    "subnet": "net",
                    "privateIp": _ip(i),
                }
                for i in range(n)
            ],
            "interfaces": [
                {"name": f"e{i:05d}", "subnet": "net", "privateIp": _ip(n + i), "managed": True}
                for i in range(n)
            ],
        },
    }


def _ip(k: int) -> str:
    return f"10.0.{2 + k // 250}.{2 + k % 250}"


def manifests(n: int) -> str:
    docs: list[dict[str, Any]] = []
    for i in range(n):
        server = f"s{i:05d}"
        spec = {"flavor": "f2", "availabilityZone": "az1", "vpc": "vpc", "subnet": "net"}
        docs.append(
            {
                "apiVersion": "enictl/v1",
                "kind": "Server",
                "metadata": {"name": server},
                "spec": spec,
            }
        )
        iface = {"subnet": "net", "privateIp": _ip(n + i), "server": server}
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


def one_round(n: int, latency_ms: int, parallelism: int, mode: str, every: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "inventory.yaml").write_text(yaml.safe_dump(inventory(n), sort_keys=False))
        (work / "manifests").mkdir()
        (work / "manifests" / "all.yaml").write_text(manifests(n))
        base = [str(ENICTL), "--state-dir", str(work / "state")]
        subprocess.run(
            [*base, "sim", "init", str(work / "inventory.yaml")], check=True, capture_output=True
        )
        subprocess.run(
            [*base, "sim", "faults", "--job-ms", str(latency_ms)], check=True, capture_output=True
        )
        args = [
            "watch",
            str(work / "manifests"),
            "--json",
            "--interval",
            "3600",
            "--parallelism",
            str(parallelism),
        ]
        if mode != "off":
            args += ["--listen", "127.0.0.1:0"]
        env = {**os.environ, "NO_COLOR": "1"}
        proc = subprocess.Popen([*base, *args], stdout=subprocess.PIPE, text=True, env=env)
        events: queue.Queue[dict[str, Any]] = queue.Queue()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                events.put(json.loads(line))

        threading.Thread(target=read, daemon=True).start()
        scraper: Scraper | None = None
        try:
            while True:
                event = events.get(timeout=600)
                if event["event"] == "watch-started" and mode in ("scraped", "page"):
                    path = "/metrics" if mode == "scraped" else "/"
                    scraper = Scraper(event["listen"], path, every)
                    scraper.start()
                if event["event"] == "apply-done":
                    done = event
                    break
            if scraper is not None:
                scraper.stop.set()
                scraper.join(timeout=30)
        finally:
            proc.terminate()
            proc.wait(timeout=120)
    assert done["ok"], done.get("failed", [])[:3]
    row: dict[str, Any] = {
        "mode": mode,
        "makespan": float(done["elapsed"]),
        "steps": int(done["done"]),
    }
    if scraper is not None and scraper.times:
        ordered = sorted(scraper.times)
        row |= {
            "scrapes": len(ordered),
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
            "kib": scraper.bytes / len(ordered) / 1024,
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every-ms", type=float, default=10.0)
    parser.add_argument("--page", action="store_true", help="also scrape the status page")
    opts = parser.parse_args()
    modes = ["off", "idle", "scraped"] + (["page"] if opts.page else [])
    rows: list[dict[str, Any]] = []
    for r in range(opts.rounds):
        for mode in modes:
            row = one_round(
                opts.steps, opts.latency_ms, opts.parallelism, mode, opts.every_ms / 1000
            )
            rows.append(row)
            extra = ""
            if "scrapes" in row:
                extra = (
                    f"  {row['scrapes']} scrapes, p50 {row['p50_ms']:.1f} ms, "
                    f"p99 {row['p99_ms']:.1f} ms, {row['kib']:.1f} KiB each"
                )
            print(
                f"round {r + 1} {mode:<8} makespan {row['makespan']:.3f} s "
                f"({row['steps']} steps){extra}",
                flush=True,
            )
    print(
        f"\n{opts.steps} attach steps, L = {opts.latency_ms} ms, P = {opts.parallelism}, "
        f"scrape every {opts.every_ms:g} ms; load {os.getloadavg()[0]:.1f}"
    )
    base = statistics.median(r["makespan"] for r in rows if r["mode"] == "off")
    for mode in modes:
        spans = [r["makespan"] for r in rows if r["mode"] == mode]
        med = statistics.median(spans)
        print(
            f"{mode:<8} median {med:.3f} s  ({min(spans):.3f}-{max(spans):.3f})  "
            f"{100 * (med / base - 1):+.1f}% against off"
        )


if __name__ == "__main__":
    main()
