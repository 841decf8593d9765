"""Build observed and desired topologies from model values, tersely, for tests.

`Cloud` builds an observed topology (catalog, servers with their primary ENIs,
extension ENIs); `desired()` builds the manifests' side from a cloud: declared
servers copied from the cloud (so they match) and the extension ENIs given.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace

from controller.model import (
    Catalog,
    Eip,
    FailoverPolicy,
    Flavor,
    NetworkInterface,
    PlacementPolicy,
    Port,
    SecurityGroup,
    Server,
    ServerKind,
    Source,
    Subnet,
    SubnetScope,
    Topology,
    Vpc,
)
from controller.plan import Action, Plan, Step

_lines = itertools.count(1)


def src() -> Source:
    """A fresh manifest place, so that every declared value has its own source."""
    return Source("manifests/test.yaml", next(_lines), 1)


class Cloud:
    """An observed topology under construction; every method returns self."""

    def __init__(self) -> None:
        self.flavors: dict[str, Flavor] = {}
        self.vpcs: dict[str, Vpc] = {}
        self.subnets: dict[str, Subnet] = {}
        self.sgs: dict[str, SecurityGroup] = {}
        self.eips: dict[str, Eip] = {}
        self.servers: dict[str, Server] = {}
        self.interfaces: dict[str, NetworkInterface] = {}
        self.ports: list[Port] = []
        self._hosts: dict[str, itertools.count[int]] = {}

    def flavor(self, name: str, max_interfaces: int | None, *, bare_metal: bool = False) -> Cloud:
        """A flavor; `bare_metal`: a BMS flavor (its servers are BMSs)."""
        self.flavors[name] = Flavor(name, max_interfaces, id=f"fl-{name}", bare_metal=bare_metal)
        return self

    def subnet(self, name: str, vpc: str = "vpc-a", cidr: str = "", az: str = "az1") -> Cloud:
        if vpc not in self.vpcs:
            self.vpcs[vpc] = Vpc(vpc, f"10.{len(self.vpcs)}.0.0/16", id=f"id-{vpc}")
        cidr = cidr or f"10.{list(self.vpcs).index(vpc)}.{len(self.subnets) + 1}.0/24"
        self.subnets[name] = Subnet(name, vpc, cidr, az, id=f"id-{name}")
        self._hosts[name] = itertools.count(10)
        return self

    def sg(self, name: str, vpc: str = "vpc-a") -> Cloud:
        self.sgs[name] = SecurityGroup(name, vpc, id=f"id-{name}")
        return self

    def port(self, subnet: str, ip: str, owner: str = "vip") -> Cloud:
        """Another port (DHCP, VIP, ...) holding `ip`."""
        self.ports.append(Port(f"id-{owner}-{ip}", subnet, ip, owner))
        return self

    def eip(self, name: str) -> Cloud:
        self.eips[name] = Eip(name, f"198.51.100.{len(self.eips) + 1}", id=f"id-{name}")
        return self

    def next_ip(self, subnet: str) -> str:
        base = self.subnets[subnet].cidr.rsplit(".", 1)[0]
        return f"{base}.{next(self._hosts[subnet])}"

    def server(
        self,
        name: str,
        flavor: str = "s3",
        subnet: str = "sn-a",
        status: str = "ACTIVE",
        sgs: tuple[str, ...] = (),
        az: str = "",
        status_since: float | None = None,
    ) -> Cloud:
        """A server in `subnet`'s AZ (for a subnet pinned to none: `az`, else az1)."""
        sn = self.subnets[subnet]
        zone = sn.availability_zone or az or "az1"
        found = self.flavors.get(flavor)
        kind = ServerKind.BMS if found is not None and found.bare_metal else ServerKind.ECS
        self.servers[name] = Server(
            name, flavor, zone, sn.vpc, subnet, sgs, status, id=f"id-{name}", kind=kind,
            status_since=status_since,
        )  # fmt: skip
        primary = f"{name}-primary"
        self.interfaces[primary] = NetworkInterface(
            primary,
            subnet,
            self.next_ip(subnet),
            sgs,
            server=name,
            primary=True,
            managed=False,
            delete_on_termination=True,
            id=f"id-{primary}",
        )
        return self

    def eni(
        self,
        name: str,
        subnet: str = "sn-a",
        server: str | None = None,
        *,
        ip: str | None = None,
        sgs: tuple[str, ...] = (),
        eip: str | None = None,
        managed: bool = True,
        protect: bool = False,
        failover_at: float | None = None,
    ) -> Cloud:
        self.interfaces[name] = NetworkInterface(
            name,
            subnet,
            ip or self.next_ip(subnet),
            sgs,
            eip,
            server,
            protect=protect,
            managed=managed,
            id=f"id-{name}",
            failover_at=failover_at,
        )
        return self

    def build(self) -> Topology:
        return Topology(
            servers=dict(self.servers),
            interfaces=dict(self.interfaces),
            catalog=Catalog(
                dict(self.flavors), dict(self.vpcs), dict(self.subnets), dict(self.sgs),
                dict(self.eips), tuple(self.ports),
            ),
        )  # fmt: skip


