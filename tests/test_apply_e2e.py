"""`enictl apply` end to end, through the CLI, against the simulated cloud."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.providers.sim.cloud import open_cloud
from tests.applyhelpers import (
    MIXED,
    PLANS,
    Cli,
    cloud_log,
    identity,
    rejected,
)

MOVES = [
    "failover-to-standby",
    "swap-full-servers",
    "rotation-of-four",
    "chain-frees-slot",
    "eip-moves-between-enis",
    "create-attach-update",
    "prune-on",
]


def _args(case: Path) -> list[str]:
    args = case / "args"
    return args.read_text().split() if args.exists() else []


@pytest.mark.parametrize("name", MOVES)
def test_apply_converges_and_keeps_every_surviving_eni(cli: Cli, name: str) -> None:
    """Each scenario applies, ends in sync, keeps IPs and EIPs, and trips no cloud rule."""
    case = PLANS / name
    cli.init(case / "inventory.yaml")
    manifests = str(case / "manifests")
    before = cli.interfaces()
    ran = cli("apply", manifests, "--yes", *_args(case))
    assert ran.code == 0, ran.err
    assert "Apply complete:" in ran.out and "The cloud matches the manifests." in ran.out
    assert cli.in_sync(manifests, *_args(case))
    after = cli.interfaces()
    for eni in set(before) & set(after):
        assert after[eni]["privateIp"] == before[eni]["privateIp"], eni
    assert rejected(cli.state) == []


def test_a_second_apply_has_nothing_to_do(cli: Cli) -> None:
    """Applying twice: the second run says the cloud matches and changes nothing."""
    cli.init(PLANS / "failover-to-standby" / "inventory.yaml")
    manifests = str(PLANS / "failover-to-standby" / "manifests")
    assert cli("apply", manifests, "--yes").code == 0
    calls = len(cloud_log(cli.state))
    ran = cli("apply", manifests)
    assert ran.code == 0 and "No changes. The cloud matches the manifests." in ran.out
    assert all(e.operation == "observe" for e in cloud_log(cli.state)[calls:])


def test_failover_clears_delete_on_termination_and_keeps_ip_and_eip(cli: Cli) -> None:
    """A moving ENI whose attachment would delete it survives with its IP and EIP."""
    cli.init(MIXED / "inventory.yaml")
    before = identity(cli.interfaces())
    ran = cli("apply", str(MIXED / "manifests"), "--yes")
    assert ran.code == 0, ran.err
    after = cli.interfaces()
    assert after["eni-svc"]["server"] == "standby-1"
    assert identity(after)["eni-svc"] == before["eni-svc"] == ("10.0.1.50", "eip-1")
    assert identity(after)["eni-1"] == before["eni-1"] == ("10.0.1.61", "eip-3")
    ops = [(e.operation, e.target) for e in cloud_log(cli.state)]
    cleared = next(i for i, (op, t) in enumerate(ops) if op == "set_delete_on_termination")
    detached = next(i for i, (op, t) in enumerate(ops) if op == "detach" and "eni-svc" in t)
    assert cleared < detached
    assert rejected(cli.state) == []


def test_transient_errors_at_30_percent_still_converge(cli: Cli) -> None:
    """With 30% of calls failing transiently, the apply retries and converges."""
    cli.init(MIXED / "inventory.yaml")
    assert cli("sim", "faults", "--error-rate", "0.3", "--seed", "11").code == 0
    ran = cli("apply", str(MIXED / "manifests"), "--yes")
    assert ran.code == 0, ran.err
    assert "The cloud matches the manifests." in ran.out
    assert any(e.result == "error" for e in cloud_log(cli.state))  # faults did happen
    assert rejected(cli.state) == []
    assert cli("sim", "faults", "--off").code == 0
    assert cli.in_sync(str(MIXED / "manifests"))


def test_permanent_job_failure_stops_dependents_and_finishes_the_rest(cli: Cli) -> None:
    """Failed jobs: exit 1 naming the steps; their dependents never start; others finish."""
    cli.init(MIXED / "inventory.yaml")
    assert cli("sim", "faults", "--job-fail-rate", "1").code == 0
    ran = cli("apply", str(MIXED / "manifests"), "--yes")
    assert ran.code == 1
    assert "Apply failed: 2 done, 4 failed, 4 not started" in ran.out
    assert "error: apply failed: 4 step(s) failed, 4 not started" in ran.err
    assert "failed: step 3: detach eni-svc on web-1: Ecs.0507" in ran.err
    assert "not started: step 4: attach eni-svc on standby-1" in ran.err
    after = cli.interfaces()
    assert after["eni-new"]["eip"] == "eip-2"  # the independent create and bind ran
    assert after["eni-svc"]["server"] == "web-1"
    assert not any(e.operation == "attach" for e in cloud_log(cli.state))


def test_stale_saved_plan_is_refused_before_any_step(cli: Cli, tmp_path: Path) -> None:
    """A saved plan made before a console change is refused; the cloud is not touched."""
    cli.init(MIXED / "inventory.yaml")
    saved = tmp_path / "plan.json"
    assert cli("plan", str(MIXED / "manifests"), "--out", str(saved)).code == 0
    cloud = open_cloud(cli.state)
    cloud.force_detach("eni-2")
    cloud.close()
    mark = len(cloud_log(cli.state))
    ran = cli("apply", "--plan", str(saved))
    assert ran.code == 1
    assert "plan is stale: the cloud changed" in ran.err
    assert all(e.operation == "observe" for e in cloud_log(cli.state)[mark:])


def test_fresh_saved_plan_applies_without_a_prompt(cli: Cli, tmp_path: Path) -> None:
    """A reviewed saved plan runs without --yes and without a terminal."""
    cli.init(PLANS / "swap-full-servers" / "inventory.yaml")
    saved = tmp_path / "plan.json"
    manifests = str(PLANS / "swap-full-servers" / "manifests")
    assert cli("plan", manifests, "--out", str(saved)).code == 0
    ran = cli("apply", "--plan", str(saved))
    assert ran.code == 0, ran.err
    assert cli.in_sync(manifests)


def test_no_terminal_and_no_yes_refuses_and_changes_nothing(cli: Cli) -> None:
    """Without --yes, a non-interactive apply refuses after showing the plan."""
    cli.init(PLANS / "failover-to-standby" / "inventory.yaml")
    ran = cli("apply", str(PLANS / "failover-to-standby" / "manifests"))
    assert ran.code == 1
    assert "Plan:" in ran.out
    assert "refusing to apply without confirmation" in ran.err and "--yes" in ran.err
    assert all(e.operation == "observe" for e in cloud_log(cli.state))


def test_rejected_plan_applies_nothing(cli: Cli) -> None:
    """A plan with error violations is printed with them and nothing is applied (exit 1)."""
    case = PLANS / "violation-flavor-limit"
    cli.init(case / "inventory.yaml")
    ran = cli("apply", str(case / "manifests"), "--yes")
    assert ran.code == 1
    assert "FlavorLimitExceeded" in ran.out
    assert "plan rejected" in ran.err
    assert all(e.operation == "observe" for e in cloud_log(cli.state))


def test_json_streams_one_event_per_line(cli: Cli) -> None:
    """--json prints only JSON lines: the plan, step events, and the final result."""
    cli.init(PLANS / "rotation-of-four" / "inventory.yaml")
    ran = cli("apply", str(PLANS / "rotation-of-four" / "manifests"), "--yes", "--json")
    assert ran.code == 0, ran.err
    events = [json.loads(line) for line in ran.out.splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "plan" and names[-1] == "apply-complete"
    assert names.count("step-started") == names.count("step-done") == 8
    assert events[-1]["inSync"] is True and events[-1]["ok"] is True


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    """PATHs and --plan exclude each other; one of them is needed; --prune is in a plan."""
    assert "either manifest PATHs or --plan" in cli("apply", "x", "--plan", "p").err
    assert "give the manifest PATHs" in cli("apply").err
    assert "--prune is part of a saved plan" in cli("apply", "--plan", "p", "--prune").err


def test_force_unlock_refuses_a_wrong_id(cli: Cli) -> None:
    """force-unlock with an id that is not the lock's fails and says so."""
    cli.state.mkdir(parents=True)
    from controller.storage import lock

    with lock.acquire(cli.state) as held:
        ran = cli("force-unlock", "wrong")
        assert ran.code == 1 and "does not match" in ran.err
        ran = cli("force-unlock", held.holder.lock_id)
        assert ran.code == 0 and "Unlocked" in ran.out


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("n\n", 1)])
def test_a_terminal_is_asked_before_anything_changes(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    """On a terminal, apply asks; yes applies, no cancels and changes nothing."""
    import io

    from controller.cli import apply as apply_cli

    cli.init(PLANS / "failover-to-standby" / "inventory.yaml")
    monkeypatch.setattr(apply_cli, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    ran = cli("apply", str(PLANS / "failover-to-standby" / "manifests"))
    assert ran.code == code, ran.err
    assert "Apply these 2 step(s)?" in ran.out
    mutated = [e for e in cloud_log(cli.state) if e.operation not in ("observe", "job")]
    if code == 0:
        assert "The cloud matches the manifests." in ran.out and mutated
    else:
        assert "Apply cancelled; nothing was changed." in ran.out and not mutated


def test_a_throttled_observation_is_retried() -> None:
    """The observations before planning and when verifying retry throttling like any call,
    so that a throttled observe does not fail an apply whose steps all ran."""
    from controller import apply as applying
    from controller.errors import TransientProviderError
    from tests.fakeclock import FakeClock, patience
    from tests.fakecloud import FakeCloud

    cloud = FakeCloud.build({"s1": 3}, {})
    real = cloud.observe
    tries: list[int] = []

    def throttled_twice() -> Any:
        tries.append(1)
        if len(tries) < 3:
            raise TransientProviderError("APIGW.0308", "throttled", status=429)
        return real()

    cloud.observe = throttled_twice  # type: ignore[method-assign]
    assert "s1" in applying.observe(cloud, patience(FakeClock())).servers and len(tries) == 3


def test_a_declared_address_is_not_handed_to_a_create_without_one(cli: Cli, tmp_path: Path) -> None:
    """Two new ENIs in one subnet, one declaring the subnet's lowest free address (which
    the cloud would pick for the other): the declared one is created first; it converges."""
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "apiVersion: enictl/v1\nkind: CloudInventory\nmetadata: {name: addresses}\nspec:\n"
        "  flavors: [{name: s3, maxInterfaces: 3}]\n"
        "  vpcs: [{name: vpc, cidr: 10.0.0.0/16}]\n"
        "  subnets: [{name: sn, vpc: vpc, cidr: 10.0.1.0/24, availabilityZone: az1}]\n"
        "  servers: [{name: web-1, flavor: s3, availabilityZone: az1, vpc: vpc, subnet: sn,"
        " privateIp: 10.0.1.10}]\n"
    )
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(
        "apiVersion: enictl/v1\nkind: NetworkInterface\nmetadata: {name: a-any}\n"
        "spec: {subnet: sn, server: web-1}\n---\n"
        "apiVersion: enictl/v1\nkind: NetworkInterface\nmetadata: {name: b-fixed}\n"
        "spec: {subnet: sn, privateIp: 10.0.1.2}\n---\n"
        "apiVersion: enictl/v1\nkind: Server\nmetadata: {name: web-1}\n"
        "spec: {flavor: s3, availabilityZone: az1, vpc: vpc, subnet: sn}\n"
    )
    cli.init(inventory)
    ran = cli("apply", str(manifests), "--yes", "--parallelism", "1")
    assert ran.code == 0, ran.err
    after = cli.interfaces()
    assert after["b-fixed"]["privateIp"] == "10.0.1.2"
    assert after["a-any"]["privateIp"] not in (None, "10.0.1.2")
    assert rejected(cli.state) == []
