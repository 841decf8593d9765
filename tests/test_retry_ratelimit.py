"""Rate limits: the client's adaptive token buckets, the simulated cloud's quota, and an
apply through `--provider huaweicloud` against a rate-limited `enictl sim serve`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.bench_ratelimit import write_world
from controller.cli import main
from controller.errors import TransientProviderError, UsageError
from controller.providers.huaweicloud import adapter
from controller.providers.huaweicloud.ratelimit import Bucket, RateLimits
from controller.providers.huaweicloud.settings import Settings
from controller.providers.sim import cloud as simcloud
from controller.providers.sim.faults import Faults
from tests.cloudfixtures import serve
from tests.fakeclock import FakeClock
from tests.sim_support import SMALL, Ids, small_spec

BASE = {"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk", "HUAWEICLOUD_PROJECT_ID": "p"}
ENDPOINT = {**BASE, "ENICTL_HUAWEICLOUD_ENDPOINT": "http://127.0.0.1:8080"}


def paced(rate: float, burst: float) -> tuple[Bucket, FakeClock]:
    """A bucket on a fake clock whose sleep advances it."""
    clock = FakeClock()
    return Bucket(rate, burst=burst, clock=clock, sleep=clock.advance), clock


# -- the client's buckets -----------------------------------------------------------


def test_a_bucket_lets_a_burst_through_then_paces_at_its_rate() -> None:
    """10 calls/s, burst 10: ten calls at once, then one every 0.1 s."""
    bucket, clock = paced(10, 10)
    start = clock()
    waits = [bucket.take() for _ in range(30)]
    assert waits[:10] == [0.0] * 10
    assert all(w == pytest.approx(0.1) for w in waits[10:])
    assert clock() - start == pytest.approx(2.0)


def test_concurrent_callers_queue_for_their_tokens() -> None:
    """Takes that all come at one instant reserve successive slots: 0.1, 0.2, ... s."""
    clock = FakeClock()
    waited: list[float] = []
    bucket = Bucket(10, burst=1, clock=clock, sleep=waited.append)  # nobody's clock moves
    for _ in range(4):
        bucket.take()
    assert waited == pytest.approx([0.1, 0.2, 0.3])


def test_a_throttle_halves_the_rate_which_climbs_back_slowly() -> None:
    """A 429 halves the rate; each quiet second gives back 5% of the ceiling, so it is
    back in full 10 s after a halving."""
    bucket, clock = paced(20, 20)
    bucket.throttled()
    assert bucket.rate == 10
    clock.advance(4)
    assert bucket.rate == pytest.approx(14)
    clock.advance(6)
    assert bucket.rate == 20


def test_the_429s_of_one_burst_halve_the_rate_once_and_never_below_the_floor() -> None:
    """Ten 429s in one instant halve the rate once; 429s a second apart keep halving,
    down to 5% of the ceiling."""
    bucket, clock = paced(20, 20)
    for _ in range(10):
        bucket.throttled()
    assert bucket.rate == 10 and bucket.throttles == 10
    rates = []
    for _ in range(12):
        clock.advance(1.0)
        bucket.throttled()
        rates.append(bucket.rate)
    assert min(rates) >= 1.0 and rates[-1] == pytest.approx(1.0, abs=0.01)


def test_a_throttle_drops_the_tokens_left() -> None:
    """After a 429 the next call waits for a fresh token at the lowered rate."""
    bucket, _ = paced(10, 10)
    bucket.take()
    bucket.throttled()
    assert bucket.take() == pytest.approx(1 / 5)


def test_services_have_their_own_bucket_vpc_v1_and_v3_share_one() -> None:
    """Calls are limited by the service of the SDK client they belong to; 0 is no limit."""
    provider = adapter.from_environment(ENDPOINT)
    limits, clients = provider.limits, provider._c
    assert limits.bucket(clients.ecs.show_job) is limits.buckets["ecs"]
    assert limits.bucket(clients.vpc.list_ports) is limits.bucket(clients.vpc3.list_ports)
    assert limits.bucket(clients.eip.update_publicip) is limits.buckets["eip"]
    assert limits.bucket(clients.vpc.list_ports) is not limits.buckets["ecs"]
    unlimited = RateLimits(clients, 0, clock=FakeClock(), sleep=pytest.fail)
    assert unlimited.bucket(clients.ecs.show_job) is None
    provider.close()


def test_the_client_limit_is_set_by_the_environment() -> None:
    """ENICTL_HUAWEICLOUD_RATE_LIMIT: calls per second per service (default 10, 0: none);
    anything else is one clear error naming the variable."""
    assert Settings.from_env(ENDPOINT).rate_limit == 10
    assert Settings.from_env({**ENDPOINT, "ENICTL_HUAWEICLOUD_RATE_LIMIT": "2.5"}).rate_limit == 2.5
    assert Settings.from_env({**ENDPOINT, "ENICTL_HUAWEICLOUD_RATE_LIMIT": "0"}).rate_limit == 0
    for bad in ("fast", "-1", "nan", "inf"):
        with pytest.raises(UsageError, match="ENICTL_HUAWEICLOUD_RATE_LIMIT"):
            Settings.from_env({**ENDPOINT, "ENICTL_HUAWEICLOUD_RATE_LIMIT": bad})


# -- the simulated cloud's quota ------------------------------------------------------


def test_the_simulated_quota_refuses_calls_beyond_it_with_429(tmp_path: Path) -> None:
    """--rate-limit 5: five ECS calls in one instant pass, the sixth is HTTP 429
    APIGW.0308 (transient) with no effect; another service has its own quota; a token
    is back 1/5 s later; observations are not counted."""
    clock = FakeClock()
    cloud = simcloud.init_cloud(tmp_path, small_spec(), clock=clock)
    ids = Ids(cloud)
    cloud.set_faults(Faults(rate_limit=5))
    job = cloud.attach(ids.server("web-1"), ids.port("spare-1"))
    for _ in range(4):
        cloud.job(job)
    with pytest.raises(TransientProviderError) as refused:
        cloud.detach(ids.server("web-1"), ids.port("legacy-1"))
    assert (refused.value.code, refused.value.status) == ("APIGW.0308", 429)
    assert cloud.observe().interfaces["legacy-1"].server == "web-1"
    cloud.update_security_groups(ids.port("spare-2"), (ids.sg("sg-web"),))  # VPC: its own
    clock.advance(0.2)
    cloud.job(job)
    assert [e.error_code for e in cloud.log() if e.result == "error"] == ["APIGW.0308"]
    cloud.close()


def test_sim_faults_sets_the_quota_and_the_job_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sim faults --rate-limit 20 --job-ms 2000` stores both; --latency-ms is the same
    setting as --job-ms, under its older name; a negative quota is refused."""
    state = ["--state-dir", str(tmp_path)]
    assert main([*state, "sim", "init", str(SMALL)]) == 0
    assert main([*state, "sim", "faults", "--rate-limit", "20", "--job-ms", "2000"]) == 0
    assert simcloud.open_cloud(tmp_path).faults() == Faults(latency_ms=2000, rate_limit=20)
    assert main([*state, "sim", "faults", "--latency-ms", "300"]) == 0
    assert simcloud.open_cloud(tmp_path).faults() == Faults(latency_ms=300, rate_limit=20)
    assert "rate-limit     20" in capsys.readouterr().out
    assert main([*state, "sim", "faults", "--rate-limit", "-1"]) != 0