def standard() -> Cloud:
    """Flavors s2/s3/s4 (max 2/3/4 NICs); vpc-a: sn-a, sn-b (az1), sn-c (az2); vpc-b:
    sn-x (az1); groups sg-a, sg-b (vpc-a), sg-x (vpc-b); EIPs eip-1, eip-2."""
    cloud = Cloud().flavor("s2", 2).flavor("s3", 3).flavor("s4", 4)
    cloud.subnet("sn-a").subnet("sn-b").subnet("sn-c", az="az2").subnet("sn-x", vpc="vpc-b")
    cloud.sg("sg-a").sg("sg-b").sg("sg-x", vpc="vpc-b")
    return cloud.eip("eip-1").eip("eip-2")


def eni(
    name: str,
    subnet: str = "sn-a",
    server: str | None = None,
    *,
    ip: str | None = None,
    sgs: tuple[str, ...] = (),
    eip: str | None = None,
    protect: bool = False,
    standbys: tuple[str, ...] = (),
    failover: FailoverPolicy | None = None,
) -> NetworkInterface:
    """A NetworkInterface manifest; with `standbys` a failover ENI (default policy unless
    `failover` is given)."""
    policy = failover or (FailoverPolicy() if standbys else None)
    return NetworkInterface(
        name, subnet, ip, sgs, eip, server, protect=protect, source=src(), standbys=standbys,
        failover=policy,
    )  # fmt: skip


def declared(observed: Topology, name: str, **changes: object) -> Server:
    """A Server manifest matching the cloud's server `name` (with `changes`)."""
    have = observed.servers[name]
    want = Server(
        name, have.flavor, have.availability_zone, have.vpc, have.subnet, None, source=src()
    )
    return replace(want, **changes)  # type: ignore[arg-type]


def desired(
    observed: Topology,
    servers: Iterable[str | Server] = (),
    interfaces: Iterable[NetworkInterface] = (),
    scope: SubnetScope = SubnetScope.SERVER_SUBNET,
) -> Topology:
    """The manifests' topology: servers by name (copied from the cloud) or as given."""
    found = [declared(observed, s) if isinstance(s, str) else s for s in servers]
    return Topology(
        servers={s.name: s for s in found},
        interfaces={i.name: i for i in interfaces},
        policy=PlacementPolicy(scope, source=src()),
    )


def as_declared(observed: Topology, *names: str) -> list[NetworkInterface]:
    """Manifests that match the cloud's interfaces `names` exactly (no change)."""
    out = []
    for name in names:
        i = observed.interfaces[name]
        out.append(eni(name, i.subnet, i.server, ip=i.private_ip, sgs=i.security_groups, eip=i.eip))
    return out


def moved(observed: Topology, name: str, server: str | None) -> NetworkInterface:
    """The manifest of the cloud's interface `name`, attached to `server` instead."""
    return replace(as_declared(observed, name)[0], server=server)


def steps_of(plan: Plan) -> list[tuple[str, str, str | None]]:
    """(action, interface, server or eip) per step, in order: for readable asserts."""
    return [(s.action.value, s.interface, s.server or s.eip) for s in plan.steps]


def step(plan: Plan, action: Action, interface: str) -> Step:
    """The plan's step doing `action` on `interface`."""
    found = [s for s in plan.steps if s.action is action and s.interface == interface]
    assert len(found) == 1, (action, interface, plan.steps)
    return found[0]
