"""What changed inside a field, in plan text and markdown: groups, EIPs, labels, and drift;
and that deepdiff runs only for the resources that changed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import deepdiff
import pytest
from builders import as_declared, declared, desired, eni, standard

from controller.model import Topology
from controller.plan import Change, Plan
from controller.planning import drift, planner
from controller.views import planview, render


def _cloud() -> Topology:
    """web-1 with a primary in sg-a; a (sg-a), b (sg-a, sg-b), c (eip-1) attached to it."""
    cloud = standard().server("web-1", "s4", sgs=("sg-a",))
    cloud.eni("a", server="web-1", sgs=("sg-a",))
    cloud.eni("b", server="web-1", sgs=("sg-a", "sg-b"))
    return cloud.eni("c", server="web-1", sgs=("sg-a",), eip="eip-1").build()


def _plan(obs: Topology, want: Topology) -> Plan:
    """The real planner's plan, which must be valid."""
    plan = planner.plan(want, obs, manifests_digest="sha256:x")
    assert plan.applyable, plan.violations
    return plan


def _rows(plan: Plan) -> dict[tuple[str, str], str]:
    """(resource, field) -> the text line of that change, without its leading mark."""
    out = render.text(plan, color=False)
    found = {}
    for line in out.splitlines():
        if line.startswith("  ~ "):
            resource, rest = line[4:].split("  ", 1)
            found[(resource, rest.split(":", 1)[0])] = rest
    return found


@pytest.fixture
def deepdiff_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, Any]]]:
    """Every DeepDiff(before, after) made from now on; deepdiff itself still answers."""
    calls: list[tuple[Any, Any]] = []
    real = deepdiff.DeepDiff

    def counting(before: Any, after: Any, **options: Any) -> Any:
        calls.append((before, after))
        return real(before, after, **options)

    monkeypatch.setattr(deepdiff, "DeepDiff", counting)
    yield calls


def test_added_and_removed_security_groups_are_named_in_the_text() -> None:
    """A group added, a group removed, and a server's primary groups: each row ends with
    what was added and removed."""
    obs = _cloud()
    a, b, c = as_declared(obs, "a", "b", "c")
    web1 = declared(obs, "web-1", security_groups=("sg-b",))
    grown = eni("a", server="web-1", ip=a.private_ip, sgs=("sg-a", "sg-b"))
    shrunk = eni("b", server="web-1", ip=b.private_ip, sgs=("sg-b",))
    want = desired(obs, [web1], [grown, shrunk, c])
    rows = _rows(_plan(obs, want))
    assert rows[("NetworkInterface/a", "securityGroups")] == (
        "securityGroups: [sg-a] -> [sg-a, sg-b]  (added sg-b)"
    )
    assert rows[("NetworkInterface/b", "securityGroups")] == (
        "securityGroups: [sg-a, sg-b] -> [sg-b]  (removed sg-a)"
    )
    assert rows[("Server/web-1", "securityGroups")] == (
        "securityGroups: [sg-a] -> [sg-b]  (added sg-b; removed sg-a)"
    )


def test_a_changed_eip_reads_before_and_after_only() -> None:
    """An EIP that changes, or goes, is before -> after with nothing appended."""
    obs = _cloud()
    a, b, c = as_declared(obs, "a", "b", "c")
    swapped = eni("c", server="web-1", ip=c.private_ip, sgs=c.security_groups, eip="eip-2")
    rows = _rows(_plan(obs, desired(obs, ["web-1"], [a, b, swapped])))
    assert rows[("NetworkInterface/c", "eip")] == "eip: eip-1 -> eip-2"
    gone = eni("c", server="web-1", ip=c.private_ip, sgs=c.security_groups)
    rows = _rows(_plan(obs, desired(obs, ["web-1"], [a, b, gone])))
    assert rows[("NetworkInterface/c", "eip")] == "eip: eip-1 -> (none)"


def test_changed_labels_name_the_keys_added_removed_and_changed() -> None:
    """A labels change lists each key added and removed with its value, and each changed
    key with its old and new value, in text and in the markdown table."""
    change = Change(
        "Server/web-1", "labels", {"role": "web", "env": "dev"}, {"role": "db", "tier": "1"}
    )
    assert planview.detail_texts([change]) == [
        "added tier: 1; removed env: dev; changed role: web -> db"
    ]
    plan = Plan("d", "f", changes=(change,))
    assert (
        "  ~ Server/web-1  labels: {env: dev, role: web} -> {role: db, tier: 1}"
        "  (added tier: 1; removed env: dev; changed role: web -> db)\n"
    ) in render.text(plan, color=False)
    md = render.markdown(plan)
    assert "| resource | field | before | after | what changed |" in md
    assert "| labels | `{env: dev, role: web}` | `{role: db, tier: 1}` | added tier: 1;" in md


