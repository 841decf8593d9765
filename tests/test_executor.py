"""The executor against the in-memory fake cloud: order, concurrency, retries, failures."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from controller.events import Event
from controller.execution import executor, results
from controller.execution.retry import RetryPolicy
from controller.plan import Action, Plan, Step
from controller.providers.base import Job, JobStatus
from controller.storage.journal import Journal, read_records
from tests.fakeclock import FakeClock
from tests.fakecloud import FakeCloud, run_plan


def plan_of(*steps: Step) -> Plan:
    return Plan("sha256:m", "sha256:o", steps=steps)


def run(
    plan: Plan, cloud: FakeCloud, **kw: Any
) -> tuple[results.ApplyResult, list[Event], FakeClock]:
    """run_plan with jitter seed 7, also returning the fake clock it ran on."""
    clock = FakeClock()
    kw.setdefault("rng", random.Random(7))
    result, events = run_plan(plan, cloud, clock=clock, **kw)
    return result, events, clock


def test_failover_detaches_then_attaches_and_keeps_the_eni() -> None:
    """A move runs detach before attach and the ENI arrives on the standby."""
    cloud = FakeCloud.build({"s1": 3, "s2": 3}, {"a": "s1"}, eips={"e1": "a"})
    plan = plan_of(
        Step(1, Action.DETACH, "a", server="s1"),
        Step(2, Action.ATTACH, "a", server="s2", depends_on=(1,)),
    )
    result, events, _ = run(plan, cloud)
    assert result.ok and len(result.done) == 2
    assert cloud.finished_order == [("detach", "a", "s1"), ("attach", "a", "s2")]
    assert cloud.interfaces["a"].server == "s2"
    assert cloud.interfaces["a"].eip == "e1"
    names = [e.kind for e in events]
    assert names[0] == "apply-started" and names[-1] == "apply-done"
    assert names.count("step-done") == 2


def test_create_attach_bind_resolve_the_new_interface_id() -> None:
    """Steps after a create address the interface by the id the cloud gave it."""
    cloud = FakeCloud.build({"s1": 3}, {}, eips={"e1": None})
    plan = plan_of(
        Step(1, Action.CREATE, "n", subnet="net", private_ip="10.0.5.5", security_groups=("sg-a",)),
        Step(2, Action.ATTACH, "n", server="s1", depends_on=(1,)),
        Step(3, Action.BIND_EIP, "n", eip="e1", depends_on=(1,)),
        Step(4, Action.UPDATE, "n", security_groups=("sg-b", "sg-c"), depends_on=(1,)),
    )
    result, _, _ = run(plan, cloud)
    assert result.ok
    assert result.created == {"n": cloud.interfaces["n"].id}
    n = cloud.interfaces["n"]
    assert (n.server, n.eip, n.private_ip, n.security_groups) == (
        "s1",
        "e1",
        "10.0.5.5",
        ("sg-b", "sg-c"),
    )


def test_eip_moves_unbind_before_bind() -> None:
    """An EIP is unbound from its old ENI before it is bound to the new one."""
    cloud = FakeCloud.build({"s1": 4}, {"a": "s1", "b": "s1"}, eips={"e1": "a"})
    plan = plan_of(
        Step(1, Action.UNBIND_EIP, "a", eip="e1"),
        Step(2, Action.BIND_EIP, "b", eip="e1", depends_on=(1,)),
    )
    result, _, _ = run(plan, cloud)
    assert result.ok
    assert cloud.interfaces["a"].eip is None and cloud.interfaces["b"].eip == "e1"
    assert [v for v, _ in cloud.calls if v.endswith("eip")] == ["unbind_eip", "bind_eip"]


def test_one_nic_operation_per_server_at_a_time() -> None:
    """Attaches to one server never overlap, even with room to run them in parallel."""
    cloud = FakeCloud.build({"s1": 10}, {f"e{i}": None for i in range(6)}, job_polls=5)
    plan = plan_of(*(Step(i + 1, Action.ATTACH, f"e{i}", server="s1") for i in range(6)))
    result, _, _ = run(plan, cloud, parallelism=6)
    assert result.ok
    assert cloud.max_in_flight_per_server == 1
    assert sum(1 for i in cloud.interfaces.values() if i.server == "s1") == 7


def test_parallelism_caps_steps_in_flight_across_servers() -> None:
    """Independent attaches on many servers run concurrently, never more than parallelism."""

    class Gated(FakeCloud):
        """Jobs stay RUNNING until as many as can be are in flight: overlap is certain."""

        def job(self, job_id: str) -> Job:
            with self._lock:
                left = 16 - len(self.finished_order)
                if len(self._pending()) < min(4, left):
                    self.calls.append(("job", job_id))
                    return Job(job_id, JobStatus.RUNNING)
            return super().job(job_id)

    servers = {f"s{i}": 3 for i in range(16)}
    cloud = Gated.build(servers, {f"e{i}": None for i in range(16)})
    plan = plan_of(*(Step(i + 1, Action.ATTACH, f"e{i}", server=f"s{i}") for i in range(16)))
    result, _, _ = run(plan, cloud, parallelism=4)
    assert result.ok
    assert cloud.max_in_flight == 4


def test_longest_chain_goes_first() -> None:
    """With one worker, the head of the longest dependency chain is started first."""
    cloud = FakeCloud.build({"s1": 3, "s2": 3, "s3": 3}, {"a": "s1", "b": None})
    plan = plan_of(
        Step(1, Action.ATTACH, "b", server="s3"),
        Step(2, Action.DETACH, "a", server="s1"),
        Step(3, Action.ATTACH, "a", server="s2", depends_on=(2,)),
    )
    result, events, _ = run(plan, cloud, parallelism=1)
    assert result.ok
    started = [e["step"] for e in events if e.kind == "step-started"]
    assert started[0] == 2  # then a tie (1 and 3 each head a chain of one): by id
    assert started == [2, 1, 3]


def test_transient_errors_are_retried_with_bounded_jittered_backoff() -> None:
    """Transient errors on submit and poll are retried; delays stay within full jitter bounds."""
    cloud = FakeCloud.build({"s1": 3}, {"a": None})
    cloud.transient_next.update({"attach": 2, "job": 1})
    plan = plan_of(Step(1, Action.ATTACH, "a", server="s1"))
    policy = RetryPolicy(attempts=5, base=0.1, cap=1.0)
    result, events, clock = run(plan, cloud, retry=policy)
    assert result.ok
    retries = [e for e in events if e.kind == "retry"]
    assert [(e["call"], e["attempt"]) for e in retries] == [
        ("attach", 1),
        ("attach", 2),
        ("job", 1),
    ]
    assert retries[0]["code"] == "Ecs.0603"
    assert 0 <= clock.sleeps[0] <= 0.1 and 0 <= clock.sleeps[1] <= 0.2
    assert cloud.interfaces["a"].server == "s1"


def test_transient_errors_past_the_bound_fail_the_step() -> None:
    """A call still transient after the last try fails its step with the cloud's code."""
    cloud = FakeCloud.build({"s1": 3}, {"a": None})
    cloud.transient_next["attach"] = 10
    plan = plan_of(Step(1, Action.ATTACH, "a", server="s1"))
    result, _, _ = run(plan, cloud, retry=RetryPolicy(attempts=3))
    assert [(r.step.id, r.code) for r in result.failed] == [(1, "Ecs.0603")]
    assert cloud.calls_of("attach") == ["a", "a", "a"]


