"""The watch loop with an injected reconcile, scripted file notices and a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.watching import loop
from controller.watching.loop import (
    Backoff,
    Inbox,
    LoopSettings,
    Outcome,
    ReconcileResult,
    Trigger,
)
from tests.fakeclock import FakeClock

INFINITY = float("inf")


class ScriptedWakeups:
    """File notices at fixed fake times; the loop is stopped at `stop_at`."""

    def __init__(
        self, clock: FakeClock, notices: Iterable[tuple[float, Iterable[str]]], stop_at: float
    ) -> None:
        self.clock = clock
        self.notices = sorted((at, frozenset(paths)) for at, paths in notices)
        self.stop_at = stop_at
        self._stopped = threading.Event()

    @property
    def stopped(self) -> threading.Event:
        return self._stopped

    def get(self, timeout: float | None) -> frozenset[str] | None:
        horizon = self.clock.now + (INFINITY if timeout is None else timeout)
        if self.notices and self.notices[0][0] <= min(horizon, self.stop_at):
            at, paths = self.notices.pop(0)
            self.clock.now = max(self.clock.now, at)
            return paths
        if horizon >= self.stop_at:
            self.clock.now = max(self.clock.now, self.stop_at)
            self._stopped.set()
            return None
        self.clock.now = horizon
        return None


@dataclass
class FakeReconcile:
    """Records each call; answers with the next scripted outcome (then `default`)."""

    clock: FakeClock
    outcomes: list[Outcome] = field(default_factory=list)
    default: Outcome = Outcome.IN_SYNC
    duration: float = 0.0
    calls: list[tuple[float, Trigger, frozenset[str]]] = field(default_factory=list)
    during: Callable[[], None] | None = None

    def __call__(self, trigger: Trigger, changed: frozenset[str]) -> ReconcileResult:
        self.calls.append((self.clock.now, trigger, changed))
        outcome = self.outcomes.pop(0) if self.outcomes else self.default
        self.clock.now += self.duration
        if self.during is not None:
            self.during()
        return ReconcileResult(time=self.clock.now, trigger=trigger, outcome=outcome)

    def triggers(self) -> list[Trigger]:
        return [t for _, t, _ in self.calls]

    def times(self) -> list[float]:
        return [round(at, 3) for at, _, _ in self.calls]


def _run(
    reconcile: FakeReconcile,
    wakeups: ScriptedWakeups,
    settings: LoopSettings,
    backoff: Backoff | None = None,
) -> list[ReconcileResult]:
    results: list[ReconcileResult] = []
    loop.run(
        reconcile, wakeups, results.append, settings=settings, backoff=backoff, clock=wakeups.clock
    )
    return results


def test_reconciles_at_start_then_every_interval() -> None:
    """With nothing changing, the loop reconciles at start and then once per interval."""
    clock = FakeClock()
    rec = FakeReconcile(clock)
    _run(rec, ScriptedWakeups(clock, [], stop_at=35), LoopSettings(interval=10))
    assert rec.triggers() == [Trigger.START] + [Trigger.INTERVAL] * 3
    assert rec.times() == [0, 10, 20, 30]


def test_debounce_coalesces_a_burst_into_one_reconcile() -> None:
    """An editor's save burst (several notices close together) gives one reconcile."""
    clock = FakeClock()
    rec = FakeReconcile(clock)
    burst = [(5.0, ["a.yaml"]), (5.03, ["a.yaml~"]), (5.06, ["b.yaml"]), (5.09, ["a.yaml"])]
    settings = LoopSettings(interval=10, debounce=0.1)
    _run(rec, ScriptedWakeups(clock, burst, stop_at=12), settings)
    assert rec.triggers() == [Trigger.START, Trigger.FILES]
    assert rec.calls[1][2] == {"a.yaml", "a.yaml~", "b.yaml"}
    assert rec.times()[1] == pytest.approx(5.19)


def test_a_file_change_restarts_the_interval() -> None:
    """After a file-triggered reconcile, the next drift check is one interval later."""
    clock = FakeClock()
    rec = FakeReconcile(clock)
    settings = LoopSettings(interval=10, debounce=0.1)
    _run(rec, ScriptedWakeups(clock, [(4.0, ["a.yaml"])], stop_at=15), settings)
    assert rec.triggers() == [Trigger.START, Trigger.FILES, Trigger.INTERVAL]
    assert rec.times() == [0, 4.1, 14.1]


def test_an_endless_stream_of_changes_is_reconciled_after_max_debounce() -> None:
    """Changes that never pause still get reconciled once `max_debounce` has passed."""
    clock = FakeClock()
    rec = FakeReconcile(clock)
    stream = [(1.0 + i * 0.05, [f"f{i}.yaml"]) for i in range(200)]
    settings = LoopSettings(interval=100, debounce=0.1, max_debounce=2.0)
    _run(rec, ScriptedWakeups(clock, stream, stop_at=3.5), settings)
    assert rec.triggers()[:2] == [Trigger.START, Trigger.FILES]
    assert rec.times()[1] == pytest.approx(3.0)
    assert len(rec.calls[1][2]) == 41  # the first notice and the 40 within the cap


