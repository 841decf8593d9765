"""`enictl validate` and `enictl schema`: exit codes, one located line per problem, JSON.

The error cases are data: each folder under tests/data/manifests/errors holds YAML
files and `expected.txt`, the exact `error: file:line:col: Code: ...` lines that
`enictl validate <folder>` must report (paths as passed: relative to that folder).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller.cli import main
from tests import cases

ROOT = Path(__file__).resolve().parent.parent
ERRORS = ROOT / "tests" / "data" / "manifests" / "errors"
DEMO = ROOT / "manifests" / "demo"
INVENTORY = ROOT / "manifests" / "inventory" / "demo-cloud.yaml"
CASES = [case.name for case in cases.folders(ERRORS)]  # none or no folder: collection fails


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


@pytest.mark.parametrize("case", CASES)
def test_error_case_reports_exact_lines(
    case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each golden error case gives exactly its expected codes and file:line:col lines."""
    monkeypatch.chdir(ERRORS)
    expected = (ERRORS / case / "expected.txt").read_text().splitlines()
    code, out, _ = run(capsys, "validate", "-o", "json", case)
    report = json.loads(out)
    got = [f"error: {_line(p)}" for p in report["problems"]]
    assert code == 1
    assert report["valid"] is False
    assert got == expected


def _line(problem: dict[str, str]) -> str:
    resource = f" {problem['resource']}" if problem["resource"] else ""
    field = f" {problem['field']}:" if problem["field"] else ""
    line = f"{problem['location']}: {problem['code']}:{resource}{field} {problem['message']}"
    return line.replace(":  ", ": ")


