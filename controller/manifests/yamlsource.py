"""Location-aware YAML reading: files to plain documents, and back to file:line:col.

The fast path composes each document with libyaml (PyYAML's C loader) and builds the
plain Python value from the node tree itself. That is cheaper than PyYAML's own
constructor, refuses duplicate keys at no cost (a mapping with fewer entries than
pairs), and gives the line and column of every document's `metadata.name` key for
free. Everything else is located only when a problem needs it: `Locator` composes a
file again and walks a path such as `("spec", "privateIp")` to its node.

Refused, with a located problem: duplicate keys, anchors and aliases (a manifest is
read as written: no shared fragments, no alias bombs), merge keys, explicit tags
other than the core schema's, and keys that are not scalars.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from controller.errors import Problem

_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
_CORE = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _CORE + "str", _CORE + "map", _CORE + "seq", _CORE + "merge"
_SCALAR_TAGS = frozenset(_CORE + t for t in ("null", "bool", "int", "float", "timestamp"))

_resolve: Any = Resolver.resolve
_resolved: dict[str, str] = {}  # plain scalar text -> tag; the resolver's regexes are slow


class _Loader(_BASE_LOADER):  # type: ignore[misc]
    """The C loader with a memoised implicit-tag resolver (same answers, fewer regexes)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode and implicit[0]:
            tag = _resolved.get(value)
            if tag is None:
                tag = _resolve(self, kind, value, implicit)
                if len(_resolved) < 50_000:
                    _resolved[value] = tag
            return tag
        other: str = _resolve(self, kind, value, implicit)
        return other

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers are registered: nothing to track."""

    def ascend_resolver(self) -> None:
        """No path resolvers are registered: nothing to track."""


_scalars = SafeConstructor()


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A manifest file: as the user should see it, and where it is."""

    display: str
    path: Path


@dataclass(frozen=True, slots=True)
class YamlIssue:
    """A YAML-level problem inside a document (1-based line and column)."""

    line: int
    column: int
    code: str
    message: str
    path: tuple[str | int, ...] = ()


@dataclass(frozen=True, slots=True)
class RawDocument:
    """One `---` document of a file as plain data, with what a problem report needs.

    `data` is None for an empty document and for one refused at the YAML level
    (`issues` then says why). `kind` and `name` are read from the nodes, so they are
    known even when the document is refused or invalid.
    """

    index: int
    data: Any
    line: int
    column: int
    name_line: int | None
    name_column: int | None
    kind: str | None
    name: str | None
    issues: tuple[YamlIssue, ...] = ()


