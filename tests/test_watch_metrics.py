"""The watch's metrics, fed by real components: the executor's events from a plan run
on the simulated cloud, the cloud calls of that run through the metered provider, and
reconcile results; read back through prometheus_client's own parser."""

from __future__ import annotations

import pytest

from controller.errors import PermanentProviderError, TransientProviderError
from controller.events import Kind, event
from controller.execution import executor
from controller.model import SubnetScope, Topology
from controller.plan import Code, Failover, Severity, Standby, Violation
from controller.planning import planner
from controller.providers.base import JobStatus
from controller.providers.sim.cloud import SimCloud
from controller.providers.sim.faults import Faults
from controller.watching import metered
from controller.watching.loop import Outcome, ReconcileResult, Role, Trigger
from controller.watching.metrics import Metrics
from tests import builders
from tests.endpointclient import samples, value
from tests.fakeclock import FakeClock
from tests.sim_support import Ids


def _metrics() -> Metrics:
    return Metrics(version="test", provider="sim", process=False, reuse=0.0)


def _text(metrics: Metrics) -> str:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return body.decode()


def test_a_plan_run_counts_its_steps_by_action_and_its_cloud_calls(
    cloud: SimCloud, clock: FakeClock
) -> None:
    """Every step that ran is counted under its action, every cloud call under its verb."""
    metrics = _metrics()
    seen: list[Topology] = []
    provider = metered.metered(cloud, metrics, seen.append)
    observed = provider.observe()
    desired = builders.desired(
        observed,
        ["web-1"],
        [builders.moved(observed, "spare-2", "web-1"), builders.eni("new-1", "subnet-web", None)],
        scope=SubnetScope.VPC,
    )
    plan = planner.plan(desired, observed)
    assert plan.applyable, plan.violations
    result = executor.execute(
        plan, provider, observed, on_event=metrics.event, clock=clock, sleep=clock.sleep
    )
    assert result.ok
    text = _text(metrics)
    actions = [s.action.value for s in plan.steps]
    assert actions.count("attach") == 1 and "create" in actions
    for action in set(actions):
        counted = value(text, "enictl_steps_total", action=action, outcome="done")
        assert counted == actions.count(action), action
        assert value(text, "enictl_step_duration_seconds_count", action=action) == counted
    assert value(text, "enictl_steps_total", action="attach", outcome="failed") == 0
    assert seen == [observed]
    assert value(text, "enictl_cloud_calls_total", call="observe") == 1
    for verb, calls in result.calls.items():
        assert value(text, "enictl_cloud_calls_total", call=verb) == calls, verb


def test_failed_calls_and_failed_jobs_count_as_errors_by_the_clouds_code(
    cloud: SimCloud, clock: FakeClock
) -> None:
    """A refused call is an error under the cloud's code; so is a job that ends FAIL."""
    metrics = _metrics()
    ids = Ids(cloud)
    provider = metered.metered(cloud, metrics, lambda _t: None)
    with pytest.raises(PermanentProviderError) as refused:
        provider.attach(ids.server("web-1"), ids.port("building-eni"))
    cloud.set_faults(Faults(error_rate=1.0, seed=3))
    with pytest.raises(TransientProviderError) as throttled:
        provider.detach(ids.server("web-1"), ids.port("legacy-1"))
    cloud.set_faults(Faults(job_fail_rate=1.0, seed=3))
    job = provider.job(provider.attach(ids.server("web-1"), ids.port("spare-2")))
    assert job.status is JobStatus.FAIL and job.error_code
    text = _text(metrics)
    assert value(text, "enictl_cloud_errors_total", call="attach", code=refused.value.code) == 1
    assert value(text, "enictl_cloud_errors_total", call="detach", code=throttled.value.code) == 1
    assert value(text, "enictl_cloud_errors_total", call="job", code=job.error_code) == 1
    assert value(text, "enictl_cloud_calls_total", call="attach") == 2
    assert value(text, "enictl_cloud_call_duration_seconds_count", call="job") == 1


def _result(outcome: Outcome, **fields: object) -> ReconcileResult:
    return ReconcileResult(time=1000.0, trigger=Trigger.INTERVAL, outcome=outcome, **fields)  # type: ignore[arg-type]


