"""`watch --prune` never deletes the ENIs of a manifest file that is briefly empty,
missing or half-written while it is saved: an orphan is deleted only once it has
stayed an orphan for --prune-grace seconds across reconciles."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.manifests.cache import CachedManifests
from controller.model import NetworkInterface, Topology
from controller.providers import open_provider
from controller.providers.sim.cloud import open_cloud
from controller.watching.grace import PruneGrace
from controller.watching.loop import Outcome, ReconcileResult, Trigger
from controller.watching.reconciler import ReconcileOptions, Reconciler
from tests.fakeclock import FakeClock

REPO = Path(__file__).parent.parent
ENICTL = Path(sys.executable).with_name("enictl")
TRAFFIC = ("gw-1-mgmt", "gw-1-private", "gw-1-public")  # traffic.yaml's ENIs
MUTATING = {"create_interface", "delete_interface", "attach", "detach", "unbind_eip"}


# -- the grace record ------------------------------------------------------------------


def _cloud_with(*names: str, ids: dict[str, str] | None = None) -> Topology:
    ids = ids or {}
    return Topology(
        interfaces={n: NetworkInterface(n, "sn", id=ids.get(n, f"id-{n}")) for n in names}
    )


def test_a_new_orphan_is_not_prunable_until_its_grace_has_passed() -> None:
    """First seen at t: not prunable at t nor at t+59.9; prunable at t+60."""
    clock = FakeClock()
    grace = PruneGrace(60.0, clock)
    cloud = _cloud_with("a")
    assert grace.prunable(cloud) == frozenset()
    grace.saw(["a"], cloud)
    clock.advance(59.9)
    assert grace.prunable(cloud) == frozenset() and grace.waiting() == ("a",)
    grace.saw(["a"], cloud)
    clock.advance(0.1)
    assert grace.prunable(cloud) == {"a"} and grace.waiting() == ()


def test_an_orphan_whose_manifest_comes_back_starts_over() -> None:
    """Seen as an orphan, then declared again for one reconcile: its clock restarts."""
    clock = FakeClock()
    grace = PruneGrace(60.0, clock)
    cloud = _cloud_with("a")
    grace.saw(["a"], cloud)
    clock.advance(50)
    grace.saw([], cloud)  # the file was saved again: a is declared
    grace.saw(["a"], cloud)
    clock.advance(50)
    assert grace.prunable(cloud) == frozenset()


def test_an_eni_created_again_under_the_same_name_starts_over() -> None:
    """An orphan replaced by another port of the same name (another id) is new."""
    clock = FakeClock()
    grace = PruneGrace(60.0, clock)
    grace.saw(["a"], _cloud_with("a"))
    clock.advance(100)
    again = _cloud_with("a", ids={"a": "other-id"})
    assert grace.prunable(again) == frozenset()
    grace.saw(["a"], again)
    assert grace.waiting() == ("a",)


def test_no_grace_prunes_at_once() -> None:
    """--prune-grace 0: every orphan is prunable, as with apply --prune."""
    assert PruneGrace(0.0, FakeClock()).prunable(_cloud_with("a")) is None


# -- one reconciler through the three ways editors save a file --------------------------


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo manifests, applied to a fresh simulated cloud."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    state = str(tmp_path / "state")
    inventory = str(tmp_path / "manifests" / "inventory" / "demo-cloud.yaml")
    assert main(["--state-dir", state, "sim", "init", inventory]) == 0
    assert main(["--state-dir", state, "apply", str(tmp_path / "manifests/demo"), "--yes"]) == 0
    cloud = open_cloud(tmp_path / "state")
    (tmp_path / "applied-at").write_text(str(len(cloud.log())))
    cloud.close()
    return tmp_path


def _reconciler(demo: Path, clock: FakeClock, *, prune_grace: float = 60.0) -> Reconciler:
    state = demo / "state"
    return Reconciler(
        state_dir=state,
        desired=CachedManifests([demo / "manifests" / "demo"]),
        open_provider=lambda: open_provider("sim", state),
        options=ReconcileOptions(prune=True, prune_grace=prune_grace),
        clock=clock,
    )


def _mutations(demo: Path) -> list[str]:
    """The mutating calls the cloud received since the demo was applied."""
    cloud = open_cloud(demo / "state")
    try:
        log = cloud.log()
    finally:
        cloud.close()
    applied = int((demo / "applied-at").read_text())
    return [f"{e.operation} {e.target}" for e in log[applied:] if e.operation in MUTATING]


def _ids(demo: Path) -> dict[str, str]:
    cloud = open_cloud(demo / "state")
    try:
        return {n: i.id for n, i in cloud.snapshot().interfaces.items()}
    finally:
        cloud.close()


Save = Callable[[Path], Callable[[], None]]  # starts a save; returns what finishes it


def _truncate_then_write(path: Path) -> Callable[[], None]:
    text = path.read_bytes()
    path.write_bytes(b"")
    return lambda: path.write_bytes(text)


def _remove_and_recreate(path: Path) -> Callable[[], None]:
    text = path.read_bytes()
    path.unlink()
    return lambda: path.write_bytes(text)


def _rename_and_back(path: Path) -> Callable[[], None]:
    aside = path.with_name(path.name + ".swp")
    path.rename(aside)
    return lambda: aside.rename(path)


SAVES: dict[str, Save] = {
    "truncate-then-write": _truncate_then_write,
    "rm-and-recreate": _remove_and_recreate,
    "rename-and-back": _rename_and_back,
}
GAPS = (0.05, 0.3, 1.0, 3.0)


@pytest.mark.parametrize("save", sorted(SAVES))
def test_a_file_gap_while_saving_deletes_nothing(demo: Path, save: str) -> None:
    """For each save pattern and gaps of 0.05 to 3 s, with the watch reconciling
    several times inside the gap: the file's ENIs are orphans for the gap, kept by
    the grace, and come back declared; no ENI is detached or deleted, no id changes."""
    clock = FakeClock()
    reconcile = _reconciler(demo, clock)
    assert reconcile(Trigger.START, frozenset()).outcome is Outcome.IN_SYNC
    before = _ids(demo)
    traffic = demo / "manifests" / "demo" / "traffic.yaml"
    for gap in GAPS:
        finish = SAVES[save](traffic)
        steps = max(1, math.ceil(gap / 0.6))
        for _ in range(steps):  # a file event, then interval reconciles inside the gap
            result = reconcile(Trigger.FILES, frozenset({str(traffic)}))
            assert result.outcome is Outcome.IN_SYNC, result.error
            assert set(result.in_grace) <= set(TRAFFIC), result.in_grace
            clock.advance(gap / steps)
        finish()
        result = reconcile(Trigger.FILES, frozenset({str(traffic)}))
        assert result.outcome is Outcome.IN_SYNC and result.in_grace == (), result
    assert _mutations(demo) == []
    assert _ids(demo) == before


def test_without_a_grace_the_same_gap_deletes(demo: Path) -> None:
    """The control: with --prune-grace 0 one reconcile inside a 0.3 s gap deletes the
    file's unprotected ENIs (what happened in 9 of 12 runs before the grace)."""
    clock = FakeClock()
    reconcile = _reconciler(demo, clock, prune_grace=0.0)
    assert reconcile(Trigger.START, frozenset()).outcome is Outcome.IN_SYNC
    finish = _truncate_then_write(demo / "manifests" / "demo" / "traffic.yaml")
    reconcile(Trigger.FILES, frozenset())
    finish()
    assert "delete_interface gw-1-private" in " ".join(_mutations(demo))