@pytest.mark.parametrize("case", CASES)
def test_text_output_matches_json(
    case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text mode prints the same problems, one `error:` line each on stderr, then a summary."""
    monkeypatch.chdir(ERRORS)
    expected = (ERRORS / case / "expected.txt").read_text().splitlines()
    code, out, err = run(capsys, "validate", case)
    assert code == 1
    assert err == expected
    files = {line.split(": ", 2)[1].split(":", 1)[0] for line in expected}
    noun = "error" if len(expected) == 1 else "errors"
    fnoun = "file" if len(files) == 1 else "files"
    assert out == f"{len(expected)} {noun} in {len(files)} {fnoun}\n"


def test_every_problem_code_has_a_golden_case() -> None:
    """The golden cases cover every error class the loader reports for files' contents."""
    codes = {
        line.split(": ")[2]
        for case in CASES
        for line in (ERRORS / case / "expected.txt").read_text().splitlines()
    }
    assert {
        "YamlSyntax",
        "SchemaViolation",
        "UnknownKind",
        "DuplicateName",
        "UnknownServer",
        "DuplicatePlacementPolicy",
        "InvalidIp",
        "DuplicateKey",
        "UnsupportedYaml",
        "InvalidCidr",
        "UnknownVpc",
        "UnknownFlavor",
        "UnknownSubnet",
        "UnknownSecurityGroup",
        "UnknownEip",
        "IpOutOfSubnet",
        "IpInUse",
        "EipInUse",
        "VpcMismatch",
        "AvailabilityZoneMismatch",
        "SecurityGroupVpcMismatch",
        "FlavorLimitExceeded",
    } <= codes


def test_demo_is_valid(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`enictl validate manifests/demo` passes with a one-line summary."""
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "validate", "manifests/demo")
    assert (code, err) == (0, [])
    assert out == "ok: 8 resources in 3 files\n"


def test_demo_and_inventory_validate_together(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate also checks a CloudInventory file; JSON lists the files and counts resources."""
    monkeypatch.chdir(ROOT)
    code, out, _ = run(capsys, "validate", "-o", "json", "manifests/demo", "manifests/inventory")
    assert code == 0
    assert json.loads(out) == {
        "valid": True,
        "files": [
            "manifests/demo/migration.yaml",
            "manifests/demo/policy.yaml",
            "manifests/demo/traffic.yaml",
            "manifests/inventory/demo-cloud.yaml",
        ],
        "resources": 9,
        "problems": [],
    }


def test_broken_copy_of_the_demo_reports_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several mistakes across the demo's files are all reported, each at its place."""
    shutil.copytree(DEMO, tmp_path / "demo")
    migration = tmp_path / "demo" / "migration.yaml"
    text = migration.read_text()
    text = text.replace("privateIp: 10.0.1.100", "privateIp: 10.0.1.1000")
    text = text.replace("server: app-1", "server: app-3")
    migration.write_text(text)
    traffic = tmp_path / "demo" / "traffic.yaml"
    traffic.write_text(traffic.read_text().replace("name: gw-1-mgmt", "name: gw-1-public"))
    policy = tmp_path / "demo" / "policy.yaml"
    policy.write_text(policy.read_text().replace("subnetScope: vpc", "subnetScope: any"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "validate", "demo")
    assert code == 1
    assert err == [
        "error: demo/migration.yaml:41:14: InvalidIp: NetworkInterface/svc-eni spec.privateIp: "
        "'10.0.1.1000' is not an IPv4 address (like 10.0.1.15)",
        "error: demo/migration.yaml:44:11: UnknownServer: NetworkInterface/svc-eni spec.server: "
        "server 'app-3' is not declared in the manifests (did you mean 'app-2'?)",
        "error: demo/policy.yaml:12:16: SchemaViolation: PlacementPolicy/demo spec.subnetScope: "
        "must be one of server-subnet, vpc; got a string ('any')",
        "error: demo/traffic.yaml:45:3: DuplicateName: NetworkInterface/gw-1-public "
        "metadata.name: "
        "NetworkInterface 'gw-1-public' is already declared at demo/traffic.yaml:33:3",
    ]
    assert out == "4 errors in 3 files\n"


def test_missing_path_and_empty_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing path and a folder without YAML are errors naming the path, in argument order."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not yaml")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "validate", "nowhere.yaml", "empty")
    assert code == 1
    assert err == [
        "error: nowhere.yaml: PathNotFound: no such file or folder",
        "error: empty: NoManifests: no *.yaml or *.yml files in this folder",
    ]
    assert out == "2 errors in 2 files\n"


def test_json_problem_shape(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each JSON problem has location, code, resource, field and message."""
    monkeypatch.chdir(ERRORS)
    code, out, err = run(capsys, "validate", "-o", "json", "invalid-ip")
    assert (code, err) == (1, [])
    first = json.loads(out)["problems"][0]
    assert first == {
        "location": "invalid-ip/app.yaml:7:14",
        "code": "InvalidIp",
        "resource": "NetworkInterface/eni-a",
        "field": "spec.privateIp",
        "message": "'10.0.1.256' is not an IPv4 address (like 10.0.1.15)",
    }


def test_singular_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One resource in one file reads `ok: 1 resource in 1 file`."""
    (tmp_path / "p.yaml").write_text(
        "apiVersion: enictl/v1\nkind: PlacementPolicy\nmetadata: {name: p}\n"
        "spec: {subnetScope: vpc}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "validate", "p.yaml") == (0, "ok: 1 resource in 1 file\n", [])


def test_validate_needs_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    """`enictl validate` without a path is a usage error (exit 1, one error line)."""
    code, _, err = run(capsys, "validate")
    assert code == 1
    assert len(err) == 1 and err[0].startswith("error: ")


@pytest.mark.parametrize("command", ["validate", "schema"])
def test_help_shows_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Both commands' --help carries an example invocation."""
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"enictl {command} " in out.split("Example", 1)[1]


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("server", "server.json"),
        ("NetworkInterface", "networkinterface.json"),
        ("PLACEMENTPOLICY", "placementpolicy.json"),
        ("cloudInventory", "cloudinventory.json"),
        ("manifest", "manifest.json"),
    ],
)
def test_schema_prints_the_file(name: str, file: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`enictl schema KIND` (any case) prints the shipped schema file unchanged."""
    code, out, err = run(capsys, "schema", name)
    assert (code, err) == (0, [])
    assert out == (ROOT / "schemas" / file).read_text()
    assert json.loads(out)["$id"] == f"https://enictl.dev/schemas/v1/{file}"


def test_schema_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown kind is one error line listing the kinds, exit 1."""
    code, out, err = run(capsys, "schema", "router")
    assert (code, out) == (1, "")
    assert err == [
        "error: unknown kind 'router' (expected one of: server, networkinterface, "
        "placementpolicy, cloudinventory, manifest)"
    ]
