"""Asynchronous jobs and injected faults: latency, transient errors, failed jobs, seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import ProviderError, TransientProviderError, UsageError
from controller.providers.base import JobStatus
from controller.providers.sim.cloud import SimCloud, init_cloud, open_cloud
from controller.providers.sim.faults import Faults, roll
from tests.fakeclock import FakeClock
from tests.sim_support import Ids, small_spec


def test_with_zero_latency_a_job_is_done_at_the_first_poll(cloud: SimCloud) -> None:
    """Latency 0: the first poll already says SUCCESS and observe shows the effect."""
    ids = Ids(cloud)
    job = cloud.attach(ids.server("web-1"), ids.port("spare-1"))
    assert cloud.job(job).status == JobStatus.SUCCESS
    assert cloud.observe().interfaces["spare-1"].server == "web-1"


def test_a_job_runs_for_the_configured_latency(cloud: SimCloud, clock: FakeClock) -> None:
    """With 250 ms latency the job is RUNNING, without effect, until the clock passes it."""
    ids = Ids(cloud)
    cloud.set_faults(Faults(latency_ms=250))
    job = cloud.attach(ids.server("web-1"), ids.port("spare-1"))
    clock.advance(0.249)
    assert cloud.job(job).status == JobStatus.RUNNING
    assert cloud.observe().interfaces["spare-1"].server is None
    clock.advance(0.001)
    assert cloud.observe().interfaces["spare-1"].server == "web-1"
    assert cloud.job(job) == cloud.job(job)
    assert cloud.job(job).status == JobStatus.SUCCESS


def test_jobs_finish_in_the_order_they_fall_due(cloud: SimCloud, clock: FakeClock) -> None:
    """A detach submitted before an attach finishes first; both are logged as job events."""
    ids = Ids(cloud)
    cloud.set_faults(Faults(latency_ms=100))
    cloud.set_delete_on_termination(ids.server("web-1"), ids.port("legacy-1"), False)
    cloud.detach(ids.server("web-1"), ids.port("legacy-1"))
    clock.advance(0.05)
    cloud.attach(ids.server("web-2"), ids.port("spare-1"))
    clock.advance(1)
    cloud.observe()
    events = [e.operation for e in cloud.log() if e.operation.startswith("job.")]
    assert events == ["job.detach", "job.attach"]


def test_error_rate_one_refuses_every_call_with_a_transient_error(cloud: SimCloud) -> None:
    """Every call fails with Ecs.0603 (501) or APIGW.0308 (429), both occur; nothing changes."""
    ids = Ids(cloud)
    before = cloud.snapshot()
    cloud.set_faults(Faults(error_rate=1.0, seed=7))
    seen = set()
    for _ in range(20):
        with pytest.raises(TransientProviderError) as exc:
            cloud.attach(ids.server("web-1"), ids.port("spare-1"))
        seen.add((exc.value.code, exc.value.status))
    with pytest.raises(TransientProviderError):
        cloud.observe()
    assert seen == {("Ecs.0603", 501), ("APIGW.0308", 429)}
    assert cloud.snapshot() == before
    assert cloud.log()[-1].error_code in {"Ecs.0603", "APIGW.0308"}


def test_job_fail_rate_one_fails_every_job_without_effect(cloud: SimCloud) -> None:
    """Accepted jobs end FAIL with Ecs.0217 (attach) / Ecs.0507 (detach) and change nothing."""
    ids = Ids(cloud)
    cloud.set_faults(Faults(job_fail_rate=1.0))
    attach = cloud.job(cloud.attach(ids.server("web-1"), ids.port("spare-1")))
    detach = cloud.job(cloud.detach(ids.server("web-1"), ids.port("legacy-1")))
    assert (attach.status, attach.error_code) == (JobStatus.FAIL, "Ecs.0217")
    assert (detach.status, detach.error_code) == (JobStatus.FAIL, "Ecs.0507")
    assert attach.error_message
    interfaces = cloud.observe().interfaces
    assert (interfaces["spare-1"].server, interfaces["legacy-1"].server) == (None, "web-1")


def test_a_failed_attach_frees_its_slot(cloud: SimCloud) -> None:
    """Once the attach job failed, the slot it held is free again."""
    ids = Ids(cloud)
    cloud.set_faults(Faults(job_fail_rate=1.0))
    cloud.job(cloud.attach(ids.server("web-2"), ids.port("spare-1")))
    cloud.set_faults(Faults())
    assert cloud.job(cloud.attach(ids.server("web-2"), ids.port("spare-2"))).status == "SUCCESS"


def outcomes(cloud: SimCloud, calls: int) -> list[str]:
    """Try the same call repeatedly and note each outcome."""
    ids = Ids(cloud)
    seen = []
    for _ in range(calls):
        try:
            cloud.update_security_groups(ids.port("spare-1"), (ids.sg("sg-db"),))
            seen.append("ok")
        except ProviderError as exc:
            seen.append(exc.code)
    return seen


def test_a_seed_replays_the_same_faults(tmp_path: Path) -> None:
    """Same seed, same sequence of faults; another seed, another sequence."""
    runs = []
    for name, seed in (("a", 42), ("b", 42), ("c", 43)):
        cloud = init_cloud(tmp_path / name, small_spec())
        cloud.set_faults(Faults(error_rate=0.5, seed=seed))
        runs.append(outcomes(cloud, 40))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert "ok" in runs[0] and set(runs[0]) - {"ok"}


def test_the_fault_sequence_is_shared_by_every_process(tmp_path: Path) -> None:
    """Two handles on one cloud (as two processes) draw from one shared call counter."""
    alone = init_cloud(tmp_path / "alone", small_spec())
    alone.set_faults(Faults(error_rate=0.5, seed=9))
    expected = outcomes(alone, 30)

    first = init_cloud(tmp_path / "shared", small_spec())
    first.set_faults(Faults(error_rate=0.5, seed=9))
    second = open_cloud(tmp_path / "shared")
    Ids(first)  # the lookups are outside the API: they draw no dice
    mixed = []
    for n in range(15):
        mixed += outcomes(first if n % 2 else second, 2)
    assert mixed == expected


def test_setting_faults_restarts_the_sequence(cloud: SimCloud) -> None:
    """Setting the same seed again replays from the start."""
    cloud.set_faults(Faults(error_rate=0.5, seed=3))
    once = outcomes(cloud, 20)
    cloud.set_faults(Faults(error_rate=0.5, seed=3))
    assert outcomes(cloud, 20) == once


def test_faults_off_clears_everything(cloud: SimCloud) -> None:
    """After clearing, no call fails and jobs are immediate."""
    cloud.set_faults(Faults(latency_ms=900, error_rate=1.0, job_fail_rate=1.0, seed=1))
    assert cloud.faults() == Faults(latency_ms=900, error_rate=1.0, job_fail_rate=1.0, seed=1)
    cloud.set_faults(Faults())
    assert cloud.faults() == Faults()
    assert outcomes(cloud, 10) == ["ok"] * 10


def test_console_changes_are_never_faulted(cloud: SimCloud) -> None:
    """Someone at the console is not subject to injected faults."""
    cloud.set_faults(Faults(error_rate=1.0))
    cloud.force_set_security_groups("spare-1", ["sg-web"])
    assert cloud.snapshot().interfaces["spare-1"].security_groups == ("sg-web",)


def test_fault_settings_are_validated() -> None:
    """Rates outside [0, 1] and negative latency are usage errors."""
    for bad in ({"error_rate": 1.5}, {"job_fail_rate": -0.1}, {"latency_ms": -1}):
        with pytest.raises(UsageError):
            Faults(**bad)  # type: ignore[arg-type]


def test_roll_is_a_pure_function_of_seed_and_call_number() -> None:
    """The dice depend on nothing but (seed, call number)."""
    faults = Faults(error_rate=0.3, job_fail_rate=0.3, seed=5)
    first = [
        (d.transient_error is not None, d.job_fails)
        for d in (roll(faults, n, "x") for n in range(50))
    ]
    again = [
        (d.transient_error is not None, d.job_fails)
        for d in (roll(faults, n, "x") for n in range(50))
    ]
    assert first == again
    assert any(e for e, _ in first) and any(j for _, j in first)
