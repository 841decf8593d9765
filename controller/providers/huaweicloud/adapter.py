"""The `huaweicloud` provider: Huawei Cloud ECS, BMS, VPC and EIP through the official SDK.

`from_environment()` builds it from the environment (`settings`: the variables, the
SDK clients). Observing reads nine paged listings (`listings`) and translates them
in `topology` (pure). Every SDK call goes through `errors.call_json`, where SDK
failures become `TransientProviderError` or `PermanentProviderError` (`classify`),
after a token from its service's rate limit (`ratelimit`).

Mutations are the API's own: a port is created in VPC v1 and then tagged
`enictl-managed=<owner>` through VPC v3 (the managed marker, `true` for the default
owner, `controller.owners`; the tag call is retried,
and if it still fails the fresh port is deleted so no unmarked twin is left behind;
`set_managed` tags an existing port the same way when enictl adopts it (`clear_managed`
removes the tag when `enictl release` lets it go); `set_protected`
sets the protect marker, the port tag `enictl-protect=true`, or `false` to clear it);
attach/detach are ECS BatchAddServerNics / BatchDeleteServerNics jobs by `port_id`,
polled with ShowJob; on a BMS, BMS AddServerNics (by subnet, address and groups: it
creates the port) / DeleteServerNics jobs polled with ShowJobInfos, the new port's id in
its sub-job's `nic_id`, and UpdateBaremetalServerInterfaceAttachments for
`delete_on_termination`; a failover fence is an ECS BatchStopServers job (`os-stop`,
type HARD); the failover time is the port tag `enictl-failover-at=<epoch seconds>`; an
ECS's `delete_on_termination` is set with UpdateServerInterface; names and security
groups with VPC UpdatePort; EIPs with UpdatePublicip (`port_id` empty to unbind).
Mutations are not retried here: the executor does it.

Assumptions (unconfirmed, see docs/huaweicloud.md): the v3 port listing carries
`tags`; an EIP is unbound with `"port_id": ""`; BatchAddServerNics accepts a NIC given
by `port_id` alone.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from controller import backoff, owners
from controller.backoff import Backoff
from controller.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UsageError,
)
from controller.gcpause import gc_paused
from controller.model import DEFAULT_OWNER, Topology
from controller.providers.base import Job, JobStatus, NewInterface
from controller.providers.huaweicloud import errors, listings, topology
from controller.providers.huaweicloud.errors import JsonDict, classify
from controller.providers.huaweicloud.ratelimit import RateLimits
from controller.providers.huaweicloud.settings import (
    DEFAULT_ENTERPRISE_PROJECT,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RATE_LIMIT,
    Clients,
    Settings,
)
from controller.providers.huaweicloud.topology import (
    FAILOVER_TAG_KEY,
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    PROTECT_TAG_KEY,
)

__all__ = [
    "MANAGED_TAG_KEY",
    "MANAGED_TAG_VALUE",
    "HuaweiCloud",
    "Settings",
    "classify",
    "from_environment",
    "job_from_json",
]

READ_ATTEMPTS = 6  # tries of one page read (the first included)
BMS_JOB = "bms:"  # the prefix of the job ids of BMS calls (ShowJobInfos on the BMS host)
TAG_ATTEMPTS = 6
QUICK_RETRY = Backoff(base=0.05, cap=2.0)  # page reads and the tag of a fresh port


def from_environment(
    env: Mapping[str, str] | None = None,
    *,
    page_size: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> HuaweiCloud:
    """The provider configured from `env` (default: the process environment)."""
    settings = Settings.from_env(os.environ if env is None else env)
    pages = settings.page_size if page_size is None else page_size
    return HuaweiCloud(
        Clients.build(settings),
        page_size=pages,
        rate_limit=settings.rate_limit,
        sleep=sleep,
        clock=clock,
        enterprise_project=settings.enterprise_project,
    )


class HuaweiCloud:
    """Huawei Cloud through the SDK; implements `controller.providers.base.Provider`."""

    name = "huaweicloud"

    def __init__(
        self,
        clients: Clients,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        rate_limit: float = DEFAULT_RATE_LIMIT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        enterprise_project: str | None = DEFAULT_ENTERPRISE_PROJECT,
    ) -> None:
        if page_size < 1:
            raise UsageError(f"page size must be at least 1, got {page_size}")
        self._c = clients
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()
        self.limits = RateLimits(clients, rate_limit, clock=clock, sleep=sleep)
        self._reader = listings.Reader(
            clients,
            page_size=page_size,
            retry=replace(QUICK_RETRY, attempts=READ_ATTEMPTS),
            sleep=sleep,
            clock=clock,
            rng=self._rng,
            limits=self.limits,
            enterprise_project=enterprise_project,
        )

    def observe(self) -> Topology:
        with gc_paused():
            return topology.topology(self._reader.listings())

    def server_statuses(self) -> dict[str, str]:
        """Every server's status by name: the ECS servers listing alone (its pages)."""
        return topology.server_statuses(self._reader.servers())

    # -- mutations -------------------------------------------------------------------

    def create_interface(self, spec: NewInterface) -> str:
        vpc = self._c.vpc_models
        option = vpc.CreatePortOption(
            name=spec.name,
            network_id=spec.subnet_id,
            security_groups=list(spec.security_group_ids),
            fixed_ips=[vpc.FixedIp(ip_address=spec.private_ip)] if spec.private_ip else None,
        )
        request = vpc.CreatePortRequest(body=vpc.CreatePortRequestBody(port=option))
        port_id = str(self._json(self._c.vpc.create_port, request)["port"]["id"])
        if spec.managed:
            self._tag_managed(port_id, spec.owner)
        return port_id

    def set_managed(self, interface_id: str, owner: str = DEFAULT_OWNER) -> None:
        """Tag an existing port `enictl-managed=<owner>` (adoption; `true` for the default
        owner): one VPC v3 call, which overwrites the tag when it is there already; the
        executor retries it."""
        request = self._tag_request(interface_id, MANAGED_TAG_KEY, owners.tag_value(owner))
        self._json(self._c.vpc3.create_port_tag, request)

    def clear_managed(self, interface_id: str) -> None:
        """Remove the port tag `enictl-managed` (`enictl release`): one VPC v3
        BatchDeletePortTags call, which is idempotent (a tag that is not there is no
        error; the single-tag DELETE answers 404 then); the key alone names the tag."""
        models = self._c.vpc3_models
        body = models.BatchDeletePortTagsRequestBody(
            tags=[models.DeleteResourceTagRequestBody(key=MANAGED_TAG_KEY)]
        )
        request = models.BatchDeletePortTagsRequest(port_id=interface_id, body=body)
        self._json(self._c.vpc3.batch_delete_port_tags, request)

    def set_protected(self, interface_id: str, value: bool) -> None:
        """Set the port tag `enictl-protect` to "true" (or "false": cleared): one VPC v3
        call, which overwrites the tag; the executor retries it."""
        request = self._tag_request(interface_id, PROTECT_TAG_KEY, str(value).lower())
        self._json(self._c.vpc3.create_port_tag, request)

    def set_failover_time(self, interface_id: str, at: float) -> None:
        """Set the port tag `enictl-failover-at` to the epoch seconds `at`: one VPC v3
        call, which overwrites the tag; the executor retries it."""
        request = self._tag_request(interface_id, FAILOVER_TAG_KEY, str(int(at)))
        self._json(self._c.vpc3.create_port_tag, request)

    def _tag_request(self, port_id: str, key: str, value: str) -> Any:
        models = self._c.vpc3_models
        tag = models.ResourceTag(key=key, value=value)
        return models.CreatePortTagRequest(
            port_id=port_id, body=models.CreatePortTagRequestBody(tag=tag)
        )

    def _tag_managed(self, port_id: str, owner: str) -> None:
        """Tag a port just created; retried here, and the port deleted when it cannot be."""
        value = owners.tag_value(owner)
        request = self._tag_request(port_id, MANAGED_TAG_KEY, value)
        try:
            backoff.retry(
                lambda: self._json(self._c.vpc3.create_port_tag, request),
                replace(QUICK_RETRY, attempts=TAG_ATTEMPTS),
                retry_on=TransientProviderError,
                sleep=self._sleep,
                clock=self._clock,
                rng=self._rng,
            )
            return
        except ProviderError as exc:
            failure = exc
        try:  # leave no unmarked port behind: the executor will create it again
            self.delete_interface(port_id)
        except ProviderError:
            raise type(failure)(
                failure.code,
                f"{failure.message} (port {port_id} was created but could not be tagged "
                f"{MANAGED_TAG_KEY}={value} nor deleted)",
                status=failure.status,
            ) from failure
        raise failure

    def update_security_groups(
        self, interface_id: str, security_group_ids: tuple[str, ...]
    ) -> None:
        vpc = self._c.vpc_models
        body = vpc.UpdatePortRequestBody(
            port=vpc.UpdatePortOption(security_groups=list(security_group_ids))
        )
        self._json(self._c.vpc.update_port, vpc.UpdatePortRequest(port_id=interface_id, body=body))

    def bind_eip(self, eip_id: str, interface_id: str) -> None:
        self._update_publicip(eip_id, interface_id)

    def unbind_eip(self, eip_id: str) -> None:
        self._update_publicip(eip_id, "")

    def _update_publicip(self, eip_id: str, port_id: str) -> None:
        eip = self._c.eip_models
        body = eip.UpdatePublicipsRequestBody(publicip=eip.UpdatePublicipOption(port_id=port_id))
        request = eip.UpdatePublicipRequest(publicip_id=eip_id, body=body)
        self._json(self._c.eip.update_publicip, request)

    def set_delete_on_termination(self, server_id: str, interface_id: str, value: bool) -> None:
        ecs = self._c.ecs_models
        body = ecs.UpdateNicInfoRequestBody(
            interface_attachment=ecs.InterfaceAttachment(delete_on_termination=value)
        )
        request = ecs.UpdateServerInterfaceRequest(
            server_id=server_id, port_id=interface_id, body=body
        )
        self._json(self._c.ecs.update_server_interface, request)

    def attach(self, server_id: str, interface_id: str) -> str:
        ecs = self._c.ecs_models
        nics = [ecs.BatchAddServerNicOption(port_id=interface_id)]
        request = ecs.BatchAddServerNicsRequest(
            server_id=server_id, body=ecs.BatchAddServerNicsRequestBody(nics=nics)
        )
        return self._job_id(self._json(self._c.ecs.batch_add_server_nics, request))

    def detach(self, server_id: str, interface_id: str) -> str:
        ecs = self._c.ecs_models
        nics = [ecs.BatchDeleteServerNicOption(id=interface_id)]
        request = ecs.BatchDeleteServerNicsRequest(
            server_id=server_id, body=ecs.BatchDeleteServerNicsRequestBody(nics=nics)
        )
        return self._job_id(self._json(self._c.ecs.batch_delete_server_nics, request))

    # -- the BMS API: a NIC is added by subnet (the port is made then), never by port --

    def attach_bare_metal(self, server_id: str, spec: NewInterface) -> str:
        bms = self._c.bms_models
        nic = bms.ServerNicsReq(
            subnet_id=spec.subnet_id,
            ip_address=spec.private_ip,
            security_groups=[bms.SecurityGroupInfo(id=g) for g in spec.security_group_ids],
        )
        request = bms.AddServerNicsRequest(
            server_id=server_id, body=bms.AddServerNicsReq(nics=[nic])
        )
        return BMS_JOB + self._job_id(self._json(self._c.bms.add_server_nics, request))

    def detach_bare_metal(self, server_id: str, interface_id: str) -> str:
        bms = self._c.bms_models
        body = bms.DeleteServerNicsReq(nics=[bms.ServerNics(id=interface_id)])
        request = bms.DeleteServerNicsRequest(server_id=server_id, body=body)
        return BMS_JOB + self._job_id(self._json(self._c.bms.delete_server_nics, request))

    def set_bare_metal_delete_on_termination(
        self, server_id: str, interface_id: str, value: bool
    ) -> None:
        bms = self._c.bms_models
        body = bms.UpdateBaremetalServerInterfaceAttachmentsReq(
            interface_attachment=bms.InterfaceAttachmentsReq(delete_on_termination=value)
        )
        request = bms.UpdateBaremetalServerInterfaceAttachmentsRequest(
            server_id=server_id, port_id=interface_id, body=body
        )
        self._json(self._c.bms.update_baremetal_server_interface_attachments, request)

    def rename_interface(self, interface_id: str, name: str) -> None:
        vpc = self._c.vpc_models
        body = vpc.UpdatePortRequestBody(port=vpc.UpdatePortOption(name=name))
        self._json(self._c.vpc.update_port, vpc.UpdatePortRequest(port_id=interface_id, body=body))

    def stop_server(self, server_id: str) -> str:
        """BatchStopServers with type HARD for one server (the fence of a failover)."""
        ecs = self._c.ecs_models
        option = ecs.BatchStopServersOption(servers=[ecs.ServerId(id=server_id)], type="HARD")
        request = ecs.BatchStopServersRequest(body=ecs.BatchStopServersRequestBody(os_stop=option))
        return self._job_id(self._json(self._c.ecs.batch_stop_servers, request))

    @staticmethod
    def _job_id(body: JsonDict) -> str:
        job_id = body.get("job_id")
        if not job_id:
            raise PermanentProviderError("", "the cloud accepted the NIC change but named no job")
        return str(job_id)

    def job(self, job_id: str) -> Job:
        """ECS ShowJob, or BMS ShowJobInfos for a job id the BMS verbs returned (their
        jobs live on the BMS host: `BMS_JOB` marks them)."""
        if job_id.startswith(BMS_JOB):
            request = self._c.bms_models.ShowJobInfosRequest(job_id=job_id[len(BMS_JOB) :])
            return job_from_json(job_id, self._json(self._c.bms.show_job_infos, request))
        request = self._c.ecs_models.ShowJobRequest(job_id=job_id)
        return job_from_json(job_id, self._json(self._c.ecs.show_job, request))

    def delete_interface(self, interface_id: str) -> None:
        vpc = self._c.vpc_models
        self._json(self._c.vpc.delete_port, vpc.DeletePortRequest(port_id=interface_id))

    def close(self) -> None:
        for client in (self._c.ecs, self._c.bms, self._c.vpc, self._c.vpc3, self._c.eip):
            if client is not None:
                client.close()

    def _json(self, call: Callable[[Any], Any], request: Any) -> JsonDict:
        """Call the SDK (`errors.call_json`), paced by the call's service: the JSON
        body, or our error."""
        return errors.call_json(call, request, self._c.sdk_exceptions, self.limits.bucket(call))


def job_from_json(job_id: str, body: Mapping[str, Any]) -> Job:
    """A ShowJob answer as a Job; a FAIL carries the job's (or its failed sub-job's) code."""
    try:
        status = JobStatus(str(body.get("status") or "RUNNING"))
    except ValueError:
        status = JobStatus.RUNNING
    code = str(body.get("error_code") or "")
    reason = str(body.get("fail_reason") or "")
    if status is JobStatus.FAIL and not code:
        for sub in (body.get("entities") or {}).get("sub_jobs") or ():
            if sub.get("status") == "FAIL":
                code = str(sub.get("error_code") or "")
                reason = reason or str(
                    sub.get("fail_reason")
                    or (sub.get("entities") or {}).get("errorcode_message")
                    or ""
                )
                break
    if status is JobStatus.FAIL and not reason:
        reason = "the job failed"
    subs = (body.get("entities") or {}).get("sub_jobs") or ()
    nic = str(((subs[0].get("entities") or {}) if subs else {}).get("nic_id") or "")
    return Job(job_id, status, code, reason, nic if status is JobStatus.SUCCESS else "")
