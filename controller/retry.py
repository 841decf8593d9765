"""Patience with the cloud: retrying transient errors and polling asynchronous jobs.

- `call()` runs one provider call, retrying `TransientProviderError` with exponential
  backoff and full jitter (a uniformly random delay in [0, min(cap, base * 2**n)]) up
  to `RetryPolicy.attempts` tries; a `PermanentProviderError` goes straight through.
- `wait_job()` polls a job until it finishes. The first poll goes out when jobs of the
  same kind have been seen to finish (the shortest recent duration; at once when
  nothing is known, so a zero-latency job is done at the first poll); after that the
  delay between polls starts small and grows to a cap. Learning the duration keeps
  both the overshoot past a job's end and the number of polls low.

Clock, sleep and randomness are injected so tests run without waiting.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from controller.errors import PermanentProviderError, TransientProviderError
from controller.providers.base import Job, JobStatus, Provider

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], None]
OnRetry = Callable[[int, TransientProviderError, float], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter for transient errors."""

    attempts: int = 8  # tries of one call, the first included
    base: float = 0.1  # seconds
    cap: float = 5.0  # seconds

    def delay(self, retry: int, rng: random.Random) -> float:
        """The pause before retry number `retry` (0-based)."""
        return rng.uniform(0.0, min(self.cap, self.base * (2**retry)))


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How to poll an asynchronous job."""

    initial: float = 0.05  # seconds between the first polls after the expected end
    factor: float = 1.5
    max_interval: float = 1.0
    timeout: float = 1800.0  # a job still running after this fails its step


def call(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Sleep,
    rng: random.Random,
    on_retry: OnRetry | None = None,
) -> T:
    """`fn()`, retrying transient provider errors; the last one is raised when tries run out."""
    retry = 0
    while True:
        try:
            return fn()
        except TransientProviderError as exc:
            if retry + 1 >= policy.attempts:
                raise
            delay = policy.delay(retry, rng)
            if on_retry is not None:
                on_retry(retry + 1, exc, delay)
            sleep(delay)
            retry += 1


class DurationEstimator:
    """The shortest recent duration of jobs by kind: when to poll a new job first."""

    def __init__(self, window: int = 64) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, deque[float]] = {}
        self._window = window

    def expected(self, kind: str) -> float:
        with self._lock:
            samples = self._samples.get(kind)
            return min(samples) if samples else 0.0

    def record(self, kind: str, seconds: float) -> None:
        with self._lock:
            self._samples.setdefault(kind, deque(maxlen=self._window)).append(max(seconds, 0.0))


@dataclass(slots=True)
class Patience:
    """Everything that decides how long to wait: policies, clock, sleep, randomness."""

    retry: RetryPolicy
    poll: PollPolicy
    clock: Clock
    sleep: Sleep
    rng: random.Random
    estimator: DurationEstimator

    def call(self, fn: Callable[[], T], on_retry: OnRetry | None = None) -> T:
        return call(fn, policy=self.retry, sleep=self.sleep, rng=self.rng, on_retry=on_retry)

    def wait_job(
        self,
        provider: Provider,
        job_id: str,
        *,
        kind: str,
        submitted_at: float,
        on_retry: OnRetry | None = None,
        on_poll: Callable[[], None] | None = None,
    ) -> Job:
        """Poll `job_id` until it finishes; raises PermanentProviderError on timeout."""
        first_at = submitted_at + self.estimator.expected(kind)
        now = self.clock()
        if first_at > now:
            self.sleep(first_at - now)
        interval = self.poll.initial
        while True:
            polled_at = self.clock()
            job = self.call(lambda: provider.job(job_id), on_retry)
            if on_poll is not None:
                on_poll()
            if job.status.finished:
                # the poll's start, not its end: a first poll sent at the expected end
                # records that same duration, so the estimate does not creep upwards
                self.estimator.record(kind, polled_at - submitted_at)
                return job
            if polled_at - submitted_at > self.poll.timeout:
                raise PermanentProviderError(
                    "JobTimeout",
                    f"job {job_id} still {job.status.value} after {self.poll.timeout:g}s",
                )
            self.sleep(interval)
            interval = min(interval * self.poll.factor, self.poll.max_interval)


def finished_ok(job: Job) -> bool:
    return job.status is JobStatus.SUCCESS
