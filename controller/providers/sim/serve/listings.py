"""What `enictl sim serve` keeps between requests: its last observation of the cloud and
the listings built from it, every item already written as JSON.

Observing a big cloud page by page must not cost a full observation per page. The
API (`api`) keeps one `View`: the observed Topology, its lookups (`index.Index`)
and the cloud's data version. A list page is one `observe_unless(version)` call on
the simulated cloud, which reads the cloud again only when something changed since;
otherwise the page is a slice of a listing of the kept View.

A `Listing` holds one listing's items in page order (sorted by id), each encoded
once, so paging through N items costs O(N) once, not a sort and an encoding of N
items per page. After a change, an item's JSON text is reused from the previous View
of the same cloud when what it is made of is unchanged: after an apply step only a
few ports differ, and the rest need not be written again.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from controller.gcpause import gc_paused
from controller.model import NetworkInterface, Port, Server, Topology
from controller.providers.sim.serve import baremetal, compute, network
from controller.providers.sim.serve.index import Index

T = TypeVar("T")
JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing's items in page order (sorted by id), each already encoded as JSON."""

    ids: Sequence[str]
    encoded: Sequence[bytes]

    @classmethod
    def of(cls, items: Iterable[T], key: Callable[[T], str], render: Callable[[T], str]) -> Listing:
        """`render` gives an item's JSON text."""
        ordered = sorted(items, key=key)
        return cls([key(i) for i in ordered], [render(i).encode() for i in ordered])

    def __len__(self) -> int:
        return len(self.ids)

    def after(self, marker: str | None) -> int:
        """VPC/EIP pagination: the position of the first item whose id sorts after
        `marker` (the start when there is no marker)."""
        return bisect.bisect_right(self.ids, marker) if marker else 0

    def get(self, item_id: str) -> str | None:
        """The JSON text of the item with this id, or None."""
        at = bisect.bisect_left(self.ids, item_id)
        if at < len(self.ids) and self.ids[at] == item_id:
            return self.encoded[at].decode()
        return None

    @staticmethod
    def page_start(page: int, limit: int) -> int:
        """ECS `offset` pagination: `page` is 1-based (0 means 1)."""
        return (max(page, 1) - 1) * limit

    def array(self, start: int, limit: int) -> bytes:
        """Items start..start+limit as one JSON array."""
        return b"[" + b",".join(self.encoded[start : start + limit]) + b"]"


_ENCODER = json.JSONEncoder(separators=(",", ":"))


def envelope(fields: JsonDict, key: str, array: bytes) -> bytes:
    """The JSON object of `fields` plus `key` holding an already encoded array."""
    head = _ENCODER.encode(fields)[:-1]
    separator = "," if fields else ""
    return f"{head}{separator}{_ENCODER.encode(key)}:".encode() + array + b"}"


@dataclass(frozen=True, slots=True)
class Kind:
    """A listing served from a View: its items, their page order, how one is written as
    JSON, and what that text is made of (so that it can be reused; None: never)."""

    items: Callable[[Index], Iterable[Any]]
    key: Callable[[Any], str]
    render: Callable[[Index, Any], str]
    depends: Callable[[Index, Any], Hashable] | None = None


class View:
    """One observation of the cloud and the listings built from it (lazily, once each)."""

    def __init__(self, version: str, index: Index, previous: View | None) -> None:
        self.version = version
        self.index = index
        self._listings: dict[str, Listing] = {}
        self._texts: dict[str, dict[Hashable, str]] = {}  # listing -> made of -> JSON text
        self._earlier: dict[str, dict[Hashable, str]] = {}
        if previous is not None and _cloud_of(previous.version) == _cloud_of(version):
            self._earlier = {**previous._earlier, **previous._texts}
        self._lock = threading.Lock()

    def listing(self, name: str) -> Listing:
        """The listing called `name` (a key of KINDS)."""
        with self._lock:
            found = self._listings.get(name)
            if found is None:
                with gc_paused():
                    found = self._listings[name] = self._build(name, KINDS[name])
            return found

    def _build(self, name: str, kind: Kind) -> Listing:
        index, earlier, texts = self.index, self._earlier.get(name, {}), {}
        made_of = kind.depends
        if made_of is None:
            return Listing.of(kind.items(index), kind.key, lambda i: kind.render(index, i))

        def render(item: Any) -> str:
            parts = made_of(index, item)
            text = earlier.get(parts)
            if text is None:
                text = kind.render(index, item)
            texts[parts] = text
            return text

        built = Listing.of(kind.items(index), kind.key, render)
        self._texts[name] = texts
        return built


