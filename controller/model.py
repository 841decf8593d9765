"""The topology value types shared by desired state (manifests) and observed state (the cloud).

Everything here is a frozen value. A `Topology` holds servers and network interfaces
keyed by name; an observed topology also carries the cloud's `Catalog` (flavors, VPCs,
subnets, security groups, EIPs, and the other ports that hold addresses) so that rules
can resolve references without I/O.

Names are what users see and what the planner works with; `id` fields carry the
cloud's identifiers (UUIDs) for the provider edge and are empty in desired state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

READY_STATUSES = frozenset({"ACTIVE", "SHUTOFF"})
DEFAULT_OWNER = "default"  # `--owner`'s default (`controller.owners`)
HEALTHY_STATUS = "ACTIVE"  # the one status in which a server may take a failover ENI
DOWN_STATUSES = frozenset({"SHUTOFF", "ERROR"})  # a holder in these has failed (SPEC 4a)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value was declared: a manifest file, line and column (1-based)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class SubnetScope(enum.StrEnum):
    """How far an extension ENI may stray from its server's primary subnet."""

    SERVER_SUBNET = "server-subnet"
    VPC = "vpc"


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    """Placement rules for the whole manifest set (at most one per set)."""

    subnet_scope: SubnetScope = SubnetScope.SERVER_SUBNET
    name: str = "default"
    source: Source | None = None


class ServerKind(enum.StrEnum):
    """What a server is: an ECS virtual machine, or a BMS bare-metal server (which takes
    extension NICs only through its own API, creating each port as it attaches it)."""

    ECS = "ecs"
    BMS = "bms"


class Fence(enum.StrEnum):
    """What enictl may do to a failed server in ERROR to free a failover ENI (SPEC 4a)."""

    NONE = "none"  # nothing: the ENI stays and a FailoverBlocked warning says why
    STOP = "stop"  # hard-stop it (a `stop-server` step), then move the ENI


@dataclass(frozen=True, slots=True)
class FailoverPolicy:
    """How a failover ENI (one with standbys) follows its service (`spec.failover`)."""

    failback: bool = False  # return to `server` once it has been healthy for the hold-down
    hold_down_seconds: float = 60.0  # after a move, no other policy move for this long
    fence: Fence = Fence.NONE


@dataclass(frozen=True, slots=True)
class Flavor:
    """A flavor; `max_interfaces` counts the primary NIC and is None when the flavor
    does not say (then a server's own `nic_limit` may). `bare_metal`: a BMS flavor (its
    limit is Huawei Cloud's `baremetal:net_num`)."""

    name: str
    max_interfaces: int | None
    id: str = ""
    bare_metal: bool = False


@dataclass(frozen=True, slots=True)
class Vpc:
    name: str
    cidr: str
    id: str = ""


@dataclass(frozen=True, slots=True)
class Subnet:
    """A subnet. `availability_zone` is the AZ it is pinned to, "" when it fits every AZ
    of its VPC (Huawei Cloud's subnet AZ is only a hint, never a pin)."""

    name: str
    vpc: str
    cidr: str
    availability_zone: str = ""
    id: str = ""


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    """A security group. `vpc` is the VPC it is pinned to, "" when it is regional
    (Huawei Cloud's are)."""

    name: str
    vpc: str = ""
    id: str = ""


@dataclass(frozen=True, slots=True)
class Eip:
    name: str
    address: str
    id: str = ""


