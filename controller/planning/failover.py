"""How the failover policy's decision (`placement.Decision`) shows in a plan (pure).

`placement` decides where each failover ENI goes; the planner then diffs, checks and
orders as for any ENI. This module adds what is particular to failover:

- `add_stops`: a `stop-server` draft per server in ERROR that a failover ENI is fenced
  off (`fence: stop`); every detach from that server waits for it (the cloud refuses
  NIC changes on a server in ERROR, and the stop leaves it SHUTOFF);
- `violations`: the policy's warnings (`FailoverUnready`, `FailoverBlocked`) join the
  rules' violations, and `ServerNotReady` is dropped for a server the plan stops (apply
  waits for its stop, not for someone to repair it);
- `reasons`: the steps of a failover move say so ("svc-eni fails over from app-1 to
  app-2: app-1 SHUTOFF");
- `origins`: the `server` change of a failover move is labelled `failover`, neither a
  manifest edit nor drift;
- `describe`: one line per failover ENI, where it is and why ("on app-2 since
  10:42:07: app-1 SHUTOFF"), for plans and `get -o wide`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, MutableMapping, Sequence

from controller.plan import Action, Change, Code, Failover, Step, Violation
from controller.planning.diff import eni_ref, server_ref
from controller.planning.invariants import ordered
from controller.planning.ordering import Draft, Key
from controller.planning.placement import Decision, clock_time

ORIGIN = "failover"  # a Change's origin when the failover policy made it


def add_stops(drafts: MutableMapping[Key, Draft], stops: Sequence[tuple[str, str]]) -> None:
    """A `stop-server` draft for each (server, ENI) fence; the detaches from that server
    depend on it."""
    for server, interface in stops:
        stop = Draft(
            Action.STOP_SERVER,
            interface,
            server,
            f"fence {server} (ERROR, where the cloud refuses NIC changes) so that "
            f"{interface} can fail over",
        )
        for draft in drafts.values():
            if draft.action is Action.DETACH and draft.server == server:
                draft.deps.append(stop.key)
        drafts[stop.key] = stop


def violations(found: Iterable[Violation], decision: Decision) -> list[Violation]:
    """The rules' violations with the policy's warnings; no ServerNotReady for a server
    the plan stops."""
    if not decision.failovers:
        return list(found)
    stopped = {server_ref(server) for server, _ in decision.stops}
    kept = [v for v in found if not (v.code is Code.SERVER_NOT_READY and v.resource in stopped)]
    return ordered([*kept, *decision.violations])


def reasons(steps: tuple[Step, ...], decision: Decision) -> tuple[Step, ...]:
    """The detach and attach of each failover move, told as a failover."""
    moving = {f.interface: f for f in decision.failovers if f.moves}
    if not moving:
        return steps
    out: list[Step] = []
    for step in steps:
        found = moving.get(step.interface)
        if found is not None and step.action in (Action.DETACH, Action.ATTACH):
            where = f"from {found.current} to {found.server}" if found.current else ""
            step = dataclasses.replace(
                step,
                reason=f"{step.interface} fails over {where or f'to {found.server}'}: "
                f"{found.reason}",
            )
        out.append(step)
    return tuple(out)


def origins(changes: tuple[Change, ...], decision: Decision) -> tuple[Change, ...]:
    """The `server` changes of failover moves, labelled `failover`."""
    moving = {eni_ref(f.interface) for f in decision.failovers if f.moves}
    if not moving:
        return changes
    return tuple(
        dataclasses.replace(c, origin=ORIGIN) if c.field == "server" and c.resource in moving else c
        for c in changes
    )


def describe(found: Failover) -> str:
    """Where a failover ENI is (or goes) and why, in one line."""
    if found.moves:
        start = found.current or "detached"
        return f"moves {start} -> {found.server or 'detached'}: {found.reason}"
    where = f"on {found.server}" if found.server else "detached"
    if found.since is not None and found.server is not None:
        where += f" since {clock_time(found.since)}"
    return f"{where}: {found.reason}"


def readiness(found: Failover) -> str:
    """Its other servers and whether each could take it now: `app-2 ready, app-3 SHUTOFF`."""
    return (
        ", ".join(f"{s.server} {'ready' if s.ready else s.reason}" for s in found.standbys) or "-"
    )
