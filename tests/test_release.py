"""`enictl release NAME...`: enictl's markers go, nothing else changes, prune keeps the ENI.

Each test runs through both providers (the sim, and huaweicloud through `sim serve`,
where the markers are VPC v3 port tags and release removes them with
BatchDeletePortTags).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.applyhelpers import Cli, cloud_log

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "manifests" / "demo"
INVENTORY = ROOT / "manifests" / "inventory" / "demo-cloud.yaml"


def _applied(cli: Cli, tmp_path: Path) -> Path:
    """The demo applied; returns a copy of its manifests to edit."""
    cli.init(INVENTORY)
    manifests = tmp_path / "manifests"
    shutil.copytree(DEMO, manifests)
    ran = cli("apply", str(manifests), "--yes")
    assert ran.code == 0, ran.err
    return manifests


def _without(manifests: Path, name: str) -> None:
    """Drop the document of NetworkInterface `name` from the manifests."""
    for path in manifests.glob("*.yaml"):
        docs = path.read_text().split("\n---\n")
        kept = [d for d in docs if f"name: {name}\n" not in d]
        path.write_text("\n---\n".join(kept))


def test_release_then_prune_keeps_the_eni(cli: Cli, tmp_path: Path) -> None:
    """A released ENI dropped from the manifests is no orphan: --prune leaves it as it is."""
    manifests = _applied(cli, tmp_path)
    before = cli.interfaces()["svc-eni"]
    assert before["managed"] is True
    ran = cli("release", "svc-eni")
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[0] == (
        "released svc-eni: enictl no longer manages it (removed: managed, protect)"
    )
    _without(manifests, "svc-eni")
    plan = cli("plan", str(manifests), "--prune", "-o", "json")
    assert plan.code == 0, plan.err
    document = json.loads(plan.out)
    assert "svc-eni" not in document["orphans"]
    assert not [s for s in document["steps"] if s["interface"] == "svc-eni"]
    ran = cli("apply", str(manifests), "--prune", "--yes")
    assert ran.code == 0, ran.err
    after = cli.interfaces()["svc-eni"]
    assert after == {**before, "managed": False}


def test_release_changes_only_the_markers(cli: Cli, tmp_path: Path) -> None:
    """Release makes no call but clearing markers: the port, its IP, EIP, groups and
    attachment are as they were, and the released ENI is adopted again if still declared."""
    manifests = _applied(cli, tmp_path)
    seen = len(cloud_log(cli.state))
    ran = cli("release", "gw-1-public", "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out) == {"released": [{"name": "gw-1-public", "cleared": ["managed"]}]}
    changing = [e.operation for e in cloud_log(cli.state)[seen:] if e.operation != "observe"]
    assert changing == ["clear_managed"]
    plan = cli("plan", str(manifests), "-o", "json")
    assert json.loads(plan.out)["adopt"] == ["gw-1-public"]


def test_release_refuses_unknown_and_primary_enis_before_any_change(
    cli: Cli, tmp_path: Path
) -> None:
    """An unknown name or a primary ENI is one error line, exit 1, and nothing is cleared."""
    _applied(cli, tmp_path)
    seen = len(cloud_log(cli.state))
    ran = cli("release", "svc-eni", "no-such-eni")
    assert (ran.code, ran.err) == (1, "error: release: no ENI named 'no-such-eni' in the cloud\n")
    ran = cli("release", "svc-eni", "app-1-primary")
    assert ran.code == 1
    assert "app-1-primary is the primary ENI of app-1" in ran.err
    assert [e.operation for e in cloud_log(cli.state)[seen:] if e.operation != "observe"] == []
    assert cli.interfaces()["svc-eni"]["managed"] is True


def test_release_of_an_unmanaged_eni_says_so(cli: Cli, tmp_path: Path) -> None:
    """An ENI enictl does not manage is reported as such and left alone (exit 0)."""
    _applied(cli, tmp_path)
    ran = cli("release", "legacy-monitor")
    assert (ran.code, ran.out) == (0, "legacy-monitor: not managed by enictl; nothing to do\n")
