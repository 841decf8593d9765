"""`enictl get [servers|interfaces|flavors] [NAME...] [-l SELECTOR] [-o table|wide|name|json|yaml]`:
what the cloud holds now, with kubectl's conventions.

Like `kubectl get`, the kind may be singular or plural (`interface`, `eni`, `enis`
work too); unlike kubectl it is optional and defaults to `interfaces`, the resource
enictl manages. NAME... keeps only those (an unknown one is an error, after the rows
found); `-l` keeps the resources whose labels (the cloud's tags) match a kubectl
selector. Output goes through the provider's `observe()`, so it works on every
provider. JSON and YAML print a list of objects with names, not ids, for references
(`interfaces` is exactly the shape of SPEC section 6); the table is plain aligned
columns, `<none>` marking an absent value, sorted by name; `wide` adds the columns of
`_WIDE` (a list per kind: add one there), `name` prints `kind/name` lines.
For interfaces, `wide` also shows each failover ENI's place and why, and its other
servers with whether each could take it now (from the manifests last applied in the
state backend, placed by the failover policy against the cloud as it is now).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import click
import yaml

from controller import selectors
from controller.cli import options
from controller.cli.context import AppContext
from controller.errors import UsageError
from controller.model import NetworkInterface, Server, Topology
from controller.planning import drift, failover, invariants, placement

KINDS = {
    "interfaces": "interfaces",
    "interface": "interfaces",
    "enis": "interfaces",
    "eni": "interfaces",
    "servers": "servers",
    "server": "servers",
    "flavors": "flavors",
    "flavor": "flavors",
}
NONE = "<none>"


def interface_rows(topology: Topology) -> list[dict[str, Any]]:
    """Every ENI as SPEC section 6's `get interfaces -o json` object, sorted by name."""
    rows = []
    for name in sorted(topology.interfaces):
        iface = topology.interfaces[name]
        subnet = topology.catalog.subnets.get(iface.subnet)
        server = topology.servers.get(iface.server) if iface.server else None
        # the AZ its subnet is pinned to, else (unpinned) its server's, else unknown
        zone = (subnet.availability_zone if subnet else "") or (
            server.availability_zone if server else ""
        )
        rows.append(
            {
                "name": iface.name,
                "id": iface.id,
                "server": iface.server,
                "primary": iface.primary,
                "managed": iface.managed,
                "subnet": iface.subnet,
                "vpc": subnet.vpc if subnet else None,
                "availabilityZone": zone or None,
                "privateIp": iface.private_ip,
                "securityGroups": list(iface.security_groups),
                "eip": iface.eip,
            }
        )
    return rows


def server_rows(topology: Topology) -> list[dict[str, Any]]:
    """Every server with its kind (`ecs`, `bms`), NIC count and limit, sorted by name."""
    counts = topology.attached_counts()
    rows = []
    for name in sorted(topology.servers):
        server = topology.servers[name]
        rows.append(
            {
                "name": server.name,
                "id": server.id,
                "kind": server.kind.value,
                "flavor": server.flavor,
                "availabilityZone": server.availability_zone,
                "vpc": server.vpc,
                "subnet": server.subnet,
                "status": server.status,
                "securityGroups": list(server.security_groups or ()),
                "interfaces": counts.get(name, 0),
                "maxInterfaces": invariants.limit_of(server, topology.catalog),
            }
        )
    return rows


def flavor_rows(topology: Topology) -> list[dict[str, Any]]:
    return [
        {"name": f.name, "id": f.id, "maxInterfaces": f.max_interfaces, "bareMetal": f.bare_metal}
        for _, f in sorted(topology.catalog.flavors.items())
    ]


_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "interfaces": [
        ("NAME", "name"),
        ("SERVER", "server"),
        ("SUBNET", "subnet"),
        ("PRIVATE-IP", "privateIp"),
        ("EIP", "eip"),
        ("SECURITY-GROUPS", "securityGroups"),
        ("PRIMARY", "primary"),
        ("MANAGED", "managed"),
    ],
    "servers": [
        ("NAME", "name"),
        ("KIND", "kind"),
        ("STATUS", "status"),
        ("FLAVOR", "flavor"),
        ("AZ", "availabilityZone"),
        ("VPC", "vpc"),
        ("SUBNET", "subnet"),
        ("NICS", "nics"),
    ],
    "flavors": [("NAME", "name"), ("MAX-INTERFACES", "maxInterfaces"), ("BMS", "bareMetal")],
}
# `-o wide`: the table's columns, then these (keys of the row, or of `add_wide`'s extras)
_WIDE: dict[str, list[tuple[str, str]]] = {
    "interfaces": [
        ("AZ", "availabilityZone"),
        ("VPC", "vpc"),
        ("PROTECTED", "protected"),
        ("FAILOVER", "failover"),
        ("STANDBYS", "standbys"),
    ],
    "servers": [("ID", "id")],
    "flavors": [("ID", "id")],
}
_SINGULAR = {"interfaces": "interface", "servers": "server", "flavors": "flavor"}