def test_random_transient_errors_converge() -> None:
    """With 30% of calls failing transiently, every step still completes."""
    servers = {f"s{i}": 3 for i in range(8)}
    cloud = FakeCloud.build(servers, {f"e{i}": f"s{i}" for i in range(8)}, job_polls=2)
    steps = []
    for i in range(8):
        steps.append(Step(2 * i + 1, Action.DETACH, f"e{i}", server=f"s{i}"))
        steps.append(
            Step(
                2 * i + 2, Action.ATTACH, f"e{i}", server=f"s{(i + 1) % 8}", depends_on=(2 * i + 1,)
            )
        )
    cloud.transient_rate = 0.3
    result, _, _ = run(plan_of(*steps), cloud, retry=RetryPolicy(attempts=30))
    assert result.ok, [r.line() for r in result.failed]
    assert all(cloud.interfaces[f"e{i}"].server == f"s{(i + 1) % 8}" for i in range(8))


def test_permanent_failure_stops_dependents_only() -> None:
    """A failed job fails its step with the job's code; dependents wait, others finish."""
    cloud = FakeCloud.build({"s1": 3, "s2": 3, "s3": 3}, {"a": "s1", "b": None, "c": None})
    cloud.fail_jobs[("detach", "a")] = ("Ecs.0507", "NIC delete failed")
    plan = plan_of(
        Step(1, Action.DETACH, "a", server="s1"),
        Step(2, Action.ATTACH, "a", server="s2", depends_on=(1,)),
        Step(3, Action.DELETE, "b", depends_on=(2,)),
        Step(4, Action.ATTACH, "c", server="s3"),
    )
    result, events, _ = run(plan, cloud)
    assert not result.ok
    assert [(r.step.id, r.code, r.message) for r in result.failed] == [
        (1, "Ecs.0507", "NIC delete failed")
    ]
    assert [r.step.id for r in result.not_started] == [2, 3]
    assert [r.step.id for r in result.done] == [4]
    assert "depends on step 1" in result.not_started[0].message
    assert "step 1: detach a on s1: Ecs.0507" in result.failed[0].line()
    assert [e["step"] for e in events if e.kind == "step-skipped"] == [2, 3]


