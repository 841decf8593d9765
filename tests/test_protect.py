"""Protection (SPEC sections 2 and 4): `protect: true` is remembered by the cloud as a
marker on the port, which apply keeps in sync, so `--prune` never deletes the ENI once
its manifest is gone; unit tests on the diff, plan and executor with the fake cloud,
end-to-end tests through the CLI on both providers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from controller import apply
from controller.errors import PermanentProviderError
from controller.plan import Action, Code, Mark, Marker, Plan, Step
from controller.planning import diff, planner
from controller.views import render
from tests.applyhelpers import (
    PLANS,
    Cli,
)
from tests.builders import as_declared, desired, eni, standard
from tests.fakecloud import FakeCloud, run_plan

PROTECT = PLANS / "protect"

# -- the diff and the plan ------------------------------------------------------------


def test_a_declared_protect_without_the_marker_is_to_be_set() -> None:
    """protect: true on an ENI whose port lacks the marker lists it in Diff.protect."""
    obs = standard().server("web-1").eni("a", server="web-1").build()
    want = [replace(i, protect=True) for i in as_declared(obs, "a")]
    d = diff.diff(desired(obs, ["web-1"], want), obs)
    assert d.marks == (Mark("a", Marker.PROTECT, True),) and d.deltas == ()


def test_a_created_eni_with_protect_is_to_be_marked() -> None:
    """A new ENI with protect: true is created, then marked; one without is not."""
    obs = standard().server("web-1").build()
    d = diff.diff(desired(obs, ["web-1"], [eni("a", protect=True), eni("b")]), obs)
    assert d.marks == (Mark("a", Marker.PROTECT, True),)


def test_a_marker_no_manifest_asks_for_is_cleared() -> None:
    """protect: false (the default) on a marked port clears the marker; in sync, nothing."""
    obs = standard().server("web-1").eni("a", protect=True).eni("b", protect=True).build()
    kept = [replace(i, protect=True) for i in as_declared(obs, "b")]
    d = diff.diff(desired(obs, ["web-1"], as_declared(obs, "a") + kept), obs)
    assert d.marks == (Mark("a", Marker.PROTECT, False),)


def test_the_plan_carries_the_marks_in_json_and_has_changes() -> None:
    """Plan.protect is an additive JSON list that round-trips and counts as a change."""
    obs = standard().server("web-1").eni("a").build()
    want = [replace(i, protect=True) for i in as_declared(obs, "a")]
    plan = planner.plan(desired(obs, ["web-1"], want), obs)
    assert plan.steps == () and plan.has_changes
    as_json = plan.as_json()
    assert as_json["protect"] == [{"interface": "a", "value": True}]
    assert Plan.from_json(as_json).protect == plan.protect
    assert Plan.from_json({**as_json, "protect": []}).has_changes is False
    del as_json["protect"]  # a plan saved before the field existed
    assert Plan.from_json(as_json).protect == ()


def test_a_marked_orphan_is_kept_by_prune_with_a_warning() -> None:
    """--prune keeps an orphan whose port is marked (a ProtectedInterface warning) and
    deletes the unmarked one."""
    obs = standard().server("web-1").eni("keep", server="web-1", protect=True).eni("old").build()
    plan = planner.plan(desired(obs, ["web-1"]), obs, prune=True)
    assert plan.applyable
    assert [(s.action, s.interface) for s in plan.steps] == [(Action.DELETE, "old")]
    assert [(v.code, v.resource) for v in plan.violations] == [
        (Code.PROTECTED_INTERFACE, "NetworkInterface/keep")
    ]


def test_text_and_markdown_show_the_marks() -> None:
    """`Protect: NAME (...)` in text, a Protect section in markdown, and the summary."""
    plan = Plan(
        "m", "o", marks=(Mark("svc-eni", Marker.PROTECT, True), Mark("b", Marker.PROTECT, False))
    )
    text = render.text(plan, color=False)
    assert text.startswith("Plan: 2 protect marker(s) to set.")
    assert "Protect: svc-eni (mark as protected: prune never deletes it)" in text
    assert "Protect: b (clear the protect marker)" in text
    assert "#### Protect\n\n- `svc-eni`: mark as protected" in render.markdown(plan)


# -- the executor, against the fake cloud -------------------------------------------


execute = run_plan


def test_an_existing_eni_is_marked_before_the_steps() -> None:
    """A mark on an existing ENI is one set_protected call, before any step starts."""
    cloud = FakeCloud.build({"s1": 4}, {"a": None, "b": "s1"})
    plan = Plan(
        "m",
        "o",
        steps=(Step(1, Action.ATTACH, "a", server="s1"),),
        marks=(Mark("b", Marker.PROTECT, True),),
    )
    result, events = execute(plan, cloud)
    assert result.ok and cloud.interfaces["b"].protect
    assert cloud.calls_of("set_protected") == ["b"]
    names = [e.kind for e in events]
    assert names.index("protected") < names.index("step-started")


def test_a_created_eni_is_marked_right_after_its_create() -> None:
    """The mark of a created ENI is set right after the create, before its attach."""
    cloud = FakeCloud.build({"s1": 4}, {})
    create = Step(1, Action.CREATE, "n", subnet="net")
    attach = Step(2, Action.ATTACH, "n", server="s1", depends_on=(1,))
    plan = Plan("m", "o", steps=(create, attach), marks=(Mark("n", Marker.PROTECT, True),))
    result, _ = execute(plan, cloud)
    assert result.ok and cloud.interfaces["n"].protect
    verbs = [v for v, _ in cloud.calls if v in ("create_interface", "set_protected", "attach")]
    assert verbs == ["create_interface", "set_protected", "attach"]


def test_a_refused_mark_fails_the_apply() -> None:
    """A refused marker call fails the apply (exit 1); the steps still run."""
    cloud = FakeCloud.build({"s1": 3, "s2": 3}, {"a": "s1", "b": None})
    cloud.fail_calls[("set_protected", "a")] = PermanentProviderError("VPC.0202", "port gone")
    plan = Plan(
        "m",
        "o",
        steps=(Step(1, Action.ATTACH, "b", server="s2"),),
        marks=(Mark("a", Marker.PROTECT, True),),
    )
    result, events = execute(plan, cloud)
    assert not result.ok and len(result.done) == 1
    assert any(e.kind == "protect-failed" for e in events)
    error = apply.failure(result, None)
    assert error.details == ("failed: protect a: VPC.0202: port gone",)


# -- end to end, through the CLI, on the sim and on huaweicloud via sim serve ------------


def _manifests(tmp_path: Path, name: str, *docs: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "servers.yaml").write_text((PROTECT / "manifests" / "servers.yaml").read_text())
    for i, doc in enumerate(docs):
        (folder / f"eni-{i}.yaml").write_text(doc)
    return str(folder)


def _eni(name: str, protect: bool) -> str:
    return (
        f"apiVersion: enictl/v1\nkind: NetworkInterface\nmetadata: {{name: {name}}}\n"
        f"spec: {{subnet: subnet-web, securityGroups: [sg-web], protect: {str(protect).lower()}}}\n"
    )


def test_prune_never_deletes_an_eni_declared_protected(cli: Cli, tmp_path: Path) -> None:
    """Declared protect: true (an existing ENI and a new one), applied, manifests removed:
    plan --prune keeps both with ProtectedInterface warnings and apply --prune deletes
    only the unprotected ENIs."""
    cli.init(PROTECT / "inventory.yaml")
    declared = _manifests(
        tmp_path,
        "declared",
        _eni("eni-db", True),
        _eni("svc-eni", True),
        _eni("plain-eni", False),
    )
    planned = json.loads(cli("plan", declared, "-o", "json").out)
    assert planned["protect"] == [
        {"interface": "eni-db", "value": True},
        {"interface": "svc-eni", "value": True},
    ]
    ran = cli("apply", declared, "--yes")
    assert ran.code == 0, ran.err
    assert "protect svc-eni: protect marker set" in ran.out
    assert ", 2 protect marker(s) set in " in ran.out
    assert cli.in_sync(declared)

    gone = _manifests(tmp_path, "gone")
    ran = cli("plan", gone, "--prune", "-o", "json")
    assert ran.code == 0, ran.err
    plan = json.loads(ran.out)
    assert [(s["action"], s["interface"]) for s in plan["steps"]] == [
        ("delete", "eni-old"),
        ("delete", "plain-eni"),
    ]
    warned = [(v["code"], v["resource"], v["severity"]) for v in plan["violations"]]
    assert warned == [
        ("ProtectedInterface", "NetworkInterface/eni-db", "warning"),
        ("ProtectedInterface", "NetworkInterface/svc-eni", "warning"),
    ]
    ran = cli("apply", gone, "--prune", "--yes")
    assert ran.code == 0, ran.err
    left = {n for n, i in cli.interfaces().items() if not i["primary"]}
    assert left == {"eni-db", "svc-eni"}


def test_declaring_protect_false_clears_the_marker(cli: Cli, tmp_path: Path) -> None:
    """protect: false on a marked ENI clears its marker; then --prune may delete it."""
    cli.init(PROTECT / "inventory.yaml")
    assert cli("apply", _manifests(tmp_path, "on", _eni("eni-db", True)), "--yes").code == 0
    off = _manifests(tmp_path, "off", _eni("eni-db", False))
    assert json.loads(cli("plan", off, "-o", "json").out)["protect"] == [
        {"interface": "eni-db", "value": False}
    ]
    assert cli("apply", off, "--yes").code == 0 and cli.in_sync(off)
    ran = cli("apply", _manifests(tmp_path, "gone"), "--prune", "--yes")
    assert ran.code == 0, ran.err
    assert {n for n, i in cli.interfaces().items() if not i["primary"]} == set()


def test_a_saved_plan_carries_its_protect_marks(cli: Cli, tmp_path: Path) -> None:
    """`plan --out FILE` then `apply --plan FILE` sets the markers too."""
    cli.init(PROTECT / "inventory.yaml")
    declared = _manifests(tmp_path, "declared", _eni("eni-db", True))
    saved = tmp_path / "plan.json"
    assert cli("plan", declared, "--out", str(saved)).code == 0
    ran = cli("apply", "--plan", str(saved))
    assert ran.code == 0, ran.err
    assert cli.in_sync(declared)
    plan = json.loads(cli("plan", _manifests(tmp_path, "gone"), "--prune", "-o", "json").out)
    assert [v["resource"] for v in plan["violations"]] == ["NetworkInterface/eni-db"]