class _Refused(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def check_encoding(display: str, data: bytes) -> Problem | None:
    """A located InvalidEncoding problem unless `data` is UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        return Problem(
            f"{display}:{line}:{column}",
            f"the file is not UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8",
            "InvalidEncoding",
        )
    return None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    offset = max(0, min(offset, len(data)))
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def documents(display: str, data: bytes) -> tuple[list[RawDocument], list[Problem]]:
    """Every document of a file, and the file-level problems (YAML syntax errors).

    Documents before a syntax error are returned; the rest of the file is lost, as
    the parser cannot resynchronise.
    """
    refused = _anchors_and_aliases(data) if (b"&" in data or b"*" in data) else {}
    docs: list[RawDocument] = []
    problems: list[Problem] = []
    loader = _Loader(data)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            docs.append(_document(index, node, refused.get(index, ())))
            index += 1
    except yaml.YAMLError as exc:
        if refused.get(len(docs)):  # e.g. an alias to an anchor of another document
            issues = refused[len(docs)]
            first = issues[0]
            docs.append(
                RawDocument(
                    index=len(docs),
                    data=None,
                    line=first.line,
                    column=first.column,
                    name_line=None,
                    name_column=None,
                    kind=None,
                    name=None,
                    issues=issues,
                )
            )
        else:
            problems.append(syntax_problem(display, data, exc))
    except RecursionError:
        problems.append(Problem(display, "the YAML nests too deeply", "YamlSyntax"))
    finally:
        loader.dispose()
    return docs, problems


def syntax_problem(display: str, data: bytes, exc: yaml.YAMLError) -> Problem:
    """A YamlSyntax problem at the place libyaml (or PyYAML) gave up."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        where = f"{display}:{mark.line + 1}:{mark.column + 1}"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        context = getattr(exc, "context", None)
        context_mark = getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line != mark.line:
            context = f"{context} started at line {context_mark.line + 1}"
        message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    elif isinstance(exc, yaml.reader.ReaderError):
        line, column = _position(data, exc.position)
        where = f"{display}:{line}:{column}"
        message = f"invalid YAML: character #x{exc.character:04x} is not allowed ({exc.reason})"
        if "UTF-8" in str(exc.reason) or "utf-8" in str(exc.reason):
            return Problem(where, "the file is not UTF-8", "InvalidEncoding")
    else:
        where, message = display, f"invalid YAML: {exc}"
    return Problem(where, message, "YamlSyntax")


def _anchors_and_aliases(data: bytes) -> dict[int, tuple[YamlIssue, ...]]:
    """Per document index, the anchors and aliases it uses (a cheap event scan)."""
    found: dict[int, list[YamlIssue]] = {}
    index = -1
    try:
        for event in yaml.parse(data, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                index += 1
                continue
            anchor: str | None = getattr(event, "anchor", None)
            mark: Any = event.start_mark
            if anchor is None or mark is None:
                continue
            if isinstance(event, yaml.AliasEvent):
                what = f"YAML aliases (*{anchor}) are not supported: write the value out in full"
            else:
                what = f"YAML anchors (&{anchor}) are not supported: write each manifest in full"
            issue = YamlIssue(mark.line + 1, mark.column + 1, "UnsupportedYaml", what)
            found.setdefault(index, []).append(issue)
    except yaml.YAMLError:
        pass  # reported by the composing pass, at the same place
    return {i: tuple(issues) for i, issues in found.items()}


def _document(index: int, node: Node, refused: tuple[YamlIssue, ...]) -> RawDocument:
    kind, name, name_key = _identity(node)
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    name_line = name_key.start_mark.line + 1 if name_key is not None else None
    name_column = name_key.start_mark.column + 1 if name_key is not None else None

    def raw(data: Any, issues: tuple[YamlIssue, ...]) -> RawDocument:
        return RawDocument(index, data, line, column, name_line, name_column, kind, name, issues)

    if refused:
        return raw(None, refused)
    duplicates: list[MappingNode] = []
    try:
        data = _build(node, duplicates)
    except _Refused as exc:
        mark = exc.node.start_mark
        issue = YamlIssue(mark.line + 1, mark.column + 1, "UnsupportedYaml", exc.message)
        return raw(None, (issue,))
    except RecursionError:
        return raw(None, (YamlIssue(line, column, "YamlSyntax", "the YAML nests too deeply"),))
    if duplicates:
        return raw(data, tuple(_duplicate_keys(node, duplicates)))
    return raw(data, ())


def _identity(node: Node) -> tuple[str | None, str | None, Node | None]:
    """`kind`, `metadata.name` and the `name` key node, read from the node tree."""
    kind = name = None
    name_key = None
    if node.__class__ is MappingNode:
        for key, value in node.value:
            if key.value == "kind" and value.__class__ is ScalarNode:
                kind = value.value
            elif key.value == "metadata" and value.__class__ is MappingNode:
                for mkey, mvalue in value.value:
                    if mkey.value == "name":
                        name_key = mkey
                        if mvalue.__class__ is ScalarNode:
                            name = mvalue.value
    return kind, name, name_key


def _build(node: Node, duplicates: list[MappingNode]) -> Any:
    """The plain value of a node tree (str, int, float, bool, None, dict, list)."""
    cls = node.__class__
    if cls is ScalarNode:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag not in _SCALAR_TAGS:
            raise _Refused(node, f"the YAML tag {_tag(tag)} is not supported")
        try:
            return _scalars.yaml_constructors[tag](_scalars, node)
        except (ValueError, TypeError, yaml.YAMLError) as exc:
            message = f"cannot read {node.value!r} as {_tag(tag)}: {exc}"
            raise _Refused(node, message) from None
    if cls is MappingNode:
        if node.tag != _MAP:
            raise _Refused(node, f"the YAML tag {_tag(node.tag)} is not supported")
        pairs = node.value
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key.__class__ is not ScalarNode:
                raise _Refused(key, "a mapping key must be a plain string")
            out[key.value] = _build(value, duplicates)
        if "<<" in out:
            for key, _value in pairs:
                if key.tag == _MERGE:
                    raise _Refused(key, "YAML merge keys (<<) are not supported")
        if len(out) != len(pairs):
            duplicates.append(node)  # type: ignore[arg-type]
        return out
    if cls is SequenceNode:
        if node.tag != _SEQ:
            raise _Refused(node, f"the YAML tag {_tag(node.tag)} is not supported")
        return [_build(item, duplicates) for item in node.value]
    raise _Refused(node, "unsupported YAML node")  # pragma: no cover - no other node kinds


def _tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _duplicate_keys(root: Node, mappings: list[MappingNode]) -> Iterable[YamlIssue]:
    paths = {id(m): p for m, p in _mapping_paths(root, ())}
    for mapping in mappings:
        seen: dict[str, Node] = {}
        for key, _value in mapping.value:
            first = seen.get(key.value)
            if first is None:
                seen[key.value] = key
                continue
            mark = key.start_mark
            yield YamlIssue(
                mark.line + 1,
                mark.column + 1,
                "DuplicateKey",
                f"duplicate key '{key.value}' (first at line {first.start_mark.line + 1})",
                (*paths.get(id(mapping), ()), key.value),
            )


def _mapping_paths(
    node: Node, path: tuple[str | int, ...]
) -> Iterable[tuple[Node, tuple[str | int, ...]]]:
    stack: list[tuple[Node, tuple[str | int, ...]]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, MappingNode):
            yield current, where
            stack.extend((v, (*where, k.value)) for k, v in current.value)
        elif isinstance(current, SequenceNode):
            stack.extend((v, (*where, i)) for i, v in enumerate(current.value))


class Locator:
    """Finds the line and column of a path inside a document, composing files lazily."""

    def __init__(self) -> None:
        self._trees: dict[str, list[Node]] = {}

    def locate(
        self, file: str, data: bytes, index: int, path: Sequence[str | int], where: str
    ) -> tuple[int, int] | None:
        """1-based (line, column) of `path` in document `index` of `file`, read as `data`.

        `where` is "value" (the node at `path`), "key" (the key holding it) or
        "parent" (the key, else the start, of the mapping that should hold the last
        element). A path that goes missing stops at the deepest node found.
        """
        roots = self._roots(file, data)
        if index >= len(roots):
            return None
        if where == "parent":
            path = path[:-1]
        node, key = roots[index], None
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            key, node = child
        target = key if where in ("key", "parent") and key is not None else node
        return target.start_mark.line + 1, target.start_mark.column + 1

    def _roots(self, file: str, data: bytes) -> list[Node]:
        roots = self._trees.get(file)
        if roots is None:
            roots = []
            loader = _Loader(data)
            try:
                while loader.check_node():
                    roots.append(loader.get_node())
            except (yaml.YAMLError, RecursionError):
                pass
            finally:
                loader.dispose()
            self._trees[file] = roots
        return roots


def _child(node: Node, part: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode):
        found = None
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == part:
                found = (key, value)
        return found
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None
