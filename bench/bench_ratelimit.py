"""A rate-limited apply: N attaches through the Huawei Cloud SDK against a quota.

The simulated cloud gets a quota and slow jobs (`enictl sim faults --rate-limit R
--job-ms J`: at most R calls per second per service, each attach job J ms), is served
over Huawei's HTTP API by `enictl sim serve` (its own process), and `enictl
--provider huaweicloud apply --yes` (its own process, real-cloud waits, client-side
rate limit R, or --client-rate C to see it adapt to a quota below its own) attaches
N unattached ENIs, one to each of N servers. Measured in the same run, from the
simulated cloud's call log:

- makespan: the apply process's wall time (observe, plan, steps, verify);
- the quota's own bound: the calls the busiest service had to let through during the
  run, divided by R (no client can be faster under that quota), and the ideal bound
  (one submit and one poll per attach, 2N / R);
- calls per applied step, every call the cloud received included (listing pages of
  the observations, submits, polls);
- the 429s the cloud answered (calls over the quota), and the steps that failed.

Goals: makespan <= 1.2x the quota's bound, <= 3 calls per step, 429s near 0.

    .venv/bin/python bench/bench_ratelimit.py [--attaches 1000] [--rate-limit 20]
        [--job-ms 2000] [--parallelism 50] [--client-rate C]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_huaweicloud import served

from controller.providers.sim.cloud import open_cloud
from controller.providers.sim.faults import SERVICE_OF
from controller.providers.sim.transaction import LogEntry

SERVER = (
    "apiVersion: enictl/v1\nkind: Server\nmetadata: {{name: s{i:05d}}}\n"
    "spec: {{flavor: f2, availabilityZone: az1, vpc: vpc, subnet: net}}\n"
)
ENI = (
    "apiVersion: enictl/v1\nkind: NetworkInterface\nmetadata: {{name: e{i:05d}}}\n"
    "spec: {{subnet: net, server: s{i:05d}}}\n"
)


def write_world(folder: Path, attaches: int) -> tuple[Path, Path]:
    """A cloud of `attaches` servers (2 NICs each) and as many unattached managed ENIs,
    and manifests attaching ENI i to server i: the inventory file and the manifests file."""
    inventory = folder / "inventory.yaml"
    inventory.write_text(
        "apiVersion: enictl/v1\nkind: CloudInventory\nmetadata: {name: ratelimit}\nspec:\n"
        "  flavors: [{name: f2, maxInterfaces: 2}]\n"
        "  vpcs: [{name: vpc, cidr: 10.0.0.0/16}]\n"
        "  subnets: [{name: net, vpc: vpc, cidr: 10.0.0.0/16, availabilityZone: az1}]\n"
        "  securityGroups: [{name: sg, vpc: vpc}]\n"
        "  servers:\n"
        + "".join(
            f"    - {{name: s{i:05d}, flavor: f2, availabilityZone: az1, vpc: vpc, subnet: net}}\n"
            for i in range(attaches)
        )
        + "  interfaces:\n"
        + "".join(
            f"    - {{name: e{i:05d}, subnet: net, managed: true}}\n" for i in range(attaches)
        )
    )
    manifests = folder / "manifests.yaml"
    manifests.write_text(
        "---\n".join(SERVER.format(i=i) + "---\n" + ENI.format(i=i) for i in range(attaches))
    )
    return inventory, manifests


def calls_by_service(entries: list[LogEntry]) -> Counter[str]:
    """The calls the quota let through, per service (refused ones excluded)."""
    return Counter(
        SERVICE_OF[e.operation] for e in entries if e.operation in SERVICE_OF and e.result == "ok"
    )


def run(attaches: int, rate: int, job_ms: int, parallelism: int, client_rate: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        state = folder / "state"
        inventory, manifests = write_world(folder, attaches)
        enictl = [sys.executable, "-m", "controller", "--state-dir", str(state)]
        subprocess.run([*enictl, "sim", "init", str(inventory)], check=True, capture_output=True)
        faults = ["--rate-limit", str(rate), "--job-ms", str(job_ms)]
        subprocess.run([*enictl, "sim", "faults", *faults], check=True, capture_output=True)
        cloud = open_cloud(state)
        with served(state, in_process=False) as (env, _cpu):
            client = {
                **{k: v for k, v in os.environ.items() if not k.startswith("ENICTL_")},
                **env,
                "ENICTL_HUAWEICLOUD_RATE_LIMIT": str(client_rate),
            }
            mark = max((e.seq for e in cloud.log()), default=0)
            apply = [*enictl, "--provider", "huaweicloud", "apply", str(manifests), "--yes"]
            t0 = time.perf_counter()
            ran = subprocess.run(
                [*apply, "--parallelism", str(parallelism)],
                env=client,
                capture_output=True,
                text=True,
            )
            makespan = time.perf_counter() - t0
        entries = [e for e in cloud.log(since=mark) if not e.operation.startswith("job.")]
        cloud.close()
    assert ran.returncode == 0, ran.stderr[-2000:]
    admitted = calls_by_service(entries)
    busiest, needed = admitted.most_common(1)[0]
    bound, ideal = needed / rate, 2 * attaches / rate
    throttled = sum(1 for e in entries if e.error_code == "APIGW.0308")
    kinds = Counter(e.operation for e in entries)
    per_step = len(entries) / attaches
    print(
        f"{attaches} attaches, quota {rate} calls/s per service, client limit "
        f"{client_rate}/s, jobs {job_ms} ms, parallelism {parallelism}\n"
        f"  makespan        {makespan:7.1f} s\n"
        f"  quota's bound   {bound:7.1f} s  ({needed} {busiest} calls / {rate}/s): "
        f"{makespan / bound:.2f}x\n"
        f"  ideal bound     {ideal:7.1f} s  (2 calls per attach / {rate}/s): "
        f"{makespan / ideal:.2f}x\n"
        f"  calls per step  {per_step:7.2f}    "
        + ", ".join(f"{k} {v / attaches:.2f}" for k, v in sorted(kinds.items()))
        + f"\n  429s answered   {throttled:7d}\n"
        f"  {ran.stdout.strip().splitlines()[-1]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attaches", type=int, default=1000)
    parser.add_argument("--rate-limit", type=int, default=20)
    parser.add_argument("--job-ms", type=int, default=2000)
    parser.add_argument("--parallelism", type=int, default=50)
    parser.add_argument("--client-rate", type=int, help="the client's limit (default: the quota)")
    args = parser.parse_args()
    client_rate = args.rate_limit if args.client_rate is None else args.client_rate
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    run(args.attaches, args.rate_limit, args.job_ms, args.parallelism, client_rate)


if __name__ == "__main__":
    main()
