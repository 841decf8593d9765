"""The Prometheus metrics of `enictl watch --listen`, fed in one place.

Everything a scrape of `/metrics` shows is counted here, from three sources and
nothing else:

- the events the executor, the step runner and the recovery emit (`Metrics.event`):
  steps by action and outcome and their seconds, retries by call and code;
- the `ReconcileResult` of each reconcile (`Metrics.result`): reconciles by outcome
  and trigger, their duration, the last (successful) reconcile's time, the changes,
  drift and violations of the last plan, the leader state and the lease's epoch;
- every call the reconcile makes to the cloud (`Metrics.call`, from
  `controller.watching.metered`): calls by provider verb, their seconds, errors by code.

The metrics live in a registry of their own (not prometheus_client's global one), so
two watches in one process (tests) never share a counter. Updating a metric takes
one short lock inside prometheus_client; a scrape renders the registry in the HTTP
thread that serves it, so the reconcile loop never waits for a scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

from controller.events import Event, Kind
from controller.plan import ACTIONS, Failover
from controller.watching.loop import Outcome, ReconcileResult, Role, Trigger

PREFIX = "enictl"

STEP_OUTCOMES = ("done", "failed", "skipped")
MARK_ACTIONS = ("adopt", "protect")  # markers set on ENIs: counted as steps of that name

_STEP_EVENTS = {
    Kind.STEP_DONE: "done",
    Kind.STEP_FAILED: "failed",
    Kind.STEP_SKIPPED: "skipped",
}
_MARK_EVENTS = {
    Kind.ADOPTED: ("adopt", "done"),
    Kind.ADOPT_FAILED: ("adopt", "failed"),
    Kind.PROTECTED: ("protect", "done"),
    Kind.PROTECT_FAILED: ("protect", "failed"),
}

REUSE_SECONDS = 0.05  # a scrape this soon after the last rendering gets the same bytes
_RECONCILE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# few buckets where there are many label values: a scrape stays small (about 10 KiB)
_STEP_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 120)
_CALL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
_FAILOVER_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300)


class Metrics:
    """The watch's metrics, in their own registry."""

    def __init__(
        self,
        *,
        version: str,
        provider: str,
        process: bool = True,
        reuse: float = REUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # the `_created` series double a scrape and no alert needs them (process-wide)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        m = _Maker(self.registry)
        info = m.gauge(
            "build_info", "enictl's version and provider; always 1", "version", "provider"
        )
        info.labels(version, provider).set(1)
        self.reconciles = m.counter("reconciles", "Reconciles that ended, by outcome", "outcome")
        self.triggers = m.counter(
            "reconcile_triggers", "Reconciles by what started them", "trigger"
        )
        self.reconcile_seconds = m.histogram(
            "reconcile_duration_seconds",
            "How long a reconcile took (lock, observe, plan, apply, verify)",
            _RECONCILE_BUCKETS,
        )
        self.last_reconcile = m.gauge(
            "last_reconcile_timestamp_seconds", "When the last reconcile ended (Unix time)"
        )
        self.last_success = m.gauge(
            "last_success_timestamp_seconds",
            "When the last successful reconcile (in-sync, applied, drift) ended (Unix time)",
        )
        self.ok = m.gauge(
            "last_reconcile_success",
            "1 when the last reconcile succeeded, 0 when it failed, was rejected or invalid",
        )
        self.changes = m.gauge("plan_changes", "Changes the last plan had (steps and markers)")
        self.in_grace = m.gauge(
            "orphans_in_grace", "Orphans --prune keeps until --prune-grace has passed"
        )
        self.drifted = m.gauge(
            "drifted_resources", "Resources the last plan found changed outside enictl"
        )
        self.violations = m.gauge(
            "violations",
            "Violations of the last plan by code and severity (FailoverUnready, ...)",
            "code",
            "severity",
        )
        self.steps = m.counter(
            "steps", "Plan steps that ended, by action and outcome", "action", "outcome"
        )
        self.step_seconds = m.histogram(
            "step_duration_seconds",
            "How long a step that succeeded took, its cloud job included",
            _STEP_BUCKETS,
            "action",
        )
        self.retries = m.counter(
            "retries",
            "Cloud calls retried after a transient error, by call and code",
            "call",
            "code",
        )
        self.calls = m.counter("cloud_calls", "Calls to the cloud, by provider verb", "call")
        self.call_seconds = m.histogram(
            "cloud_call_duration_seconds",
            "How long a call to the cloud took, by provider verb",
            _CALL_BUCKETS,
            "call",
        )
        self.errors = m.counter(
            "cloud_errors",
            "Cloud calls that failed and jobs that ended FAIL, by verb and the cloud's code",
            "call",
            "code",
        )
        self.failovers = m.counter(
            "failovers", "Failover moves made (the ENI attached to its new server)", "interface"
        )
        self.failover_seconds = m.histogram(
            "failover_duration_seconds",
            "From detecting a failed server to the failover ENI attached elsewhere",
            _FAILOVER_BUCKETS,
        )
        self.failover_interfaces = m.gauge(
            "failover_interfaces", "Failover ENIs (with standbys) in the last plan"
        )
        self.standbys_ready = m.gauge(
            "failover_standbys_ready",
            "Servers of a failover ENI other than its current one that could take it now",
            "interface",
        )
        self.leader = m.gauge(
            "leader", "1 while this replica leads (holds the lock or lease) and reconciles, else 0"
        )
        self.epoch = m.gauge(
            "leader_epoch",
            "The lease's epoch while this replica leads (0 on the state dir, which has none)",
        )
        for outcome in Outcome:
            self.reconciles.labels(outcome.value)
        for trigger in Trigger:
            self.triggers.labels(trigger.value)
        for action in (*(a.value for a in ACTIONS), *MARK_ACTIONS):
            for state in STEP_OUTCOMES:
                self.steps.labels(action, state)
        self._lock = threading.Lock()  # the violations gauge is replaced whole per result
        self._reuse, self._clock = reuse, clock
        self._rendering = threading.Lock()
        self._rendered: dict[str, tuple[float, bytes]] = {}  # content type -> (when, bytes)

    def event(self, event: Event) -> None:
        """Count what an event says (called from the executor's worker threads too)."""
        kind = event.kind
        if kind in _STEP_EVENTS:
            action = str(event.get("action", "unknown"))
            self.steps.labels(action, _STEP_EVENTS[kind]).inc()
            if kind is Kind.STEP_DONE and "seconds" in event:
                self.step_seconds.labels(action).observe(float(event["seconds"]))
        elif kind in _MARK_EVENTS:
            self.steps.labels(*_MARK_EVENTS[kind]).inc()
        elif kind is Kind.RETRY:
            self.retries.labels(str(event.get("call", "")), str(event.get("code", ""))).inc()
        elif kind is Kind.FAILOVER:
            self.failovers.labels(str(event.get("interface", ""))).inc()
            if event.get("seconds") is not None:
                self.failover_seconds.observe(float(event["seconds"]))

    def result(self, result: ReconcileResult) -> None:
        """Count a finished reconcile and show what its plan found."""
        ended = result.time + result.duration
        self.reconciles.labels(result.outcome.value).inc()
        self.triggers.labels(result.trigger.value).inc()
        self.reconcile_seconds.observe(result.duration)
        self.last_reconcile.set(ended)
        leading = result.role is Role.LEADER and result.outcome is not Outcome.STANDBY
        self.leader.set(1 if leading else 0)
        self.epoch.set(result.epoch if leading else 0)
        if result.succeeded:
            self.last_success.set(ended)
        if result.outcome is Outcome.STANDBY:
            # nothing planned here: what the plan finds is the leader's to tell
            self.changes.set(0)
            self.drifted.set(0)
            self.in_grace.set(0)
            self._set_violations({})
            self._set_placements(())
            return
        self.ok.set(1 if result.succeeded else 0)
        if result.in_sync is None:
            return  # no plan (invalid manifests, a failure before planning): figures stand
        self.changes.set(result.changes)
        self.drifted.set(len(result.drifted))
        self.in_grace.set(len(result.in_grace))
        counts: dict[tuple[str, str], int] = {}
        for v in result.violations:
            key = (v.code.value, v.severity.value)
            counts[key] = counts.get(key, 0) + 1
        self._set_violations(counts)
        self._set_placements(result.placements)

    def call(self, verb: str, seconds: float, error_code: str | None) -> None:
        """Count one call to the cloud; `error_code` when it failed (or its job did)."""
        self.calls.labels(verb).inc()
        self.call_seconds.labels(verb).observe(seconds)
        if error_code is not None:
            self.errors.labels(verb, error_code or "unknown").inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry in the format the scraper asked for (Prometheus text by default,
        OpenMetrics when its Accept header says so), and its content type. A scrape
        within `reuse` seconds of the last rendering gets the same bytes: scrapers
        asking many times a second cost the loop one rendering per `reuse`."""
        encode, content_type = choose_encoder(accept)
        with self._rendering:  # one rendering at a time; a scrape right after reuses it
            now = self._clock()
            kept = self._rendered.get(content_type)
            if kept is not None and now - kept[0] < self._reuse:
                return kept[1], content_type
            body = encode(self.registry)
            self._rendered[content_type] = (now, body)
        return body, content_type

    def _set_placements(self, placements: Sequence[Failover]) -> None:
        with self._lock:
            self.failover_interfaces.set(len(placements))
            self.standbys_ready.clear()
            for found in placements:
                ready = sum(1 for s in found.standbys if s.ready)
                self.standbys_ready.labels(found.interface).set(ready)

    def _set_violations(self, counts: Mapping[tuple[str, str], int]) -> None:
        with self._lock:
            self.violations.clear()
            for (code, severity), n in sorted(counts.items()):
                self.violations.labels(code, severity).set(n)


class _Maker:
    """Makes the instruments, named `enictl_...`, in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def counter(self, name: str, doc: str, *labels: str) -> Counter:
        return Counter(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

    def gauge(self, name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

    def histogram(self, name: str, doc: str, buckets: Sequence[float], *labels: str) -> Histogram:
        return Histogram(f"{PREFIX}_{name}", doc, labels, registry=self.registry, buckets=buckets)
