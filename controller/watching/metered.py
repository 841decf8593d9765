"""The provider as `watch --listen` sees it: every call counted, every observation kept.

`metered(provider, metrics, on_observed)` wraps the provider a reconcile opens. Each
call of a cloud verb (observe, create, attach, job, ... and whatever verb a provider
adds) goes to the real provider unchanged and is counted in `Metrics.call` with its
seconds and, when it raised, the cloud's code (`ProviderError.code`; the exception's
class name for anything else); a job that ends FAIL counts as an error with the job's
code. Every topology `observe()` returns is handed to `on_observed`, so the status
page shows the cloud as the reconcile last saw it without a call of its own: a scrape
or a page view never reaches the cloud (a standby replica makes no cloud call at all).

Only the reconcile loop's threads call through it; the wrapper keeps no state of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from controller.errors import ProviderError
from controller.model import Topology
from controller.providers.base import Job, JobStatus, Provider
from controller.watching.metrics import Metrics

NOT_CALLS = frozenset({"close"})  # methods that reach no cloud


class MeteredProvider:
    """Forwards every attribute to `inner`; its methods are counted as cloud calls."""

    def __init__(
        self,
        inner: Provider,
        metrics: Metrics,
        on_observed: Callable[[Topology], None],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._on_observed = on_observed
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or name in NOT_CALLS or not callable(value):
            return value
        counted = self._counted(name, value)
        self.__dict__[name] = counted  # found directly next time
        return counted

    def _counted(self, verb: str, method: Callable[..., Any]) -> Callable[..., Any]:
        metrics, clock = self._metrics, self._clock

        def call(*args: Any, **kwargs: Any) -> Any:
            began = clock()
            try:
                value = method(*args, **kwargs)
            except ProviderError as exc:
                metrics.call(verb, clock() - began, exc.code or type(exc).__name__)
                raise
            except Exception as exc:
                metrics.call(verb, clock() - began, type(exc).__name__)
                raise
            code = None
            if isinstance(value, Job) and value.status is JobStatus.FAIL:
                code = value.error_code or "JobFailed"
            metrics.call(verb, clock() - began, code)
            if isinstance(value, Topology):
                self._on_observed(value)
            return value

        return call


def metered(inner: Provider, metrics: Metrics, on_observed: Callable[[Topology], None]) -> Provider:
    """`inner`, its calls counted in `metrics` and its observations told to `on_observed`."""
    return cast(Provider, MeteredProvider(inner, metrics, on_observed))
