"""Several processes hammering one simulated cloud leave it consistent."""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from pathlib import Path
from typing import Any

from controller.errors import ProviderError
from controller.providers.sim import store
from controller.providers.sim.cloud import SimCloud, init_cloud, open_cloud
from controller.providers.sim.faults import Faults

SERVERS, PORTS, LIMIT = 6, 16, 3


def inventory() -> dict[str, Any]:
    return {
        "flavors": [{"name": "f3", "maxInterfaces": LIMIT}],
        "vpcs": [{"name": "vpc", "cidr": "10.0.0.0/16"}],
        "subnets": [{"name": "sn", "vpc": "vpc", "cidr": "10.0.1.0/24", "availabilityZone": "az1"}],
        "servers": [
            {
                "name": f"s{n}",
                "flavor": "f3",
                "availabilityZone": "az1",
                "vpc": "vpc",
                "subnet": "sn",
            }
            for n in range(SERVERS)
        ],
        "interfaces": [{"name": f"eni-{n}", "subnet": "sn"} for n in range(PORTS)],
    }


def worker(state_dir: str, seed: int, operations: int) -> tuple[int, dict[str, int], int]:
    """Random attach/detach (clearing deleteOnTermination first, so no port is deleted),
    polling every job to its end. Returns (calls made, outcomes, over-limit sightings)."""
    cloud = open_cloud(Path(state_dir))
    rng = random.Random(seed)
    calls, outcomes, over = 0, Counter[str](), 0

    def call(verb: str, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        return getattr(cloud, verb)(*args)

    topology = None
    while topology is None:
        try:
            topology = call("observe")
        except ProviderError:
            continue
    servers = [s.id for s in topology.servers.values()]
    ports = [i.id for i in topology.interfaces.values() if not i.primary]
    for n in range(operations):
        server, port, verb = (
            rng.choice(servers),
            rng.choice(ports),
            rng.choice(["attach", "detach"]),
        )
        try:
            if verb == "detach":
                call("set_delete_on_termination", server, port, False)
            job = call(verb, server, port)
            while not (status := call("job", job)).status.finished:
                pass
            outcomes[f"{verb}:{status.status}"] += 1
        except ProviderError as exc:
            outcomes[exc.code] += 1
        if n % 10 == 0:
            try:
                counts = call("observe").attached_counts()
                over += sum(1 for c in counts.values() if c > LIMIT)
            except ProviderError:
                pass
    cloud.close()
    return calls, dict(outcomes), over


def replay(log: list[Any], final: dict[str, int]) -> None:
    """Replay the finished jobs in the order the cloud applied them: a port is attached
    only when free, detached only from where it is, no server ever goes over its limit,
    and the replay ends where the cloud is."""
    where: dict[str, str] = {}
    counts = Counter[str]({f"s{n}": 1 for n in range(SERVERS)})
    for entry in log:
        if entry.operation not in ("job.attach", "job.detach") or entry.result != "ok":
            continue
        port, arrow, server, _job = entry.target.split(" ")
        if arrow == "->":
            assert port not in where, f"{port} attached to {server} while on {where.get(port)}"
            where[port] = server
            counts[server] += 1
            assert counts[server] <= LIMIT
        else:
            assert where.pop(port, None) == server
            counts[server] -= 1
    assert {s: c for s, c in counts.items() if c} == final


def test_concurrent_workers_leave_the_cloud_consistent(tmp_path: Path) -> None:
    """3 processes x 120 random attach/detach: no server over its limit, no port lost or
    doubly attached, every call logged, and contention really happened."""
    cloud = init_cloud(tmp_path, inventory())
    cloud.set_faults(Faults(latency_ms=1, error_rate=0.05, job_fail_rate=0.2, seed=11))
    before = cloud.snapshot()
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        results = pool.starmap(worker, [(str(tmp_path), seed, 120) for seed in range(3)])
    cloud.set_faults(Faults())
    after = cloud.snapshot()

    assert all(over == 0 for _, _, over in results)
    assert all(count <= LIMIT for count in after.attached_counts().values())
    assert set(after.interfaces) == set(before.interfaces)
    assert len({i.private_ip for i in after.interfaces.values()}) == len(after.interfaces)
    conn = store.connect(store.db_path(tmp_path))
    assert conn.execute("SELECT count(*) FROM jobs WHERE status = 'RUNNING'").fetchone()[0] == 0
    log = cloud.log()
    replay(log, after.attached_counts())
    api_calls = [e for e in log if not e.operation.startswith("job.")]
    assert len(api_calls) == sum(calls for calls, _, _ in results)
    jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    assert len(log) - len(api_calls) == jobs
    outcomes = Counter[str]()
    for _, seen, _ in results:
        outcomes.update(seen)
    assert outcomes["attach:SUCCESS"] > 0 and outcomes["detach:SUCCESS"] > 0
    assert outcomes["Ecs.0050"] > 0 and outcomes["Ecs.0919"] > 0


def _attach_in_child(cloud: SimCloud, server_id: str, port_id: str) -> None:
    cloud.job(cloud.attach(server_id, port_id))


def test_a_cloud_handle_survives_a_fork(tmp_path: Path) -> None:
    """A child forked with an open handle gets its own connection; both keep working."""
    cloud = init_cloud(tmp_path, inventory())
    topology = cloud.observe()
    child = multiprocessing.get_context("fork").Process(
        target=_attach_in_child,
        args=(cloud, topology.servers["s0"].id, topology.interfaces["eni-0"].id),
    )
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert cloud.observe().interfaces["eni-0"].server == "s0"
