"""The JSON Schemas of the manifest kinds: where they live, a fast check, a rich explanation.

The files in `schemas/` are the single source of truth: the loader checks documents
with them and `enictl schema KIND` prints them. An installed wheel carries them as
`controller/_schemas/`; a source checkout reads `<repo>/schemas/`.

Valid documents (the common case) go through a validator compiled by fastjsonschema.
Only a document that fails is run through jsonschema's validator, whose errors
`explain()` turns into `SchemaIssue`s: a path inside the document, where on that path
to point (the key or the value), and a message a user can act on.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import fastjsonschema

from controller import addresses

SCHEMA_BASE_URI = "https://enictl.dev/schemas/v1/"
KIND_FILES = {
    "Server": "server.json",
    "NetworkInterface": "networkinterface.json",
    "PlacementPolicy": "placementpolicy.json",
    "CloudInventory": "cloudinventory.json",
}
DESIRED_KINDS = ("Server", "NetworkInterface", "PlacementPolicy")
BUNDLE_NAME = "manifest"  # `enictl schema manifest`: any desired-state document, by kind
BUNDLE_FILE = "manifest.json"

PathPart = str | int
Where = Literal["key", "value", "parent"]


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One problem inside a document (a schema violation unless `code` says otherwise).

    `where` says what to point at: the key of the last path element (an unknown
    field), its value (a wrong type), or the mapping that should hold it (a missing
    field: then `path` ends with the missing name).
    """

    path: tuple[PathPart, ...]
    message: str
    where: Where = "value"
    code: str = "SchemaViolation"


def schema_dir() -> Path:
    """`controller/_schemas` in an installed wheel, else `<repo>/schemas`."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "_schemas"
    if (packaged / KIND_FILES["Server"]).is_file():
        return packaged
    return package.parent / "schemas"


def kind_named(name: str) -> str | None:
    """The kind (or the bundle name) spelled `name`, case-insensitively; None if unknown."""
    wanted = name.strip().lower()
    for kind in (*KIND_FILES, BUNDLE_NAME):
        if kind.lower() == wanted:
            return kind
    return None


def schema_text(kind: str) -> str:
    """The schema file's text, as shipped (a kind from KIND_FILES or `manifest`)."""
    filename = BUNDLE_FILE if kind == BUNDLE_NAME else KIND_FILES[kind]
    return (schema_dir() / filename).read_text(encoding="utf-8")


@functools.cache
def load_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text(kind))
    return schema


@functools.cache
def _fast(kind: str) -> Callable[[Any], Any]:
    # References are inlined first: fastjsonschema makes each $ref a function call with
    # its own error-name bookkeeping, which costs more than the check itself. Formats
    # are checked by the loader (InvalidIp), not here.
    definition = copy.deepcopy(_inlined(kind))  # fastjsonschema may rewrite what it is given
    validate: Callable[[Any], Any] = fastjsonschema.compile(definition, use_formats=False)
    return validate


@functools.cache
def _inlined(kind: str) -> dict[str, Any]:
    """The kind's schema with every `#/$defs/...` reference replaced by its target."""
    schema = load_schema(kind)
    body = {k: v for k, v in schema.items() if k != "$defs"}
    inlined: dict[str, Any] = _inline_refs(body, schema.get("$defs", {}))
    return inlined


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline_refs(defs[ref[len("#/$defs/") :]], defs)
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


@functools.cache
def _pattern_words(kind: str) -> dict[str, str]:
    """What each pattern of the schema means, from the `$defs` that carry it."""
    defs = load_schema(kind).get("$defs", {})
    return {d["pattern"]: d["description"] for d in defs.values() if "pattern" in d}


def is_valid(kind: str, document: Any) -> bool:
    """The fast check: does `document` satisfy the schema of `kind`?"""
    try:
        _fast(kind)(document)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def rich_valid(kind: str, document: Any) -> bool:
    """The rich (jsonschema) validator's verdict; always the same as `is_valid`'s."""
    return not any(True for _ in _rich(kind).iter_errors(document))


def explain(kind: str, document: Any) -> list[SchemaIssue]:
    """Every schema violation in `document`, located and worded for users.

    Call it for documents that fail `is_valid`; it is slower (jsonschema).
    """
    issues: list[SchemaIssue] = []
    words = _pattern_words(kind)
    for error in _rich(kind).iter_errors(document):
        issues.extend(_issues(error, words, _inlined(kind)))
    if not issues:  # the two validators disagree: never let a failure go unexplained
        try:
            _fast(kind)(document)
        except fastjsonschema.JsonSchemaValueException as exc:
            parts = tuple(exc.path[1:]) if exc.path else ()
            issues.append(SchemaIssue(parts, _short(exc.message)))
    return sorted(set(issues), key=lambda i: [str(p) for p in i.path])


def ipv4_problem(value: str) -> str | None:
    """Why `value` is not a usable unicast IPv4 address (`format: ipv4`), or None."""
    return addresses.unicast_problem(value)


def bundle() -> dict[str, Any]:
    """`manifest.json`: one schema for any desired-state document, dispatched on `kind`.

    Each kind's schema is copied under `$defs/<kind>` with its internal references
    rewritten, so editors need no network and no reference resolution across files.
    """
    defs: dict[str, Any] = {}
    branches: list[dict[str, Any]] = []
    for kind in DESIRED_KINDS:
        key = kind.lower()
        sub = copy.deepcopy(load_schema(kind))
        for drop in ("$schema", "$id"):
            sub.pop(drop, None)
        defs[key] = _rewrite_refs(sub, f"#/$defs/{key}/$defs/")
        branches.append(
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": f"#/$defs/{key}"},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE_URI + BUNDLE_FILE,
        "title": "enictl manifest",
        "description": "Any enictl/v1 desired-state document: Server, NetworkInterface or "
        "PlacementPolicy, checked against its kind's schema. Generated from the kind "
        "schemas by controller.manifests.schema.bundle().",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {"kind": {"enum": list(DESIRED_KINDS)}},
        "allOf": branches,
        "$defs": defs,
    }


