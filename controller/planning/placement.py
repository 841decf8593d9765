"""Where each failover ENI should be: a pure function of the manifests, the cloud and now.

A NetworkInterface with `standbys` follows its service (SPEC section 4a). `place()`
turns the manifests into the desired topology the rest of the planner diffs: each
failover ENI's `server` becomes where the policy puts it, from what the cloud reports
(server statuses, the port tag with the last failover time) and `now` (epoch seconds,
given by the caller: planning never reads a clock). Plan, apply and every watch
reconcile call it before the diff, so they agree.

The policy, for an ENI whose servers in order are `[server, *standbys]`:

- **Health.** A server is healthy when it is ACTIVE. SHUTOFF, ERROR and a server the
  cloud no longer has are down. Other states (BUILD, REBOOT, ...) are healthy enough to
  keep the ENI, not to take it.
- **Sticky.** The ENI stays on its server while that server is healthy and one of its
  servers. Otherwise it goes to the first of its servers that is ACTIVE and can take it
  within the rules of SPEC section 2 (placement, and a free NIC slot once the plan's
  other changes are counted: a full server is skipped unless the plan frees a slot on
  it); with none, it stays where it is and a `FailoverBlocked` warning says why.
- **Failback** (`failback: true`): it returns to `server` once `server` has been ACTIVE
  for `holdDownSeconds` and the last move is `holdDownSeconds` old.
- **Hold-down.** After a move the policy moves the ENI again within `holdDownSeconds`
  only if its new server goes down too (failback waits).
- **Fencing.** On a SHUTOFF server, or one that is gone, the platform has cut the
  server off: the ENI moves at once. A server in ERROR refuses NIC changes: with
  `fence: stop` the plan hard-stops it first (a `stop-server` step) and moves the ENI
  once it is SHUTOFF; with `fence: none` the ENI stays and `FailoverBlocked` says why.

Decisions are made in a fixed order, so the same inputs always give the same
placement: first the ENIs that stay (they keep their slots), then those that must
move, by name, then failbacks, by name (an urgent move takes a slot before a
failback). Every plan also checks each failover ENI's other servers and warns
`FailoverUnready` for each that could not take it right now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from controller.model import FailoverPolicy, Fence, NetworkInterface, Server, Topology
from controller.plan import Code, Failover, Standby, Violation
from controller.planning import invariants
from controller.planning.diff import eni_ref

GONE = "deleted"  # how a server the cloud no longer has reads in a reason


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided for one plan."""

    desired: Topology  # the manifests, each failover ENI on the server the policy chose
    failovers: tuple[Failover, ...]  # by interface name
    stops: tuple[tuple[str, str], ...]  # (server, the failover ENI it frees) to hard-stop
    violations: tuple[Violation, ...]  # FailoverUnready, FailoverBlocked
    gone: frozenset[str]  # declared servers the cloud no longer has, that only failover
    # ENIs name: down for them, not an error
    recheck_at: float | None  # when a hold-down ends and the decision may change


