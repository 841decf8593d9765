"""Manifest files to the desired `Topology`, with every problem located at file:line:col.

`load(paths)` reads the files and folders given (`controller.manifests.discovery`:
folders recursively, `*.yaml` / `*.yml`, sorted; a path that cannot be read fails the
whole load), checks each document against its kind's JSON Schema, then checks
the set as a whole (unique names, references, one PlacementPolicy), and either
returns `Manifests` or raises one `ManifestError` carrying every problem found.
`validate(paths)` does the same for `enictl validate`, which also accepts
CloudInventory documents, and returns a `Report` instead of raising.

Each file is read and checked on its own first (`controller.manifests.analysis`: YAML,
schemas, model values), which a `ParseCache` can keep per file; then the checks
across files run over what every file declares and references.

Problems are located lazily: the fast path keeps only each document's index and the
position of its `metadata.name` key (the resource's `Source`); a problem's path
inside its document is turned into a line and column when the problem is reported.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import ManifestError, Problem, shorten
from controller.gcpause import gc_paused
from controller.manifests import analysis, discovery, schema, yamlsource
from controller.manifests.analysis import ALL_KINDS, INVENTORY_KIND, Doc, FileResult
from controller.manifests.schema import SchemaIssue
from controller.manifests.yamlsource import SourceFile
from controller.model import NetworkInterface, PlacementPolicy, Server, Source, Topology


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
    inventories: tuple[tuple[Source, Topology], ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


class ParseCache:
    """Checked files (`analysis.FileResult`), reused while a file's bytes are unchanged.

    For callers that load the same manifests again and again (`enictl watch`): pass
    one to `load(paths, cache=...)` and only files whose content changed are parsed
    and checked again; the checks across files run over the whole set, on what each
    file's result keeps. `parsed` counts the files the last `load` parsed.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[str, ...], FileResult]] = {}
        self._seen: set[str] = set()
        self.parsed = 0

    def begin(self) -> None:
        self._seen = set()
        self.parsed = 0

    def result(self, file: SourceFile, data: bytes, allowed: tuple[str, ...]) -> FileResult:
        """The file checked alone, from the cache when its bytes are unchanged."""
        self._seen.add(file.display)
        hit = self._entries.get(file.display)
        if hit is not None and hit[0] == allowed:
            kept = hit[1]
            if kept.file == file and kept.data == data:
                return kept
        result = analysis.analyse(file, data, allowed)
        self._entries[file.display] = (allowed, result)
        self.parsed += 1
        return result

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