# -- through the SDK against sim serve -------------------------------------------------


def test_sim_serve_answers_over_quota_calls_with_429_and_the_client_slows_down(
    tmp_path: Path,
) -> None:
    """Served with a quota of 3 ECS calls per second, a client allowed 100 meets HTTP
    429 APIGW.0308, a transient error for its caller, and its ECS bucket slows down."""
    cloud = simcloud.init_cloud(tmp_path, small_spec())
    ids = Ids(cloud)
    with serve(tmp_path) as env:
        provider = adapter.from_environment(
            {**env, "ENICTL_HUAWEICLOUD_RATE_LIMIT": "100"}, sleep=no_pause
        )
        job = provider.attach(ids.server("web-1"), ids.port("spare-1"))
        cloud.set_faults(Faults(rate_limit=3))
        with pytest.raises(TransientProviderError) as refused:
            for _ in range(10):
                provider.job(job)
        provider.close()
    assert (refused.value.code, refused.value.status) == ("APIGW.0308", 429)
    ecs = provider.limits.buckets["ecs"]
    assert ecs.throttles == 1 and ecs.rate < 100
    cloud.close()


def apply_under_quota(
    tmp_path: Path,
    sim_serve: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    attaches: int,
    client_rate: int,
) -> int:
    """Apply `attaches` attaches through huaweicloud against sim serve with a quota of
    20 calls/s per service; returns how many 429s the cloud answered."""
    inventory, manifests = write_world(tmp_path, attaches)
    state = tmp_path / "state"
    for key, value in sim_serve(state, page_size=1000).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ENICTL_HUAWEICLOUD_RATE_LIMIT", str(client_rate))
    cli = ["--state-dir", str(state)]
    assert main([*cli, "sim", "init", str(inventory)]) == 0
    assert main([*cli, "sim", "faults", "--rate-limit", "20"]) == 0
    capsys.readouterr()
    code = main([*cli, "--provider", "huaweicloud", "apply", str(manifests), "--yes",
                 "--parallelism", "50"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    assert f"Apply complete: {attaches} done, 0 failed" in out
    assert "The cloud matches the manifests." in out
    cloud = simcloud.open_cloud(state)
    log = cloud.log()
    cloud.close()
    assert {e.error_code for e in log if e.result == "error"} <= {"APIGW.0308"}
    return sum(1 for e in log if e.error_code == "APIGW.0308")


def test_an_apply_over_the_quota_converges_without_a_failure(
    tmp_path: Path,
    sim_serve: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """24 attaches, a client allowed 50 calls/s against a quota of 20: the cloud answers
    429s, the client slows down and retries them, no step fails, the cloud converges."""
    throttled = apply_under_quota(tmp_path, sim_serve, monkeypatch, capsys, 24, 50)
    assert throttled > 0


@pytest.mark.slow
def test_a_1000_step_apply_under_a_quota_converges(
    tmp_path: Path,
    sim_serve: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1,000 attaches against a quota of 20 calls/s, the client at the quota: it
    converges with no 429 surfacing as a failure."""
    apply_under_quota(tmp_path, sim_serve, monkeypatch, capsys, 1000, 20)


def no_pause(seconds: float) -> None:
    """A sleep that returns at once and lets no time pass (the clock stays where it is)."""
