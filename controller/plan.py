"""The plan value types: steps, violations and the plan itself, plus their JSON form.

The planner builds these; renderers, the saved-plan file and the executor read them.
The JSON shape is SPEC section 5 (`formatVersion` "1").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = "1"
DEFAULT_PRUNE_LIMIT = 10  # `--prune-limit`: the most ENIs one plan may delete (SPEC section 4)


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNBIND_EIP = "unbind-eip"
    BIND_EIP = "bind-eip"
    DETACH = "detach"
    ATTACH = "attach"
    DELETE = "delete"
    STOP_SERVER = "stop-server"  # only to fence a failover ENI's server in ERROR (SPEC 4a)


ACTIONS: tuple[Action, ...] = tuple(Action)
# the summary always counts these; `stop-server` only when a plan has one
SUMMARY_ACTIONS: tuple[Action, ...] = tuple(a for a in Action if a is not Action.STOP_SERVER)


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(enum.StrEnum):
    """Violation codes: stable API (SPEC section 2)."""

    PRIMARY_INTERFACE_IMMUTABLE = "PrimaryInterfaceImmutable"
    FLAVOR_LIMIT_EXCEEDED = "FlavorLimitExceeded"
    AVAILABILITY_ZONE_MISMATCH = "AvailabilityZoneMismatch"
    VPC_MISMATCH = "VpcMismatch"
    SUBNET_MISMATCH = "SubnetMismatch"
    SECURITY_GROUP_VPC_MISMATCH = "SecurityGroupVpcMismatch"
    IMMUTABLE_FIELD = "ImmutableField"
    SERVER_MISMATCH = "ServerMismatch"
    SERVER_NOT_READY = "ServerNotReady"
    UNKNOWN_SERVER = "UnknownServer"
    UNKNOWN_SUBNET = "UnknownSubnet"
    UNKNOWN_SECURITY_GROUP = "UnknownSecurityGroup"
    UNKNOWN_EIP = "UnknownEip"
    UNKNOWN_FLAVOR = "UnknownFlavor"
    IP_OUT_OF_SUBNET = "IpOutOfSubnet"
    IP_RESERVED = "IpReserved"
    IP_IN_USE = "IpInUse"
    EIP_IN_USE = "EipInUse"
    BARE_METAL_MOVE = "BareMetalMove"
    DUPLICATE_NAME = "DuplicateName"
    PROTECTED_INTERFACE = "ProtectedInterface"
    PRUNE_LIMIT_EXCEEDED = "PruneLimitExceeded"
    OWNED_ELSEWHERE = "OwnedElsewhere"
    FAILOVER_UNREADY = "FailoverUnready"
    FAILOVER_BLOCKED = "FailoverBlocked"


@dataclass(frozen=True, slots=True)
class Violation:
    code: Code
    severity: Severity
    resource: str  # "Server/web-1" or "NetworkInterface/eni-a"
    source: str  # "manifests/app.yaml:12:3", or "" when the resource is not in a manifest
    message: str
    hint: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "resource": self.resource,
            "source": self.source,
            "message": self.message,
            "hint": self.hint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Violation:
        return cls(
            code=Code(data["code"]),
            severity=Severity(data["severity"]),
            resource=data["resource"],
            source=data.get("source", ""),
            message=data["message"],
            hint=data.get("hint", ""),
        )


@dataclass(frozen=True, slots=True)
class Step:
    """One cloud mutation. Only the fields its action needs are set.

    - create: subnet, private_ip (None = the cloud chooses), security_groups
    - update: security_groups (the new full list)
    - bind-eip / unbind-eip: eip
    - attach / detach: server
    - attach that creates the port (a new ENI on a BMS: the BMS API creates the port as
      it attaches it): server, subnet, private_ip, security_groups (`creates_port`)
    - delete: nothing more
    - stop-server: server (the one to hard-stop); `interface` is the failover ENI it frees
    """

    id: int
    action: Action
    interface: str
    server: str | None = None
    depends_on: tuple[int, ...] = ()
    reason: str = ""
    subnet: str | None = None
    private_ip: str | None = None
    security_groups: tuple[str, ...] | None = None
    eip: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "action": self.action.value,
            "interface": self.interface,
            "server": self.server,
            "dependsOn": list(self.depends_on),
            "reason": self.reason,
        }
        if self.subnet is not None:
            out["subnet"] = self.subnet
        if self.action is Action.CREATE or self.creates_port:
            out["privateIp"] = self.private_ip
        if self.security_groups is not None:
            out["securityGroups"] = list(self.security_groups)
        if self.eip is not None:
            out["eip"] = self.eip
        return out

    @property
    def creates_port(self) -> bool:
        """An attach that creates its port (a new ENI on a BMS, through the BMS API)."""
        return self.action is Action.ATTACH and self.subnet is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        sgs = data.get("securityGroups")
        return cls(
            id=int(data["id"]),
            action=Action(data["action"]),
            interface=data["interface"],
            server=data.get("server"),
            depends_on=tuple(int(d) for d in data.get("dependsOn", ())),
            reason=data.get("reason", ""),
            subnet=data.get("subnet"),
            private_ip=data.get("privateIp"),
            security_groups=None if sgs is None else tuple(sgs),
            eip=data.get("eip"),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """A field-level difference between desired and observed, for review output.

    `origin` says why it differs: "manifest" (the manifests changed) or "drift" (the
    cloud changed outside enictl), when that can be told; "" otherwise.
    """

    resource: str
    field: str
    before: Any
    after: Any
    origin: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "field": self.field,
            "before": self.before,
            "after": self.after,
            "origin": self.origin,
        }


@dataclass(frozen=True, slots=True)
class NoOp:
    """A resource that needs no step, and why."""

    resource: str
    reason: str


class Marker(enum.StrEnum):
    """A marker enictl keeps on an ENI's port in the cloud (a tag, or a column in the sim)."""

    MANAGED = "managed"  # enictl manages the ENI; set when an existing ENI is adopted
    PROTECT = "protect"  # prune never deletes the ENI


