"""A server that is not ready (BUILD): the plan warns `ServerNotReady`, apply waits up to
ENICTL_SERVER_READY_TIMEOUT for it, then fails the step, or goes on once it is ACTIVE.

End to end through the CLI on the simulated cloud: in process for the timeout, as a
real process for the server that turns ACTIVE while apply waits for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.providers.sim.cloud import open_cloud
from tests.applyhelpers import PLANS, Cli, cloud_log, spawn

CASE = PLANS / "violation-server-not-ready"  # eni-a declared on web-2, which is BUILD
MANIFESTS = str(CASE / "manifests")


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.delenv("ENICTL_PROVIDER", raising=False)
    cli = Cli(tmp_path / "state", capsys)
    cli.init(CASE / "inventory.yaml")
    return cli


def test_the_plan_warns_and_stays_applyable(cli: Cli) -> None:
    """The attach to the BUILD server is planned, with a ServerNotReady warning (exit 0)."""
    ran = cli("plan", MANIFESTS)
    assert ran.code == 0, ran.err
    assert "warning  ServerNotReady  Server/web-2" in ran.out
    assert "web-2 is BUILD: attach and detach need ACTIVE or SHUTOFF" in ran.out
    assert "attach  eni-a" in ran.out


def test_apply_waits_the_timeout_then_fails_the_step(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ENICTL_SERVER_READY_TIMEOUT=0.2 apply waits 0.2 s, fails the step with
    ServerNotReady naming the server and its status (exit 1), and never calls attach."""
    monkeypatch.setenv("ENICTL_SERVER_READY_TIMEOUT", "0.2")
    ran = cli("apply", MANIFESTS, "--yes")
    assert ran.code == 1
    assert "Apply failed: 0 done, 1 failed, 0 not started" in ran.out
    assert (
        "failed: step 1: attach eni-a on web-2: ServerNotReady: server web-2 is BUILD, "
        "not ACTIVE or SHUTOFF, after waiting 0.2s"
    ) in ran.err
    assert cli.interfaces()["eni-a"]["server"] is None
    assert not [e for e in cloud_log(cli.state) if e.operation == "attach"]


def test_a_bad_timeout_is_a_usage_error(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A timeout that is not a number is refused before anything runs."""
    monkeypatch.setenv("ENICTL_SERVER_READY_TIMEOUT", "soon")
    ran = cli("apply", MANIFESTS, "--yes")
    assert ran.code == 1
    assert "error: ENICTL_SERVER_READY_TIMEOUT must be a number of seconds, got 'soon'" in ran.err
    assert not [e for e in cloud_log(cli.state) if e.operation != "observe"]


def test_the_step_goes_on_when_the_server_turns_active(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `enictl apply --json` waits for web-2; once the console makes it ACTIVE the
    attach runs, the apply exits 0 and eni-a is on web-2."""
    monkeypatch.setenv("ENICTL_SERVER_READY_TIMEOUT", "120")  # generous: the test ends it
    proc = spawn(cli.state, "apply", MANIFESTS, "--yes", "--json")
    assert proc.stdout is not None
    events: list[dict[str, object]] = []
    for line in proc.stdout:  # ends when the process does, at the latest after 120 s
        events.append(json.loads(line))
        if events[-1]["event"] == "waiting-server":
            break
    assert (events[-1]["event"], events[-1]["server"]) == ("waiting-server", "web-2")
    cloud = open_cloud(cli.state)
    try:
        cloud.force_set_status("web-2", "ACTIVE")
    finally:
        cloud.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    done = [json.loads(line) for line in out.splitlines()]
    assert [e["step"] for e in done if e["event"] == "step-done"] == [1]
    assert done[-1]["event"] == "apply-complete" and done[-1]["inSync"] is True
    assert cli.interfaces()["eni-a"]["server"] == "web-2"