def test_a_refused_call_fails_with_the_clouds_code() -> None:
    """A permanent error from a synchronous call fails the step with its code and message."""
    from controller.errors import PermanentProviderError

    cloud = FakeCloud.build({"s1": 3}, {"a": None})
    cloud.fail_calls[("delete_interface", "a")] = PermanentProviderError("VPC.0999", "nope")
    result, _, _ = run(plan_of(Step(1, Action.DELETE, "a")), cloud)
    assert [(r.code, r.message) for r in result.failed] == [("VPC.0999", "nope")]


def test_delete_on_termination_cleared_before_a_surviving_detach() -> None:
    """A moving ENI whose attachment would delete it gets the flag cleared first."""
    cloud = FakeCloud.build({"s1": 3, "s2": 3}, {"a": "s1"}, dot=True)
    plan = plan_of(
        Step(1, Action.DETACH, "a", server="s1"),
        Step(2, Action.ATTACH, "a", server="s2", depends_on=(1,)),
    )
    result, _, _ = run(plan, cloud)
    assert result.ok
    verbs = [v for v, t in cloud.calls if t == "a"]
    assert verbs.index("set_delete_on_termination") < verbs.index("detach")
    assert cloud.interfaces["a"].server == "s2"


def test_delete_on_termination_not_touched_when_observed_false() -> None:
    """No extra call when the observed attachment already keeps the ENI."""
    cloud = FakeCloud.build({"s1": 3}, {"a": "s1"}, dot=False)
    result, _, _ = run(plan_of(Step(1, Action.DETACH, "a", server="s1")), cloud)
    assert result.ok and "a" in cloud.interfaces
    assert cloud.calls_of("set_delete_on_termination") == []


def test_detach_after_attach_in_the_same_run_clears_the_flag() -> None:
    """An attachment made during the run is not trusted to keep the ENI on detach."""
    cloud = FakeCloud.build({"s1": 3, "s2": 3}, {"a": None})
    plan = plan_of(
        Step(1, Action.ATTACH, "a", server="s1"),
        Step(2, Action.DETACH, "a", server="s1", depends_on=(1,)),
        Step(3, Action.ATTACH, "a", server="s2", depends_on=(2,)),
    )
    result, _, _ = run(plan, cloud)
    assert result.ok and cloud.interfaces["a"].server == "s2"
    assert cloud.calls_of("set_delete_on_termination") == ["a"]


def test_waits_for_a_server_to_become_ready() -> None:
    """A server in BUILD is waited for, then the attach goes through."""
    cloud = FakeCloud.build({"s1": 3}, {"a": None})
    cloud.servers["s1"] = cloud.servers["s1"].__class__(
        **{**_fields(cloud.servers["s1"]), "status": "BUILD"}
    )
    observed = cloud.observe()
    cloud.status_after["s1"] = ["BUILD", "ACTIVE"]
    clock = FakeClock()
    events: list[dict[str, Any]] = []
    result = executor.execute(
        plan_of(Step(1, Action.ATTACH, "a", server="s1")),
        cloud,
        observed,
        clock=clock,
        sleep=clock.sleep,
        on_event=events.append,
    )
    assert result.ok
    assert [e.kind for e in events if e.kind == "waiting-server"] == ["waiting-server"]