def test_changes_during_a_reconcile_give_exactly_one_follow_up() -> None:
    """Notices that arrive while a reconcile runs are coalesced into the next one."""
    clock = FakeClock()
    rec = FakeReconcile(clock, duration=1.0)
    notices = [(0.2, ["a.yaml"]), (0.5, ["b.yaml"]), (0.9, ["a.yaml"])]
    settings = LoopSettings(interval=10, debounce=0.1)
    _run(rec, ScriptedWakeups(clock, notices, stop_at=5), settings)
    assert rec.triggers() == [Trigger.START, Trigger.FILES]
    assert rec.calls[1][2] == {"a.yaml", "b.yaml"}


def test_invalid_manifests_wait_for_a_file_change_not_for_the_timer() -> None:
    """While the manifests are invalid nothing is reconciled on a timer; a fix resumes it."""
    clock = FakeClock()
    rec = FakeReconcile(clock, outcomes=[Outcome.IN_SYNC, Outcome.INVALID, Outcome.IN_SYNC])
    notices = [(3.0, ["a.yaml"]), (50.0, ["a.yaml"])]
    settings = LoopSettings(interval=10, debounce=0.1)
    _run(rec, ScriptedWakeups(clock, notices, stop_at=65), settings)
    assert rec.triggers() == [Trigger.START, Trigger.FILES, Trigger.FILES, Trigger.INTERVAL]
    assert rec.times() == [0, 3.1, 50.1, 60.1]


def test_backoff_grows_on_failures_and_resets_on_success() -> None:
    """Failures retry after 1, 2, 4, 8 s; a success resets the delay to the start."""
    clock = FakeClock()
    failed, ok = Outcome.FAILED, Outcome.IN_SYNC
    rec = FakeReconcile(clock, outcomes=[failed] * 4 + [ok, failed, ok])
    settings = LoopSettings(interval=100)
    _run(rec, ScriptedWakeups(clock, [], stop_at=150), settings, Backoff(initial=1, cap=60))
    assert rec.triggers() == [
        Trigger.START,
        Trigger.RETRY,
        Trigger.RETRY,
        Trigger.RETRY,
        Trigger.RETRY,  # succeeds at 15
        Trigger.INTERVAL,  # fails at 115
        Trigger.RETRY,  # 1 s later: the backoff was reset
    ]
    assert rec.times() == [0, 1, 3, 7, 15, 115, 116]


