"""One manifest file on its own: its documents checked and turned into model values.

`analyse(file, data, allowed)` does everything about a file that does not depend on
the other files of the set: the encoding, the YAML, each document's kind and schema,
the private IP, and the `Server` / `NetworkInterface` / `PlacementPolicy` values.
What it cannot know alone (names declared twice across files, servers declared in
another file, more than one policy) it hands on as declarations and references for
`controller.manifests.loader` to check over the whole set.

The result (`FileResult`) depends on the file's bytes and the allowed kinds only, so
`manifests.ParseCache` keeps it while the file is unchanged: `enictl watch` re-checks
only the files that changed.

Problems are kept without the file's position in the set (it changes when files are
added or removed) and with what is needed to put them back in the order a full pass
reports them (see `FileResult`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from controller.cloudinventory import checks
from controller.errors import Problem
from controller.manifests import schema, yamlsource
from controller.manifests.schema import SchemaIssue
from controller.manifests.yamlsource import RawDocument, SourceFile
from controller.model import (
    FailoverPolicy,
    Fence,
    NetworkInterface,
    PlacementPolicy,
    Server,
    Source,
    SubnetScope,
    Topology,
)

INVENTORY_KIND = "CloudInventory"
ALL_KINDS = (*schema.DESIRED_KINDS, INVENTORY_KIND)

# (line, column, rank, problem): `rank` is (document index, 0) for a document's own
# problems and (-1, 0) for the file's (YAML syntax, encoding); the set's
# DuplicateName problem of a document ranks (index, 1), right after them.
Ranked = tuple[int, int, tuple[int, int], Problem]
Located = tuple[int, int, Problem]


@dataclass(frozen=True, slots=True)
class Doc:
    """One document of a file, with what locating its problems needs."""

    file: SourceFile
    data: bytes  # the whole file, for composing it again to locate a path
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

    def located(self, code: str, message: str) -> Located:
        """A problem at the document's `metadata.name` key (else its start)."""
        source = self.source
        line, col = (source.line, source.column) if source else (self.raw.line, self.raw.column)
        where = f"{self.file.display}:{line}:{col}"
        resource = self.resource
        problem = Problem(where, message, code, resource, "metadata.name" if source else "")
        return line, col, one_line(problem)


@dataclass
class FileResult:
    """What one file says, checked on its own. Treat as read-only once returned.

    `problems` are found while reading (YAML, structure) and `located` after (schema,
    kind, address); a full pass reports, among problems at the same place, the first
    ones first.
    """

    file: SourceFile
    data: bytes
    problems: list[Ranked] = field(default_factory=list)
    located: list[Located] = field(default_factory=list)
    declared: list[Doc] = field(default_factory=list)  # documents with a kind and a name
    # interface -> server: (document, path of the field that names it, server name)
    references: list[tuple[Doc, tuple[str | int, ...], str]] = field(default_factory=list)
    policy_documents: list[Doc] = field(default_factory=list)
    servers: dict[str, Server] = field(default_factory=dict)
    interfaces: dict[str, NetworkInterface] = field(default_factory=dict)
    policies: list[PlacementPolicy] = field(default_factory=list)
    inventories: list[tuple[Source, Topology]] = field(default_factory=list)  # checked clouds
    resources: int = 0
    unreadable: bool = False  # a syntax error hid part of the file
    # For cheap checks across files: the first document of each (kind, name), the
    # Server names declared, the server names interfaces refer to.
    names: dict[tuple[str, str], Doc] = field(default_factory=dict)
    server_names: set[str] = field(default_factory=set)
    referenced: set[str] = field(default_factory=set)

    @property
    def valid(self) -> bool:
        return not self.problems and not self.located


def analyse(file: SourceFile, data: bytes, allowed: tuple[str, ...]) -> FileResult:
    """Read and check one file's documents; see the module docstring."""
    result = FileResult(file, data)
    bad_encoding = yamlsource.check_encoding(file.display, data)
    if bad_encoding is not None:
        line, col = position(bad_encoding.location)
        result.problems.append((line, col, (-1, 0), one_line(bad_encoding)))
        return result
    raws, problems = yamlsource.documents(file.display, data)
    for problem in problems:
        result.unreadable = True
        line, col = position(problem.location)
        result.problems.append((line, col, (-1, 0), one_line(problem)))
    pending: list[tuple[Doc, SchemaIssue]] = []
    for raw in raws:
        _document(result, Doc(file, data, raw), allowed, pending)
    if pending:
        result.located.extend(locate(pending, yamlsource.Locator()))
    for doc in reversed(result.declared):
        result.names[doc.raw.kind or "", doc.raw.name or ""] = doc
    result.server_names.update(d.raw.name or "" for d in result.declared if d.raw.kind == "Server")
    result.referenced.update(server for _, _, server in result.references)
    return result


