"""`enictl get` with kubectl's conventions: NAME..., -l, -o wide and -o name, on both providers."""

from __future__ import annotations

from pathlib import Path

from tests.applyhelpers import Cli

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "manifests" / "inventory" / "demo-cloud.yaml"
DEMO = ROOT / "manifests" / "demo"


def test_names_keep_only_those_and_an_unknown_one_is_an_error(cli: Cli) -> None:
    """NAME... lists those rows; a name the cloud lacks fails after the rows found (exit 1)."""
    cli.init(INVENTORY)
    ran = cli("get", "interfaces", "legacy-monitor", "app-1-primary", "-o", "name")
    assert (ran.code, ran.out) == (0, "interface/app-1-primary\ninterface/legacy-monitor\n")
    ran = cli("get", "servers", "app-2", "nope")
    assert ran.code == 1
    assert ran.out.splitlines()[1].split()[0] == "app-2"
    assert ran.err == "error: no server named nope in the cloud\n"


def test_wide_adds_zone_vpc_and_the_protect_marker(cli: Cli) -> None:
    """-o wide has the table's columns, then AZ, VPC, PROTECTED and the failover ones."""
    cli.init(INVENTORY)
    assert cli("apply", str(DEMO), "--yes").code == 0
    lines = cli("get", "interfaces", "svc-eni", "legacy-monitor", "-o", "wide").out.splitlines()
    assert lines[0].split() == [
        "NAME", "SERVER", "SUBNET", "PRIVATE-IP", "EIP", "SECURITY-GROUPS", "PRIMARY", "MANAGED",
        "AZ", "VPC", "PROTECTED", "FAILOVER", "STANDBYS",
    ]  # fmt: skip
    assert lines[1].split()[0] == "legacy-monitor" and lines[1].split()[-5:] == [
        "az1",
        "vpc-demo",
        "no",
        "<none>",
        "<none>",
    ]
    assert (
        lines[2].split()[0] == "svc-eni"
        and "vpc-demo  yes        on app-1: app-1 ACTIVE" in lines[2]
    )
    assert lines[2].endswith("app-2 ready")


def test_selector_filters_by_labels(cli: Cli) -> None:
    """-l keeps what matches: nothing carries a label `role` here, so `!role` keeps all."""
    cli.init(INVENTORY)
    every = cli("get", "-o", "name").out
    assert cli("get", "-o", "name", "-l", "!role").out == every
    none = cli("get", "-l", "role=db")
    assert (none.code, none.out, none.err) == (0, "", "No interfaces found.\n")
    bad = cli("get", "-l", "role db")
    assert bad.code == 1 and bad.err.startswith("error: invalid selector 'role db'")
