"""The watch reconciler's side of failover, in process against the simulated cloud: the
health probe between reconciles (one listing call), the `failover` results, and the
wake-up when a failover hold-down ends."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from controller.cli import main
from controller.events import Event, Kind
from controller.manifests.cache import CachedManifests
from controller.providers.sim.cloud import open_cloud
from controller.watching.loop import Outcome, Trigger
from controller.watching.reconciler import Reconciler
from tests.fakeclock import FakeClock

DATA = Path(__file__).parent / "data" / "failover"
NOTHING: frozenset[str] = frozenset()


def _reconciler(tmp_path: Path, policy: str, events: list[Event]) -> tuple[Reconciler, FakeClock]:
    """A reconciler of the failover cloud with eni-svc's `failover:` line set to `policy`,
    its clock and wall clock one fake clock that starts at the real time."""
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    svc = tmp_path / "manifests" / "svc.yaml"
    lines = svc.read_text().splitlines()
    svc.write_text("\n".join(ln if not ln.startswith("  failover:") else f"  failover: {policy}"
                             for ln in lines) + "\n")  # fmt: skip
    assert (
        main(["--state-dir", str(tmp_path / "state"), "sim", "init", str(DATA / "inventory.yaml")])
        == 0
    )
    clock = FakeClock(time.time())
    rec = Reconciler(
        state_dir=tmp_path / "state",
        desired=CachedManifests([tmp_path / "manifests"]),
        open_provider=lambda: open_cloud(tmp_path / "state"),
        on_event=events.append,
        clock=clock,
        wall=clock,
    )
    return rec, clock


def _console(tmp_path: Path, *args: str) -> None:
    assert main(["--state-dir", str(tmp_path / "state"), "sim", "console", *args]) == 0


def _listings(tmp_path: Path) -> int:
    cloud = open_cloud(tmp_path / "state")
    try:
        return sum(1 for e in cloud.log() if e.operation == "list_servers")
    finally:
        cloud.close()


def test_the_probe_sees_a_status_change_with_one_listing_call(tmp_path: Path) -> None:
    """Before any reconcile and while nothing changes the probe says no; a server gone
    SHUTOFF is seen by one listing call; the reconcile it starts reports the failover."""
    events: list[Event] = []
    rec, clock = _reconciler(tmp_path, "{}", events)
    assert rec.health_changed() is False and _listings(tmp_path) == 0
    assert rec(Trigger.START, NOTHING).outcome is Outcome.IN_SYNC
    assert rec.health_changed() is False and _listings(tmp_path) == 1
    _console(tmp_path, "set-status", "web-1", "SHUTOFF")
    assert rec.health_changed() is True and _listings(tmp_path) == 2
    clock.advance(0.25)  # detection to reconcile
    done = rec(Trigger.HEALTH, NOTHING)
    assert done.outcome is Outcome.APPLIED
    expected = {"interface": "eni-svc", "from": "web-1", "to": "standby-1",
                "reason": "web-1 SHUTOFF", "seconds": 0.25}  # fmt: skip
    assert done.failovers == (expected,)
    assert [e.fields for e in events if e.kind is Kind.FAILOVER] == [expected]
    assert rec.health_changed() is False


def test_the_end_of_a_hold_down_wakes_the_loop_for_the_failback(tmp_path: Path) -> None:
    """With failback and a 60 s hold-down, web-1 back ACTIVE right after the failover keeps
    eni-svc on standby-1; once the hold-down has passed the probe says so (no status
    changed) and the next reconcile fails back."""
    events: list[Event] = []
    rec, clock = _reconciler(tmp_path, "{failback: true, holdDownSeconds: 60}", events)
    rec(Trigger.START, NOTHING)
    _console(tmp_path, "set-status", "web-1", "SHUTOFF")
    assert rec.health_changed() and rec(Trigger.HEALTH, NOTHING).outcome is Outcome.APPLIED
    _console(tmp_path, "set-status", "web-1", "ACTIVE")
    assert rec.health_changed()
    held = rec(Trigger.HEALTH, NOTHING)
    assert held.outcome is Outcome.IN_SYNC and held.failovers == ()
    assert rec.health_changed() is False
    clock.advance(61)
    assert rec.health_changed() is True
    back = rec(Trigger.HEALTH, NOTHING)
    assert back.outcome is Outcome.APPLIED
    assert [(f["from"], f["to"]) for f in back.failovers] == [("standby-1", "web-1")]