def _document(
    out: FileResult, doc: Doc, allowed: tuple[str, ...], pending: list[tuple[Doc, SchemaIssue]]
) -> None:
    raw = doc.raw
    rank = (raw.index, 0)
    for issue in raw.issues:
        where = f"{doc.file.display}:{issue.line}:{issue.column}"
        problem = Problem(where, issue.message, issue.code, doc.resource, field_path(issue.path))
        out.problems.append((issue.line, issue.column, rank, one_line(problem)))
    data = raw.data
    if data is None:
        if raw.issues:
            _declare(out, doc)
        return
    if not isinstance(data, dict):
        message = (
            "a manifest document must be a mapping with apiVersion, kind, metadata "
            f"and spec; got {schema.describe(data)}"
        )
        where = f"{doc.file.display}:{raw.line}:{raw.column}"
        problem = Problem(where, message, "SchemaViolation")
        out.problems.append((raw.line, raw.column, rank, one_line(problem)))
        return
    kind = data.get("kind")
    if kind not in allowed:
        pending.append((doc, _kind_issue(data, allowed)))
        return
    out.resources += 1
    _declare(out, doc)
    if kind == "PlacementPolicy":
        out.policy_documents.append(doc)
    valid = schema.is_valid(kind, data)
    if not valid:
        pending.extend((doc, issue) for issue in schema.explain(kind, data))
    if kind == "NetworkInterface" and isinstance(data.get("spec"), dict):
        _interface_references(out, doc, data["spec"], pending)
    if not valid:
        return
    if kind == "NetworkInterface":
        _interface(out, doc, data)
    elif kind == "Server":
        _server(out, doc, data)
    elif kind == "PlacementPolicy":
        spec = data["spec"]
        name = data["metadata"]["name"]
        scope = SubnetScope(spec["subnetScope"])
        out.policies.append(PlacementPolicy(scope, name, doc.source))
    else:
        found = checks.check(data["spec"])
        pending.extend(
            (doc, SchemaIssue(("spec", *i.path), i.message, "value", i.code)) for i in found.issues
        )
        if doc.source is not None and found.ok:
            out.inventories.append((doc.source, found.topology))


def _declare(out: FileResult, doc: Doc) -> None:
    if doc.raw.kind is not None and doc.raw.name is not None:
        out.declared.append(doc)


def _kind_issue(data: dict[str, Any], allowed: tuple[str, ...]) -> SchemaIssue:
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
    message = f"unknown kind '{kind}' (expected one of {', '.join(allowed)})"
    close = difflib.get_close_matches(kind, allowed, n=1, cutoff=0.5)
    close += [k for k in allowed if k.lower() == kind.lower()]
    if close:
        message = f"unknown kind '{kind}' (did you mean '{close[-1]}'?)"
    return SchemaIssue(("kind",), message, "value", "UnknownKind")


def _server(out: FileResult, doc: Doc, data: dict[str, Any]) -> None:
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
    out.servers.setdefault(server.name, server)


def _interface_references(
    out: FileResult, doc: Doc, spec: dict[str, Any], pending: list[tuple[Doc, SchemaIssue]]
) -> None:
    """The address and server checks, run on schema-invalid documents too."""
    address = spec.get("privateIp")
    if isinstance(address, str):
        problem = schema.ipv4_problem(address)
        if problem is not None:
            issue = SchemaIssue(("spec", "privateIp"), problem, "value", "InvalidIp")
            pending.append((doc, issue))
    server = spec.get("server")
    if isinstance(server, str):
        out.references.append((doc, ("spec", "server"), server))
    standbys = spec.get("standbys")
    if isinstance(standbys, list):
        for index, standby in enumerate(standbys):
            if isinstance(standby, str):
                out.references.append((doc, ("spec", "standbys", index), standby))


def _interface(out: FileResult, doc: Doc, data: dict[str, Any]) -> None:
    spec, meta = data["spec"], data["metadata"]
    iface = NetworkInterface(
        name=meta["name"],
        subnet=spec["subnet"],
        private_ip=spec.get("privateIp"),
        security_groups=tuple(spec.get("securityGroups", ())),
        eip=spec.get("eip"),
        server=spec.get("server"),
        protect=spec.get("protect", False),
        labels=meta.get("labels") or {},
        source=doc.source,
        standbys=tuple(spec.get("standbys", ())),
        failover=_failover(spec),
    )
    out.interfaces.setdefault(iface.name, iface)


def _failover(spec: dict[str, Any]) -> FailoverPolicy | None:
    """A failover ENI's policy (the defaults for what `spec.failover` leaves out); None
    for an ENI without standbys."""
    if not spec.get("standbys"):
        return None
    given = spec.get("failover") or {}
    defaults = FailoverPolicy()
    return FailoverPolicy(
        failback=given.get("failback", defaults.failback),
        hold_down_seconds=float(given.get("holdDownSeconds", defaults.hold_down_seconds)),
        fence=Fence(given.get("fence", defaults.fence.value)),
    )


def locate(pending: list[tuple[Doc, SchemaIssue]], locator: yamlsource.Locator) -> list[Located]:
    """Each issue as a problem at its line and column (composing files as needed)."""
    out: list[Located] = []
    for doc, issue in pending:
        found = locator.locate(doc.file.display, doc.data, doc.raw.index, issue.path, issue.where)
        line, col = found if found is not None else (doc.raw.line, doc.raw.column)
        problem = Problem(
            f"{doc.file.display}:{line}:{col}",
            issue.message,
            issue.code,
            doc.resource,
            field_path(issue.path),
        )
        out.append((line, col, one_line(problem)))
    return out


def one_line(problem: Problem) -> Problem:
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


def field_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def position(location: str) -> tuple[int, int]:
    parts = location.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2])
    return 0, 0