@dataclass(frozen=True, slots=True)
class Server:
    """A server enictl manages interfaces for. enictl never changes servers.

    In desired state `security_groups` is None when the manifest does not state the
    primary ENI's security groups (then they are left alone); `status` is only
    meaningful in observed state. `nic_limit` is the server's own NIC limit (primary
    included) as the cloud reports it where the flavor does not say (Huawei Cloud:
    the attached NICs plus `attachableQuantity.free_nic`); None when unknown. `kind`
    is observed (ECS or BMS); a manifest never states it. `status_since` (observed) is
    when the server's status last changed, in epoch seconds, at the latest (Huawei
    Cloud: its `updated` time); None when unknown (then the status counts as long held).
    """

    name: str
    flavor: str
    availability_zone: str
    vpc: str
    subnet: str
    security_groups: tuple[str, ...] | None = None
    status: str = "ACTIVE"
    labels: Mapping[str, str] = field(default_factory=dict)
    id: str = ""
    source: Source | None = None
    nic_limit: int | None = None
    kind: ServerKind = ServerKind.ECS
    # not compared: providers tell it with different precision (the sim exactly, Huawei
    # Cloud by the server's last update), and it never decides what the cloud *is*
    status_since: float | None = field(default=None, compare=False)

    @property
    def ready(self) -> bool:
        return self.status in READY_STATUSES

    @property
    def bare_metal(self) -> bool:
        return self.kind is ServerKind.BMS

    @property
    def healthy(self) -> bool:
        """ACTIVE: it may take a failover ENI."""
        return self.status == HEALTHY_STATUS

    @property
    def down(self) -> bool:
        """SHUTOFF or ERROR: a failover ENI on it must go (another status, BUILD or
        REBOOT, is healthy enough to keep one)."""
        return self.status in DOWN_STATUSES


@dataclass(frozen=True, slots=True)
class NetworkInterface:
    """An ENI. In desired state only extension ENIs appear (primary=False).

    `private_ip` is None in desired state when the cloud may choose it. `managed`
    (enictl's tag on the port), `owner` (the manifest set whose tag it is, SPEC section
    4; "" reads as `DEFAULT_OWNER`) and `delete_on_termination` (a property of the
    current attachment) are observed facts; `protect` is desired-only.

    A failover ENI has `standbys` (desired: failover candidates after `server`, in
    order) and its `failover` policy; `failover_at` (observed, a port tag) is when the
    policy last moved it, in epoch seconds, None when it never did.
    """

    name: str
    subnet: str
    private_ip: str | None = None
    security_groups: tuple[str, ...] = ()
    eip: str | None = None
    server: str | None = None
    protect: bool = False
    primary: bool = False
    managed: bool = False
    delete_on_termination: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    id: str = ""
    source: Source | None = None
    owner: str = ""
    standbys: tuple[str, ...] = ()
    failover: FailoverPolicy | None = None
    failover_at: float | None = None

    @property
    def managed_by(self) -> str | None:
        """The owner that manages this ENI; None when no enictl manages it."""
        return (self.owner or DEFAULT_OWNER) if self.managed else None

    @property
    def candidates(self) -> tuple[str, ...]:
        """A failover ENI's servers in order of preference: `server`, then the standbys."""
        first = () if self.server is None else (self.server,)
        return tuple(dict.fromkeys((*first, *self.standbys)))


@dataclass(frozen=True, slots=True)
class Port:
    """A port enictl never manages that holds an address of a subnet: `owner` says
    whose it is (`dhcp`, `vip`, `loadbalancer`, `nat`, `baremetal`, ...)."""

    id: str
    subnet: str
    private_ip: str
    owner: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """The cloud's resources that enictl references but never changes."""

    flavors: Mapping[str, Flavor] = field(default_factory=dict)
    vpcs: Mapping[str, Vpc] = field(default_factory=dict)
    subnets: Mapping[str, Subnet] = field(default_factory=dict)
    security_groups: Mapping[str, SecurityGroup] = field(default_factory=dict)
    eips: Mapping[str, Eip] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()


@dataclass(frozen=True, slots=True)
class Topology:
    """Servers and interfaces by name, the placement policy and (observed) the catalog.

    The mappings are treated as read-only: build a new Topology to change anything.
    """

    servers: Mapping[str, Server] = field(default_factory=dict)
    interfaces: Mapping[str, NetworkInterface] = field(default_factory=dict)
    policy: PlacementPolicy = field(default_factory=PlacementPolicy)
    catalog: Catalog = field(default_factory=Catalog)

    def interfaces_on(self, server: str) -> list[NetworkInterface]:
        """The interfaces attached to `server`, primary first, then by name."""
        found = [i for i in self.interfaces.values() if i.server == server]
        return sorted(found, key=lambda i: (not i.primary, i.name))

    def attached_counts(self) -> dict[str, int]:
        """NICs attached per server name (primary + extension, managed or not)."""
        counts: dict[str, int] = {}
        for iface in self.interfaces.values():
            if iface.server is not None:
                counts[iface.server] = counts.get(iface.server, 0) + 1
        return counts
