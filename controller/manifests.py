"""Manifest files to the desired `Topology`, with every problem located at file:line:col.

`load(paths)` reads the files and folders given (folders recursively, `*.yaml` /
`*.yml`, sorted), checks each document against its kind's JSON Schema, then checks
the set as a whole (unique names, references, one PlacementPolicy), and either
returns `Manifests` or raises one `ManifestError` carrying every problem found.
`validate(paths)` does the same for `enictl validate`, which also accepts
CloudInventory documents, and returns a `Report` instead of raising.

Problems are located lazily: the fast path keeps only each document's index and the
position of its `metadata.name` key (the resource's `Source`); a problem's path
inside its document is turned into a line and column when the problem is reported.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from controller import inventory, schema, yamlsource
from controller.errors import ManifestError, Problem
from controller.model import (
    NetworkInterface,
    PlacementPolicy,
    Server,
    Source,
    SubnetScope,
    Topology,
)
from controller.schema import SchemaIssue
from controller.yamlsource import RawDocument, SourceFile

INVENTORY_KIND = "CloudInventory"
ALL_KINDS = (*schema.DESIRED_KINDS, INVENTORY_KIND)


@dataclass(frozen=True)
class Manifests:
    """The desired state read from a set of manifest files."""

    topology: Topology  # servers, extension interfaces, policy (catalog empty)
    digest: str  # "sha256:<hex>" over the sorted (path, bytes) of every file read
    files: tuple[str, ...]  # the files read, as displayed in errors


@dataclass(frozen=True)
class Report:
    """What `enictl validate` says about a set of files."""

    files: tuple[str, ...]
    resources: int
    problems: tuple[Problem, ...]
    manifests: Manifests | None = None  # None unless valid
    inventories: tuple[tuple[Source, dict[str, Any]], ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


class ParseCache:
    """Parsed documents per file, reused while the file's bytes are unchanged.

    For callers that load the same manifests again and again (`enictl watch`): pass
    one to `load(paths, cache=...)` and only files whose content changed are parsed
    again. `parsed` counts the files the last `load` parsed.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[bytes, list[RawDocument], list[Problem]]] = {}
        self._seen: set[str] = set()
        self.parsed = 0

    def begin(self) -> None:
        self._seen = set()
        self.parsed = 0

    def documents(self, display: str, data: bytes) -> tuple[list[RawDocument], list[Problem]]:
        self._seen.add(display)
        hit = self._entries.get(display)
        if hit is not None and hit[0] == data:
            return hit[1], hit[2]
        raws, problems = yamlsource.documents(display, data)
        self._entries[display] = (data, raws, problems)
        self.parsed += 1
        return raws, problems

    def end(self) -> None:
        """Forget the files the last load did not read (removed from the set)."""
        for display in set(self._entries) - self._seen:
            del self._entries[display]


def load(paths: Sequence[str | Path], *, cache: ParseCache | None = None) -> Manifests:
    """The desired state in `paths`; raises ManifestError with ALL problems.

    With a `cache`, files whose bytes did not change since its last use are not
    parsed again."""
    report = _Analysis(schema.DESIRED_KINDS, cache=cache).run(paths)
    if report.problems or report.manifests is None:
        raise ManifestError(report.problems)
    return report.manifests


def validate(paths: Sequence[str | Path]) -> Report:
    """Every problem in `paths`; desired-state kinds and CloudInventory are accepted."""
    return _Analysis(ALL_KINDS).run(paths)


def load_inventory(path: str | Path) -> dict[str, Any]:
    """The validated CloudInventory `spec` in `path`, with defaults filled in.

    See `inventory.with_defaults` for the defaults. Raises ManifestError (file:line:col)
    when the file is not exactly one valid, consistent CloudInventory document.
    """
    report = _Analysis((INVENTORY_KIND,)).run([path])
    if report.problems:
        raise ManifestError(report.problems)
    if not report.inventories:
        raise ManifestError([Problem(str(path), "no CloudInventory document", "NoManifests")])
    if len(report.inventories) > 1:
        first, second = report.inventories[0][0], report.inventories[1][0]
        message = f"only one CloudInventory per file (the first is at {first})"
        raise ManifestError([Problem(str(second), message, "DuplicateName")])
    return inventory.with_defaults(report.inventories[0][1])


