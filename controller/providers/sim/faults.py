"""Fault injection for the simulated cloud, reproducible by seed.

The settings live in the cloud's database together with a call counter, so that
every process sharing one cloud draws from the same sequence: the n-th faultable
call after `sim faults --seed S` always gets the same dice, whichever process makes
it. Each draw is a pure function of (seed, call number).

Four kinds of fault:
- latency: every attach/detach job stays RUNNING for `latency_ms` before its effect
  (`sim faults --job-ms`, also spelled `--latency-ms`); every API call (not a console
  change) answers `call_ms` after it took effect, as a distant cloud would (`--call-ms`);
- transient errors: any call fails, before any effect, with `Ecs.0603` (HTTP 409,
  other operations running) or `APIGW.0308` (HTTP 429, throttled), half each, at
  `error_rate`;
- failed jobs: an accepted attach/detach job ends FAIL (`Ecs.0217` / `Ecs.0507`),
  with no effect, at `job_fail_rate`.
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
    call_ms: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise UsageError(f"latency must be >= 0 ms, got {self.latency_ms}")
        if self.call_ms < 0:
            raise UsageError(f"call latency must be >= 0 ms, got {self.call_ms}")
        for label, rate in (("error rate", self.error_rate), ("job fail rate", self.job_fail_rate)):
            if not 0.0 <= rate <= 1.0:
                raise UsageError(f"{label} must be between 0 and 1, got {rate}")

    @property
    def draws(self) -> bool:
        """Whether calls need dice (and so advance the shared call counter)."""
        return self.error_rate > 0.0 or self.job_fail_rate > 0.0

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
            call_ms=int(data.get("call_ms", 0)),
        )

    def describe(self) -> list[tuple[str, str]]:
        """The settings as (option name, value) pairs, as `sim faults` prints them."""
        return [
            ("latency-ms", str(self.latency_ms)),
            ("error-rate", _number(self.error_rate)),
            ("job-fail-rate", _number(self.job_fail_rate)),
            ("seed", str(self.seed)),
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


def _number(value: float) -> str:
    return f"{value:g}"
