"""The drift report, field by field: `plan --detailed-exitcode` and `watch --detect-only`
name what changed inside a field made different outside enictl."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller.cli import main
from controller.cli.watch import status_line
from controller.manifests.cache import CachedManifests
from controller.plan import Change
from controller.providers.sim.cloud import open_cloud
from controller.watching.loop import Outcome, Trigger
from controller.watching.reconciler import ReconcileOptions, Reconciler

DATA = Path(__file__).resolve().parent / "data" / "watch"
DRIFTED = "NetworkInterface/eni-a securityGroups: [sg-db, sg-web] -> [sg-web] (removed sg-db)"


@pytest.fixture
def drifted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The watch test cloud, applied (so last-applied.json is recorded), then eni-a given
    sg-db at the console."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    assert main(["--state-dir", "state", "sim", "init", str(DATA / "inventory.yaml")]) == 0
    assert main(["--state-dir", "state", "apply", "manifests", "--yes"]) == 0
    cloud = open_cloud(tmp_path / "state")
    cloud.force_set_security_groups("eni-a", ["sg-db", "sg-web"])  # someone at the console
    cloud.close()
    return tmp_path


def test_plan_detailed_exitcode_reports_the_group_added_at_the_console(
    drifted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, and the drift row names the group the plan takes away."""
    capsys.readouterr()
    assert main(["--state-dir", "state", "plan", "manifests", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert (
        "Drift: the cloud changed outside enictl\n"
        "  ~ NetworkInterface/eni-a  securityGroups: [sg-db, sg-web] -> [sg-web]"
        "  (removed sg-db)\n"
    ) in out


def test_watch_detect_only_reports_each_drifted_field(drifted: Path) -> None:
    """A detect-only reconcile carries the drifted changes: its status line shows the
    field and what changed in it, its JSON event lists them, and nothing is repaired."""
    reconciler = Reconciler(
        state_dir=drifted / "state",
        desired=CachedManifests([drifted / "manifests"]),
        open_provider=lambda: open_cloud(drifted / "state"),
        options=ReconcileOptions(detect_only=True),
    )
    result = reconciler(Trigger.INTERVAL, frozenset())
    reconciler.close()
    assert result.outcome is Outcome.DRIFT
    assert result.drift == (
        Change(
            "NetworkInterface/eni-a", "securityGroups", ("sg-db", "sg-web"), ("sg-web",), "drift"
        ),
    )
    assert result.drifted == ("NetworkInterface/eni-a",)
    line = status_line(result, detect_only=True)
    assert f"drift: {DRIFTED}; detect-only: not applied" in line
    event = json.loads(json.dumps(result.as_json()))
    assert event["drifted"] == ["NetworkInterface/eni-a"]
    assert event["drift"] == [
        {
            "resource": "NetworkInterface/eni-a",
            "field": "securityGroups",
            "before": ["sg-db", "sg-web"],
            "after": ["sg-web"],
            "origin": "drift",
        }
    ]
    cloud = open_cloud(drifted / "state")
    assert cloud.observe().interfaces["eni-a"].security_groups == ("sg-db", "sg-web")
    cloud.close()