def test_no_detail_when_one_side_is_empty(deepdiff_calls: list[tuple[Any, Any]]) -> None:
    """[] -> [sg-a] already says what was added: no parenthesis, no deepdiff."""
    grown = Change("NetworkInterface/a", "securityGroups", [], ["sg-a"])
    emptied = Change("Server/web-1", "labels", {"a": "1"}, {})
    assert planview.detail_texts([grown, emptied]) == ["", ""]
    assert deepdiff_calls == []


def test_markdown_has_no_detail_column_without_a_detail() -> None:
    """Scalar changes only: the change table keeps its four columns."""
    plan = Plan("d", "f", changes=(Change("NetworkInterface/x", "eip", "eip-1", "eip-2"),))
    md = render.markdown(plan)
    assert "| resource | field | before | after |\n" in md and "what changed" not in md


def test_drift_rows_carry_their_detail() -> None:
    """A group removed at the console, the manifests unchanged since the last apply:
    the row is under Drift and names the group to add back."""
    obs = _cloud()
    a, b, c = as_declared(obs, "a", "b", "c")
    want = desired(
        obs, ["web-1"], [eni("a", server="web-1", ip=a.private_ip, sgs=("sg-a", "sg-b")), b, c]
    )
    plan = drift.label_plan(_plan(obs, want), want, drift.snapshot(want))
    assert (
        "Drift: the cloud changed outside enictl\n"
        "  ~ NetworkInterface/a  securityGroups: [sg-a] -> [sg-a, sg-b]  (added sg-b)\n"
    ) in render.text(plan, color=False)


def test_a_saved_plan_shows_the_same_detail_and_its_json_is_unchanged() -> None:
    """The detail is derived from before and after: the plan JSON gains no key, and a plan
    read back from it shows the same change rows."""
    obs = _cloud()
    a, b, c = as_declared(obs, "a", "b", "c")
    want = desired(obs, ["web-1"], [a, eni("b", server="web-1", ip=b.private_ip, sgs=("sg-b",)), c])
    plan = _plan(obs, want)
    data = plan.as_json()
    keys = {key for change in data["changes"] for key in change}
    assert keys == {"resource", "field", "before", "after", "origin"}
    rows = _rows(Plan.from_json(data))
    assert rows == _rows(plan)
    assert rows[("NetworkInterface/b", "securityGroups")].endswith("  (removed sg-a)")


def test_unchanged_resources_get_no_deepdiff_call(deepdiff_calls: list[tuple[Any, Any]]) -> None:
    """200 ENIs on 100 servers; 3 change their groups, 1 its EIP. Planning calls deepdiff
    never; the text, once, comparing the 3 changed group lists and nothing else."""
    cloud = standard().subnet("sn-big", cidr="10.0.64.0/18")
    for s in range(100):
        cloud.server(f"web-{s}", "s4", subnet="sn-big")
    for i in range(200):
        eip = "eip-1" if i == 7 else None
        cloud.eni(f"e{i}", "sn-big", f"web-{i // 2}", sgs=("sg-a",), eip=eip)
    obs = cloud.build()
    wanted = {i.name: i for i in as_declared(obs, *(f"e{i}" for i in range(200)))}
    for name in ("e3", "e50", "e120"):
        wanted[name] = replace(wanted[name], security_groups=("sg-a", "sg-b"))
    wanted["e7"] = replace(wanted["e7"], eip="eip-2")
    plan = _plan(obs, desired(obs, [f"web-{s}" for s in range(100)], wanted.values()))
    assert len(plan.unchanged) == 196 + 100 and deepdiff_calls == []
    assert len(plan.changes) == 4
    compared = ({n: frozenset({"sg-a"}) for n in range(3)},
                {n: frozenset({"sg-a", "sg-b"}) for n in range(3)})  # fmt: skip
    render.text(plan, color=False)
    assert deepdiff_calls == [compared]
    deepdiff_calls.clear()
    render.markdown(plan)
    assert deepdiff_calls == [compared]
    deepdiff_calls.clear()
    render.json_text(plan)
    assert deepdiff_calls == []


def test_deepdiff_is_imported_only_when_a_detail_is_needed() -> None:
    """Planning and rendering modules load without deepdiff (60-100 ms of imports)."""
    code = (
        "import sys\n"
        "import controller.cli.plan, controller.cli.watch, controller.planning.planner\n"
        "assert 'deepdiff' not in sys.modules, 'deepdiff imported at start'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