def clock_time(epoch: float) -> str:
    """`10:42:07`: a time of day, UTC, as plans show the last failover."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%H:%M:%S")


def status_of(server: Server | None) -> str:
    return GONE if server is None else server.status


def place(
    desired: Topology, observed: Topology, *, now: float | None = None, prune: bool = False
) -> Decision:
    """The failover ENIs placed (module docstring). `now` None: every hold-down is over.
    `prune`: the orphans the plan deletes free their slots."""
    wanted = desired.interfaces
    names = sorted(n for n, i in wanted.items() if i.standbys)
    if not names:
        return Decision(desired, (), (), (), frozenset(), None)
    return _Placer(desired, observed, now, prune).run(names)


class _Placer:
    """The state of one placement: NIC counts as the plan's other changes leave them."""

    def __init__(
        self, desired: Topology, observed: Topology, now: float | None, prune: bool
    ) -> None:
        self.desired = desired
        self.observed = observed
        self.now = now
        self.servers = observed.servers
        self.counts = _counts_without_failover(desired, observed, prune)
        self.chosen: dict[str, str | None] = {}
        self.reasons: dict[str, str] = {}
        self.moving: set[str] = set()
        self.stops: dict[str, str] = {}  # server -> the first ENI (by name) it frees
        self.violations: list[Violation] = []
        self.recheck: list[float] = []

    # -- the decisions ---------------------------------------------------------------

    def run(self, names: Sequence[str]) -> Decision:
        wanted, seen = self.desired.interfaces, self.observed.interfaces
        movers: list[str] = []
        failbacks: list[str] = []
        for name in names:
            want, have = wanted[name], seen.get(name)
            current = have.server if have is not None else None
            holder = self.servers.get(current) if current is not None else None
            if current in want.candidates and holder is not None and not holder.down:
                self._keep(name, current)
                if _policy(want).failback and want.server not in (None, current):
                    failbacks.append(name)
            elif holder is not None and holder.status == "ERROR":
                if _policy(want).fence is Fence.STOP:
                    movers.append(name)
                else:
                    self._keep(name, current)
                    self._blocked_by_error(want, current or "")
            else:
                movers.append(name)
        for name in movers:
            self._move(wanted[name], seen.get(name))
        for name in failbacks:
            self._failback(wanted[name], seen.get(name))
        return self._decision(names)

    def _keep(self, name: str, server: str | None) -> None:
        self.chosen[name] = server
        self._take(server)

    def _move(self, want: NetworkInterface, have: NetworkInterface | None) -> None:
        """An ENI whose server is down, gone, in ERROR (fenced), not one of its servers,
        or none: to the first of its servers that can take it."""
        name = want.name
        current = have.server if have is not None else None
        holder = self.servers.get(current) if current is not None else None
        refusals = {s: self.refusal(want, s) for s in want.candidates if s != current}
        target = next((s for s in want.candidates if s != current and not refusals[s]), None)
        if target is None:
            if holder is not None and not holder.down and current not in want.candidates:
                self._keep(name, current)  # a healthy server it should not be on: no worse
            elif current is None and self._up(want.server):
                self._keep(name, want.server)  # the rules say why it cannot go there
            else:
                self._keep(name, None if holder is None else current)
                self._blocked(want, current, refusals)
            return
        self._keep(name, target)
        if have is not None and (
            (current is None and target != want.server)
            or (current is not None and (holder is None or holder.down))
        ):
            self.moving.add(name)  # a failover: apply keeps its time in the cloud
        if holder is not None and holder.status == "ERROR":
            self.stops.setdefault(current or "", name)
            self.reasons[name] = f"{current} ERROR: fenced (hard stop)"
        elif current is not None and holder is not None and not holder.down:
            self.reasons[name] = f"{current} is not one of its servers"
        elif current is not None:
            self.reasons[name] = f"{current} {status_of(holder)}"

    def _failback(self, want: NetworkInterface, have: NetworkInterface | None) -> None:
        """Back to `server` once it has been ACTIVE for the hold-down, the last move
        being that old too; else it stays and the plan is checked again then."""
        assert want.server is not None and have is not None and have.server is not None
        home = self.servers.get(want.server)
        if home is None or not home.healthy:
            return
        hold = _policy(want).hold_down_seconds
        since = [t for t in (have.failover_at, home.status_since) if t is not None]
        due = max(since) + hold if since else None
        if due is not None and self.now is not None and self.now < due:
            self.recheck.append(due)
            self.reasons[want.name] = f"{want.server} ACTIVE again; failback at {clock_time(due)}"
            return
        refusal = self.refusal(want, want.server)
        if refusal:
            self.reasons[want.name] = f"{want.server} ACTIVE again; no failback: {refusal}"
            return
        self.counts[have.server] -= 1
        self._keep(want.name, want.server)
        self.moving.add(want.name)
        self.reasons[want.name] = f"failback: {want.server} ACTIVE"

    # -- what a server can take --------------------------------------------------------

    def refusal(self, want: NetworkInterface, name: str | None) -> str:
        """Why server `name` could not take `want` now ("" when it could)."""
        if name is None:
            return "no server"
        server = self.servers.get(name)
        if server is None or not server.healthy:
            return status_of(server)
        subnet = self.observed.catalog.subnets.get(want.subnet)
        if subnet is None:
            return f"its subnet {want.subnet} is unknown"
        misplaced = invariants.placement(want.name, subnet, server, self.desired.policy, "")
        if misplaced:
            return misplaced[0].code.value
        limit = invariants.limit_of(server, self.observed.catalog)
        if limit is None:
            return "its NIC limit is unknown"
        used = self.counts.get(name, 0)
        if used + 1 > limit:
            return f"no free NIC slot ({used} of {limit})"
        return ""

    def _up(self, name: str | None) -> bool:
        server = self.servers.get(name) if name is not None else None
        return server is not None and server.healthy

    def _take(self, server: str | None) -> None:
        if server is not None:
            self.counts[server] = self.counts.get(server, 0) + 1

    # -- what it says ----------------------------------------------------------------

    def _blocked_by_error(self, want: NetworkInterface, server: str) -> None:
        self.reasons[want.name] = f"{server} ERROR, fence none: blocked"
        self.violations.append(
            invariants.violation(
                Code.FAILOVER_BLOCKED,
                eni_ref(want.name),
                want.source,
                f"{want.name} stays on {server}: {server} is in ERROR, where the cloud refuses "
                f"NIC changes, and its failover.fence is none",
                f"set spec.failover.fence: stop to let enictl hard-stop {server} and move "
                f"{want.name}, or stop {server} yourself (SHUTOFF): {want.name} then moves",
                warning=True,
            )
        )

    def _blocked(
        self, want: NetworkInterface, current: str | None, refusals: Mapping[str, str]
    ) -> None:
        holder = self.servers.get(current) if current is not None else None
        where = "is detached" if current is None else f"is on {current} ({status_of(holder)})"
        why = ", ".join(f"{s} {r}" for s, r in refusals.items()) or "it has no other server"
        self.reasons[want.name] = f"blocked: {why}"
        self.violations.append(
            invariants.violation(
                Code.FAILOVER_BLOCKED,
                eni_ref(want.name),
                want.source,
                f"{want.name} {where} and none of its servers can take it: {why}",
                "bring one of its servers up (ACTIVE) or free a NIC slot on one; the next "
                "plan (or watch, at once) moves it",
                warning=True,
            )
        )

    def _decision(self, names: Sequence[str]) -> Decision:
        wanted, seen = self.desired.interfaces, self.observed.interfaces
        failovers: list[Failover] = []
        placed = dict(wanted)
        for name in names:
            want, have = wanted[name], seen.get(name)
            server = self.chosen.get(name)
            placed[name] = replace(want, server=server)
            standbys = tuple(
                Standby(s, not (why := self.refusal(want, s)), why)
                for s in want.candidates
                if s != server
            )
            for standby in standbys:  # its `server` down is what failover is for: no warning
                if not standby.ready and standby.server in want.standbys:
                    self.violations.append(_unready(want, standby))
            failovers.append(
                Failover(
                    interface=name,
                    server=server,
                    current=have.server if have is not None else None,
                    reason=self.reasons.get(name) or self._why(want, server),
                    since=have.failover_at if have is not None else None,
                    moves=name in self.moving,
                    standbys=standbys,
                )
            )
        return Decision(
            desired=replace(self.desired, interfaces=placed),
            failovers=tuple(failovers),
            stops=tuple(sorted(self.stops.items())),
            violations=tuple(invariants.ordered(self.violations)),
            gone=self._gone(),
            recheck_at=min(self.recheck) if self.recheck else None,
        )

    def _why(self, want: NetworkInterface, server: str | None) -> str:
        """Why an ENI that stays is where it is: its `server`'s state."""
        home = self.servers.get(want.server) if want.server is not None else None
        if want.server is None or server == want.server:
            return f"{server} {status_of(self.servers.get(server or ''))}"
        if home is not None and home.healthy:
            return f"{want.server} ACTIVE again, no failback"
        return f"{want.server} {status_of(home)}"

    def _gone(self) -> frozenset[str]:
        """Declared servers missing from the cloud that only failover ENIs name."""
        missing = {n for n in self.desired.servers if n not in self.servers}
        if not missing:
            return frozenset()
        for iface in self.desired.interfaces.values():
            if not iface.standbys and iface.server in missing:
                missing.discard(iface.server)
        named = {s for i in self.desired.interfaces.values() for s in i.candidates}
        return frozenset(missing & named)