def test_backoff_is_capped() -> None:
    """The retry delay doubles up to the cap and stays there."""
    backoff = Backoff(initial=1, cap=60)
    assert [backoff.next() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    backoff.reset()
    assert backoff.next() == 1


def test_a_file_change_cuts_a_backoff_short() -> None:
    """A file change during a backoff wait reconciles at once (it may be the fix)."""
    clock = FakeClock()
    rec = FakeReconcile(clock, outcomes=[Outcome.FAILED] * 3)
    settings = LoopSettings(interval=100, debounce=0.1)
    backoff = Backoff(initial=10, cap=60)
    _run(rec, ScriptedWakeups(clock, [(5.0, ["a.yaml"])], stop_at=30), settings, backoff)
    assert rec.triggers() == [Trigger.START, Trigger.FILES, Trigger.RETRY]
    assert rec.times() == [0, 5.1, 25.1]


def test_stop_during_a_reconcile_ends_the_loop_after_it() -> None:
    """A stop request while a reconcile runs lets it finish, then the loop returns."""
    clock = FakeClock()
    wakeups = ScriptedWakeups(clock, [(0.5, ["a.yaml"])], stop_at=100)
    rec = FakeReconcile(clock, duration=1.0, during=wakeups.stopped.set)
    results = _run(rec, wakeups, LoopSettings(interval=10))
    assert len(results) == 1
    assert rec.triggers() == [Trigger.START]


def test_real_inbox_stop_wakes_a_waiting_loop() -> None:
    """`Inbox.stop()` from another thread ends a loop that waits on a long interval."""
    inbox = Inbox()
    first = threading.Event()
    results: list[ReconcileResult] = []

    def on_result(result: ReconcileResult) -> None:
        results.append(result)
        first.set()

    def reconcile(trigger: Trigger, changed: frozenset[str]) -> ReconcileResult:
        return ReconcileResult(time=0, trigger=trigger, outcome=Outcome.IN_SYNC)

    settings = LoopSettings(interval=3600)
    thread = threading.Thread(
        target=loop.run, args=(reconcile, inbox, on_result), kwargs={"settings": settings}
    )
    thread.start()
    assert first.wait(10)
    inbox.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert [r.trigger for r in results] == [Trigger.START]


def test_real_inbox_notice_triggers_a_files_reconcile() -> None:
    """A notice posted to the real inbox wakes the loop with the changed paths."""
    inbox = Inbox()
    seen: list[tuple[Trigger, frozenset[str]]] = []

    def reconcile(trigger: Trigger, changed: frozenset[str]) -> ReconcileResult:
        seen.append((trigger, changed))
        if trigger is Trigger.START:
            inbox.notify(["m/a.yaml"])
        else:
            inbox.stop()
        return ReconcileResult(time=0, trigger=trigger, outcome=Outcome.IN_SYNC)

    loop.run(reconcile, inbox, lambda _r: None, settings=LoopSettings(3600, debounce=0.01))
    assert seen == [(Trigger.START, frozenset()), (Trigger.FILES, frozenset({"m/a.yaml"}))]


def test_result_json_names_the_health_fields() -> None:
    """A result's JSON event carries what a health check reads."""
    result = ReconcileResult(
        time=0,
        trigger=Trigger.INTERVAL,
        outcome=Outcome.DRIFT,
        manifests_digest="sha256:a",
        observed_fingerprint="sha256:b",
        changes=2,
        in_sync=False,
        duration=0.5,
    )
    data = result.as_json()
    assert data["time"] == "1970-01-01T00:00:00.000+00:00"
    assert data["trigger"] == "interval"
    assert data["outcome"] == "drift"
    assert data["inSync"] is False
    assert data["manifestsDigest"] == "sha256:a"
    assert data["observedFingerprint"] == "sha256:b"
    assert data["violations"] == []
    assert data["error"] == ""


def test_is_manifest_folder(tmp_path: Path) -> None:
    """A new visible folder inside a watched folder counts (files in it may follow)."""
    folder = tmp_path / "m"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    assert loop.is_manifest_folder(str(folder / "sub"), [folder])
    assert not loop.is_manifest_folder(str(folder / ".git"), [folder])
    assert not loop.is_manifest_folder(str(tmp_path), [folder])


def test_is_manifest_path(tmp_path: Path) -> None:
    """Only YAML files under a watched folder, or a watched file itself, count."""
    folder = tmp_path / "m"
    single = tmp_path / "one.yaml"
    roots = [folder, single]
    assert loop.is_manifest_path(str(folder / "sub" / "a.yml"), roots)
    assert loop.is_manifest_path(str(single), roots)
    assert not loop.is_manifest_path(str(folder / "a.yaml.swp"), roots)
    assert not loop.is_manifest_path(str(folder / ".#a.yaml"), roots)  # an editor's lock
    assert not loop.is_manifest_path(str(folder / ".git" / "x.yaml"), roots)
    assert not loop.is_manifest_path(str(tmp_path / "other.yaml"), roots)


def test_watch_files_reports_a_rename_over_save(tmp_path: Path) -> None:
    """An editor's save (write a temp file, rename it over the manifest) is noticed."""
    folder = tmp_path / "m"
    folder.mkdir()
    single = tmp_path / "one.yaml"
    single.write_text("a: 1\n")
    inbox = Inbox()
    threads = loop.watch_files([folder, single], inbox, step_ms=10)
    try:
        (tmp_path / "notes.txt").write_text("ignored\n")
        tmp = tmp_path / ".one.yaml.tmp"
        tmp.write_text("a: 2\n")
        tmp.replace(single)
        got = inbox.get(10)
        assert got is not None
        assert got == {str(single)}
        (folder / "sub").mkdir()
        (folder / "sub" / "b.yml").write_text("b: 1\n")
        more = inbox.get(10)  # the new folder, or the file in it (the OS may miss the file)
        assert more is not None
        assert more & {str(folder / "sub"), str(folder / "sub" / "b.yml")}
    finally:
        inbox.stop()
        for thread in threads:
            thread.join(10)
    assert not any(thread.is_alive() for thread in threads)


def test_a_health_change_reconciles_at_once_between_intervals() -> None:
    """The probe runs every health interval between reconciles; when it reports a change
    the loop reconciles at once (trigger health), not at the next interval."""
    clock = FakeClock()
    rec = FakeReconcile(clock)
    probes: list[float] = []

    def probe() -> bool:
        probes.append(clock.now)
        return clock.now == 7.0  # the server failed between the probes at 6 and 7

    settings = LoopSettings(interval=60, health_interval=1)
    loop.run(rec, ScriptedWakeups(clock, [], stop_at=9.5), lambda r: None, settings=settings,
             clock=clock, probe=probe)  # fmt: skip
    assert rec.triggers() == [Trigger.START, Trigger.HEALTH]
    assert rec.times() == [0, 7]
    assert probes == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_no_health_probe_while_the_manifests_are_invalid() -> None:
    """With invalid manifests only a file change can help: the probe is not polled."""
    clock = FakeClock()
    rec = FakeReconcile(clock, outcomes=[Outcome.INVALID])
    probes: list[float] = []

    def probe() -> bool:
        probes.append(clock.now)
        return True

    settings = LoopSettings(interval=60, health_interval=1)
    loop.run(rec, ScriptedWakeups(clock, [], stop_at=5), lambda r: None, settings=settings,
             clock=clock, probe=probe)  # fmt: skip
    assert rec.triggers() == [Trigger.START] and probes == []