def labels_of(kind: str, topology: Topology, name: str) -> dict[str, str]:
    """A resource's labels (the cloud's tags); flavors have none."""
    resource: NetworkInterface | Server | None = None
    if kind == "interfaces":
        resource = topology.interfaces.get(name)
    elif kind == "servers":
        resource = topology.servers.get(name)
    return dict(resource.labels) if resource is not None else {}


def add_wide(kind: str, rows: list[dict[str, Any]], topology: Topology) -> None:
    """The wide columns that are not in the JSON shape: an ENI's protect marker."""
    if kind == "interfaces":
        for row in rows:
            row["protected"] = topology.interfaces[row["name"]].protect


def add_failover(rows: list[dict[str, Any]], topology: Topology, declared: Topology) -> None:
    """Each failover ENI's place and why (`failover`) and its other servers' readiness
    (`standbys`), by the policy against `topology` now; None for the other ENIs."""
    found = placement.place(declared, topology, now=time.time()).failovers
    by_name = {f.interface: f for f in found}
    for row in rows:
        entry = by_name.get(row["name"])
        row["failover"] = failover.describe(entry) if entry else None
        row["standbys"] = failover.readiness(entry) if entry else None


def cell(value: Any) -> str:
    """How one value shows in a table."""
    if value is None or value == []:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain columns aligned with two spaces, like kubectl (no trailing spaces)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = []
    for row in [list(headers), *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def render(kind: str, rows: list[dict[str, Any]], output: str) -> str:
    if output == "json":
        return json.dumps(rows, indent=2)
    if output == "yaml":
        return yaml.safe_dump(rows, sort_keys=False, default_flow_style=False).rstrip("\n")
    if output == "name":
        return "\n".join(f"{_SINGULAR[kind]}/{row['name']}" for row in rows)
    if kind == "servers":
        for row in rows:
            limit = row["maxInterfaces"]
            row["nics"] = f"{row['interfaces']}/{limit if limit is not None else '?'}"
    columns = _COLUMNS[kind] + (_WIDE[kind] if output == "wide" else [])
    return format_table(
        [header for header, _ in columns], [[cell(row[key]) for _, key in columns] for row in rows]
    )


@click.command("get")
@click.argument(
    "kind", required=False, default="interfaces", type=click.Choice(sorted(KINDS)), metavar="[KIND]"
)
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option(
    "-l",
    "--selector",
    default="",
    metavar="SELECTOR",
    help="Only resources whose labels (the cloud's tags) match, e.g. `role=db,env in (prod)`.",
)
@options.output(
    ["table", "wide", "name", "json", "yaml"],
    default="table",
    help="table for people (wide: more columns, failover ENIs' standbys and readiness); "
    "name: kind/name lines; json/yaml list objects with names, not ids.",
)
@click.pass_obj
def get(app: AppContext, kind: str, names: tuple[str, ...], selector: str, output: str) -> None:
    """List what the cloud holds: KIND is interfaces (default), servers or flavors;
    NAME... keeps only those, -l SELECTOR those whose labels match.

    Servers show their KIND: ecs, or bms (a bare-metal server: new ENIs are created
    on it by the BMS API, existing ones never move onto or off it).

    \b
    Example:
      enictl get servers
      enictl get interfaces svc-eni gw-1-public -o wide
      enictl get -l role=db -o name
      enictl get interfaces -o json | jq '.[] | select(.server == null) | .name'
    """
    kind = KINDS[kind]
    wanted = selectors.parse(selector)
    topology = app.provider().observe()
    rows = {"interfaces": interface_rows, "servers": server_rows, "flavors": flavor_rows}[kind](
        topology
    )
    missing = sorted(set(names) - {row["name"] for row in rows})
    if names:
        rows = [row for row in rows if row["name"] in names]
    if selector:
        rows = [row for row in rows if wanted.matches(labels_of(kind, topology, row["name"]))]
    if output == "wide":
        add_wide(kind, rows, topology)
        if kind == "interfaces":
            add_failover(rows, topology, drift.declared(app.backend().last_applied() or {}))
    if rows or output not in ("table", "wide"):
        click.echo(render(kind, rows, output))
    elif not missing:
        click.echo(f"No {kind} found.", err=True)
    if missing:
        raise UsageError(f"no {_SINGULAR[kind]} named {', '.join(missing)} in the cloud")


COMMANDS = [get]