def load_inventory(path: str | Path) -> Topology:
    """The cloud the CloudInventory in `path` describes, checked and with every address
    placed (`controller.cloudinventory.checks`): what `sim init` seeds.

    Raises ManifestError (file:line:col) when the file is not exactly one valid,
    consistent CloudInventory document.
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
    return report.inventories[0][1]


def digest_files(paths: Sequence[str | Path]) -> str:
    """The `Manifests.digest` of `paths` without parsing them (detects stale plans)."""
    files, problems = discovery.discover(paths)
    read = [(f, _read(f, problems)) for f in files]
    if problems:
        raise ManifestError(problems)
    return _digest((f.display, data) for f, data in read if data is not None)


def _read(file: SourceFile, problems: list[Problem]) -> bytes | None:
    try:
        return discovery.read(file.path)
    except discovery.Unreadable as exc:
        problems.append(Problem(file.display, exc.reason, "ReadError"))
        return None


def _digest(files: Iterable[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for display, data in sorted(files):
        name = os.fsencode(display)
        digest.update(b"%d:%s\0%d:" % (len(name), name, len(data)))
        digest.update(data)
    return "sha256:" + digest.hexdigest()


# One entry per problem: (file order, line, column, phase, rank, problem). Sorting on
# the first five gives the order of a single pass over the files: by file and place,
# and at the same place the problems found reading first (phase 0), then duplicate
# policies (1), then the located ones (2), then unknown servers (3).
_Entry = tuple[int, int, int, int, tuple[int, int], Problem]
_FIRST: tuple[int, int] = (0, 0)


@dataclass
class _Analysis:
    """One pass over a set of files: each file checked alone (or taken from the cache),
    then the checks across files, then the problems in order or the values merged."""

    allowed: tuple[str, ...]
    cache: ParseCache | None = None
    entries: list[_Entry] = field(default_factory=list)

    def run(self, paths: Sequence[str | Path]) -> Report:
        # Loading allocates millions of small acyclic objects that stay alive; the
        # cyclic collector would re-scan them again and again (a third of the time).
        with gc_paused():
            return self._run(paths)

    def _run(self, paths: Sequence[str | Path]) -> Report:
        if self.cache is not None:
            self.cache.begin()
        files, path_problems = discovery.discover(paths)
        for problem in path_problems:
            self._add(-1, 0, 0, -1, _FIRST, analysis.one_line(problem))
        if not files and not path_problems:
            self._add(-1, 0, 0, -1, _FIRST, Problem("", "no manifest files given", "NoManifests"))
        read: list[tuple[str, bytes]] = []
        results: list[tuple[int, FileResult]] = []
        for order, file in enumerate(files):
            unreadable: list[Problem] = []
            data = _read(file, unreadable)
            if data is None:
                for problem in unreadable:
                    self._add(order, 0, 0, 0, (-1, 0), analysis.one_line(problem))
                continue
            read.append((file.display, data))
            if self.cache is not None:
                result = self.cache.result(file, data, self.allowed)
            else:
                result = analysis.analyse(file, data, self.allowed)
            results.append((order, result))
        if self.cache is not None:
            self.cache.end()
        for order, result in results:
            for line, col, rank, problem in result.problems:
                self._add(order, line, col, 0, rank, problem)
            for line, col, problem in result.located:
                self._add(order, line, col, 2, _FIRST, problem)
        self._duplicate_names(results)
        self._unknown_servers(results)
        self._duplicate_policies(results)
        shown = tuple(display for display, _ in read)
        resources = sum(result.resources for _, result in results)
        if self.entries:
            self.entries.sort(key=lambda entry: entry[:5])
            return Report(shown, resources, tuple(entry[5] for entry in self.entries))
        servers: dict[str, Server] = {}
        interfaces: dict[str, NetworkInterface] = {}
        policies: list[PlacementPolicy] = []
        inventories: list[tuple[Source, Topology]] = []
        for _, result in results:  # no duplicates: every name is in one file only
            servers.update(result.servers)
            interfaces.update(result.interfaces)
            policies.extend(result.policies)
            inventories.extend(result.inventories)
        policy = policies[0] if policies else PlacementPolicy()
        topology = Topology(servers=servers, interfaces=interfaces, policy=policy)
        manifests = Manifests(topology, _digest(read), shown)
        return Report(shown, resources, (), manifests, tuple(inventories))

    def _add(
        self, order: int, line: int, col: int, phase: int, rank: tuple[int, int], problem: Problem
    ) -> None:
        self.entries.append((order, line, col, phase, rank, problem))

    def _duplicate_names(self, results: list[tuple[int, FileResult]]) -> None:
        """DuplicateName for each declaration after the first of its kind and name."""
        merged: dict[tuple[str, str], Doc] = {}
        total = 0
        for _, result in results:  # the common case, in C: no name is declared twice
            merged.update(result.names)
            total += len(result.names)
            if len(result.names) != len(result.declared):
                break
        else:
            if len(merged) == total:
                return
        declared: dict[tuple[str, str], Doc] = {}
        for order, result in results:
            for doc in result.declared:
                key = (doc.raw.kind or "", doc.raw.name or "")
                first = declared.setdefault(key, doc)
                if first is doc or doc.source is None or key[0] == "PlacementPolicy":
                    continue  # a second policy is reported once, as DuplicatePlacementPolicy
                message = f"{key[0]} '{key[1]}' is already declared at {first.source}"
                line, col, problem = doc.located("DuplicateName", message)
                self._add(order, line, col, 0, (doc.raw.index, 1), problem)

    def _unknown_servers(self, results: list[tuple[int, FileResult]]) -> None:
        """UnknownServer for each interface whose server no file declares."""
        if any(result.unreadable for _, result in results):
            return  # a server may sit behind the syntax error
        declared = set().union(*(result.server_names for _, result in results))
        referenced = set().union(*(result.referenced for _, result in results))
        if referenced <= declared:
            return
        servers = sorted(declared)
        locator = yamlsource.Locator()
        for order, result in results:
            pending: list[tuple[Doc, SchemaIssue]] = []
            for doc, path, server in result.references:
                if server in declared:
                    continue
                message = f"server '{shorten(server)}' is not declared in the manifests"
                close = difflib.get_close_matches(server, servers, n=1)
                message += f" (did you mean '{close[0]}'?)" if close else ""
                pending.append((doc, SchemaIssue(path, message, "value", "UnknownServer")))
            for line, col, problem in analysis.locate(pending, locator):
                self._add(order, line, col, 3, _FIRST, problem)

    def _duplicate_policies(self, results: list[tuple[int, FileResult]]) -> None:
        documents = [(order, doc) for order, result in results for doc in result.policy_documents]
        if len(documents) < 2:
            return
        first = documents[0][1]
        for order, doc in documents[1:]:
            message = (
                "a manifest set has at most one PlacementPolicy; "
                f"'{first.raw.name}' is declared at {first.source}"
            )
            line, col, problem = doc.located("DuplicatePlacementPolicy", message)
            self._add(order, line, col, 1, _FIRST, problem)