def test_an_orphan_past_its_grace_is_deleted(demo: Path) -> None:
    """A file removed for good: its unprotected ENIs are deleted once the grace has
    passed (the protected one is kept), not before."""
    clock = FakeClock()
    reconcile = _reconciler(demo, clock)
    assert reconcile(Trigger.START, frozenset()).outcome is Outcome.IN_SYNC
    (demo / "manifests" / "demo" / "traffic.yaml").unlink()
    first = reconcile(Trigger.FILES, frozenset())
    assert first.in_grace == TRAFFIC and _mutations(demo) == []
    clock.advance(59.0)
    assert reconcile(Trigger.INTERVAL, frozenset()).applied == 0
    clock.advance(1.0)
    done = reconcile(Trigger.INTERVAL, frozenset())
    assert done.outcome is Outcome.APPLIED, done.error
    names = set(_ids(demo))
    assert "gw-1-private" not in names and "gw-1-public" not in names
    assert "gw-1-mgmt" in names  # protect: true


def test_the_prune_limit_holds_in_watch(demo: Path) -> None:
    """A reconcile whose prune would pass --prune-limit is rejected and deletes nothing."""
    clock = FakeClock()
    reconcile = _reconciler(demo, clock, prune_grace=0.0)
    reconcile = replace(reconcile, options=replace(reconcile.options, prune_limit=1))
    (demo / "manifests" / "demo" / "traffic.yaml").unlink()
    result = reconcile(Trigger.START, frozenset())
    assert result.outcome is Outcome.REJECTED
    assert [v.code.value for v in result.violations][:1] == ["PruneLimitExceeded"]
    assert _mutations(demo) == []


