"""`enictl sim init | faults | log`, end to end through the CLI in process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from controller.cli import main
from controller.errors import PermanentProviderError
from controller.providers.sim.cloud import open_cloud
from controller.providers.sim.faults import Faults
from tests.sim_support import SMALL


def run(state: Path, *args: str) -> int:
    return main(["--state-dir", str(state), *args])


def test_sim_init_creates_the_cloud_and_says_what_is_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A summary line names every kind and its count."""
    assert run(tmp_path, "sim", "init", str(SMALL)) == 0
    out = capsys.readouterr().out
    assert "4 servers, 9 interfaces, 2 flavors, 2 VPCs, 4 subnets" in out
    assert "3 security groups, 2 EIPs" in out
    assert len(open_cloud(tmp_path).observe().servers) == 4


def test_sim_init_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second init fails with one error line; --force replaces the cloud."""
    assert run(tmp_path, "sim", "init", str(SMALL)) == 0
    cloud = open_cloud(tmp_path)
    cloud.force_detach("legacy-1")
    capsys.readouterr()
    assert run(tmp_path, "sim", "init", str(SMALL)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: a simulated cloud already exists in {tmp_path}; use --force to replace it"
    ]
    assert open_cloud(tmp_path).observe().interfaces["legacy-1"].server is None
    assert run(tmp_path, "sim", "init", str(SMALL), "--force") == 0
    assert open_cloud(tmp_path).observe().interfaces["legacy-1"].server == "web-1"


def test_sim_init_reports_inventory_problems_with_their_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each problem is one `error: FILE: FIELD: message` line, exit 1, no cloud left behind."""
    bad = tmp_path / "bad.yaml"
    text = SMALL.read_text().replace("flavor: s6.small.1,", "flavor: s9.huge,")
    bad.write_text(text)
    assert run(tmp_path / "state", "sim", "init", str(bad)) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {bad}") and "spec.servers[1].flavor" in err[0]
    assert "'s9.huge'" in err[0]
    assert not (tmp_path / "state" / "cloud.db").exists()


def test_sim_init_counts_other_ports_and_locates_their_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Other ports are counted in the summary; a VIP on a reserved address is refused at
    its file:line:col with IpReserved."""
    good = tmp_path / "ports.yaml"
    ports = "  ports:\n    - {subnet: subnet-web, privateIp: 10.0.1.254, owner: dhcp}\n"
    good.write_text(SMALL.read_text().replace("  interfaces:\n", ports + "  interfaces:\n"))
    assert run(tmp_path / "ok", "sim", "init", str(good)) == 0
    assert "2 EIPs, 1 other port" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("owner: dhcp", "owner: vip"))
    assert run(tmp_path / "bad", "sim", "init", str(bad)) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert re.match(
        rf"error: {re.escape(str(bad))}:\d+:\d+: IpReserved: CloudInventory/small "
        r"spec.ports\[0\].privateIp: 10.0.1.254 is reserved in subnet-web",
        line,
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("kind: CloudInventory\nspec: [\n", r":3:1: "),
        ("kind: Server\nspec: {}\n", r"(:\d+:\d+)?: .*CloudInventory"),
    ],
)
def test_sim_init_rejects_unreadable_inventories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    """YAML errors carry file:line:col; a file without an inventory says so."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    assert run(tmp_path / "state", "sim", "init", str(bad)) == 1
    err = capsys.readouterr().err
    assert re.match(f"error: {re.escape(str(bad))}{expected}", err), err
    assert "Traceback" not in err


def test_sim_init_with_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing inventory is one error line."""
    assert run(tmp_path, "sim", "init", str(tmp_path / "nope.yaml")) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_sim_faults_shows_sets_and_clears(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No option prints the settings; options change only what they name; --off clears all."""
    run(tmp_path, "sim", "init", str(SMALL))
    capsys.readouterr()
    assert run(tmp_path, "sim", "faults") == 0
    assert "latency-ms     0" in capsys.readouterr().out
    assert run(tmp_path, "sim", "faults", "--latency-ms", "40", "--seed", "7") == 0
    assert run(tmp_path, "sim", "faults", "--error-rate", "0.25", "--job-fail-rate", "0.5") == 0
    assert run(tmp_path, "sim", "faults", "--call-ms", "3") == 0
    capsys.readouterr()
    assert open_cloud(tmp_path).faults() == Faults(40, 0.25, 0.5, 7, call_ms=3)
    assert run(tmp_path, "sim", "faults", "-o", "json") == 0
    assert json.loads(capsys.readouterr().out) == {  # camelCase, as every JSON output
        "jobMs": 40,
        "errorRate": 0.25,
        "jobFailRate": 0.5,
        "seed": 7,
        "rateLimit": 0,
        "callMs": 3,
    }
    assert run(tmp_path, "sim", "faults", "--off") == 0
    assert open_cloud(tmp_path).faults() == Faults()


def test_sim_faults_rejects_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A rate above 1, or --off with other options, is an error line and exit 1."""
    run(tmp_path, "sim", "init", str(SMALL))
    assert run(tmp_path, "sim", "faults", "--error-rate", "2") == 1
    assert run(tmp_path, "sim", "faults", "--off", "--seed", "1") == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_sim_log_lists_every_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`get` is an observe call; a refused call shows its code; -o json is machine-readable."""
    run(tmp_path, "sim", "init", str(SMALL))
    run(tmp_path, "get")
    cloud = open_cloud(tmp_path)
    ids = cloud.snapshot()
    with pytest.raises(PermanentProviderError, match=r"Ecs\.0003"):
        cloud.detach(ids.servers["web-1"].id, ids.interfaces["web-1-primary"].id)
    capsys.readouterr()
    assert run(tmp_path, "sim", "log", "-o", "json") == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["operation"], e["result"], e["errorCode"]) for e in entries] == [
        ("observe", "ok", None),
        ("detach", "error", "Ecs.0003"),
    ]
    assert set(entries[1]) == {
        "seq",
        "time",
        "operation",
        "target",
        "result",
        "errorCode",
        "message",
    }
    assert run(tmp_path, "sim", "log", "--tail", "1") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TIME", "OPERATION", "TARGET", "RESULT", "CODE", "MESSAGE"]
    assert len(lines) == 2 and "Ecs.0003" in lines[1] and "web-1-primary <- web-1" in lines[1]


def test_sim_commands_without_a_cloud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """faults, log and get tell the user to run `enictl sim init`."""
    for args in (["sim", "faults"], ["sim", "log"], ["get"]):
        assert run(tmp_path, *args) == 1
        assert "run `enictl sim init INVENTORY`" in capsys.readouterr().err
