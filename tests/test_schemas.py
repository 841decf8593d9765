"""The JSON Schemas: well-formed, stable ids, the bundle in sync, fast and rich checks agree."""

from __future__ import annotations

import copy
import ipaddress
import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.manifests import schema
from tests import cases
from tests.mutations import edit

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"


def demo_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in cases.files(ROOT / "manifests", "**/*.yaml"):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


DOCS = demo_documents()


@pytest.mark.parametrize("kind", [*schema.KIND_FILES, schema.BUNDLE_NAME])
def test_schema_is_valid_draft_2020_12_with_a_stable_id(kind: str) -> None:
    """Each shipped schema is a valid Draft 2020-12 schema with its https://enictl.dev $id."""
    document = json.loads(schema.schema_text(kind))
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    filename = schema.KIND_FILES.get(kind, schema.BUNDLE_FILE)
    assert document["$id"] == f"https://enictl.dev/schemas/v1/{filename}"
    assert document["title"].startswith("enictl ")


def test_schema_folder_holds_exactly_the_shipped_files() -> None:
    """schemas/ holds one file per kind plus the bundle, and the source checkout finds them."""
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(
        [*schema.KIND_FILES.values(), schema.BUNDLE_FILE]
    )
    assert schema.schema_dir() == SCHEMAS


def test_bundle_is_generated_from_the_kind_schemas() -> None:
    """manifest.json is exactly bundle() of the kind schemas (regenerate it if this fails:
    python -c "from controller.manifests import schema; open('schemas/manifest.json','w').write(
    schema.bundle_text())")."""
    assert (SCHEMAS / schema.BUNDLE_FILE).read_text() == schema.bundle_text()


def test_demo_documents_are_valid_for_editors() -> None:
    """Every demo document passes the per-kind schema and (desired kinds) the bundle."""
    bundle = jsonschema.Draft202012Validator(json.loads(schema.schema_text("manifest")))
    for doc in DOCS:
        assert schema.is_valid(doc["kind"], doc)
        assert schema.rich_valid(doc["kind"], doc)
        if doc["kind"] != "CloudInventory":
            assert list(bundle.iter_errors(doc)) == []


def test_bundle_dispatches_on_kind() -> None:
    """The bundle applies the kind's schema: a Server field on a NetworkInterface fails."""
    bundle = jsonschema.Draft202012Validator(json.loads(schema.schema_text("manifest")))
    eni = next(d for d in DOCS if d["kind"] == "NetworkInterface")
    wrong = copy.deepcopy(eni)
    wrong["spec"]["flavor"] = "s6.large.2"
    assert [e.message for e in bundle.iter_errors(wrong)]
    assert list(bundle.iter_errors({**eni, "kind": "Router"}))


def test_kind_named_is_case_insensitive() -> None:
    """Kinds are looked up in any case; unknown names give None."""
    assert schema.kind_named("NETWORKINTERFACE") == "NetworkInterface"
    assert schema.kind_named(" server ") == "Server"
    assert schema.kind_named("servers") is None


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    """A demo document with one to three random edits (its kind kept)."""
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(1, 3))):
        doc = edit(draw, doc, keep=(("kind",),))
    return doc["kind"], doc


@settings(max_examples=150, deadline=None)
@given(mutated())
def test_fast_and_rich_validators_agree(case: tuple[str, Any]) -> None:
    """fastjsonschema and jsonschema give the same verdict; failures are always explained."""
    kind, doc = case
    fast = schema.is_valid(kind, doc)
    assert fast == schema.rich_valid(kind, doc)
    issues = schema.explain(kind, doc) if not fast else []
    assert fast or issues
    assert all(issue.message for issue in issues)


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses(v=4) | st.text(alphabet="0123456789.", max_size=16))
def test_ipv4_check_agrees_with_ipaddress(value: Any) -> None:
    """ipv4_problem accepts exactly the dotted quads ipaddress accepts, minus unusable ones."""
    text = str(value)
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        assert schema.ipv4_problem(text) is not None
        return
    unusable = address.is_unspecified or address.is_loopback or address.is_multicast
    unusable = unusable or int(address) >= int(ipaddress.IPv4Address("224.0.0.0"))
    unusable = unusable or text.startswith("0.")
    assert (schema.ipv4_problem(text) is None) == (not unusable)


def test_non_editable_install_ships_the_schemas(tmp_path: Path) -> None:
    """`pip install .` (not editable) puts the schemas in controller/_schemas and uses them."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "."],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "enictl-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    found = subprocess.run(
        [python, "-c", "from controller.manifests import schema; print(schema.schema_dir())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found == str(Path(site) / "controller" / "_schemas")
    printed = subprocess.run(
        [venv / "bin" / "enictl", "schema", "networkinterface"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == (SCHEMAS / "networkinterface.json").read_text()
    checked = subprocess.run(
        [venv / "bin" / "enictl", "validate", str(ROOT / "manifests" / "demo")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (checked.returncode, checked.stderr) == (0, "")
