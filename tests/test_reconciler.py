"""One reconcile of `enictl watch`, in process, against the simulated cloud."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.errors import TransientProviderError
from controller.execution.retry import RetryPolicy, Waits
from controller.manifests.cache import CachedManifests
from controller.model import Topology
from controller.planning import planner
from controller.providers.base import Provider
from controller.providers.sim.cloud import SimCloud, open_cloud
from controller.storage import lastapplied, lock
from controller.watching.loop import Outcome, Trigger
from controller.watching.reconciler import ReconcileOptions, Reconciler

DATA = Path(__file__).resolve().parent / "data" / "watch"
OLD_NS = 1_000_000_000 * 1_000_000_000
NOTHING: frozenset[str] = frozenset()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    for path in (tmp_path / "manifests").glob("*.yaml"):
        os.utime(path, ns=(OLD_NS, OLD_NS))
    state = tmp_path / "state"
    assert main(["--state-dir", str(state), "sim", "init", str(DATA / "inventory.yaml")]) == 0
    return tmp_path


class Opener:
    """Opens the simulated cloud, counting opens; can make the next cloud throttle its
    first `throttled` observations."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.opened = 0
        self.throttle_next = 0

    def __call__(self) -> Provider:
        self.opened += 1
        cloud = open_cloud(self.state)
        if not self.throttle_next:
            return cloud
        throttled, self.throttle_next = self.throttle_next, 0
        return _Throttled(cloud, throttled)


class _Throttled:
    def __init__(self, inner: SimCloud, times: int) -> None:
        self._inner = inner
        self._left = times

    def observe(self) -> Topology:
        if self._left > 0:
            self._left -= 1
            raise TransientProviderError("APIGW.0308", "throttled")
        return self._inner.observe()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


NO_WAITS = Waits(retry=RetryPolicy(base=0.0, cap=0.0, attempts=3))  # retries without pauses


def _reconciler(workdir: Path, **options: Any) -> tuple[Reconciler, Opener]:
    opener = Opener(workdir / "state")
    rec = Reconciler(
        state_dir=workdir / "state",
        desired=CachedManifests([workdir / "manifests"]),
        open_provider=opener,
        options=ReconcileOptions(waits=NO_WAITS, **options),
    )
    return rec, opener


def _detach_by_hand(workdir: Path, name: str) -> None:
    cloud = open_cloud(workdir / "state")
    cloud.force_detach(name)
    cloud.close()