def test_reconcile_results_set_outcome_leader_and_the_last_plans_figures() -> None:
    """Outcomes are counted; leader, epoch, violations and drift follow the last result."""
    metrics = _metrics()
    unready = Violation(
        Code.FAILOVER_UNREADY, Severity.WARNING, "NetworkInterface/eni-svc", "", "full"
    )
    metrics.result(
        _result(
            Outcome.APPLIED,
            duration=2.0,
            epoch=7,
            in_sync=True,
            violations=(unready,),
            in_grace=("old-1", "old-2"),
        )
    )
    text = _text(metrics)
    assert value(text, "enictl_reconciles_total", outcome="applied") == 1
    assert value(text, "enictl_reconciles_total", outcome="failed") == 0
    assert value(text, "enictl_reconcile_triggers_total", trigger="interval") == 1
    assert value(text, "enictl_leader") == 1 and value(text, "enictl_leader_epoch") == 7
    assert value(text, "enictl_last_success_timestamp_seconds") == 1002.0
    assert value(text, "enictl_last_reconcile_success") == 1
    code = {"code": "FailoverUnready", "severity": "warning"}
    assert value(text, "enictl_violations", **code) == 1
    assert value(text, "enictl_orphans_in_grace") == 2
    metrics.result(_result(Outcome.FAILED, duration=1.0, error="Ecs.0603"))
    text = _text(metrics)
    assert value(text, "enictl_last_reconcile_success") == 0
    assert value(text, "enictl_last_success_timestamp_seconds") == 1002.0
    assert value(text, "enictl_last_reconcile_timestamp_seconds") == 1001.0
    assert value(text, "enictl_violations", **code) == 1  # nothing planned: still the last
    metrics.result(_result(Outcome.STANDBY, role=Role.STANDBY, leader="pid 9 on b"))
    text = _text(metrics)
    assert value(text, "enictl_leader") == 0 and value(text, "enictl_leader_epoch") == 0
    assert ("enictl_violations", frozenset(code.items())) not in samples(text)
    assert value(text, "enictl_reconcile_duration_seconds_count") == 3


def test_openmetrics_is_served_when_the_scraper_asks_for_it() -> None:
    """An OpenMetrics Accept header gets OpenMetrics (with its # EOF), else Prometheus text."""
    metrics = _metrics()
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")
    assert value(_text(metrics), "enictl_build_info", version="test", provider="sim") == 1


def test_failovers_are_counted_with_their_seconds_and_standbys_readiness_shown() -> None:
    """A `failover` event counts a move of its ENI and its seconds; the last plan's
    placements give each failover ENI's ready standbys; a standby replica shows none."""
    metrics = _metrics()
    metrics.event(event(Kind.FAILOVER, interface="eni-svc", seconds=2.5, reason="x"))
    placed = Failover(
        "eni-svc", "standby-1", "standby-1", "web-1 SHUTOFF",
        standbys=(Standby("web-1", False, "SHUTOFF"), Standby("standby-2", True)),
    )  # fmt: skip
    metrics.result(_result(Outcome.APPLIED, in_sync=True, placements=(placed,)))
    text = _text(metrics)
    assert value(text, "enictl_failovers_total", interface="eni-svc") == 1
    assert value(text, "enictl_failover_duration_seconds_count") == 1
    assert value(text, "enictl_failover_duration_seconds_sum") == 2.5
    assert value(text, "enictl_failover_interfaces") == 1
    assert value(text, "enictl_failover_standbys_ready", interface="eni-svc") == 1
    metrics.result(_result(Outcome.STANDBY, role=Role.STANDBY))
    text = _text(metrics)
    assert value(text, "enictl_failover_interfaces") == 0
    ready = ("enictl_failover_standbys_ready", frozenset({("interface", "eni-svc")}))
    assert ready not in samples(text)


def test_scrapes_close_together_share_one_rendering(clock: FakeClock) -> None:
    """A scrape within `reuse` seconds of the last rendering gets its bytes (a counter
    that moved in between shows at the next rendering), per format."""
    metrics = Metrics(version="t", provider="sim", process=False, reuse=0.05, clock=clock)
    first, _ = metrics.exposition()
    metrics.call("observe", 0.1, None)
    assert metrics.exposition()[0] == first
    openmetrics = metrics.exposition("application/openmetrics-text; version=1.0.0")[0].decode()
    assert "enictl_cloud_calls_total" in openmetrics  # another format: rendered anew
    assert 'enictl_cloud_calls_total{call="observe"} 1.0' in openmetrics
    clock.advance(0.05)
    assert value(metrics.exposition()[0].decode(), "enictl_cloud_calls_total", call="observe") == 1