def _cloud_of(version: str) -> str:
    """The cloud a data version belongs to (`<cloud id>:<changes>`)."""
    return version.partition(":")[0]


# ---------------------------------------------------------------- the listings

OtherPort = tuple[Port, ...]  # the addresses of one port that is not an ENI
AnyPort = NetworkInterface | OtherPort


def _ports(index: Index) -> list[AnyPort]:
    """Every port of the cloud: the ENIs, and the others (DHCP, virtual IPs, ...)."""
    found: list[AnyPort] = list(index.topology.interfaces.values())
    found.extend(tuple(held) for held in index.others_by_id.values())
    return found


def _port_id(port: AnyPort) -> str:
    return port.id if isinstance(port, NetworkInterface) else port[0].id


def _port_made_of(index: Index, port: AnyPort) -> Hashable:
    """What a port's JSON is made of (ids of servers, subnets and groups never change in
    one cloud: only `sim init` makes them, and it makes a new cloud)."""
    if not isinstance(port, NetworkInterface):
        return port
    return (port.id, port.name, port.subnet, port.private_ip, port.security_groups,
            port.server, port.primary, port.managed, port.owner, port.protect,
            port.failover_at)  # fmt: skip


def _port_v3(index: Index, port: AnyPort) -> str:
    if isinstance(port, NetworkInterface):
        return network.port_v3_json(index, port)
    return network.other_port_v3_json(index, port)


def _port_v1(index: Index, port: AnyPort) -> str:
    if isinstance(port, NetworkInterface):
        return _ENCODER.encode(network.port_v1(index, port))
    return _ENCODER.encode(network.other_port_v1(index, port))


def _server_made_of(index: Index, server: Server) -> Hashable:
    eips = index.port_eips
    nics = tuple(
        (i.id, i.name, i.private_ip, i.primary, eips[i.id].address if i.id in eips else None)
        for i in index.interfaces_on(server.name)
    )
    return (server.id, server.name, server.status, server.status_since, server.flavor,
            server.availability_zone, server.vpc, server.security_groups, nics)  # fmt: skip


def _catalog(
    table: Callable[[Topology], Mapping[str, Any]],
    render: Callable[[Index, str], JsonDict],
    key: Callable[[Any], str] = lambda item: str(item.id),
) -> Kind:
    return Kind(
        lambda index: table(index.topology).values(),
        key,
        lambda index, item: _ENCODER.encode(render(index, item.name)),
    )


def _servers(bare_metal: bool) -> Callable[[Index], Iterable[Server]]:
    """The servers of one API: the ECS listing shows no BMS, the BMS listing only BMSs."""
    return lambda index: (s for s in index.topology.servers.values() if s.bare_metal is bare_metal)


def _flavors(bare_metal: bool) -> Callable[[Topology], Mapping[str, Any]]:
    return lambda t: {n: f for n, f in t.catalog.flavors.items() if f.bare_metal is bare_metal}


KINDS: Mapping[str, Kind] = {
    "servers": Kind(
        _servers(False),
        lambda server: str(server.id),
        compute.server_json,
        _server_made_of,
    ),
    "bms_servers": Kind(
        _servers(True),
        lambda server: str(server.id),
        lambda index, server: _ENCODER.encode(baremetal.server(index, server)),
    ),
    "ports": Kind(_ports, _port_id, _port_v3, _port_made_of),
    "ports_v1": Kind(_ports, _port_id, _port_v1),
    # a flavor's id is its name: the listing pages by name
    "flavors": _catalog(_flavors(False), compute.flavor, lambda f: str(f.name)),
    "bms_flavors": _catalog(_flavors(True), baremetal.flavor, lambda f: str(f.name)),
    "vpcs": _catalog(lambda t: t.catalog.vpcs, network.vpc),
    "subnets": _catalog(
        lambda t: t.catalog.subnets,
        lambda index, name: network.subnet(index, name, index.used.get(name, 0)),
    ),
    "security_groups": _catalog(lambda t: t.catalog.security_groups, network.security_group),
    "publicips": _catalog(lambda t: t.catalog.eips, network.publicip),
}
