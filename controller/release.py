"""`enictl release NAME...`: stop managing ENIs without touching them (SPEC section 4).

    release(state_dir, open_provider, names):
        with lock.acquire(state_dir):
            recover(...)        finish a crashed run's jobs first (controller.apply)
            observe(...)
            marks(...)          which markers each named ENI carries, or why it cannot go
            clear(...)          each marker through the executor's one marker call
            observe(...)        and check that none of them is left

Releasing removes enictl's markers from the port (`managed`, and `protect` where it is
set), through `execution.steps.StepRunner.mark`, the one place markers become provider
calls (retried on transient errors), and changes nothing else: not the port, its IP,
its EIP, its security groups or its attachment. A later `--prune` leaves the ENI alone,
as every unmanaged ENI. A manifest that still declares the ENI adopts it again at the
next apply, so the ENI must leave the manifests too (the CLI says so).

Which ENIs may be released is `releasable`: an extension ENI that the cloud has. An
unmanaged one without a protect marker is reported as such and left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from controller import apply as applying
from controller.errors import ApplyFailed, ProviderError, StepFailed, UsageError
from controller.events import Kind, OnEvent, event
from controller.execution import steps
from controller.execution.retry import Waits
from controller.model import NetworkInterface, Topology
from controller.plan import Mark, Marker
from controller.providers.base import Provider
from controller.storage import fencing
from controller.storage.backend import StateBackend

NOT_MANAGED = "not managed by enictl; nothing to do"


@dataclass(frozen=True, slots=True)
class Released:
    """What release did to one ENI: the markers it cleared (none: it was not managed)."""

    name: str
    cleared: tuple[Marker, ...] = ()

    def line(self) -> str:
        if not self.cleared:
            return f"{self.name}: {NOT_MANAGED}"
        removed = ", ".join(m.value for m in self.cleared)
        return f"released {self.name}: enictl no longer manages it (removed: {removed})"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "cleared": [m.value for m in self.cleared]}


def releasable(observed: Topology, name: str) -> NetworkInterface:
    """The observed ENI `name`, if enictl may release it; else a UsageError saying why."""
    iface = observed.interfaces.get(name)
    if iface is None:
        raise UsageError(f"release: no ENI named {name!r} in the cloud")
    if iface.primary:
        raise UsageError(
            f"release: {name} is the primary ENI of {iface.server}; enictl never manages "
            "primary ENIs"
        )
    return iface


def marks(observed: Topology, names: Sequence[str]) -> tuple[Mark, ...]:
    """The markers to clear, `managed` before `protect` per ENI: a release cut short
    in between leaves an unmanaged ENI that is still protected, which no prune touches
    (the other order could leave a managed, unprotected orphan for `--prune` to
    delete). Every name is checked before anything is cleared."""
    found = [releasable(observed, name) for name in dict.fromkeys(names)]
    out: list[Mark] = []
    for iface in found:
        if iface.managed:
            out.append(Mark(iface.name, Marker.MANAGED, False))
        if iface.protect:
            out.append(Mark(iface.name, Marker.PROTECT, False))
    return tuple(out)


def release(
    backend: StateBackend,
    open_provider: Callable[[], Provider],
    names: Sequence[str],
    *,
    lock_timeout: float = 0.0,
    waits: Waits | None = None,
    on_event: OnEvent | None = None,
) -> tuple[Released, ...]:
    """Clear enictl's markers from the ENIs `names`, under the backend's lock; one
    `Released` per name, in the order given. Raises UsageError (nothing changed) for a
    name that cannot be released, ApplyFailed when a marker could not be cleared."""
    if not names:
        raise UsageError("release: give the names of the ENIs to release")
    held = backend.acquire(timeout=lock_timeout, command="enictl release")
    try:
        provider = fencing.FencedProvider(open_provider(), held)
        applying.recover(provider, backend, on_event=on_event, waits=waits)
        patience = applying.patience(waits=waits)
        observed = applying.observe(provider, patience)
        todo = marks(observed, names)

        def emit(kind: Kind, /, **fields: Any) -> None:
            if on_event is not None:
                on_event(event(kind, **fields))

        runner = steps.StepRunner(
            provider, observed, patience=patience, journal=None, emit=emit, server_ready_timeout=0
        )
        failed: list[str] = []
        for mark in todo:
            try:
                runner.mark(mark)
            except (StepFailed, ProviderError) as exc:
                failed.append(f"{mark.interface} ({mark.marker.value}): {exc.code}: {exc.message}")
        after = applying.observe(provider, patience)
    finally:
        held.release()
    left = [
        name
        for name in dict.fromkeys(names)
        if (iface := after.interfaces.get(name)) is not None and (iface.managed or iface.protect)
    ]
    if failed or left:
        details = [f"failed: {line}" for line in failed]
        details += [f"still marked: {name}" for name in left if not failed]
        count = len(left) or len(failed)
        raise ApplyFailed(f"release failed: {count} ENI(s) still carry enictl's markers", details)
    by_name: dict[str, list[Marker]] = {}
    for mark in todo:
        by_name.setdefault(mark.interface, []).append(mark.marker)
    return tuple(Released(name, tuple(by_name.get(name, ()))) for name in dict.fromkeys(names))