def test_the_reconcile_event_lists_the_orphans_in_grace(demo: Path) -> None:
    """The JSON event (and status file) says which orphans wait for their grace."""
    clock = FakeClock()
    reconcile = _reconciler(demo, clock)
    (demo / "manifests" / "demo" / "traffic.yaml").unlink()
    result: ReconcileResult = reconcile(Trigger.START, frozenset())
    assert result.as_json()["orphansInGrace"] == list(TRAFFIC)


# -- the real process ----------------------------------------------------------------------


class Watching:
    """`enictl watch --json` as a process; `until` reads its events up to a match."""

    def __init__(self, demo: Path, *args: str) -> None:
        env = {**os.environ, "ENICTL_STATE_DIR": str(demo / "state")}
        env.pop("ENICTL_PROVIDER", None)
        self.proc = subprocess.Popen(
            [str(ENICTL), "watch", "manifests/demo", "--json", *args],
            cwd=demo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def until(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event: dict[str, Any] = json.loads(line)
            if event["event"] == "reconcile" and match(event):
                return event
        raise AssertionError(f"watch ended: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def watching(demo: Path) -> Iterator[Callable[..., Watching]]:
    started: list[Watching] = []

    def start(*args: str) -> Watching:
        started.append(Watching(demo, *args))
        return started[-1]

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(timeout=30)


def _gap(watch: Watching, path: Path, save: Save, reconciles: int) -> None:
    """Start a save, let the watch reconcile `reconciles` times inside the gap, finish."""
    finish = save(path)
    seen = 0

    def in_gap(event: dict[str, Any]) -> bool:
        nonlocal seen
        if event["orphansInGrace"]:
            seen += 1
        return seen >= reconciles

    watch.until(in_gap)
    finish()
    watch.until(lambda e: e["inSync"] is True and e["orphansInGrace"] == [])


def test_a_running_watch_survives_a_truncate_then_write(
    demo: Path, watching: Callable[..., Watching]
) -> None:
    """A real `watch --prune` (interval 0.05 s) reconciling three times while a file is
    empty deletes nothing; SIGTERM then ends it with exit 0."""
    watch = watching("--prune", "--interval", "0.05")
    watch.until(lambda e: e["inSync"] is True)
    _gap(watch, demo / "manifests" / "demo" / "traffic.yaml", _truncate_then_write, 3)
    assert watch.stop() == 0
    assert _mutations(demo) == []


@pytest.mark.slow
@pytest.mark.parametrize("save", sorted(SAVES))
def test_soak_a_running_watch_through_every_save_pattern_and_gap(
    demo: Path, watching: Callable[..., Watching], save: str
) -> None:
    """Soak: the real watch, each save pattern, gaps of 0.05 to 3 s of reconciles at
    0.05 s intervals (1 to 60 reconciles inside the gap): zero deletes."""
    watch = watching("--prune", "--interval", "0.05")
    watch.until(lambda e: e["inSync"] is True)
    for gap in GAPS:
        _gap(watch, demo / "manifests" / "demo" / "traffic.yaml", SAVES[save], round(gap / 0.05))
    assert watch.stop() == 0
    assert _mutations(demo) == []
