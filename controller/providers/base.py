"""The provider interface: one method per cloud verb, ids at the edge.

Every implementation (the embedded simulator, Huawei Cloud) maps its failures onto
`TransientProviderError` (retry later) or `PermanentProviderError` (the step fails),
once, here at the edge. Attach and detach are asynchronous jobs, as in ECS: they
return a job id that the caller polls with `job()`; so is `stop_server` (the fence of
a failover, SPEC 4a). A BMS (bare-metal server) has its own verbs, as it has its own
API: its attach creates the port it attaches. The other verbs are synchronous, as the
VPC API's port and EIP calls are.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from controller.model import DEFAULT_OWNER, Topology


class JobStatus(enum.StrEnum):
    INIT = "INIT"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAIL)


@dataclass(frozen=True, slots=True)
class Job:
    """An asynchronous job; `interface_id` is the port a finished BMS attach created
    (BMS jobs name it), "" where the job does not say."""

    id: str
    status: JobStatus
    error_code: str = ""
    error_message: str = ""
    interface_id: str = ""


@dataclass(frozen=True, slots=True)
class NewInterface:
    """What `create_interface` needs, by cloud id (subnet, security groups)."""

    name: str
    subnet_id: str
    private_ip: str | None = None
    security_group_ids: tuple[str, ...] = ()
    managed: bool = True
    owner: str = DEFAULT_OWNER  # whose managed marker the port gets (`controller.owners`)


@runtime_checkable
class Provider(Protocol):
    """A cloud that enictl can observe and change."""

    name: str

    def observe(self) -> Topology:
        """The whole cloud: servers, interfaces and the catalog, in a constant number
        of queries (or pages), never one query per server."""
        ...

    def create_interface(self, spec: NewInterface) -> str:
        """Create an unattached port; returns its id."""
        ...

    def update_security_groups(
        self, interface_id: str, security_group_ids: tuple[str, ...]
    ) -> None: ...

    def bind_eip(self, eip_id: str, interface_id: str) -> None: ...

    def unbind_eip(self, eip_id: str) -> None: ...

    def set_delete_on_termination(self, server_id: str, interface_id: str, value: bool) -> None: ...

    def attach(self, server_id: str, interface_id: str) -> str:
        """Start attaching a port to a server; returns a job id."""
        ...

    def detach(self, server_id: str, interface_id: str) -> str:
        """Start detaching a port from a server; returns a job id."""
        ...

    def stop_server(self, server_id: str) -> str:
        """Start a hard stop of a server (ECS batch stop, type HARD); returns a job id.
        Only to fence a failed server in ERROR (a `stop-server` step)."""
        ...

    def server_statuses(self) -> Mapping[str, str]:
        """Every server's status by name, in one listing (pages, never one call per
        server): what `watch --health-interval` polls."""
        ...

    def set_failover_time(self, interface_id: str, at: float) -> None:
        """Keep on the port when the failover policy last moved it (epoch seconds, whole
        ones); observed as `NetworkInterface.failover_at`; idempotent."""
        ...

    def attach_bare_metal(self, server_id: str, spec: NewInterface) -> str:
        """Start creating a port (subnet, address, groups; the name is not the API's) and
        attaching it to a BMS in one BMS job, the only way a BMS takes a NIC; returns the
        job id. The finished Job names the new port (`Job.interface_id`)."""
        ...

    def detach_bare_metal(self, server_id: str, interface_id: str) -> str:
        """Start detaching a port from a BMS (BMS API); returns a job id."""
        ...

    def set_bare_metal_delete_on_termination(
        self, server_id: str, interface_id: str, value: bool
    ) -> None:
        """`set_delete_on_termination` for a NIC of a BMS (BMS API)."""
        ...

    def rename_interface(self, interface_id: str, name: str) -> None:
        """Set a port's name (a port a BMS attach created has none of enictl's)."""
        ...

    def set_managed(self, interface_id: str, owner: str = DEFAULT_OWNER) -> None:
        """Tag an existing port as managed by enictl for `owner` (adoption); idempotent."""
        ...

    def clear_managed(self, interface_id: str) -> None:
        """Remove the managed marker from a port (`enictl release`): enictl no longer
        manages it; idempotent (a port without the marker is fine)."""
        ...

    def set_protected(self, interface_id: str, value: bool) -> None:
        """Set (or clear) a port's protect marker: prune never deletes it; idempotent."""
        ...

    def job(self, job_id: str) -> Job:
        """The current state of an asynchronous job."""
        ...

    def delete_interface(self, interface_id: str) -> None: ...

    def close(self) -> None: ...
