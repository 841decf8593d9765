"""Observing through the Huawei Cloud SDK against `enictl sim serve`, at scale.

For each cloud size the script builds a simulated cloud (N servers, N/2 extension
ENIs attached, N/4 unattached), serves it over Huawei's HTTP API in this process, and
measures in the same run:

- the embedded provider's observe (`--provider sim`): the baseline;
- the huaweicloud provider's observe through the SDK, signed HTTP and the server,
  with the number of calls the simulated cloud logged (pages, never servers).

    .venv/bin/python bench/bench_huaweicloud.py [--servers 2000 10000] [--page-size 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.providers import huaweicloud, sim, simserver


def spec(servers: int) -> dict[str, Any]:
    attached, free = servers // 2, servers // 4
    return {
        "flavors": [{"name": "s6.large.2", "maxInterfaces": 4}],
        "vpcs": [{"name": "vpc-big", "cidr": "10.0.0.0/8"}],
        "subnets": [
            {
                "name": "subnet-big",
                "vpc": "vpc-big",
                "cidr": "10.0.0.0/14",
                "availabilityZone": "az1",
            }
        ],
        "securityGroups": [{"name": "sg-big", "vpc": "vpc-big"}],
        "eips": [],
        "servers": [
            {
                "name": f"srv-{i:06d}",
                "flavor": "s6.large.2",
                "availabilityZone": "az1",
                "vpc": "vpc-big",
                "subnet": "subnet-big",
            }
            for i in range(servers)
        ],
        "interfaces": [
            {
                "name": f"eni-{i:06d}",
                "subnet": "subnet-big",
                "server": f"srv-{i:06d}" if i < attached else None,
            }
            for i in range(attached + free)
        ],
    }


def measure(servers: int, page_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        cloud = sim.init_cloud(state, spec(servers))
        started = time.perf_counter()
        truth = cloud.observe()
        baseline = time.perf_counter() - started
        running = simserver.start(state)
        try:
            provider = huaweicloud.from_environment(running.client_env(), page_size=page_size)
            mark = max((e.seq for e in cloud.log()), default=0)
            started = time.perf_counter()
            seen = provider.observe()
            elapsed = time.perf_counter() - started
            provider.close()
        finally:
            running.stop()
        calls = sum(1 for e in cloud.log(since=mark) if e.operation == "observe")
        cloud.close()
    assert len(seen.servers) == len(truth.servers) and len(seen.interfaces) == len(truth.interfaces)
    print(
        f"{servers:>6} servers {len(truth.interfaces):>6} ports  page {page_size:>4}:  "
        f"sim observe {baseline:6.2f} s   huaweicloud observe {elapsed:6.2f} s "
        f"in {calls} calls ({elapsed / calls * 1000:.0f} ms/call)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    for servers in args.servers:
        measure(servers, args.page_size)


if __name__ == "__main__":
    main()
