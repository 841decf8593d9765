"""Retry and poll budgets sized for the real cloud, set from the environment.

Driven through the Provider protocol on the simulated cloud with a fake clock: a
sleep advances the clock, nothing waits.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from controller.cli import main, options
from controller.errors import TransientProviderError, UsageError
from controller.execution.retry import CLOUD_POLL, DurationEstimator, Patience, Waits
from controller.providers.sim.cloud import SimCloud, init_cloud
from controller.providers.sim.faults import Faults
from tests.fakeclock import FakeClock
from tests.sim_support import SMALL, Ids, small_spec

ENVIRONMENT = (
    options.RETRY_TIMEOUT,
    options.RETRY_MAX_DELAY,
    options.JOB_POLL_DELAY,
    options.JOB_POLL_INTERVAL,
    options.JOB_TIMEOUT,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def sim(tmp_path: Path) -> tuple[SimCloud, FakeClock]:
    """The small simulated cloud on a fake clock."""
    clock = FakeClock()
    return init_cloud(tmp_path, small_spec(), clock=clock), clock


def patience(clock: FakeClock, waits: Waits) -> Patience:
    """Waits on the fake clock: a sleep advances it."""
    return Patience(
        waits.retry, waits.poll, clock, clock.advance, random.Random(5), DurationEstimator()
    )


def test_defaults_are_sized_for_the_real_cloud() -> None:
    """huaweicloud: transient retries for 10 minutes with pauses up to a minute, a job's
    first poll 2 s after submission, then pauses growing to 10 s; the local sim polls
    at once and at most every second."""
    cloud, sim = options.waits("huaweicloud"), options.waits("sim")
    assert (cloud.retry.timeout, cloud.retry.cap, cloud.retry.jitter) == (600, 60, True)
    assert (cloud.poll.first, cloud.poll.interval.cap, cloud.poll.timeout) == (2, 10, 1800)
    assert (sim.poll.first, sim.poll.interval.cap) == (0, 1)
    assert sim.retry == cloud.retry


def test_each_bound_is_set_by_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable changes its bound only; 0 is allowed (no retry, no pause)."""
    for name, value in zip(ENVIRONMENT, ("120", "0", "5", "30", "900"), strict=True):
        monkeypatch.setenv(name, value)
    waits = options.waits("huaweicloud")
    assert (waits.retry.timeout, waits.retry.cap, waits.retry.base) == (120, 0, 0)
    assert (waits.poll.first, waits.poll.interval.cap, waits.poll.timeout) == (5, 30, 900)
    assert waits.poll.interval.base == CLOUD_POLL.interval.base


def test_a_bad_value_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ENICTL_JOB_POLL_DELAY=soon` stops apply with one line naming the variable."""
    monkeypatch.setenv(options.JOB_POLL_DELAY, "soon")
    with pytest.raises(UsageError, match="ENICTL_JOB_POLL_DELAY"):
        options.waits("sim")
    assert main(["--state-dir", str(tmp_path), "sim", "init", str(SMALL)]) == 0
    capsys.readouterr()
    assert main(["--state-dir", str(tmp_path), "apply", "manifests/demo", "--yes"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ENICTL_JOB_POLL_DELAY must be")


def test_a_job_is_first_polled_after_a_short_delay_then_less_and_less_often(
    tmp_path: Path,
) -> None:
    """A 30 s job on the real-cloud profile: first poll at 2 s, pauses 1, 1.5, 2.25 ...
    never above 10 s; it is seen done at the first poll after its end."""
    cloud, clock = sim(tmp_path)
    cloud.set_faults(Faults(latency_ms=30_000))
    ids = Ids(cloud)
    waits = patience(clock, options.waits("huaweicloud"))
    submitted = clock()
    job = cloud.attach(ids.server("web-1"), ids.port("spare-1"))
    polls: list[float] = []
    done = waits.wait_job(
        cloud, job, kind="attach", submitted_at=submitted,
        on_poll=lambda: polls.append(clock() - submitted),
    )  # fmt: skip
    assert done.status.value == "SUCCESS"
    assert polls[0] == 2.0
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert gaps[:3] == [1.0, 1.5, 2.25] and max(gaps) == 10.0
    assert polls[-2] < 30.0 <= polls[-1] < 40.0


def test_transient_errors_are_retried_for_minutes_then_fail(tmp_path: Path) -> None:
    """A cloud that keeps refusing transiently is retried for the whole 10 minutes
    (not seconds), then the last refusal is raised."""
    cloud, clock = sim(tmp_path)
    cloud.set_faults(Faults(error_rate=1.0, seed=4))
    waits = patience(clock, options.waits("huaweicloud"))
    start = clock()
    retries: list[float] = []
    with pytest.raises(TransientProviderError):
        waits.call(cloud.observe, lambda n, exc, pause: retries.append(pause))
    assert clock() - start == pytest.approx(600.0)
    assert len(retries) > 15 and max(retries) <= 60.0


def test_retry_timeout_zero_means_no_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ENICTL_RETRY_TIMEOUT=0`: the first transient refusal fails the apply (exit 1,
    one line with the cloud's code), no pause taken."""
    state = ["--state-dir", str(tmp_path)]
    assert main([*state, "sim", "init", str(SMALL)]) == 0
    assert main([*state, "sim", "faults", "--error-rate", "1", "--seed", "2"]) == 0
    monkeypatch.setenv(options.RETRY_TIMEOUT, "0")
    capsys.readouterr()
    assert main([*state, "apply", "manifests/demo", "--yes"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and ("Ecs.0603" in err[0] or "APIGW.0308" in err[0])


@pytest.mark.parametrize("command", ["apply", "watch"])
def test_help_names_every_variable_with_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`apply --help` and `watch --help` list the variables and their defaults."""
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for name in (*ENVIRONMENT, "ENICTL_HUAWEICLOUD_RATE_LIMIT"):
        assert name in out
    assert "(600)" in out and "(2; sim 0)" in out and "(10; sim 1)" in out