def test_an_idle_reconcile_reads_no_file_and_does_not_plan(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unchanged manifests and cloud: no file parsed, the last plan reused."""
    rec, _ = _reconciler(workdir)
    first = rec(Trigger.START, NOTHING)
    assert first.outcome is Outcome.IN_SYNC
    assert first.files_reread == 2

    def no_planning(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("planned again")

    monkeypatch.setattr(planner, "plan", no_planning)
    idle = rec(Trigger.INTERVAL, NOTHING)
    assert idle.outcome is Outcome.IN_SYNC
    assert idle.files_reread == 0
    assert idle.observed_fingerprint == first.observed_fingerprint
    rec.close()


def test_drift_is_repaired_and_the_applied_state_recorded(workdir: Path) -> None:
    """A hand-detached ENI is attached again; the result is in sync and recorded."""
    rec, _ = _reconciler(workdir)
    _detach_by_hand(workdir, "eni-a")
    result = rec(Trigger.INTERVAL, NOTHING)
    assert result.outcome is Outcome.APPLIED
    assert (result.changes, result.applied, result.in_sync) == (1, 1, True)
    record = lastapplied.load(workdir / "state")
    assert record is not None
    assert record.manifests_digest == result.manifests_digest
    rec.close()


def test_detect_only_reports_and_changes_nothing(workdir: Path) -> None:
    """--detect-only: the drift is a result, the cloud and the state dir stay as they were."""
    rec, _ = _reconciler(workdir, detect_only=True)
    _detach_by_hand(workdir, "eni-a")
    result = rec(Trigger.INTERVAL, NOTHING)
    assert result.outcome is Outcome.DRIFT
    assert (result.changes, result.applied, result.in_sync) == (1, 0, False)
    cloud = open_cloud(workdir / "state")
    assert cloud.observe().interfaces["eni-a"].server is None
    cloud.close()
    assert lastapplied.load(workdir / "state") is None
    rec.close()


def test_invalid_manifests_keep_the_last_good_state_and_touch_nothing(workdir: Path) -> None:
    """Broken manifests: INVALID with the problems, the last good digest, no cloud call."""
    rec, opener = _reconciler(workdir)
    good = rec(Trigger.START, NOTHING)
    opened = opener.opened
    path = workdir / "manifests" / "interfaces.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "broken: [\n", encoding="utf-8")
    _detach_by_hand(workdir, "eni-a")  # drift that must NOT be repaired now
    bad = rec(Trigger.FILES, frozenset({str(path)}))
    assert bad.outcome is Outcome.INVALID
    assert (
        bad.problems[0].startswith("manifests/interfaces.yaml:")
        or "interfaces.yaml" in (bad.problems[0])
    )
    assert bad.manifests_digest == good.manifests_digest
    assert bad.in_sync is None
    assert opener.opened == opened
    cloud = open_cloud(workdir / "state")
    assert cloud.observe().interfaces["eni-a"].server is None
    cloud.close()
    rec.close()


def test_a_held_lock_is_a_failure_to_retry(workdir: Path) -> None:
    """Another writer holding the lock makes the reconcile FAILED (the loop backs off)."""
    rec, _ = _reconciler(workdir)
    with lock.acquire(workdir / "state", command="someone else"):
        result = rec(Trigger.START, NOTHING)
    assert result.outcome is Outcome.FAILED
    assert "locked" in result.error
    assert rec(Trigger.RETRY, NOTHING).outcome is Outcome.IN_SYNC
    rec.close()


def test_a_provider_error_fails_and_the_next_reconcile_reconnects(workdir: Path) -> None:
    """A cloud error is FAILED; the provider is opened afresh for the retry."""
    rec, opener = _reconciler(workdir)
    opener.throttle_next = 3  # every one of NO_WAITS' tries
    failed = rec(Trigger.START, NOTHING)
    assert failed.outcome is Outcome.FAILED
    assert "APIGW.0308" in failed.error
    assert not lock.is_locked(workdir / "state")
    assert rec(Trigger.RETRY, NOTHING).outcome is Outcome.IN_SYNC
    assert opener.opened == 2
    rec.close()


def test_a_throttled_observation_is_retried_as_enictl_apply_retries_it(workdir: Path) -> None:
    """watch observes through the apply sequence: a throttled observe is retried, not FAILED."""
    rec, opener = _reconciler(workdir)
    opener.throttle_next = 2  # of NO_WAITS' three tries
    assert rec(Trigger.START, NOTHING).outcome is Outcome.IN_SYNC
    assert opener.opened == 1
    rec.close()


def test_a_plan_that_breaks_a_rule_is_rejected(workdir: Path) -> None:
    """A rule violation gives REJECTED with the violations, and nothing is applied."""
    rec, _ = _reconciler(workdir)
    extra = workdir / "manifests" / "bad.yaml"
    extra.write_text(
        "apiVersion: enictl/v1\nkind: NetworkInterface\nmetadata: {name: eni-far}\n"
        "spec: {subnet: subnet-web, privateIp: 10.9.9.9, server: big-1}\n",
        encoding="utf-8",
    )
    result = rec(Trigger.FILES, frozenset({str(extra)}))
    assert result.outcome is Outcome.REJECTED
    assert result.applied == 0
    assert any(v.code.value == "IpOutOfSubnet" for v in result.violations)
    assert result.error.startswith("plan rejected")
    rec.close()
