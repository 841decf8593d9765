"""`enictl export`: manifests of the cloud as it is, which plan to nothing but adoptions.

The cloud (tests/data/export/cloud.yaml) is named as a console lets people name things
(`Prod_DB.01`, `VIP_Prod`, `0042`), has ENIs outside their server's primary subnet, a
detached one, a protected one, and one whose name manifests cannot hold. Each test
runs through both providers: the sim, and huaweicloud through `sim serve`.
"""

from __future__ import annotations

import json
from pathlib import Path

from controller.manifests import export as exporting
from tests.applyhelpers import Cli

ROOT = Path(__file__).resolve().parent.parent
CLOUD = ROOT / "tests" / "data" / "export" / "cloud.yaml"
MODELINE = f"# yaml-language-server: $schema={exporting.DEFAULT_SCHEMA_REF}\n"
EXPORTABLE = ["0042", "DB_Replication.01", "DB_Replication.02", "Spare.ENI", "VIP_Prod"]


def _names(text: str) -> list[str]:
    return [line.split(": ", 1)[1].strip("'") for line in text.splitlines() if "  name: " in line]


def test_export_then_plan_gives_only_adoptions(cli: Cli, tmp_path: Path) -> None:
    """The exported stream validates, plans to no step and no error (only adoptions),
    applies by tagging alone, and is then in sync; the cloud's names round-trip."""
    cli.init(CLOUD)
    before = cli.interfaces()
    ran = cli("export")
    assert ran.code == 0, ran.err
    assert ran.out.startswith(MODELINE)
    assert ran.err == (
        "warning: skipped NetworkInterface/dev/eni: metadata.name: 'dev/eni' is not a name as "
        "the cloud spells it: 1-64 letters, digits, '_', '-' and '.' (case-sensitive)\n"
    )
    manifests = tmp_path / "cloud.yaml"
    manifests.write_text(ran.out)
    assert cli("validate", str(manifests)).code == 0
    plan = json.loads(cli("plan", str(manifests), "-o", "json").out)
    assert plan["steps"] == []
    assert [v for v in plan["violations"] if v["severity"] == "error"] == []
    assert plan["adopt"] == EXPORTABLE
    assert plan["protect"] == []  # DB_Replication.01 is protected in the cloud and exported so
    ran = cli("apply", str(manifests), "--yes")
    assert ran.code == 0, ran.err
    assert cli.in_sync(str(manifests))
    after = cli.interfaces()
    assert sorted(after) == sorted(before)
    for name in EXPORTABLE:
        assert after[name] == {**before[name], "managed": True}


def test_export_out_dir_writes_one_file_per_server(cli: Cli, tmp_path: Path) -> None:
    """--out-dir: `<server>.yaml` with the server and its ENIs, enictl-export.yaml with
    the policy and the detached ENI; each file has the modeline; a second export into
    the same folder is refused and changes nothing."""
    cli.init(CLOUD)
    out = tmp_path / "manifests"
    ran = cli("export", "--out-dir", str(out), "--schema", "../schemas/manifest.json")
    assert ran.code == 0, ran.err
    assert ran.out == f"exported 9 document(s) into 4 file(s) in {out}\n"
    files = {p.name: p.read_text() for p in sorted(out.iterdir())}
    assert sorted(files) == [
        "Prod_DB.01.yaml",
        "Prod_DB.02.yaml",
        "WebFront.yaml",
        "enictl-export.yaml",
    ]
    assert all(t.startswith("# yaml-language-server: $schema=../schemas/manifest.json\n")
               for t in files.values())  # fmt: skip
    assert _names(files["Prod_DB.01.yaml"]) == ["Prod_DB.01", "DB_Replication.01", "VIP_Prod"]
    assert _names(files["enictl-export.yaml"]) == ["exported", "Spare.ENI"]
    plan = json.loads(cli("plan", str(out), "-o", "json").out)
    assert (plan["steps"], plan["adopt"]) == ([], EXPORTABLE)
    again = cli("export", "--out-dir", str(out))
    assert again.code == 1
    assert "already holds Prod_DB.01.yaml" in again.err
    assert {p.name: p.read_text() for p in sorted(out.iterdir())} == files


def test_export_narrows_to_servers_vpc_and_subnet(cli: Cli) -> None:
    """--servers, --vpc and --subnet export just those ENIs (and the servers they are on)."""
    cli.init(CLOUD)
    servers = cli("export", "--servers", "WebFront,Prod_DB.02")
    assert _names(servers.out) == [
        "exported",
        "Prod_DB.02",
        "DB_Replication.02",
        "WebFront",
        "0042",
    ]
    subnet = cli("export", "--subnet", "Subnet_DB.01")
    assert _names(subnet.out) == [
        "exported",
        "Prod_DB.01",
        "DB_Replication.01",
        "Prod_DB.02",
        "DB_Replication.02",
        "Spare.ENI",
    ]
    vpc = cli("export", "--vpc", "vpc.dev")
    assert (vpc.code, vpc.out) == (0, "")
    assert vpc.err.endswith("warning: nothing to export: no extension ENI in the scope\n")


def test_export_refuses_unknown_scope_names(cli: Cli) -> None:
    """An unknown server or VPC is one error line and exit 1."""
    cli.init(CLOUD)
    ran = cli("export", "--servers", "Prod_DB.01,nope")
    assert (ran.code, ran.out, ran.err) == (
        1,
        "",
        "error: export: no server named nope in the cloud\n",
    )
    ran = cli("export", "--vpc", "VPC_Dev")
    assert (ran.code, ran.err) == (1, "error: export: no VPC named VPC_Dev in the cloud\n")
