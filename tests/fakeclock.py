"""The suite's one fake clock: time that moves only when a test moves it or code sleeps.

Pass the clock itself where code reads the time (`clock=clock`, it is callable) and
`clock.sleep` where it would wait (`sleep=clock.sleep`): a sleep records its length in
`sleeps` and moves the time by it, at once, so a test of a retry loop, a bounded wait
or a job latency takes no real time. A test moves time itself with `advance`, or sets
`now` (scripted schedules). `on_sleep`, when given, runs after every sleep: a test's
way to let something happen while the code waits (the lock holder letting go on the
third poll). The `clock` fixture (conftest.py) is a fresh one at time 0.
`patience(clock)` is the executor's default waiting (retries, polls) on a fake clock.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from controller.execution.retry import DurationEstimator, Patience, PollPolicy, RetryPolicy


class FakeClock:
    """A clock that moves only when told to (`advance`, `now = ...`) or slept on; thread-safe."""

    def __init__(self, now: float = 0.0, *, on_sleep: Callable[[], None] | None = None) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time forward by `seconds`."""
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        """Record the sleep and move the time by it without waiting; let other threads run."""
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()
        time.sleep(0)


def patience(clock: FakeClock) -> Patience:
    """The default retry and poll policies, waiting on `clock`, with jitter seed 1."""
    return Patience(
        RetryPolicy(), PollPolicy(), clock, clock.sleep, random.Random(1), DurationEstimator()
    )
