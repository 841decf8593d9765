"""Failover end to end (SPEC 4a) through the real CLI, on the sim provider and on
huaweicloud through `enictl sim serve`: a server fails at the console, `enictl apply`
moves its failover ENI (IP and EIP kept), and the drift check after says in sync."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.applyhelpers import Cli, cloud_log, rejected

DATA = Path(__file__).parent / "data" / "failover"
KEPT = ("10.0.1.50", "eip-1")  # eni-svc's private IP and EIP, whatever happens


@pytest.fixture
def manifests(cli: Cli, tmp_path: Path) -> Path:
    """The failover cloud in the state dir, its manifests applied (eni-svc on web-1)."""
    cli.init(DATA / "inventory.yaml")
    target = tmp_path / "manifests"
    shutil.copytree(DATA / "manifests", target)
    assert cli("apply", str(target), "--yes").code == 0
    return target


def _policy(manifests: Path, **fields: object) -> None:
    """Rewrite eni-svc's `failover:` line with these fields."""
    path = manifests / "svc.yaml"
    text = json.dumps({k: v for k, v in fields.items()})
    lines = [f"  failover: {text}" if ln.startswith("  failover:") else ln
             for ln in path.read_text().splitlines()]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def _where(cli: Cli) -> tuple[str | None, tuple[str, str]]:
    svc = cli.interfaces()["eni-svc"]
    return svc["server"], (svc["privateIp"], svc["eip"])


def _apply(cli: Cli, manifests: Path) -> str:
    ran = cli("apply", str(manifests), "--yes")
    assert ran.code == 0, ran.err
    return ran.out


def test_shutoff_moves_the_eni_and_the_drift_check_is_clean(cli: Cli, manifests: Path) -> None:
    """web-1 SHUTOFF: apply moves eni-svc to standby-1 with its IP and EIP; the plan after
    exits 0 and says where it is and why."""
    assert cli("sim", "console", "set-status", "web-1", "SHUTOFF").code == 0
    out = _apply(cli, manifests)
    assert "eni-svc fails over from web-1 to standby-1: web-1 SHUTOFF" in out
    assert _where(cli) == ("standby-1", KEPT)
    assert cli.in_sync(str(manifests))
    text = cli("plan", str(manifests)).out
    assert re.search(r"eni-svc\s+on standby-1 since \d\d:\d\d:\d\d: web-1 SHUTOFF", text)
    markdown = cli("plan", str(manifests), "-o", "markdown").out
    assert "on standby-1 since" in markdown and "web-1 SHUTOFF" in markdown
    assert rejected(cli.state) == []


def test_error_with_fence_stop_stops_the_server_then_moves(cli: Cli, manifests: Path) -> None:
    """web-1 in ERROR with fence: stop: a hard stop (the cloud's stop job), then the move."""
    _policy(manifests, fence="stop")
    assert cli("sim", "console", "set-status", "web-1", "ERROR").code == 0
    plan = json.loads(cli("plan", str(manifests), "-o", "json").out)
    assert [s["action"] for s in plan["steps"]] == ["stop-server", "detach", "attach"]
    _apply(cli, manifests)
    assert _where(cli) == ("standby-1", KEPT)
    servers = {s["name"]: s["status"] for s in json.loads(cli("get", "servers", "-o", "json").out)}
    assert servers["web-1"] == "SHUTOFF"
    operations = [e.operation for e in cloud_log(cli.state)]
    assert operations.index("stop_server") < operations.index("detach")
    assert cli.in_sync(str(manifests))


def test_error_with_fence_none_stays_and_waits_for_nothing(cli: Cli, manifests: Path) -> None:
    """web-1 in ERROR with fence: none: nothing is tried on web-1 (no 300 s wait), the
    plan warns FailoverBlocked, and it is in sync as the policy says."""
    assert cli("sim", "console", "set-status", "web-1", "ERROR").code == 0
    ran = cli("plan", str(manifests), "--detailed-exitcode")
    assert ran.code == 0 and "FailoverBlocked" in ran.out and "fence: stop" in ran.out
    _apply(cli, manifests)
    assert _where(cli) == ("web-1", KEPT)


def test_a_deleted_server_keeps_the_eni_which_moves_on(cli: Cli, manifests: Path) -> None:
    """After a failover to standby-1, deleting standby-1 does not delete eni-svc (enictl
    attached it with deleteOnTermination false): it moves on to standby-2."""
    assert cli("sim", "console", "set-status", "web-1", "SHUTOFF").code == 0
    _apply(cli, manifests)
    assert cli("sim", "console", "delete-server", "standby-1").code == 0
    assert _where(cli) == (None, KEPT)
    ran = cli("plan", str(manifests))
    assert ran.code == 0 and "UnknownServer" in ran.out and "count it as down" in ran.out
    _apply(cli, manifests)
    assert _where(cli) == ("standby-2", KEPT)
    assert cli.in_sync(str(manifests))


def test_back_to_active_it_stays_without_failback(cli: Cli, manifests: Path) -> None:
    """web-1 repaired: without failback eni-svc stays on standby-1, and that is in sync."""
    assert cli("sim", "console", "set-status", "web-1", "SHUTOFF").code == 0
    _apply(cli, manifests)
    assert cli("sim", "console", "set-status", "web-1", "ACTIVE").code == 0
    assert cli.in_sync(str(manifests))
    assert "web-1 ACTIVE again, no failback" in cli("plan", str(manifests)).out
    assert _where(cli) == ("standby-1", KEPT)


def test_back_to_active_it_returns_with_failback(cli: Cli, manifests: Path) -> None:
    """With failback (no hold-down) eni-svc returns to web-1 once web-1 is ACTIVE."""
    _policy(manifests, failback=True, holdDownSeconds=0)
    assert cli("sim", "console", "set-status", "web-1", "SHUTOFF").code == 0
    _apply(cli, manifests)
    assert cli("sim", "console", "set-status", "web-1", "ACTIVE").code == 0
    out = _apply(cli, manifests)
    assert "failback: web-1 ACTIVE" in out
    assert _where(cli) == ("web-1", KEPT)
    assert cli.in_sync(str(manifests))


def test_the_hold_down_keeps_it_from_failing_back_at_once(cli: Cli, manifests: Path) -> None:
    """With failback and the default hold-down, web-1 back ACTIVE a moment after the
    failover does not get eni-svc back yet: the plan says when it will."""
    _policy(manifests, failback=True)
    assert cli("sim", "console", "set-status", "web-1", "SHUTOFF").code == 0
    _apply(cli, manifests)
    assert cli("sim", "console", "set-status", "web-1", "ACTIVE").code == 0
    ran = cli("plan", str(manifests), "--detailed-exitcode")
    assert ran.code == 0 and "web-1 ACTIVE again; failback at" in ran.out


def test_get_wide_shows_each_failover_eni_and_its_standbys(cli: Cli, manifests: Path) -> None:
    """`get interfaces -o wide`: where eni-svc is and why, and its other servers' readiness."""
    assert cli("sim", "console", "set-status", "standby-2", "SHUTOFF").code == 0
    ran = cli("get", "interfaces", "eni-svc", "-o", "wide")
    assert ran.code == 0
    header, row = ran.out.splitlines()
    assert "FAILOVER" in header and "STANDBYS" in header
    assert "on web-1: web-1 ACTIVE" in row and "standby-1 ready, standby-2 SHUTOFF" in row