def test_a_server_that_stays_not_ready_fails_with_server_not_ready() -> None:
    """After the bounded wait, the step fails with ServerNotReady and nothing is submitted."""
    cloud = FakeCloud.build({"s1": 3}, {"a": None})
    cloud.servers["s1"] = cloud.servers["s1"].__class__(
        **{**_fields(cloud.servers["s1"]), "status": "ERROR"}
    )
    result, _, clock = run(
        plan_of(Step(1, Action.ATTACH, "a", server="s1")), cloud, server_ready_timeout=30.0
    )
    assert [r.code for r in result.failed] == ["ServerNotReady"]
    assert cloud.calls_of("attach") == []
    assert 30.0 <= clock.now < 60.0


def test_unexpected_exception_fails_one_step_without_hanging() -> None:
    """A bug in a step (here: an unknown interface) fails that step; the run still ends."""
    cloud = FakeCloud.build({"s1": 3}, {"a": None})
    plan = plan_of(Step(1, Action.ATTACH, "ghost", server="s1"), Step(2, Action.ATTACH, "a", "s1"))
    result, _, _ = run(plan, cloud)
    assert [r.code for r in result.failed] == ["UnresolvedName"]
    assert [r.step.id for r in result.done] == [2]


def test_journal_records_intent_before_job_and_job_before_done(tmp_path: Path) -> None:
    """The journal has, per async step: started, intent, submitted job id, finished, done."""
    cloud = FakeCloud.build({"s1": 3}, {"a": None})
    journal = Journal.open(tmp_path)
    run_journal = journal.begin_run("sha256:p", steps=1)
    result, _, _ = run(
        plan_of(Step(1, Action.ATTACH, "a", server="s1")), cloud, journal=run_journal
    )
    run_journal.finish("ok")
    assert result.ok
    kinds = [r["type"] for r in read_records(tmp_path / "journal.jsonl")]
    assert kinds == [
        "run-started",
        "step-started",
        "job-intent",
        "job-submitted",
        "job-finished",
        "step-done",
        "run-finished",
    ]
    submitted = next(r for r in read_records(tmp_path / "journal.jsonl") if "job" in r)
    assert submitted["job"] == result.done[0].job_id
    json.dumps(result.as_json())


def test_polls_wait_for_the_learned_job_duration() -> None:
    """Once jobs are seen to take a while, the next job is first polled when it should be done."""
    clock = FakeClock()
    cloud = FakeCloud.build({"s1": 9}, {f"e{i}": None for i in range(4)}, job_seconds=1.0)
    cloud.clock = clock
    steps = [
        Step(i + 1, Action.ATTACH, f"e{i}", server="s1", depends_on=(i,) if i else ())
        for i in range(4)
    ]
    result = executor.execute(
        plan_of(*steps), cloud, cloud.observe(), clock=clock, sleep=clock.sleep
    )
    assert result.ok
    # the first job learns (polls at 0, .05, .125, .24, .41, .66, 1.04); each later one
    # polls once below the known end (closing in on it) and at most once more at it
    assert len(cloud.calls_of("job")) <= 7 + 2 * 3
    assert clock.now < 4 * 1.1


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def test_a_create_retried_after_a_timeout_adopts_the_port_it_made() -> None:
    """A transient error after the port was made: the retry finds it by name, no twin."""
    from controller.errors import TransientProviderError

    cloud = FakeCloud.build({"s1": 3}, {})
    real_create = cloud.create_interface
    tries: list[str] = []

    def create_then_time_out(spec: Any) -> str:
        tries.append(spec.name)
        made = real_create(spec)
        if len(tries) == 1:
            raise TransientProviderError("Ecs.1002", "backend timeout")
        return made

    cloud.create_interface = create_then_time_out  # type: ignore[method-assign]
    plan = plan_of(
        Step(1, Action.CREATE, "n", subnet="net"),
        Step(2, Action.ATTACH, "n", server="s1", depends_on=(1,)),
    )
    result, _, _ = run(plan, cloud)
    assert result.ok and tries == ["n"]
    assert result.created == {"n": cloud.interfaces["n"].id}
    assert cloud.interfaces["n"].server == "s1"


def test_a_create_retried_after_a_refusal_before_any_effect_creates_once() -> None:
    """A transient refusal that made nothing: the retry creates the port."""
    cloud = FakeCloud.build({"s1": 3}, {})
    cloud.transient_next["create_interface"] = 2
    result, events, _ = run(plan_of(Step(1, Action.CREATE, "n", subnet="net")), cloud)
    assert result.ok and "n" in cloud.interfaces
    assert [e["attempt"] for e in events if e.kind == "retry"] == [1, 2]
    assert cloud.calls_of("create_interface") == ["n", "n", "n"]
