"""Patience with the cloud: retrying transient errors and polling asynchronous jobs.

- `call()` runs one provider call, retrying `TransientProviderError` with exponential
  backoff and full jitter (a uniformly random delay in [0, min(cap, base * 2**n)]) up
  to `RetryPolicy.attempts` tries; a `PermanentProviderError` goes straight through.
- `wait_job()` polls a job until it finishes. Its first poll goes out when jobs of
  the same kind are expected to be done (`DurationEstimator`; at once when nothing is
  known, so a zero-latency job is done at the first poll); after a miss it waits for
  the time similar jobs were seen done, then polls with a delay that starts small and
  grows to a cap. Learning the duration keeps both the overshoot past a job's end and
  the number of polls low.

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
ANY_KIND = "*"


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
    """When to poll a new job first, learned from recent jobs of the same kind.

    Each poll is a sample: "still running t seconds after submission" bounds a job's
    duration from below, "finished by t" from above. The first poll of a new job goes
    out at the earliest recent "finished by" time, or halfway down towards the latest
    "still running" time while the two are far apart. A miss costs one poll, then the
    next poll waits for the known "finished by" time; the guesses close in on the real
    duration from both sides, and follow it when it changes. A kind not seen yet (the
    first attach after a wave of detaches) starts from what every kind taught.
    """

    def __init__(self, window: int = 64, tolerance: float = 0.02) -> None:
        self._lock = threading.Lock()
        self._window = window
        self._tolerance = tolerance
        self._done: dict[str, deque[float]] = {}
        self._running: dict[str, deque[float]] = {}

    def _kind(self, kind: str) -> str:
        """`kind`, or "*" (every kind) until a job of this kind has finished."""
        return kind if self._done.get(kind) else ANY_KIND

    def finished_by(self, kind: str) -> float | None:
        """The shortest recent "finished by" time, if any job of this kind finished."""
        with self._lock:
            done = self._done.get(self._kind(kind))
            return min(done) if done else None

    def first_poll(self, kind: str) -> float:
        """Seconds after submission to send a new job's first poll (0: at once)."""
        with self._lock:
            kind = self._kind(kind)
            done = self._done.get(kind)
            if not done:
                return 0.0
            high = min(done)
            running = self._running.get(kind)
            low = max(running) if running else 0.0
        if low >= high or high - low <= max(0.002, self._tolerance * high):
            return high
        return (low + high) / 2

    def record(self, kind: str, seconds: float, *, finished: bool) -> None:
        table = self._done if finished else self._running
        with self._lock:
            for key in (kind, ANY_KIND):
                table.setdefault(key, deque(maxlen=self._window)).append(max(seconds, 0.0))


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
        estimator = self.estimator
        first_at = submitted_at + estimator.first_poll(kind)
        now = self.clock()
        if first_at > now:
            self.sleep(first_at - now)
        interval = self.poll.initial
        while True:
            polled_at = self.clock()
            job = self.call(lambda: provider.job(job_id), on_retry)
            if on_poll is not None:
                on_poll()
            # the poll's start, not its end: what a poll proves holds from when it was sent
            estimator.record(kind, polled_at - submitted_at, finished=job.status.finished)
            if job.status.finished:
                return job
            if polled_at - submitted_at > self.poll.timeout:
                raise PermanentProviderError(
                    "JobTimeout",
                    f"job {job_id} still {job.status.value} after {self.poll.timeout:g}s",
                )
            finished_by = estimator.finished_by(kind)
            now = self.clock()
            if finished_by is not None and submitted_at + finished_by > now + 0.001:
                self.sleep(submitted_at + finished_by - now)  # similar jobs were done by then
                continue
            self.sleep(interval)
            interval = min(interval * self.poll.factor, self.poll.max_interval)


def finished_ok(job: Job) -> bool:
    return job.status is JobStatus.SUCCESS