def bundle_text() -> str:
    return json.dumps(bundle(), indent=2) + "\n"


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite_refs(v, prefix) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out["$ref"] = prefix + ref[len("#/$defs/") :]
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


# --- the rich validator ------------------------------------------------------------

_DOLLAR = re.compile(r"(?<!\\)\$")


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    # As fastjsonschema (and ECMA-262) do: `$` is the very end, not "before a final \n".
    return re.compile(_DOLLAR.sub(r"\\Z", pattern))


@functools.cache
def _rich(kind: str) -> Any:
    from jsonschema import (  # type: ignore[import-untyped]
        Draft202012Validator,
        ValidationError,
        validators,
    )

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not _regex(patrn).search(instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _c, i: isinstance(i, int) and not isinstance(i, bool)
    )
    cls = validators.extend(
        Draft202012Validator, validators={"pattern": pattern}, type_checker=checker
    )
    return cls(_inlined(kind))  # references resolved once, not per document


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def describe(value: Any) -> str:
    """How a YAML value reads to a user: 'a list', 'an integer (5)', 'null'."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_short(repr(value), 40)})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    name = type(value).__name__
    if name in ("date", "datetime"):
        return f"a {name} ({value})"
    return f"a {name}"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _issues(error: Any, words: dict[str, str], root: Any = None) -> list[SchemaIssue]:
    path = tuple(error.absolute_path)
    keyword = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "required":
        missing = [name for name in error.validator_value if name not in value]
        because = _required_by(root, list(error.schema_path))
        return [
            SchemaIssue((*path, name), f"missing required field '{name}'{because}", "parent")
            for name in missing
        ]
    if keyword == "additionalProperties" and isinstance(value, dict):
        known = sorted(schema.get("properties", {}))
        return [
            SchemaIssue((*path, key), _unknown_field(str(key), known), "key")
            for key in value
            if key not in known
        ]
    if keyword == "type":
        wanted = error.validator_value
        types = [wanted] if isinstance(wanted, str) else list(wanted)
        expected = " or ".join(_TYPE_WORDS.get(w, w) for w in types)
        message = f"expected {expected}, got {describe(value)}"
        if "string" in types and value is not None and not isinstance(value, dict | list):
            message += "; quote it to make it a string"
        return [SchemaIssue(path, message)]
    if keyword in ("anyOf", "oneOf"):
        return _alternatives(error, path, words)
    if keyword == "uniqueItems" and isinstance(value, list):
        for i, item in enumerate(value):
            if item in value[:i]:
                return [SchemaIssue((*path, i), f"duplicate item {_short(repr(item), 60)}")]
    return [SchemaIssue(path, _message(keyword, error, value, words))]


def _required_by(root: Any, schema_path: list[Any]) -> str:
    """For a field required by an `if: {required: [a]}, then: {required: [b]}` pair:
    ` (needed with a)`; "" otherwise."""
    if root is None or len(schema_path) < 2 or schema_path[-2] != "then":
        return ""
    node = root
    for part in schema_path[:-2]:
        node = node[part] if isinstance(node, dict | list) else None
    condition = node.get("if", {}) if isinstance(node, dict) else {}
    given = condition.get("required", []) if isinstance(condition, dict) else []
    return f" (needed with {', '.join(given)})" if given else ""


def _alternatives(
    error: Any, path: tuple[PathPart, ...], words: dict[str, str]
) -> list[SchemaIssue]:
    """`anyOf: [a string of some shape, null]`: say what is wrong with the closest branch."""
    context = list(error.context or ())
    type_errors = [e for e in context if e.validator == "type"]
    others = [e for e in context if e.validator != "type"]
    if others:
        return [issue for e in others for issue in _issues(e, words)]
    expected: list[str] = []
    for e in type_errors:
        wanted = e.validator_value
        for w in [wanted] if isinstance(wanted, str) else wanted:
            word = _TYPE_WORDS.get(w, w)
            if word not in expected:
                expected.append(word)
    got = describe(error.instance)
    return [SchemaIssue(path, f"expected {' or '.join(expected)}, got {got}")]


def _message(keyword: str, error: Any, value: Any, words: dict[str, str]) -> str:
    rule = error.validator_value
    if keyword == "const":
        return f"must be {rule!r}, got {describe(value)}"
    if keyword == "enum":
        return f"must be one of {', '.join(map(str, rule))}; got {describe(value)}"
    if keyword == "pattern":
        what = words.get(rule) or f"matching {rule!r}"
        return f"{_short(repr(value), 60)} is not {what}"
    if keyword == "minimum":
        return f"must be at least {rule}, got {describe(value)}"
    if keyword == "maximum":
        return f"must be at most {rule}, got {describe(value)}"
    if keyword == "propertyNames":
        return f"invalid key: {_short(error.message)}"
    return _short(error.message)


def _unknown_field(key: str, known: list[str]) -> str:
    message = f"unknown field '{_short(key, 60)}'"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"{message} (did you mean '{close[0]}'?)"
    if known:
        return f"{message} (expected one of: {', '.join(known)})"
    return message
