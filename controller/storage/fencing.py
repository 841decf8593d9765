"""A provider that asks the lock before every call: the one place cloud calls are fenced.

`converge` wraps its provider in `FencedProvider(provider, held)` for the time it
holds the lock. Every read (observe, job) is preceded by `held.check()`, which costs
no I/O; every call that changes the cloud (create, update, bind, unbind, the
deleteOnTermination flag, attach, detach, a stop, the BMS verbs, a rename, markers,
delete) by `held.confirm()`, which
on a lease also asks the database that the epoch is still this holder's. A holder
that lost its lease therefore makes no further cloud call: the call raises
`LeaseLost` before it is sent. The state dir's lock passes both checks.

The cloud takes no fencing token, so a call already sent when the lease is lost
still lands; the lease's renew deadline (5 s before anyone may take over) is what
covers it.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.model import DEFAULT_OWNER, Topology
from controller.providers.base import Job, NewInterface, Provider
from controller.storage.backend import Held


class FencedProvider:
    """`Provider` that checks `held` before each call to `inner`."""

    def __init__(self, inner: Provider, held: Held) -> None:
        self.inner = inner
        self.held = held
        self.name = inner.name

    def observe(self) -> Topology:
        self.held.check()
        return self.inner.observe()

    def job(self, job_id: str) -> Job:
        self.held.check()
        return self.inner.job(job_id)

    def create_interface(self, spec: NewInterface) -> str:
        self.held.confirm()
        return self.inner.create_interface(spec)

    def update_security_groups(
        self, interface_id: str, security_group_ids: tuple[str, ...]
    ) -> None:
        self.held.confirm()
        self.inner.update_security_groups(interface_id, security_group_ids)

    def bind_eip(self, eip_id: str, interface_id: str) -> None:
        self.held.confirm()
        self.inner.bind_eip(eip_id, interface_id)

    def unbind_eip(self, eip_id: str) -> None:
        self.held.confirm()
        self.inner.unbind_eip(eip_id)

    def set_delete_on_termination(self, server_id: str, interface_id: str, value: bool) -> None:
        self.held.confirm()
        self.inner.set_delete_on_termination(server_id, interface_id, value)

    def attach(self, server_id: str, interface_id: str) -> str:
        self.held.confirm()
        return self.inner.attach(server_id, interface_id)

    def detach(self, server_id: str, interface_id: str) -> str:
        self.held.confirm()
        return self.inner.detach(server_id, interface_id)

    def server_statuses(self) -> Mapping[str, str]:
        self.held.check()
        return self.inner.server_statuses()

    def stop_server(self, server_id: str) -> str:
        self.held.confirm()
        return self.inner.stop_server(server_id)

    def set_failover_time(self, interface_id: str, at: float) -> None:
        self.held.confirm()
        self.inner.set_failover_time(interface_id, at)

    def attach_bare_metal(self, server_id: str, spec: NewInterface) -> str:
        self.held.confirm()
        return self.inner.attach_bare_metal(server_id, spec)

    def detach_bare_metal(self, server_id: str, interface_id: str) -> str:
        self.held.confirm()
        return self.inner.detach_bare_metal(server_id, interface_id)

    def set_bare_metal_delete_on_termination(
        self, server_id: str, interface_id: str, value: bool
    ) -> None:
        self.held.confirm()
        self.inner.set_bare_metal_delete_on_termination(server_id, interface_id, value)

    def rename_interface(self, interface_id: str, name: str) -> None:
        self.held.confirm()
        self.inner.rename_interface(interface_id, name)

    def set_managed(self, interface_id: str, owner: str = DEFAULT_OWNER) -> None:
        self.held.confirm()
        self.inner.set_managed(interface_id, owner)

    def clear_managed(self, interface_id: str) -> None:
        self.held.confirm()
        self.inner.clear_managed(interface_id)

    def set_protected(self, interface_id: str, value: bool) -> None:
        self.held.confirm()
        self.inner.set_protected(interface_id, value)

    def delete_interface(self, interface_id: str) -> None:
        self.held.confirm()
        self.inner.delete_interface(interface_id)

    def close(self) -> None:
        """The inner provider belongs to the caller, who closes it."""