def digest_files(paths: Sequence[str | Path]) -> str:
    """The `Manifests.digest` of `paths` without parsing them (detects stale plans)."""
    files, problems = yamlsource.discover(paths)
    read = [(f, _read(f, problems)) for f in files]
    if problems:
        raise ManifestError(problems)
    return _digest((f.display, data) for f, data in read if data is not None)


def _read(file: SourceFile, problems: list[Problem]) -> bytes | None:
    try:
        return file.path.read_bytes()
    except OSError as exc:
        problems.append(Problem(file.display, f"cannot read: {exc.strerror}", "ReadError"))
        return None


def _digest(files: Iterable[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for display, data in sorted(files):
        name = os.fsencode(display)
        digest.update(b"%d:%s\0%d:" % (len(name), name, len(data)))
        digest.update(data)
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True, slots=True)
class _Doc:
    file: SourceFile
    data: bytes
    order: int  # the file's position in the sorted file list
    raw: RawDocument

    @property
    def resource(self) -> str:
        kind, name = self.raw.kind, self.raw.name
        return f"{kind}/{name}" if kind and name else (kind or "")

    @property
    def source(self) -> Source | None:
        if self.raw.name_line is None or self.raw.name_column is None:
            return None
        return Source(self.file.display, self.raw.name_line, self.raw.name_column)


@dataclass
class _Analysis:
    """One pass over a set of files: documents to values, problems to a list."""

    allowed: tuple[str, ...]
    cache: ParseCache | None = None
    problems: list[tuple[tuple[int, int, int], Problem]] = field(default_factory=list)
    pending: list[tuple[_Doc, SchemaIssue]] = field(default_factory=list)
    servers: dict[str, Server] = field(default_factory=dict)
    interfaces: dict[str, NetworkInterface] = field(default_factory=dict)
    policies: list[PlacementPolicy] = field(default_factory=list)
    inventories: list[tuple[Source, dict[str, Any]]] = field(default_factory=list)
    declared: dict[tuple[str, str], _Doc] = field(default_factory=dict)
    references: list[tuple[_Doc, str]] = field(default_factory=list)
    policy_documents: list[_Doc] = field(default_factory=list)
    resources: int = 0
    unreadable: bool = False  # a syntax error hid part of a file

    def run(self, paths: Sequence[str | Path]) -> Report:
        # Loading allocates millions of small acyclic objects that stay alive; the
        # cyclic collector would re-scan them again and again (a third of the time).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._run(paths)
        finally:
            if enabled:
                gc.enable()

    def _run(self, paths: Sequence[str | Path]) -> Report:
        if self.cache is not None:
            self.cache.begin()
        files, path_problems = yamlsource.discover(paths)
        for problem in path_problems:
            self._problem(problem)
        if not files and not path_problems:
            self._problem(Problem("", "no manifest files given", "NoManifests"))
        read: list[tuple[str, bytes]] = []
        for order, file in enumerate(files):
            unreadable: list[Problem] = []
            data = _read(file, unreadable)
            if data is None:
                for problem in unreadable:
                    self._problem(problem, order)
                continue
            read.append((file.display, data))
            self._file(order, file, data)
        if self.cache is not None:
            self.cache.end()
        self._check_set()
        self._locate()
        problems = tuple(p for _, p in sorted(self.problems, key=lambda item: item[0]))
        shown = tuple(display for display, _ in read)
        if problems:
            return Report(shown, self.resources, problems)
        policy = self.policies[0] if self.policies else PlacementPolicy()
        topology = Topology(servers=self.servers, interfaces=self.interfaces, policy=policy)
        manifests = Manifests(topology, _digest(read), shown)
        return Report(shown, self.resources, (), manifests, tuple(self.inventories))

    def _problem(self, problem: Problem, order: int = -1, line: int = 0, col: int = 0) -> None:
        self.problems.append(((order, line, col), _one_line(problem)))

    def _file(self, order: int, file: SourceFile, data: bytes) -> None:
        bad_encoding = yamlsource.check_encoding(file.display, data)
        if bad_encoding is not None:
            self._problem(bad_encoding, order)
            return
        parse = self.cache.documents if self.cache is not None else yamlsource.documents
        raws, problems = parse(file.display, data)
        for problem in problems:
            self.unreadable = True
            line, col = _position(problem.location)
            self._problem(problem, order, line, col)
        for raw in raws:
            self._document(_Doc(file, data, order, raw))

    def _document(self, doc: _Doc) -> None:
        raw = doc.raw
        for issue in raw.issues:
            where = f"{doc.file.display}:{issue.line}:{issue.column}"
            problem = Problem(where, issue.message, issue.code, doc.resource, _field(issue.path))
            self._problem(problem, doc.order, issue.line, issue.column)
        data = raw.data
        if data is None:
            if raw.issues:
                self._declare(doc)
            return
        if not isinstance(data, dict):
            message = (
                "a manifest document must be a mapping with apiVersion, kind, metadata "
                f"and spec; got {schema.describe(data)}"
            )
            self._problem(
                Problem(f"{doc.file.display}:{raw.line}:{raw.column}", message, "SchemaViolation"),
                doc.order,
                raw.line,
                raw.column,
            )
            return
        kind = data.get("kind")
        if kind not in self.allowed:
            self.pending.append((doc, self._kind_issue(data)))
            return
        self.resources += 1
        self._declare(doc)
        if kind == "PlacementPolicy":
            self.policy_documents.append(doc)
        valid = schema.is_valid(kind, data)
        if not valid:
            self.pending.extend((doc, issue) for issue in schema.explain(kind, data))
        if kind == "NetworkInterface" and isinstance(data.get("spec"), dict):
            self._interface_references(doc, data["spec"])
        if not valid:
            return
        if kind == "NetworkInterface":
            self._interface(doc, data)
        elif kind == "Server":
            self._server(doc, data)
        elif kind == "PlacementPolicy":
            spec = data["spec"]
            name = data["metadata"]["name"]
            scope = SubnetScope(spec["subnetScope"])
            self.policies.append(PlacementPolicy(scope, name, doc.source))
        else:
            issues = inventory.check(data["spec"])
            self.pending.extend((doc, replace(i, path=("spec", *i.path))) for i in issues)
            if doc.source is not None:
                self.inventories.append((doc.source, data["spec"]))

    def _kind_issue(self, data: dict[str, Any]) -> SchemaIssue:
        kind = data.get("kind")
        if "kind" not in data:
            return SchemaIssue(("kind",), "missing required field 'kind'", "parent")
        if not isinstance(kind, str):
            return SchemaIssue(("kind",), f"expected a string, got {schema.describe(kind)}")
        if kind in ALL_KINDS:
            if kind == INVENTORY_KIND:
                message = (
                    "a CloudInventory describes the simulated cloud: give it to "
                    "`enictl sim init`, not to plan or apply"
                )
            else:
                message = f"expected a CloudInventory here, not a {kind}"
            return SchemaIssue(("kind",), message, "value", "UnknownKind")
        message = f"unknown kind '{kind}' (expected one of {', '.join(self.allowed)})"
        close = difflib.get_close_matches(kind, self.allowed, n=1, cutoff=0.5)
        close += [k for k in self.allowed if k.lower() == kind.lower()]
        if close:
            message = f"unknown kind '{kind}' (did you mean '{close[-1]}'?)"
        return SchemaIssue(("kind",), message, "value", "UnknownKind")

    def _declare(self, doc: _Doc) -> None:
        kind, name = doc.raw.kind, doc.raw.name
        if kind is None or name is None:
            return
        first = self.declared.setdefault((kind, name), doc)
        if first is doc or doc.source is None:
            return
        if kind == "PlacementPolicy":
            return  # reported once, as DuplicatePlacementPolicy
        message = f"{kind} '{name}' is already declared at {first.source}"
        self._located(doc, "DuplicateName", message)

    def _located(self, doc: _Doc, code: str, message: str) -> None:
        source = doc.source
        line, col = (source.line, source.column) if source else (doc.raw.line, doc.raw.column)
        where = f"{doc.file.display}:{line}:{col}"
        problem = Problem(where, message, code, doc.resource, "metadata.name" if source else "")
        self._problem(problem, doc.order, line, col)

    def _server(self, doc: _Doc, data: dict[str, Any]) -> None:
        spec, meta = data["spec"], data["metadata"]
        groups = spec.get("securityGroups")
        server = Server(
            name=meta["name"],
            flavor=spec["flavor"],
            availability_zone=spec["availabilityZone"],
            vpc=spec["vpc"],
            subnet=spec["subnet"],
            security_groups=tuple(groups) if groups is not None else None,
            labels=meta.get("labels") or {},
            source=doc.source,
        )
        self.servers.setdefault(server.name, server)

    def _interface_references(self, doc: _Doc, spec: dict[str, Any]) -> None:
        """The address and server checks, run on schema-invalid documents too."""
        address = spec.get("privateIp")
        if isinstance(address, str):
            problem = schema.ipv4_problem(address)
            if problem is not None:
                issue = SchemaIssue(("spec", "privateIp"), problem, "value", "InvalidIp")
                self.pending.append((doc, issue))
        server = spec.get("server")
        if isinstance(server, str):
            self.references.append((doc, server))

    def _interface(self, doc: _Doc, data: dict[str, Any]) -> None:
        spec, meta = data["spec"], data["metadata"]
        address = spec.get("privateIp")
        server = spec.get("server")
        iface = NetworkInterface(
            name=meta["name"],
            subnet=spec["subnet"],
            private_ip=address,
            security_groups=tuple(spec.get("securityGroups", ())),
            eip=spec.get("eip"),
            server=server,
            protect=spec.get("protect", False),
            labels=meta.get("labels") or {},
            source=doc.source,
        )
        self.interfaces.setdefault(iface.name, iface)

    def _check_set(self) -> None:
        """The checks across documents: references and the one placement policy."""
        if not self.unreadable:  # a server may sit behind the syntax error
            servers = sorted(name for kind, name in self.declared if kind == "Server")
            for doc, server in self.references:
                if ("Server", server) not in self.declared:
                    message = f"server '{server}' is not declared in the manifests"
                    close = difflib.get_close_matches(server, servers, n=1)
                    message += f" (did you mean '{close[0]}'?)" if close else ""
                    issue = SchemaIssue(("spec", "server"), message, "value", "UnknownServer")
                    self.pending.append((doc, issue))
        if len(self.policy_documents) > 1:
            first = self.policy_documents[0]
            for doc in self.policy_documents[1:]:
                message = (
                    "a manifest set has at most one PlacementPolicy; "
                    f"'{first.raw.name}' is declared at {first.source}"
                )
                self._located(doc, "DuplicatePlacementPolicy", message)

    def _locate(self) -> None:
        locator = yamlsource.Locator()
        for doc, issue in self.pending:
            found = locator.locate(
                doc.file.display, doc.data, doc.raw.index, issue.path, issue.where
            )
            line, col = found if found is not None else (doc.raw.line, doc.raw.column)
            problem = Problem(
                f"{doc.file.display}:{line}:{col}",
                issue.message,
                issue.code,
                doc.resource,
                _field(issue.path),
            )
            self._problem(problem, doc.order, line, col)
        self.pending.clear()


def _one_line(problem: Problem) -> Problem:
    """User text (names, keys, paths) can hold line breaks or control characters; a
    problem must still print as one line, so those are shown escaped (\\n, \\x1e)."""
    parts = (problem.location, problem.message, problem.resource, problem.field)
    if all(part.isprintable() for part in parts):
        return problem
    location, message, resource, field_ = (_escape(part) for part in parts)
    return Problem(location, message, problem.code, resource, field_)


def _escape(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _field(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _position(location: str) -> tuple[int, int]:
    parts = location.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2])
    return 0, 0
