"""`enictl get servers|interfaces|flavors` on the simulated cloud: SPEC section 6's shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from controller.cli import main
from controller.providers.sim.cloud import open_cloud
from tests.sim_support import SMALL

INTERFACE_KEYS = [
    "name",
    "id",
    "server",
    "primary",
    "managed",
    "subnet",
    "vpc",
    "availabilityZone",
    "privateIp",
    "securityGroups",
    "eip",
]


@pytest.fixture
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["--state-dir", str(tmp_path), "sim", "init", str(SMALL)]) == 0
    capsys.readouterr()
    return tmp_path


def get(state: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["--state-dir", str(state), "get", *args]) == 0
    return capsys.readouterr().out


def test_get_interfaces_json_is_the_spec_shape(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A list of objects with exactly SPEC's keys, names not ids, null when absent."""
    rows = json.loads(get(state, capsys, "interfaces", "-o", "json"))
    assert [list(row) for row in rows] == [INTERFACE_KEYS] * 9
    assert [row["name"] for row in rows] == sorted(row["name"] for row in rows)
    by_name = {row["name"]: row for row in rows}
    legacy = dict(by_name["legacy-1"])
    assert len(legacy.pop("id")) == 36
    assert legacy == {
        "name": "legacy-1",
        "server": "web-1",
        "primary": False,
        "managed": False,
        "subnet": "subnet-web",
        "vpc": "vpc-prod",
        "availabilityZone": "az1",
        "privateIp": "10.0.1.50",
        "securityGroups": ["sg-web"],
        "eip": "eip-1",
    }
    spare = by_name["spare-2"]
    assert (spare["server"], spare["eip"], spare["managed"], spare["securityGroups"]) == (
        None,
        None,
        True,
        [],
    )
    assert by_name["web-2-eth0"]["primary"] is True


def test_interfaces_is_the_default_kind(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`enictl get` alone lists interfaces, like `get interfaces` (and the alias `enis`)."""
    assert get(state, capsys) == get(state, capsys, "interfaces") == get(state, capsys, "enis")


def test_get_interfaces_table(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Aligned columns with a header; <none> for what is absent."""
    lines = get(state, capsys).splitlines()
    assert lines[0].split() == [
        "NAME",
        "SERVER",
        "SUBNET",
        "PRIVATE-IP",
        "EIP",
        "SECURITY-GROUPS",
        "PRIMARY",
        "MANAGED",
    ]
    spare = next(line for line in lines if line.startswith("spare-2 "))
    assert spare.split() == [
        "spare-2",
        "<none>",
        "subnet-db",
        "10.0.2.11",
        "<none>",
        "<none>",
        "no",
        "yes",
    ]
    assert len({line.index("SUBNET") for line in lines[:1]}) == 1
    assert all(line == line.rstrip() for line in lines)


def test_get_servers(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Servers with their kind, flavor, placement, status, NIC count and limit."""
    rows = json.loads(get(state, capsys, "servers", "-o", "json"))
    web1 = next(r for r in rows if r["name"] == "web-1")
    assert {k: v for k, v in web1.items() if k != "id"} == {
        "name": "web-1",
        "kind": "ecs",
        "flavor": "s6.large.2",
        "availabilityZone": "az1",
        "vpc": "vpc-prod",
        "subnet": "subnet-web",
        "status": "ACTIVE",
        "securityGroups": ["sg-web"],
        "interfaces": 2,
        "maxInterfaces": 3,
    }
    table = get(state, capsys, "servers").splitlines()
    assert table[0].split() == ["NAME", "KIND", "STATUS", "FLAVOR", "AZ", "VPC", "SUBNET", "NICS"]
    assert next(line for line in table if line.startswith("web-2 ")).split()[-1] == "1/2"


def test_get_flavors_yaml(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Flavors with their NIC limit, in YAML."""
    rows = yaml.safe_load(get(state, capsys, "flavor", "-o", "yaml"))
    assert [(r["name"], r["maxInterfaces"]) for r in rows] == [("s6.large.2", 3), ("s6.small.1", 2)]


def test_get_follows_the_cloud(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A change made in the cloud shows at the next `get`."""
    open_cloud(state).force_attach("spare-1", "web-2")
    rows = json.loads(get(state, capsys, "-o", "json"))
    assert next(r for r in rows if r["name"] == "spare-1")["server"] == "web-2"


def test_get_unknown_kind_is_an_error(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown kind is one error line and exit 1."""
    assert main(["--state-dir", str(state), "get", "volumes"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_unpinned_subnets_and_unknown_limits_in_get(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ENI of an unpinned subnet shows its server's AZ (null when detached); a server
    whose flavor states no limit shows null maxInterfaces."""
    inventory = yaml.safe_load(SMALL.read_text())
    spec = inventory["spec"]
    spec["flavors"].append({"name": "old.flavor"})
    spec["subnets"].append({"name": "subnet-any", "vpc": "vpc-prod", "cidr": "10.0.4.0/24"})
    spec["servers"].append(
        {
            "name": "old-1",
            "flavor": "old.flavor",
            "availabilityZone": "az2",
            "vpc": "vpc-prod",
            "subnet": "subnet-any",
        }
    )
    spec["interfaces"].append({"name": "loose", "subnet": "subnet-any"})
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    state = tmp_path / "state"
    assert main(["--state-dir", str(state), "sim", "init", str(path)]) == 0
    capsys.readouterr()
    rows = {r["name"]: r for r in json.loads(get(state, capsys, "interfaces", "-o", "json"))}
    assert (rows["old-1-primary"]["availabilityZone"], rows["loose"]["availabilityZone"]) == (
        "az2",
        None,
    )
    servers = {r["name"]: r for r in json.loads(get(state, capsys, "servers", "-o", "json"))}
    assert (servers["old-1"]["maxInterfaces"], servers["web-1"]["maxInterfaces"]) == (None, 3)
