"""Fault injection for the simulated cloud, reproducible by seed.

The settings live in the cloud's database together with a call counter, so that
every process sharing one cloud draws from the same sequence: the n-th faultable
call after `sim faults --seed S` always gets the same dice, whichever process makes
it. Each draw is a pure function of (seed, call number).

Four kinds of fault:
- latency: every attach/detach job stays RUNNING for `latency_ms` before its effect
  (`sim faults --job-ms`, also spelled `--latency-ms`); every API call (not a console
  change) answers `call_ms` after it took effect, as a distant cloud would (`--call-ms`);
- transient errors: any call fails, before any effect, with `Ecs.0603` (HTTP 501,
  other operations running) or `APIGW.0308` (HTTP 429, throttled), half each, at
  `error_rate`;
- failed jobs: an accepted attach/detach job ends FAIL (`Ecs.0217` / `Ecs.0507`),
  with no effect, at `job_fail_rate`;
- a request quota: at most `rate_limit` calls per second per service (ECS: attach,
  detach, job, delete_on_termination, stop; VPC: ports, security groups, tags; EIP: bind,
  unbind), as a token bucket of that many tokens refilled at that rate; a call
  beyond it is refused, before any effect, with HTTP 429 `APIGW.0308` (transient),
  as API Gateway refuses calls over a quota. Observations (listing pages in `sim
  serve`) are not counted. The buckets live in the cloud's database, shared by
  every process.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass

from controller.errors import ProviderError, UsageError
from controller.providers.sim import refusals


@dataclass(frozen=True, slots=True)
class Faults:
    """The fault settings of one simulated cloud; the default injects nothing."""

    latency_ms: int = 0
    error_rate: float = 0.0
    job_fail_rate: float = 0.0
    seed: int = 0
    rate_limit: int = 0  # calls per second per service; 0: no quota
    call_ms: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise UsageError(f"latency must be >= 0 ms, got {self.latency_ms}")
        if self.rate_limit < 0:
            raise UsageError(f"rate limit must be >= 0 calls per second, got {self.rate_limit}")
        if self.call_ms < 0:
            raise UsageError(f"call latency must be >= 0 ms, got {self.call_ms}")
        for label, rate in (("error rate", self.error_rate), ("job fail rate", self.job_fail_rate)):
            if not 0.0 <= rate <= 1.0:
                raise UsageError(f"{label} must be between 0 and 1, got {rate}")

    @property
    def draws(self) -> bool:
        """Whether calls need dice (and so advance the shared call counter)."""
        return self.error_rate > 0.0 or self.job_fail_rate > 0.0

    def as_json(self) -> dict[str, int | float]:
        """`sim faults -o json`: camelCase, as every JSON enictl prints (the option
        `--job-ms` is `jobMs`)."""
        return {
            "jobMs": self.latency_ms,
            "errorRate": self.error_rate,
            "jobFailRate": self.job_fail_rate,
            "seed": self.seed,
            "rateLimit": self.rate_limit,
            "callMs": self.call_ms,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Faults:
        data = json.loads(text)
        return cls(
            latency_ms=int(data.get("latency_ms", 0)),
            error_rate=float(data.get("error_rate", 0.0)),
            job_fail_rate=float(data.get("job_fail_rate", 0.0)),
            seed=int(data.get("seed", 0)),
            rate_limit=int(data.get("rate_limit", 0)),
            call_ms=int(data.get("call_ms", 0)),
        )

    def describe(self) -> list[tuple[str, str]]:
        """The settings as (option name, value) pairs, as `sim faults` prints them."""
        return [
            ("latency-ms", str(self.latency_ms)),
            ("error-rate", _number(self.error_rate)),
            ("job-fail-rate", _number(self.job_fail_rate)),
            ("seed", str(self.seed)),
            ("rate-limit", str(self.rate_limit)),
            ("call-ms", str(self.call_ms)),
        ]


@dataclass(frozen=True, slots=True)
class Dice:
    """The draws for one call: does it fail now, and (for a job) does the job fail."""

    transient_error: ProviderError | None
    job_fails: bool


NO_DICE = Dice(transient_error=None, job_fails=False)


def roll(faults: Faults, call_number: int, operation: str) -> Dice:
    """The dice of call number `call_number` under `faults` (pure, reproducible)."""
    if not faults.draws:
        return NO_DICE
    rng = random.Random(f"{faults.seed}:{call_number}")
    error_draw, kind_draw, job_draw = rng.random(), rng.random(), rng.random()
    error: ProviderError | None = None
    if error_draw < faults.error_rate:
        if kind_draw < 0.5:
            error = refusals.refuse(
                refusals.BUSY, f"{operation}: other operations are running, try again later"
            )
        else:
            error = refusals.refuse(
                refusals.THROTTLED, f"{operation}: the request was throttled, try again later"
            )
    return Dice(transient_error=error, job_fails=job_draw < faults.job_fail_rate)


SERVICE_OF = {
    operation: service
    for service, operations in (
        ("ECS", ("attach", "detach", "job", "set_delete_on_termination", "stop_server")),
        (
            "VPC",
            (
                "create_interface",
                "delete_interface",
                "update_security_groups",
                "set_managed",
                "set_protected",
                "rename_interface",
                "set_failover_time",
            ),
        ),
        ("EIP", ("bind_eip", "unbind_eip")),
        (
            "BMS",
            ("attach_bare_metal", "detach_bare_metal", "set_bare_metal_delete_on_termination"),
        ),
    )
    for operation in operations
}


def admit(tokens: float, elapsed: float, rate: int) -> tuple[bool, float]:
    """One call against a quota bucket holding `tokens`, `elapsed` seconds after the
    last call: (admitted, tokens left). The bucket holds `rate` tokens at most and
    refills at `rate` per second; a refused call takes none."""
    tokens = min(float(rate), tokens + max(0.0, elapsed) * rate)
    if tokens >= 1.0 - 1e-9:  # a clock's rounding does not refuse a call that is due
        return True, max(0.0, tokens - 1.0)
    return False, tokens


def over_quota(operation: str, rate: int) -> ProviderError:
    """The refusal of a call beyond the quota: HTTP 429 APIGW.0308, transient."""
    return refusals.refuse(
        refusals.THROTTLED,
        f"{operation}: the request was throttled (over {rate} calls per second of "
        f"{SERVICE_OF.get(operation, 'the service')}), try again later",
    )


def _number(value: float) -> str:
    return f"{value:g}"