VERBS = {Marker.MANAGED: "adopt", Marker.PROTECT: "protect"}
RELEASE = "release"  # clearing the managed marker (`enictl release`)


@dataclass(frozen=True, slots=True)
class Mark:
    """A marker apply sets (`value` True) or clears on an ENI: a change to the cloud,
    yet not a step (the actions stay the seven of SPEC section 5)."""

    interface: str
    marker: Marker
    value: bool = True

    @property
    def verb(self) -> str:
        """`adopt` or `protect`: how people and events name setting this marker
        (`release`: clearing the managed one; `protect` either way)."""
        if not self.value and self.marker is Marker.MANAGED:
            return RELEASE
        return VERBS[self.marker]

    def as_json(self) -> dict[str, Any]:
        return {"interface": self.interface, "value": self.value}


@dataclass(frozen=True, slots=True)
class Standby:
    """Whether one of a failover ENI's servers could take it right now, and if not, why."""

    server: str
    ready: bool
    reason: str = ""  # why not: "SHUTOFF", "no free NIC slot (3 of 3)", ...

    def as_json(self) -> dict[str, Any]:
        return {"server": self.server, "ready": self.ready, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Failover:
    """Where the failover policy puts one failover ENI in a plan, and why (SPEC 4a).

    `server` is where the plan leaves it (None: detached), `current` where the cloud has
    it now; `moves` when this plan moves it by the policy (apply then keeps the time in
    the cloud); `since` is the last such move's time as the cloud keeps it (epoch
    seconds); `standbys` are its other servers, each ready to take it now or not."""

    interface: str
    server: str | None
    current: str | None
    reason: str
    since: float | None = None
    moves: bool = False
    standbys: tuple[Standby, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "interface": self.interface,
            "server": self.server,
            "from": self.current,
            "reason": self.reason,
            "since": self.since,
            "moves": self.moves,
            "standbys": [s.as_json() for s in self.standbys],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Failover:
        since = data.get("since")
        return cls(
            interface=data["interface"],
            server=data.get("server"),
            current=data.get("from"),
            reason=data.get("reason", ""),
            since=None if since is None else float(since),
            moves=bool(data.get("moves", False)),
            standbys=tuple(
                Standby(s["server"], bool(s["ready"]), s.get("reason", ""))
                for s in data.get("standbys", ())
            ),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    manifests_digest: str
    observed_fingerprint: str
    steps: tuple[Step, ...] = ()
    violations: tuple[Violation, ...] = ()
    changes: tuple[Change, ...] = ()
    unchanged: tuple[NoOp, ...] = ()
    orphans: tuple[str, ...] = ()
    format_version: str = FORMAT_VERSION
    # the markers apply sets: `managed` on each existing unmanaged ENI a manifest names
    # (adoption, SPEC section 4), then `protect` where the cloud's marker differs from the
    # manifest (a created ENI's right after its create); `has_changes` counts them
    marks: tuple[Mark, ...] = ()
    # where the failover policy puts each failover ENI, by name (SPEC 4a)
    failover: tuple[Failover, ...] = ()
    # when a time-based decision of the policy may change (a hold-down ends): planning
    # again then may give another plan from the same inputs; not part of the JSON
    recheck_at: float | None = None

    @property
    def errors(self) -> tuple[Violation, ...]:
        """The error-severity violations: any one of them rejects the plan."""
        return tuple(v for v in self.violations if v.severity is Severity.ERROR)

    @property
    def applyable(self) -> bool:
        return not self.errors

    def rejection(self) -> str:
        """Why a rejected plan is not applied, in one line: `plan rejected: 2 violations`."""
        count = len(self.errors)
        return f"plan rejected: {count} violation{'' if count == 1 else 's'}"

    @property
    def has_changes(self) -> bool:
        """Whether applying would change the cloud: steps to run or markers to set."""
        return bool(self.steps) or bool(self.marks)

    @property
    def adopt(self) -> tuple[str, ...]:
        """The ENIs to adopt (tag as managed), in plan order."""
        return tuple(m.interface for m in self.marks if m.marker is Marker.MANAGED and m.value)

    @property
    def protect(self) -> tuple[Mark, ...]:
        """The protect markers to set or clear, in plan order."""
        return tuple(m for m in self.marks if m.marker is Marker.PROTECT)

    def mark_counts(self) -> dict[str, int]:
        """`{"adopt": 2, "protect": 1}`: the markers to set, by verb (none left out)."""
        counts = {verb: 0 for verb in VERBS.values()}
        for mark in self.marks:
            counts[mark.verb] = counts.get(mark.verb, 0) + 1
        return counts

    def summary(self) -> dict[str, int]:
        """Steps per action: the seven of SPEC section 5 always, `stop-server` when any."""
        counts = {a.value: 0 for a in SUMMARY_ACTIONS}
        for step in self.steps:
            counts[step.action.value] = counts.get(step.action.value, 0) + 1
        return counts

    def as_json(self) -> dict[str, Any]:
        """SPEC section 5's JSON; `failover` only in plans with failover ENIs."""
        out = {
            "formatVersion": self.format_version,
            "manifestsDigest": self.manifests_digest,
            "observedFingerprint": self.observed_fingerprint,
            "applyable": self.applyable,
            "summary": self.summary(),
            "steps": [s.as_json() for s in self.steps],
            "violations": [v.as_json() for v in self.violations],
            "changes": [c.as_json() for c in self.changes],
            "orphans": list(self.orphans),
            "adopt": list(self.adopt),
            "protect": [m.as_json() for m in self.protect],
        }
        if self.failover:
            out["failover"] = [f.as_json() for f in self.failover]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            format_version=str(data["formatVersion"]),
            manifests_digest=data["manifestsDigest"],
            observed_fingerprint=data["observedFingerprint"],
            steps=tuple(Step.from_json(s) for s in data.get("steps", ())),
            violations=tuple(Violation.from_json(v) for v in data.get("violations", ())),
            changes=tuple(
                Change(c["resource"], c["field"], c["before"], c["after"], c.get("origin", ""))
                for c in data.get("changes", ())
            ),
            orphans=tuple(data.get("orphans", ())),
            marks=(
                *(Mark(name, Marker.MANAGED) for name in data.get("adopt", ())),
                *(
                    Mark(m["interface"], Marker.PROTECT, bool(m["value"]))
                    for m in data.get("protect", ())
                ),
            ),
            failover=tuple(Failover.from_json(f) for f in data.get("failover", ())),
        )
