"""Manifests from the cloud as it is: what `enictl export` writes (SPEC sections 4, 6).

`export(observed, scope)` turns an observed `Topology` into manifest documents:

- a `NetworkInterface` for every extension ENI in the scope, with the subnet, the
  private IP (always: an ENI's IP is fixed for life), its security groups, its EIP, its
  server when attached and `protect: true` where the cloud carries the protect marker;
- a `Server` for every server an exported ENI is attached to (and every server named
  by `--servers`), with its flavor, AZ, VPC and primary subnet; its primary ENI's
  security groups are left out, so that enictl keeps leaving them alone;
- a `PlacementPolicy` with `subnetScope: vpc` when an exported ENI is attached to a
  server whose primary subnet is another one (the default scope would refuse the cloud
  as it is).

Planning the result against the same cloud gives no step: only the adoptions of the
ENIs enictl does not manage yet. The scope narrows what is exported: servers by name
(their ENIs), a VPC or a subnet (the ENIs in it), a label selector (the ENIs whose
labels, the cloud's tags, match). Every document is checked against its kind's schema
(`controller.manifests.schema`); one the schema refuses (a name the cloud allows and
manifests do not, such as `db 1` or a clash renamed `db~1a2b3c4d`) is left out with a
`Skipped` entry that says why, and so are the ENIs attached to a server left out.

`Export.files()` groups the documents per file (one per server, and `enictl-export.yaml`
for the policy and the ENIs on no server); `stream_text()` is one YAML stream. Both
start with the schema modeline, and are the same for the same cloud, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from controller.errors import UsageError
from controller.manifests import schema
from controller.model import NetworkInterface, Server, Topology
from controller.selectors import EVERYTHING, Selector

API_VERSION = "enictl/v1"
SHARED_FILE = "enictl-export.yaml"  # the policy and the ENIs attached to no server
DEFAULT_SCHEMA_REF = schema.SCHEMA_BASE_URI + schema.BUNDLE_FILE
Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Scope:
    """What to export; the default is every extension ENI of the cloud."""

    servers: tuple[str, ...] = ()
    vpc: str = ""
    subnet: str = ""
    selector: Selector = EVERYTHING


@dataclass(frozen=True, slots=True)
class Skipped:
    """A resource the cloud has that manifests cannot declare as it is, and why."""

    resource: str
    reason: str

    def line(self) -> str:
        return f"skipped {self.resource}: {self.reason}"


@dataclass(frozen=True)
class Export:
    """The exported documents: per server, then the ENIs attached to none."""

    by_server: dict[str, list[Document]] = field(default_factory=dict)
    detached: list[Document] = field(default_factory=list)
    policy: Document | None = None
    skipped: tuple[Skipped, ...] = ()

    @property
    def count(self) -> int:
        policy = 1 if self.policy is not None else 0
        return policy + len(self.detached) + sum(len(d) for d in self.by_server.values())

    def files(self, schema_ref: str = DEFAULT_SCHEMA_REF) -> dict[str, str]:
        """File name -> text: `<server>.yaml` per server, `enictl-export.yaml` for the rest."""
        out = {f"{name}.yaml": render([*docs], schema_ref) for name, docs in self.by_server.items()}
        shared = ([self.policy] if self.policy is not None else []) + self.detached
        if shared:
            if SHARED_FILE in out:
                raise UsageError(
                    f"a server is named {SHARED_FILE[: -len('.yaml')]}: export it to stdout"
                )
            out[SHARED_FILE] = render(shared, schema_ref)
        return out

    def stream_text(self, schema_ref: str = DEFAULT_SCHEMA_REF) -> str:
        docs = [self.policy] if self.policy is not None else []
        for server_docs in self.by_server.values():
            docs.extend(server_docs)
        docs.extend(self.detached)
        return render(docs, schema_ref)


def export(observed: Topology, scope: Scope = Scope()) -> Export:
    """The manifests that declare `observed` as it is, narrowed to `scope`."""
    _check_scope(observed, scope)
    skipped: list[Skipped] = []
    interfaces: list[tuple[NetworkInterface, Document]] = []
    for iface in _in_scope(observed, scope):
        doc = interface_document(iface)
        problem = _problem("NetworkInterface", doc)
        if problem:
            skipped.append(Skipped(f"NetworkInterface/{iface.name}", problem))
        else:
            interfaces.append((iface, doc))
    servers = sorted({*scope.servers, *(i.server for i, _ in interfaces if i.server is not None)})
    by_server: dict[str, list[Document]] = {}
    for name in servers:
        doc = server_document(observed.servers[name])
        problem = _problem("Server", doc)
        if problem:
            skipped.append(Skipped(f"Server/{name}", problem))
        else:
            by_server[name] = [doc]
    detached: list[Document] = []
    wider = False
    for iface, doc in interfaces:
        if iface.server is None:
            detached.append(doc)
        elif iface.server not in by_server:
            reason = f"its server {iface.server} is skipped"
            skipped.append(Skipped(f"NetworkInterface/{iface.name}", reason))
        else:
            by_server[iface.server].append(doc)
            wider = wider or iface.subnet != observed.servers[iface.server].subnet
    policy = policy_document() if wider else None
    return Export(by_server, detached, policy, tuple(skipped))


def server_document(server: Server) -> Document:
    return {
        "apiVersion": API_VERSION,
        "kind": "Server",
        "metadata": _metadata(server.name, server.labels),
        "spec": {
            "flavor": server.flavor,
            "availabilityZone": server.availability_zone,
            "vpc": server.vpc,
            "subnet": server.subnet,
        },
    }


def interface_document(iface: NetworkInterface) -> Document:
    spec: Document = {"subnet": iface.subnet, "privateIp": iface.private_ip}
    if iface.security_groups:
        spec["securityGroups"] = sorted(iface.security_groups)
    if iface.eip is not None:
        spec["eip"] = iface.eip
    if iface.server is not None:
        spec["server"] = iface.server
    if iface.protect:
        spec["protect"] = True
    return {
        "apiVersion": API_VERSION,
        "kind": "NetworkInterface",
        "metadata": _metadata(iface.name, iface.labels),
        "spec": spec,
    }


def policy_document() -> Document:
    return {
        "apiVersion": API_VERSION,
        "kind": "PlacementPolicy",
        "metadata": {"name": "exported"},
        "spec": {"subnetScope": "vpc"},
    }


def _metadata(name: str, labels: Any) -> Document:
    meta: Document = {"name": name}
    if labels:
        meta["labels"] = dict(sorted(labels.items()))
    return meta


def _check_scope(observed: Topology, scope: Scope) -> None:
    missing = [name for name in scope.servers if name not in observed.servers]
    if missing:
        raise UsageError(f"export: no server named {', '.join(missing)} in the cloud")
    if scope.vpc and scope.vpc not in observed.catalog.vpcs:
        raise UsageError(f"export: no VPC named {scope.vpc} in the cloud")
    if scope.subnet and scope.subnet not in observed.catalog.subnets:
        raise UsageError(f"export: no subnet named {scope.subnet} in the cloud")


def _in_scope(observed: Topology, scope: Scope) -> list[NetworkInterface]:
    subnets = observed.catalog.subnets
    named = set(scope.servers)
    found = []
    for name in sorted(observed.interfaces):
        iface = observed.interfaces[name]
        if iface.primary:
            continue
        if named and iface.server not in named:
            continue
        subnet = subnets.get(iface.subnet)
        if scope.vpc and (subnet is None or subnet.vpc != scope.vpc):
            continue
        if scope.subnet and iface.subnet != scope.subnet:
            continue
        if not scope.selector.matches(iface.labels):
            continue
        found.append(iface)
    return found


def _problem(kind: str, doc: Document) -> str:
    """Why the schema refuses `doc` (its first issue), or ""."""
    if schema.is_valid(kind, doc):
        return ""
    issues = schema.explain(kind, doc)
    if not issues:
        return "the schema refuses it"
    first = issues[0]
    where = ".".join(str(p) for p in first.path)
    return f"{where}: {first.message}" if where else first.message


class _Dumper(yaml.SafeDumper):
    """Block mappings, flow lists (`securityGroups: [sg-a, sg-b]`), quoting as needed."""


def _flow_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(list, _flow_list)


def render(docs: Sequence[Document], schema_ref: str = DEFAULT_SCHEMA_REF) -> str:
    """Documents as one YAML stream, the schema modeline first."""
    head = f"# yaml-language-server: $schema={schema_ref}\n"
    body = "---\n".join(
        yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False) for doc in docs
    )
    return head + body
