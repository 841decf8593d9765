"""One backoff policy for every wait that repeats: retries, polls, re-observations.

`Backoff` says how long to pause before retry number n (0-based): `base * factor**n`,
capped at `cap`; with `jitter`, a uniformly random delay in [0, that] instead ("full
jitter", so that many clients that failed together do not retry together). It may
also bound the trying: `attempts` tries in all, or no retry starting later than
`timeout` seconds after the first try.

- `retry(fn, policy, ...)` calls `fn` until it returns or raises something other than
  `retry_on`, pausing as the policy says; when the policy allows no further try the
  last error is raised.
- `Streak` counts consecutive failures against a policy for a loop that does its own
  waiting (the watch loop): `next()` is the pause after one more failure, `reset()`
  starts over after a success.

Clock, sleep and randomness are always passed in, so tests never wait. Time spent is
counted twice over: by the clock, and as the sum of the pauses asked for; the larger
wins, so a policy with a `timeout` ends even under a sleep that does not sleep.

This module is top level (it imports nothing of enictl) so that providers, which may
not import the execution layer, use the same policy as the executor.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)
Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential, capped pauses, optionally with full jitter and bounded trying.

    The defaults are the policy of transient cloud errors: from 0.1 s, doubling, up to
    a minute, full jitter, for ten minutes."""

    base: float = 0.1  # seconds: the ceiling of the first pause
    cap: float = 60.0  # seconds: no pause is longer
    factor: float = 2.0
    jitter: bool = True
    attempts: int | None = None  # tries in all, the first included (None: no limit)
    timeout: float | None = 600.0  # seconds after the first try; no retry starts later

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.factor < 1:
            raise ValueError(f"a backoff needs base, cap >= 0 and factor >= 1: {self}")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"a backoff allows at least one try: {self}")

    def ceiling(self, retry: int) -> float:
        """The longest pause before retry number `retry` (0-based)."""
        try:
            return min(self.cap, self.base * self.factor**retry)
        except OverflowError:
            return self.cap

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """The pause before retry number `retry` (0-based); drawn from `rng` with jitter."""
        ceiling = self.ceiling(retry)
        if not self.jitter:
            return ceiling
        draw = rng.uniform if rng is not None else random.uniform
        return draw(0.0, ceiling)

    def remaining(self, retries: int, spent: float) -> float | None:
        """Seconds left for another try after `retries` retries and `spent` seconds of
        trying: None when the policy allows no further try."""
        if self.attempts is not None and retries + 1 >= self.attempts:
            return None
        if self.timeout is None:
            return float("inf")
        left = self.timeout - spent
        return left if left > 0 else None


def retry(
    fn: Callable[[], T],
    policy: Backoff,
    *,
    retry_on: type[E],
    sleep: Sleep,
    clock: Clock,
    rng: random.Random | None = None,
    on_retry: Callable[[int, E, float], None] | None = None,
) -> T:
    """`fn()`, retried on `retry_on` as `policy` allows; `on_retry(n, error, pause)` is
    told of retry number n (1-based) before its pause."""
    start = clock()
    paused = 0.0
    retries = 0
    while True:
        try:
            return fn()
        except retry_on as exc:
            left = policy.remaining(retries, max(clock() - start, paused))
            if left is None:
                raise
            pause = min(policy.delay(retries, rng), left)
            if on_retry is not None:
                on_retry(retries + 1, exc, pause)
            sleep(pause)
            paused += pause
            retries += 1


class Streak:
    """Consecutive failures counted against one policy; a success starts over."""

    def __init__(self, policy: Backoff, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.failures = 0
        self._rng = rng

    def next(self) -> float:
        """The pause after one more failure."""
        pause = self.policy.delay(self.failures, self._rng)
        self.failures += 1
        return pause

    def reset(self) -> None:
        self.failures = 0
