"""Patience with the cloud: retrying transient errors and polling asynchronous jobs.

Both wait by the one backoff policy, `controller.backoff.Backoff`:

- `Patience.call()` runs one provider call, retrying `TransientProviderError` as
  `RetryPolicy` says (by default: full jitter from 0.1 s up to a minute, for ten
  minutes); a `PermanentProviderError` goes straight through.
- `Patience.wait_job()` polls a job until it finishes. Its first poll goes out when jobs of
  the same kind are expected to be done (`DurationEstimator`), or `PollPolicy.first`
  seconds after submission while no such job has finished; after a miss it waits for
  the time similar jobs were seen done, then polls with the pauses of
  `PollPolicy.interval`. Learning the duration keeps both the overshoot past a job's
  end and the number of polls low.

`Waits` holds both policies: what an apply is told (the CLI reads them from the
environment). `PollPolicy()` is sized for the simulated cloud, whose jobs are local;
`CLOUD_POLL` for a real cloud. Clock, sleep and randomness are injected so tests run
without waiting.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from controller import backoff
from controller.backoff import Backoff
from controller.errors import PermanentProviderError, TransientProviderError
from controller.providers.base import Job, Provider

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], None]
OnRetry = Callable[[int, TransientProviderError, float], None]
ANY_KIND = "*"

RetryPolicy = Backoff
"""The policy of transient errors: the one backoff, whose defaults are that policy's."""

SIM_POLL_INTERVAL = Backoff(base=0.05, cap=1.0, factor=1.5, jitter=False, timeout=None)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How to poll an asynchronous job (the defaults suit the simulated cloud)."""

    first: float = 0.0  # seconds after submission of the first poll of a kind not seen yet
    interval: Backoff = SIM_POLL_INTERVAL
    timeout: float = 1800.0  # a job still running after this fails its step


CLOUD_POLL = PollPolicy(
    first=2.0, interval=Backoff(base=1.0, cap=10.0, factor=1.5, jitter=False, timeout=None)
)
"""Polls for a real cloud: a first poll 2 s after submission, then 1 s growing to 10 s."""


@dataclass(frozen=True, slots=True)
class Waits:
    """How long to be patient with the cloud: transient retries and job polls."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    poll: PollPolicy = field(default_factory=PollPolicy)


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

    def first_poll(self, kind: str, unknown: float = 0.0) -> float:
        """Seconds after submission to send a new job's first poll; `unknown` while no
        job of this kind (or of any kind) has finished."""
        with self._lock:
            kind = self._kind(kind)
            done = self._done.get(kind)
            if not done:
                return unknown
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
        """`fn()`, retrying transient provider errors; the last one is raised when the
        retry policy allows no further try."""
        return backoff.retry(
            fn,
            self.retry,
            retry_on=TransientProviderError,
            sleep=self.sleep,
            clock=self.clock,
            rng=self.rng,
            on_retry=on_retry,
        )

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
        first_at = submitted_at + estimator.first_poll(kind, unknown=self.poll.first)
        now = self.clock()
        if first_at > now:
            self.sleep(first_at - now)
        misses = 0
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
            self.sleep(self.poll.interval.delay(misses, self.rng))
            misses += 1
