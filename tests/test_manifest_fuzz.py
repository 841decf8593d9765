"""Fuzzing `enictl validate` (in process): garbage and mutated manifests never crash it.

Every run must end with exit code 0 and nothing on stderr, or exit code 1 and only
`error: ` lines on stderr, each pointing inside the file. Structural mutations of the
demo are also checked against an oracle: exit 0 exactly when the mutation stayed valid.
A few hundred examples per test by default; `-m slow` runs thousands.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.cli import main
from controller.manifests import schema
from tests import cases
from tests.mutations import edit

ROOT = Path(__file__).resolve().parent.parent
DEMO_FILES = cases.files(ROOT / "manifests" / "demo", "*.yaml")
DEMO_TEXTS = [p.read_text() for p in DEMO_FILES]
DEMO_DOCS = [d for text in DEMO_TEXTS for d in yaml.safe_load_all(text) if d]
YAMLISH = ":-[]{}&*!|>#'\"?%@`,. \n\n\n\t\r\x00\x07\x85\u2028\ufeffaz09é"
LINE_BREAKS = (b"\n", b"\r", "\x85".encode(), "\u2028".encode(), "\u2029".encode())
LOCATION = re.compile(r"^error: (?P<file>[^:]*)(?::(?P<line>\d+):(?P<col>\d+))?: \S")
FAST = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
LONG = settings(
    max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def validate(*paths: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", *map(str, paths)])
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str, files: dict[str, bytes]) -> None:
    """Exit 0 and silence, or exit 1 and only located `error:` lines."""
    lines = err.splitlines()
    if code == 0:
        assert lines == []
        return
    assert code == 1
    assert lines
    for line in lines:
        assert line.startswith("error: ") and "internal error" not in line, line
        match = LOCATION.match(line)
        assert match, line
        if match["line"] is not None:
            data = files[match["file"]]
            breaks = sum(data.count(b) for b in LINE_BREAKS)
            assert 1 <= int(match["line"]) <= breaks + 2, line
            assert int(match["col"]) >= 1


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def run_bytes(workdir: Path, data: bytes) -> None:
    target = workdir / "case.yaml"
    target.write_bytes(data)
    code, _, err = validate(target)
    assert_clean(code, err, {str(target): data})


@st.composite
def text_mutation(draw: st.DrawFn) -> bytes:
    """A demo file with random characters inserted, lines cut, duplicated or truncated."""
    text = draw(st.sampled_from(DEMO_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "truncate", "tab"]))
        if action == "insert":
            text = text[:where] + draw(st.text(YAMLISH, min_size=1, max_size=6)) + text[where:]
        elif action == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 30)) :]
        elif action == "duplicate":
            lines = text.splitlines(keepends=True)
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            text = "".join(lines[: i + 1] + lines[i:])
        elif action == "truncate":
            text = text[:where]
        else:
            text = text[:where] + "\t" + text[where:]
    encoded = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        return encoded
    cut = draw(st.integers(0, len(encoded)))
    return encoded[:cut] + draw(st.binary(max_size=3)) + encoded[cut:]


GARBAGE = st.binary(max_size=300) | st.text(YAMLISH, max_size=200).map(
    lambda t: t.encode("utf-8", "surrogatepass")
)


@st.composite
def structural_mutation(draw: st.DrawFn) -> list[Any]:
    """The demo's documents with edits: values, deletions, copies, removed documents."""
    docs = copy.deepcopy(DEMO_DOCS)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["edit", "edit", "edit", "copy", "drop"]))
        i = draw(st.integers(0, len(docs) - 1))
        if action == "copy":
            docs.insert(draw(st.integers(0, len(docs))), copy.deepcopy(docs[i]))
        elif action == "drop" and len(docs) > 1:
            docs.pop(i)
        else:
            docs[i] = edit(draw, docs[i])
    return docs


def oracle(docs: list[Any]) -> bool:
    """Independently of the loader: is this desired-state document set valid?"""
    names: set[tuple[str, str]] = set()
    servers: set[str] = set()
    policies = 0
    valid = True
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or doc.get("kind") not in schema.DESIRED_KINDS:
            return False
        kind = doc["kind"]
        valid = valid and schema.rich_valid(kind, doc)
        meta = doc.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if isinstance(name, str):
            valid = valid and (kind, name) not in names
            names.add((kind, name))
            if kind == "Server":
                servers.add(name)
        policies += kind == "PlacementPolicy"
    for doc in docs:
        spec = doc.get("spec") if isinstance(doc, dict) else None
        if doc and doc.get("kind") == "NetworkInterface" and isinstance(spec, dict):
            address, server = spec.get("privateIp"), spec.get("server")
            if isinstance(address, str) and schema.ipv4_problem(address):
                valid = False
            if isinstance(server, str) and server not in servers:
                valid = False
            standbys = spec.get("standbys")
            if isinstance(standbys, list) and any(
                isinstance(s, str) and s not in servers for s in standbys
            ):
                valid = False
    return valid and policies <= 1


def check_structural(workdir: Path, docs: list[Any]) -> None:
    folder = workdir / "set"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    half = len(docs) // 2
    files: dict[str, bytes] = {}
    for name, part in (("a.yaml", docs[:half]), ("b.yaml", docs[half:])):
        data = yaml.safe_dump_all(part, sort_keys=False, allow_unicode=True).encode()
        (folder / name).write_bytes(data)
        files[str(folder / name)] = data
    code, _, err = validate(folder)
    assert_clean(code, err, files)
    assert (code == 0) == oracle(docs), err


@FAST
@given(data=GARBAGE)
def test_garbage(workdir: Path, data: bytes) -> None:
    """Arbitrary bytes and YAML-ish noise give exit 0 or clean located `error:` lines."""
    run_bytes(workdir, data)


@pytest.mark.slow
@LONG
@given(data=GARBAGE)
def test_garbage_long(workdir: Path, data: bytes) -> None:
    """Arbitrary bytes and YAML-ish noise, thousands of examples."""
    run_bytes(workdir, data)


@FAST
@given(data=text_mutation())
def test_text_mutations(workdir: Path, data: bytes) -> None:
    """Character-level mutations of the demo files give exit 0 or clean `error:` lines."""
    run_bytes(workdir, data)


@pytest.mark.slow
@LONG
@given(data=text_mutation())
def test_text_mutations_long(workdir: Path, data: bytes) -> None:
    """Character-level mutations of the demo files, thousands of examples."""
    run_bytes(workdir, data)


@FAST
@given(docs=structural_mutation())
def test_structural_mutations(workdir: Path, docs: list[Any]) -> None:
    """Structural mutations of the demo: exit 0 exactly when they stay valid."""
    check_structural(workdir, docs)


@pytest.mark.slow
@LONG
@given(docs=structural_mutation())
def test_structural_mutations_long(workdir: Path, docs: list[Any]) -> None:
    """Structural mutations of the demo, thousands of examples."""
    check_structural(workdir, docs)
