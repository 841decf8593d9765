"""Resuming a crashed run: poll its jobs (never resubmit), wait for unconfirmed calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.execution import recovery
from controller.storage.journal import Journal
from tests.fakeclock import FakeClock, patience
from tests.fakecloud import FakeCloud


def test_in_flight_job_is_polled_to_completion_not_resubmitted(tmp_path: Path) -> None:
    """A job the dead run submitted is polled until done; no new attach is sent."""
    cloud = FakeCloud.build({"s1": 3}, {"a": None}, job_polls=3)
    job = cloud.attach("s1-id", "a-id")
    book = Journal.open(tmp_path)
    run = book.begin_run("sha256:p", steps=1)
    run.job_intent(1, "attach", "s1-id", "a-id")
    run.job_submitted(1, "attach", "s1-id", "a-id", job)
    events: list[dict[str, Any]] = []
    found = recovery.recover(cloud, book, patience=patience(FakeClock()), on_event=events.append)
    assert found is not None and found.jobs == ((job, "SUCCESS"),)
    assert cloud.calls_of("attach") == ["a"]
    assert cloud.interfaces["a"].server == "s1"
    assert book.unfinished() == []
    assert [e.kind for e in events] == ["resume", "resume-job"]
    assert recovery.recover(cloud, book, patience=patience(FakeClock())) is None


def test_unconfirmed_call_that_reached_the_cloud_is_waited_for(tmp_path: Path) -> None:
    """An intent without a job id: re-observe until the attach shows, then stop waiting."""
    clock = FakeClock()
    cloud = FakeCloud.build({"s1": 3}, {"a": None}, job_seconds=2.0)
    cloud.clock = clock
    book = Journal.open(tmp_path)
    book.begin_run("sha256:p", steps=1).job_intent(1, "attach", "s1-id", "a-id")
    job = cloud.attach("s1-id", "a-id")  # the call went out; its id was never written

    def observe_and_poll() -> Any:  # the fake applies a job's effect when polled
        cloud.job(job)
        return FakeCloud.observe(cloud)

    cloud.observe = observe_and_poll  # type: ignore[method-assign]
    found = recovery.recover(cloud, book, patience=patience(clock), settle=30.0)
    assert found is not None and (found.intents, found.unsettled) == (1, 0)
    assert 2.0 <= clock.now < 5.0
    assert book.unfinished() == []


def test_unconfirmed_call_that_never_left_is_waited_for_a_bounded_time(tmp_path: Path) -> None:
    """An intent whose call never reached the cloud costs the bound, then recovery ends."""
    clock = FakeClock()
    cloud = FakeCloud.build({"s1": 3}, {"a": "s1"})
    book = Journal.open(tmp_path)
    book.begin_run("sha256:p", steps=1).job_intent(1, "detach", "s1-id", "a-id")
    found = recovery.recover(cloud, book, patience=patience(clock), settle=10.0)
    assert found is not None and found.unsettled == 1
    assert 10.0 <= clock.now < 12.0
    assert cloud.calls_of("detach") == []
    assert "1 never showed an effect" in found.line()


def test_settle_bound_follows_the_runs_job_durations() -> None:
    """3x the longest job seen, at least 5 s; 60 s when no job finished."""
    base = dict(run="r", plan_digest="", started="", pid=1, steps_total=1, steps_done=0)
    run = recovery.UnfinishedRun(jobs=(), intents=(), longest_job=0.0, **base)  # type: ignore[arg-type]
    assert recovery.settle_timeout(run) == 60.0
    run = recovery.UnfinishedRun(jobs=(), intents=(), longest_job=4.0, **base)  # type: ignore[arg-type]
    assert recovery.settle_timeout(run) == 12.0
