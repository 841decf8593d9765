"""Adoption (SPEC section 4): an existing unmanaged ENI a manifest names is tagged as
managed by `enictl apply`, so that the next plan is clean; unit tests on the executor
with the fake cloud, end-to-end tests through the CLI on both providers."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

from controller import apply
from controller.errors import PermanentProviderError
from controller.execution import results
from controller.plan import Action, Mark, Marker, Plan, Step
from tests.applyhelpers import (
    PLANS,
    Cli,
    cloud_log,
    rejected,
)
from tests.fakecloud import FakeCloud, run_plan

ADOPT = PLANS / "adopt-existing"
NOTE = "(tag as managed by enictl)"


# -- the executor, against the fake cloud -------------------------------------------


def unmanaged(cloud: FakeCloud, *names: str) -> FakeCloud:
    for name in names:
        cloud.interfaces[name] = replace(cloud.interfaces[name], managed=False)
    return cloud


execute = run_plan


def test_apply_tags_each_adopted_eni_once_before_the_steps() -> None:
    """Every name in plan.adopt gets one set_managed call, before any step starts."""
    cloud = unmanaged(FakeCloud.build({"s1": 4}, {"a": None, "b": "s1", "u": "s1"}), "a", "b", "u")
    plan = Plan(
        "m",
        "o",
        steps=(Step(1, Action.ATTACH, "a", server="s1"),),
        marks=(Mark("a", Marker.MANAGED), Mark("b", Marker.MANAGED)),
    )
    result, events = execute(plan, cloud)
    assert result.ok and result.adopted == ("a", "b")
    assert sorted(cloud.calls_of("set_managed")) == ["a", "b"]
    assert cloud.interfaces["a"].managed and cloud.interfaces["b"].managed
    assert not cloud.interfaces["u"].managed  # unmanaged and not named: never touched
    names = [e.kind for e in events]
    assert names.count("adopted") == 2
    assert max(i for i, n in enumerate(names) if n == "adopted") < names.index("step-started")
    assert result.as_json()["adopted"] == 2 and "2 adopted" in result.summary()


def test_an_adoption_only_plan_runs_no_step() -> None:
    """A plan with adoptions and no steps tags the ENIs and is done."""
    cloud = unmanaged(FakeCloud.build({"s1": 3}, {"a": "s1"}), "a")
    result, _ = execute(Plan("m", "o", marks=(Mark("a", Marker.MANAGED),)), cloud)
    assert result.ok and result.adopted == ("a",) and result.done == ()
    assert [v for v, _ in cloud.calls if v != "observe"] == ["set_managed"]


def test_transient_errors_on_the_tag_are_retried() -> None:
    """A throttled tag call is retried like any call; retry events name the adoption."""
    cloud = unmanaged(FakeCloud.build({"s1": 3}, {"a": "s1"}), "a")
    cloud.transient_next["set_managed"] = 2
    result, events = execute(Plan("m", "o", marks=(Mark("a", Marker.MANAGED),)), cloud)
    assert result.ok and cloud.interfaces["a"].managed
    retries = [e for e in events if e.kind == "retry"]
    assert [(e["adopt"], e["call"], e["attempt"]) for e in retries] == [
        ("a", "set_managed", 1),
        ("a", "set_managed", 2),
    ]


def test_a_failed_adoption_fails_the_apply_but_not_the_steps() -> None:
    """A refused tag fails the apply (exit 1 like a failed step); every step still runs."""
    cloud = unmanaged(FakeCloud.build({"s1": 3, "s2": 3}, {"a": "s1", "b": None}), "a")
    cloud.fail_calls[("set_managed", "a")] = PermanentProviderError("VPC.0202", "port gone")
    plan = Plan(
        "m",
        "o",
        steps=(Step(1, Action.ATTACH, "b", server="s2"),),
        marks=(Mark("a", Marker.MANAGED),),
    )
    result, events = execute(plan, cloud)
    assert not result.ok and len(result.done) == 1 and result.adopted == ()
    assert [(a.interface, a.code) for a in result.adopt_failed] == [("a", "VPC.0202")]
    assert any(e.kind == "adopt-failed" and e["code"] == "VPC.0202" for e in events)
    assert result.as_json()["adoptFailed"] == [
        {"interface": "a", "status": "failed", "code": "VPC.0202", "message": "port gone"}
    ]
    error = apply.failure(result, None)
    assert str(error) == "apply failed: 1 adoption(s) not done"
    assert error.details == ("failed: adopt a: VPC.0202: port gone",)


def test_no_adoption_starts_once_stopped() -> None:
    """A stopped apply tags nothing and says the adoption did not start."""
    cloud = unmanaged(FakeCloud.build({"s1": 3}, {"a": "s1"}), "a")
    stop = threading.Event()
    stop.set()
    result, _ = execute(Plan("m", "o", marks=(Mark("a", Marker.MANAGED),)), cloud, stop=stop)
    assert not result.ok and cloud.calls_of("set_managed") == []
    assert [a.status for a in result.marked(Marker.MANAGED)] == ["not-started"]


def test_a_remaining_adoption_is_still_needed() -> None:
    """After an apply whose steps all ran, a pending adoption means it did not converge."""
    result = results.ApplyResult((), (), (), 0.0)
    error = apply.failure(result, Plan("m", "o", marks=(Mark("a", Marker.MANAGED),)))
    assert str(error).endswith("the cloud does not match the manifests: 1 adoption(s) still needed")
    assert error.details == ("still needed: adopt a",)


# -- end to end, through the CLI, on the sim and on huaweicloud via sim serve ------------


def test_plan_shows_adoptions_and_exits_2_while_they_are_pending(cli: Cli) -> None:
    """`plan` lists "Adopt: NAME (tag as managed by enictl)", not a managed drift, counts
    them in the summary, and --detailed-exitcode says the cloud will change (2)."""
    cli.init(ADOPT / "inventory.yaml")
    ran = cli("plan", str(ADOPT / "manifests"), "--detailed-exitcode")
    assert ran.code == 2, ran.err
    assert ran.out.startswith("Plan: 1 to attach, 2 to adopt.\n")
    assert f"Adopt: eni-db {NOTE}\nAdopt: eni-log {NOTE}\n" in ran.out
    assert "managed:" not in ran.out
    as_json = json.loads(cli("plan", str(ADOPT / "manifests"), "-o", "json").out)
    assert as_json["adopt"] == ["eni-db", "eni-log"]


def test_apply_adopts_and_the_next_plan_is_clean(cli: Cli) -> None:
    """After apply the adopted ENIs carry the managed tag, others do not; the re-plan
    has no changes and no drift, and a second apply does nothing."""
    cli.init(ADOPT / "inventory.yaml")
    manifests = str(ADOPT / "manifests")
    ran = cli("apply", manifests, "--yes")
    assert ran.code == 0, ran.err
    assert "Apply complete: 1 done, 0 failed, 0 not started, 2 adopted" in ran.out
    assert "adopt eni-db: tagged as managed by enictl" in ran.out
    managed = {n: i["managed"] for n, i in cli.interfaces().items() if not i["primary"]}
    assert managed == {"eni-db": True, "eni-log": True, "legacy-1": False}
    again = cli("plan", manifests, "--detailed-exitcode")
    assert again.code == 0, again.out
    assert again.out.startswith("No changes. The cloud matches the manifests.\n")
    assert "Drift" not in again.out and "Adopt" not in again.out
    mark = len(cloud_log(cli.state))
    second = cli("apply", manifests)
    assert second.code == 0 and "No changes." in second.out
    assert all(e.operation == "observe" for e in cloud_log(cli.state)[mark:])
    assert rejected(cli.state) == []


def test_an_adoption_alone_is_applied(cli: Cli, tmp_path: Path) -> None:
    """A plan whose only change is an adoption ("Plan: 1 to adopt.") is applied, and
    only the tag call reaches the cloud."""
    cli.init(ADOPT / "inventory.yaml")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    text = (ADOPT / "manifests" / "interfaces.yaml").read_text()
    (manifests / "eni-log.yaml").write_text(text.split("---")[1])
    (manifests / "servers.yaml").write_text((ADOPT / "manifests" / "servers.yaml").read_text())
    ran = cli("plan", str(manifests), "--detailed-exitcode")
    assert ran.code == 2 and ran.out.startswith("Plan: 1 to adopt.\n"), ran.out
    mark = len(cloud_log(cli.state))
    ran = cli("apply", str(manifests), "--yes", "--json")
    assert ran.code == 0, ran.err
    events = [json.loads(line) for line in ran.out.splitlines()]
    assert [e["interface"] for e in events if e["event"] == "adopted"] == ["eni-log"]
    assert events[-1]["event"] == "apply-complete" and events[-1]["inSync"] is True
    assert events[-1]["adopted"] == 1
    ops = [e.operation for e in cloud_log(cli.state)[mark:] if e.operation != "observe"]
    assert ops == ["set_managed"]
    assert cli.in_sync(str(manifests))


def test_a_saved_plan_carries_its_adoptions(cli: Cli, tmp_path: Path) -> None:
    """`plan --out FILE` then `apply --plan FILE` adopts too."""
    cli.init(ADOPT / "inventory.yaml")
    saved = tmp_path / "plan.json"
    assert cli("plan", str(ADOPT / "manifests"), "--out", str(saved)).code == 0
    ran = cli("apply", "--plan", str(saved))
    assert ran.code == 0, ran.err
    assert cli.interfaces()["eni-log"]["managed"] is True
    assert cli.in_sync(str(ADOPT / "manifests"))


def test_adoption_converges_under_transient_faults(cli: Cli) -> None:
    """With 30% of calls failing transiently, the tags are retried and the apply converges."""
    cli.init(ADOPT / "inventory.yaml")
    # a seed under which a tag call is refused through both providers (each of the
    # huaweicloud observe's page calls rolls the dice too, the BMS listings' included)
    assert cli("sim", "faults", "--error-rate", "0.3", "--seed", "7").code == 0
    ran = cli("apply", str(ADOPT / "manifests"), "--yes")
    assert ran.code == 0, ran.err
    tags = [e.result for e in cloud_log(cli.state) if e.operation == "set_managed"]
    assert "error" in tags and tags.count("ok") == 2  # a tag call was throttled, then retried
    assert cli("sim", "faults", "--off").code == 0
    assert cli.in_sync(str(ADOPT / "manifests"))
    assert rejected(cli.state) == []
