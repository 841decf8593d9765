"""Client-side rate limiting of the huaweicloud provider: one token bucket per service.

Huawei Cloud's API Gateway answers calls over a user's quota with HTTP 429
`APIGW.0308`. Rather than learn the quota by being refused, the provider paces its own
calls: every SDK call first takes a token from its service's bucket (ECS; BMS; VPC, v1
and v3 together; EIP), waiting when there is none. A bucket holds at most `burst` tokens
and refills at `rate` per second, the configured ceiling
(`ENICTL_HUAWEICLOUD_RATE_LIMIT`).

The rate adapts: when the cloud answers 429 / `APIGW.0308` anyway (another client
shares the quota, or the ceiling is set above it) the bucket halves its rate (not
below 5% of the ceiling; once a second at most, however many calls of one burst are
refused) and drops its tokens; each second without a throttle then gives back 5% of
the ceiling, so the rate climbs back within about 20 seconds. The throttled call
itself is retried by the caller's backoff.

Waiting is reserved under a lock (callers queue in order); clock and sleep are
injected, so tests never wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]
Sleep = Callable[[float], None]

SERVICES = ("ecs", "bms", "vpc", "eip")
FLOOR = 0.05  # the rate never drops below this share of the ceiling
RECOVERY = 0.05  # share of the ceiling given back per second without a throttle
COOLDOWN = 1.0  # seconds: the 429s of one burst halve the rate once


class Bucket:
    """A token bucket for one service: at most `ceiling` calls per second, bursts of
    `burst`, slower after a throttle and slowly back."""

    def __init__(self, ceiling: float, *, burst: float, clock: Clock, sleep: Sleep) -> None:
        if ceiling <= 0 or burst < 1:
            raise ValueError(f"a bucket needs a rate > 0 and a burst >= 1, got {ceiling}, {burst}")
        self.ceiling = ceiling
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rate = ceiling
        self._tokens = burst
        self._last = clock()
        self._slowed = float("-inf")  # when the rate was last halved
        self.throttles = 0  # how many times the cloud said 429

    @property
    def rate(self) -> float:
        """Calls per second allowed now."""
        with self._lock:
            self._refill(self._clock())
            return self._rate

    def take(self) -> float:
        """Wait for a token (reserved at once, so callers queue); returns the wait."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1.0
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def throttled(self) -> None:
        """The cloud refused a call for the quota: drop the tokens and halve the rate
        (unless it was halved less than `COOLDOWN` ago, by a refusal of the same burst)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            if now - self._slowed >= COOLDOWN:
                self._rate = max(self.ceiling * FLOOR, self._rate / 2)
                self._slowed = now
            self._tokens = min(self._tokens, 0.0)
            self.throttles += 1

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = now
        if self._rate < self.ceiling:
            self._rate = min(self.ceiling, self._rate + RECOVERY * self.ceiling * elapsed)
        self._tokens = min(self.burst, self._tokens + self._rate * elapsed)


class RateLimits:
    """The buckets of one provider, found from the SDK client a call belongs to."""

    def __init__(self, clients: Any, rate: float, *, clock: Clock, sleep: Sleep) -> None:
        """`clients`: `settings.Clients`; `rate` 0 means no limit."""
        self.buckets: dict[str, Bucket] = {}
        if rate > 0:
            burst = max(1.0, rate)  # one second's worth
            self.buckets = {
                service: Bucket(rate, burst=burst, clock=clock, sleep=sleep) for service in SERVICES
            }
        services = {"ecs": clients.ecs, "bms": clients.bms, "vpc": clients.vpc, "eip": clients.eip}
        self._by_client = {id(client): name for name, client in services.items()}
        self._by_client[id(clients.vpc3)] = "vpc"

    def bucket(self, call: Callable[..., Any]) -> Bucket | None:
        """The bucket of the service whose client `call` is a method of (None: no limit)."""
        service = self._by_client.get(id(getattr(call, "__self__", None)))
        return self.buckets.get(service) if service is not None else None
