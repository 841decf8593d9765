"""The suite's own rules (STYLE.md, Tests), checked on its source so that they stay true
as tests are added: shared fixtures live in conftest.py, one fake clock, no test module
imports another, every test has a docstring, and a folder of cases that is missing or
empty fails its suite instead of letting it pass by running nothing."""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from pathlib import Path

import pytest

from tests import cases

TESTS = Path(__file__).resolve().parent
SOURCES = sorted(TESTS.glob("*.py"))
TEST_MODULES = [p for p in SOURCES if p.name.startswith("test_")]
HELPERS = [p for p in SOURCES if not p.name.startswith("test_") and p.name != "conftest.py"]
FAKE_CLOCK = TESTS / "fakeclock.py"


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(tree: ast.Module) -> list[str]:
    """Every module an import statement names (`from tests import x` names `tests.x`)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def test_the_suite_has_sources_to_check() -> None:
    """The checks below read the test modules, the helpers and conftest.py (not nothing)."""
    assert TEST_MODULES and HELPERS and (TESTS / "conftest.py") in SOURCES
    assert FAKE_CLOCK in HELPERS


def test_no_module_imports_a_test_module() -> None:
    """What two test modules share lives in a helper module or conftest.py."""
    offending = [
        f"{path.name}: {name}"
        for path in SOURCES
        for name in _imported(_tree(path))
        if name.split(".")[-1].startswith("test_")
    ]
    assert offending == []


def test_fixtures_are_defined_in_conftest_or_the_test_module_only() -> None:
    """A helper module defines no fixture: a shared fixture is conftest.py's, so no test
    imports a fixture (under `noqa: F401/F811`) to make pytest see it."""
    offending = [
        f"{path.name}:{node.lineno} {node.name}"
        for path in HELPERS
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef)
        and any("fixture" in ast.unparse(d) for d in node.decorator_list)
    ]
    assert offending == []


def test_no_unused_import_or_redefinition_is_silenced() -> None:
    """No `noqa` for F401 (unused import) or F811 (redefinition) anywhere in the suite."""
    offending = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if "noqa" not in text.lower():
            continue
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            comment = token.string.upper()
            if token.type == tokenize.COMMENT and ("F401" in comment or "F811" in comment):
                offending.append(f"{path.name}:{token.start[0]}")
    assert offending == []


def test_there_is_one_fake_clock() -> None:
    """No class named like a clock outside tests/fakeclock.py, and no hand-made clock or
    sleep (`clock=lambda ...`, `sleep=lambda ...`) passed to the code under test."""
    offending = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef) and "clock" in node.name.lower():
                if path != FAKE_CLOCK:
                    offending.append(f"{path.name}:{node.lineno} class {node.name}")
            elif (
                isinstance(node, ast.keyword)
                and node.arg in ("clock", "sleep")
                and isinstance(node.value, ast.Lambda)
            ):
                offending.append(f"{path.name}:{node.value.lineno} {ast.unparse(node)}")
    assert offending == []


def test_every_test_has_a_docstring() -> None:
    """Each test function says in its docstring the behaviour it pins."""
    offending = [
        f"{path.name}:{node.lineno} {node.name}"
        for path in TEST_MODULES
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test")
        and not (ast.get_docstring(node) or "").strip()
    ]
    assert offending == []


def test_a_missing_or_empty_case_folder_fails(tmp_path: Path) -> None:
    """cases.folders and cases.files fail (never return nothing) for a missing folder, an
    empty one, or one without a matching file; otherwise they list what is there."""
    with pytest.raises(pytest.fail.Exception, match="the cases folder is missing"):
        cases.folders(tmp_path / "gone")
    with pytest.raises(pytest.fail.Exception, match="no case folders"):
        cases.folders(tmp_path)
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.yaml").write_text("{}")
    with pytest.raises(pytest.fail.Exception, match=r"no files matching \*\*/\*\.yml"):
        cases.files(tmp_path, "**/*.yml")
    assert cases.folders(tmp_path) == [tmp_path / "a", tmp_path / "b"]
    assert cases.files(tmp_path, "**/*.yaml") == [tmp_path / "a" / "x.yaml"]


def test_an_empty_parametrization_fails_the_collection(pytestconfig: pytest.Config) -> None:
    """pytest is configured to fail, not skip, a parametrize over an empty list."""
    assert pytestconfig.getini("empty_parameter_set_mark") == "fail_at_collect"
