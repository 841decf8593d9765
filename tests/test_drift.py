"""Drift or manifest change: labelling plan changes with the last-applied record."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from controller.model import NetworkInterface, Server, Topology
from controller.plan import Change, Plan
from controller.planning import drift
from controller.storage import lastapplied


def desired(eni_server: str = "web-1", sgs: tuple[str, ...] = ("sg-web",)) -> Topology:
    server = Server("web-1", "s6.large.2", "az1", "vpc-prod", "subnet-web")
    other = Server("web-2", "s6.large.2", "az1", "vpc-prod", "subnet-web")
    eni = NetworkInterface("eni-a", "subnet-web", security_groups=sgs, server=eni_server)
    return Topology(servers={"web-1": server, "web-2": other}, interfaces={"eni-a": eni})


def test_snapshot_records_declared_fields_by_resource() -> None:
    """A snapshot maps Kind/name to its declared fields, JSON-ready."""
    snap = drift.snapshot(desired())
    assert snap["NetworkInterface/eni-a"] == {
        "subnet": "subnet-web",
        "privateIp": None,
        "securityGroups": ["sg-web"],
        "eip": None,
        "server": "web-1",
        "protect": False,
    }
    assert snap["Server/web-1"]["flavor"] == "s6.large.2"
    assert json.loads(json.dumps(snap)) == snap


def test_unchanged_declaration_with_a_different_cloud_is_drift() -> None:
    """desired == last applied, observed differs: someone changed the cloud."""
    change = Change("NetworkInterface/eni-a", "server", None, "web-1")
    snap = drift.snapshot(desired())
    assert drift.origin(change, snap, snap) == "drift"


def test_changed_declaration_is_a_manifest_change() -> None:
    """desired != last applied for that field: the manifests changed."""
    change = Change("NetworkInterface/eni-a", "server", "web-1", "web-2")
    now, then = drift.snapshot(desired("web-2")), drift.snapshot(desired("web-1"))
    assert drift.origin(change, now, then) == "manifest"


def test_origin_is_per_field() -> None:
    """A changed server field does not make a security-group difference a manifest change."""
    now, then = drift.snapshot(desired("web-2")), drift.snapshot(desired("web-1"))
    sg_change = Change("NetworkInterface/eni-a", "securityGroups", ["sg-x"], ["sg-web"])
    assert drift.origin(sg_change, now, then) == "drift"
    snake = Change("NetworkInterface/eni-a", "security_groups", ["sg-x"], ["sg-web"])
    assert drift.origin(snake, now, then) == "drift"


def test_new_and_removed_resources_are_manifest_changes() -> None:
    """A resource added to or removed from the manifests since the apply is a manifest change."""
    empty = drift.snapshot(Topology())
    full = drift.snapshot(desired())
    change = Change("NetworkInterface/eni-a", "exists", False, True)
    assert drift.origin(change, full, empty) == "manifest"
    assert drift.origin(change, empty, full) == "manifest"
    stray = Change("NetworkInterface/stray", "server", "web-1", None)
    assert drift.origin(stray, full, full) == "drift"


def test_label_plan_without_a_record_leaves_origins_alone() -> None:
    """Nothing applied yet: the plan is returned as is."""
    plan = Plan("d", "f", changes=(Change("NetworkInterface/eni-a", "server", None, "web-1"),))
    assert drift.label_plan(plan, desired(), None) is plan


def test_label_plan_sets_each_origin() -> None:
    """label_plan labels every change, leaving the rest of the plan as it was."""
    plan = Plan(
        "d",
        "f",
        changes=(
            Change("NetworkInterface/eni-a", "server", "web-1", "web-2"),
            Change("NetworkInterface/eni-a", "securityGroups", [], ["sg-web"]),
        ),
    )
    last = drift.snapshot(desired("web-1"))
    labelled = drift.label_plan(plan, desired("web-2"), last)
    assert [c.origin for c in labelled.changes] == ["manifest", "drift"]
    assert dataclasses.replace(labelled, changes=plan.changes) == plan


def test_record_then_load(tmp_path: Path) -> None:
    """record() stores the desired snapshot; load() reads it back."""
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    lastapplied.record(tmp_path, desired(), manifests_digest="sha256:x", now=when)
    found = lastapplied.load(tmp_path)
    assert found is not None
    assert found.resources == drift.snapshot(desired())
    assert found.manifests_digest == "sha256:x"
    assert found.applied_at == "2026-01-02T03:04:05+00:00"
    assert lastapplied.load_snapshot(tmp_path) == drift.snapshot(desired())
    assert sorted(p.name for p in tmp_path.iterdir()) == [lastapplied.FILE_NAME]


def test_load_missing_or_unreadable_record_is_none(tmp_path: Path) -> None:
    """No record, a corrupt one or another version all read as nothing applied."""
    assert lastapplied.load(tmp_path) is None
    target = lastapplied.path(tmp_path)
    for content in (
        "{oops",
        "[]",
        '{"formatVersion": "2", "resources": {}}',
        '{"formatVersion": "1", "resources": {"a": 1}}',
    ):
        target.write_text(content)
        assert lastapplied.load(tmp_path) is None


def test_presence_fields_compare_only_whether_declared() -> None:
    """`exists` and `managed` changes are drift when the resource was declared both times."""
    now, then = drift.snapshot(desired("web-2")), drift.snapshot(desired("web-1"))
    adopted = Change("NetworkInterface/eni-a", "managed", False, True)
    assert drift.origin(adopted, now, then) == "drift"
    recreated = Change("NetworkInterface/eni-a", "exists", False, True)
    assert drift.origin(recreated, now, then) == "drift"


def test_security_group_order_is_not_a_manifest_change() -> None:
    """Reordering security groups in a manifest is not a change of the declaration."""
    now = drift.snapshot(desired(sgs=("sg-b", "sg-a")))
    then = drift.snapshot(desired(sgs=("sg-a", "sg-b")))
    change = Change("NetworkInterface/eni-a", "securityGroups", ["sg-x"], ["sg-b", "sg-a"])
    assert drift.origin(change, now, then) == "drift"
