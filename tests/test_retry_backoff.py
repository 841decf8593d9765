"""The one backoff policy (`controller.backoff`): pauses, jitter, limits, streaks."""

from __future__ import annotations

import random

import pytest

from controller import backoff
from controller.backoff import Backoff, Streak
from controller.errors import PermanentProviderError, TransientProviderError
from tests.fakeclock import FakeClock


class Flaky:
    """Fails with a transient error `failures` times, then answers "ok"."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientProviderError("APIGW.0308", "throttled", status=429)
        return "ok"


def run(fn: Flaky, policy: Backoff, clock: FakeClock, pauses: list[float]) -> str:
    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        clock.advance(seconds)

    return backoff.retry(
        fn,
        policy,
        retry_on=TransientProviderError,
        sleep=sleep,
        clock=clock,
        rng=random.Random(3),
    )


def test_pauses_grow_by_the_factor_up_to_the_cap() -> None:
    """Without jitter: base, base*factor, ... then the cap, whatever the retry number."""
    policy = Backoff(base=0.5, cap=10.0, jitter=False)
    assert [policy.delay(n) for n in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert policy.delay(100_000) == 10.0


def test_full_jitter_stays_below_the_ceiling_and_replays_by_seed() -> None:
    """With jitter a pause is drawn from [0, ceiling]; the same seed draws the same ones."""
    policy = Backoff(base=0.1, cap=5.0)
    rng, again = random.Random(9), random.Random(9)
    first = [policy.delay(n, rng) for n in range(10)]
    assert first == [policy.delay(n, again) for n in range(10)]
    assert all(0.0 <= pause <= policy.ceiling(n) for n, pause in enumerate(first))
    assert len(set(first)) == len(first)  # drawn, not fixed


def test_retry_returns_once_the_call_succeeds() -> None:
    """Transient failures are retried with pauses; the answer comes back."""
    fn, pauses = Flaky(3), []
    assert run(fn, Backoff(base=1.0, jitter=False), FakeClock(), pauses) == "ok"
    assert fn.calls == 4 and pauses == [1.0, 2.0, 4.0]


def test_attempts_bound_the_tries() -> None:
    """With attempts=3 the third failure is raised; no pause follows it."""
    fn, pauses = Flaky(10), []
    with pytest.raises(TransientProviderError):
        run(fn, Backoff(base=1.0, jitter=False, attempts=3), FakeClock(), pauses)
    assert fn.calls == 3 and pauses == [1.0, 2.0]


def test_the_timeout_bounds_the_time_spent_retrying() -> None:
    """No retry starts after `timeout`: the last pause is cut to end at the timeout."""
    fn, pauses = Flaky(100), []
    with pytest.raises(TransientProviderError):
        run(fn, Backoff(base=1.0, cap=60.0, jitter=False, timeout=100.0), FakeClock(), pauses)
    assert pauses == [1, 2, 4, 8, 16, 32, 37]
    assert sum(pauses) == 100


def test_the_timeout_ends_even_when_sleep_does_not_sleep() -> None:
    """A sleep that returns at once (a test's) still uses the budget up: pauses count."""
    fn = Flaky(10_000)
    with pytest.raises(TransientProviderError):
        backoff.retry(
            fn,
            Backoff(base=1.0, cap=60.0, timeout=600.0),
            retry_on=TransientProviderError,
            sleep=no_pause,
            clock=frozen,
            rng=random.Random(1),
        )
    assert 10 < fn.calls < 100


def test_other_errors_go_straight_through() -> None:
    """An error that is not `retry_on` is raised at the first try, without a pause."""
    calls: list[int] = []

    def refused() -> str:
        calls.append(1)
        raise PermanentProviderError("Ecs.0050", "over the flavor's NIC limit")

    with pytest.raises(PermanentProviderError):
        backoff.retry(
            refused,
            Backoff(),
            retry_on=TransientProviderError,
            sleep=pytest.fail,
            clock=FakeClock(),
        )
    assert calls == [1]


def test_on_retry_hears_each_retry_before_its_pause() -> None:
    """The hook gets the retry number (from 1), the error and the pause to come."""
    heard: list[tuple[int, str, float]] = []
    backoff.retry(
        Flaky(2),
        Backoff(base=0.25, jitter=False),
        retry_on=TransientProviderError,
        sleep=no_pause,
        clock=FakeClock(),
        on_retry=lambda n, exc, pause: heard.append((n, exc.code, pause)),
    )
    assert heard == [(1, "APIGW.0308", 0.25), (2, "APIGW.0308", 0.5)]


def test_a_streak_grows_with_failures_and_a_success_resets_it() -> None:
    """`next()` is the pause after one more failure; `reset()` starts from the base."""
    streak = Streak(Backoff(base=1.0, cap=8.0, jitter=False))
    assert [streak.next() for _ in range(5)] == [1, 2, 4, 8, 8]
    streak.reset()
    assert streak.next() == 1


@pytest.mark.parametrize("bad", [{"base": -1.0}, {"cap": -1.0}, {"factor": 0.5}, {"attempts": 0}])
def test_a_policy_that_cannot_work_is_refused(bad: dict[str, float]) -> None:
    """Negative pauses, a shrinking factor or zero tries are programming errors."""
    with pytest.raises(ValueError):
        Backoff(**bad)  # type: ignore[arg-type]


def no_pause(seconds: float) -> None:
    """A sleep that returns at once and lets no time pass (the clock stays where it is)."""


def frozen() -> float:
    """A clock that never moves."""
    return 0.0