def _policy(iface: NetworkInterface) -> FailoverPolicy:
    return iface.failover or FailoverPolicy()


def _unready(want: NetworkInterface, standby: Standby) -> Violation:
    return invariants.violation(
        Code.FAILOVER_UNREADY,
        eni_ref(want.name),
        want.source,
        f"{standby.server} could not take {want.name} now: {standby.reason}",
        f"{want.name} cannot fail over to {standby.server} while this lasts: bring it up "
        f"(ACTIVE), free a NIC slot on it, or fix its placement",
        warning=True,
    )


def _counts_without_failover(desired: Topology, observed: Topology, prune: bool) -> dict[str, int]:
    """NICs per server once the plan's other changes are made, failover ENIs left out
    (they are counted where they are placed)."""
    counts = observed.attached_counts()
    wanted = desired.interfaces
    for name, have in observed.interfaces.items():
        want = wanted.get(name)
        if have.server is None:
            if want is not None and not want.standbys and want.server is not None:
                counts[want.server] = counts.get(want.server, 0) + 1
            continue
        if want is None:
            if prune and have.managed and not have.primary and not have.protect:
                counts[have.server] -= 1
            continue
        if want.standbys or want.server != have.server:
            counts[have.server] -= 1
            if not want.standbys and want.server is not None:
                counts[want.server] = counts.get(want.server, 0) + 1
    for name, want in wanted.items():
        if name not in observed.interfaces and not want.standbys and want.server is not None:
            counts[want.server] = counts.get(want.server, 0) + 1
    return counts
