"""The `huaweicloud` provider: Huawei Cloud ECS, VPC and EIP through the official SDK.

Settings come from the environment (`from_environment()`):

| variable | meaning |
|---|---|
| `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK` | access key pair (required; never printed) |
| `HUAWEICLOUD_PROJECT_ID` | project of the region (required) |
| `HUAWEICLOUD_REGION` | e.g. `ap-southeast-1`: the SDK's endpoints for that region |
| `ENICTL_HUAWEICLOUD_ENDPOINT` | one endpoint for every service, e.g. `http://127.0.0.1:8080` |

The endpoint (e.g. `enictl sim serve`) wins when both it and the region are set.
`ENICTL_HUAWEICLOUD_PAGE_SIZE` (default 1000) sets the page size of every listing.

Observing pages through seven listings and translates them in `hwtopology` (pure):
servers (`offset` page numbers), v3 ports, flavors, VPCs, subnets, security groups
and public IPs (`limit`/`marker`). Reading a page is idempotent, so a transient error
on one page is retried here (bounded) instead of failing the whole observation. Pages
go through the SDK's request path (endpoint, signing, errors) but are kept as the
JSON it parsed (`_JsonBody`): building its models for thousands of items cost more
than all the rest. The ports listing, the longest, is read beside the others.

Mutations are the API's own: a port is created in VPC v1 and then tagged
`enictl-managed=true` through VPC v3 (the managed marker; the tag call is retried,
and if it still fails the fresh port is deleted so no unmarked twin is left behind;
`set_managed` tags an existing port the same way when enictl adopts it; `set_protected`
sets the protect marker, the port tag `enictl-protect=true`, or `false` to clear it);
attach/detach are ECS BatchAddServerNics / BatchDeleteServerNics jobs by `port_id`,
polled with ShowJob; `delete_on_termination` is set with UpdateServerInterface;
security groups with VPC UpdatePort; EIPs with UpdatePublicip (`port_id` empty to
unbind). Mutations are not retried here: the executor does it.

Assumptions (unconfirmed, see docs/huaweicloud.md): the v3 port listing carries
`tags`; an EIP is unbound with `"port_id": ""`; BatchAddServerNics accepts a NIC given
by `port_id` alone.

Every SDK failure is mapped once, in `classify`, onto `TransientProviderError`
(HTTP 429 and 5xx, throttling and busy codes, connection failures, timeouts) or
`PermanentProviderError` (everything else), keeping the cloud's code and message.
HttpConfig.retry_times is 0: the SDK itself never retries.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

from controller.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UsageError,
)
from controller.gcpause import gc_paused
from controller.model import Topology
from controller.providers import hwtopology
from controller.providers.base import Job, JobStatus, NewInterface
from controller.providers.hwtopology import MANAGED_TAG_KEY, MANAGED_TAG_VALUE, PROTECT_TAG_KEY

__all__ = ["MANAGED_TAG_KEY", "MANAGED_TAG_VALUE", "HuaweiCloud", "Settings", "from_environment"]

T = TypeVar("T")
JsonDict = dict[str, Any]

ENV_AK = "HUAWEICLOUD_SDK_AK"
ENV_SK = "HUAWEICLOUD_SDK_SK"
ENV_PROJECT = "HUAWEICLOUD_PROJECT_ID"
ENV_REGION = "HUAWEICLOUD_REGION"
ENV_ENDPOINT = "ENICTL_HUAWEICLOUD_ENDPOINT"
ENV_PAGE_SIZE = "ENICTL_HUAWEICLOUD_PAGE_SIZE"
INSTALL_HINT = "pip install 'enictl[huaweicloud]'"

DEFAULT_PAGE_SIZE = 1000
SERVER_PAGE_MAX = 1000  # ECS ListServersDetails: at most 1000 per page
PORT_PAGE_MAX = 2000  # VPC v3 ListPorts: 0-2000
TRANSIENT_CODES = frozenset({"Common.1503", "Ecs.0603", "Ecs.1002", "APIGW.0308"})
READ_ATTEMPTS = 6  # tries of one page read (the first included)
TAG_ATTEMPTS = 6
POOL_SIZE = 64  # HTTP connections kept per service: more than `apply --parallelism` uses


@dataclass(frozen=True, slots=True)
class Settings:
    """Where and as whom to call Huawei Cloud. The keys never appear in repr()."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    project_id: str
    region: str | None = None
    endpoint: str | None = None
    page_size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check the settings; a UsageError says in one line what is wrong."""
        values = {k: env.get(k, "").strip() for k in (ENV_AK, ENV_SK, ENV_PROJECT)}
        missing = [k for k, v in values.items() if not v]
        if missing:
            raise UsageError(
                f"the huaweicloud provider needs {', '.join(missing)} in the environment"
            )
        region = env.get(ENV_REGION, "").strip() or None
        endpoint = env.get(ENV_ENDPOINT, "").strip() or None
        if endpoint is None and region is None:
            raise UsageError(
                f"the huaweicloud provider needs {ENV_REGION} (e.g. ap-southeast-1) or "
                f"{ENV_ENDPOINT} (e.g. http://127.0.0.1:8080)"
            )
        if endpoint is not None:
            parsed = urlparse(endpoint)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise UsageError(
                    f"{ENV_ENDPOINT} must be an http(s) URL like http://127.0.0.1:8080, "
                    f"got {endpoint!r}"
                )
            endpoint = endpoint.rstrip("/")
        project = values[ENV_PROJECT]
        if any(c.isspace() or c in "/?#" for c in project):
            raise UsageError(f"{ENV_PROJECT} is not a project id: {project!r}")
        page = env.get(ENV_PAGE_SIZE, "").strip() or str(DEFAULT_PAGE_SIZE)
        if not page.isdigit() or int(page) < 1:
            raise UsageError(f"{ENV_PAGE_SIZE} must be a positive integer, got {page!r}")
        return cls(values[ENV_AK], values[ENV_SK], project, region, endpoint, int(page))


def from_environment(
    env: Mapping[str, str] | None = None,
    *,
    page_size: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> HuaweiCloud:
    """The provider configured from `env` (default: the process environment)."""
    settings = Settings.from_env(os.environ if env is None else env)
    pages = settings.page_size if page_size is None else page_size
    return HuaweiCloud(_Clients.build(settings), page_size=pages, sleep=sleep)


@dataclass(frozen=True, slots=True)
class _Clients:
    """The SDK clients and model packages (imported only when the provider is used)."""

    ecs: Any
    vpc: Any
    vpc3: Any
    eip: Any
    ecs_models: Any
    vpc_models: Any
    vpc3_models: Any
    eip_models: Any
    sdk_exceptions: Any

    @classmethod
    def build(cls, settings: Settings) -> _Clients:
        try:
            from huaweicloudsdkcore.auth.credentials import BasicCredentials
            from huaweicloudsdkcore.exceptions import exceptions as sdk_exceptions
            from huaweicloudsdkcore.http.http_config import HttpConfig
            from huaweicloudsdkecs import v2 as ecs
            from huaweicloudsdkecs.v2.region.ecs_region import EcsRegion
            from huaweicloudsdkeip import v2 as eip
            from huaweicloudsdkeip.v2.region.eip_region import EipRegion
            from huaweicloudsdkvpc import v2 as vpc
            from huaweicloudsdkvpc import v3 as vpc3
            from huaweicloudsdkvpc.v2.region.vpc_region import VpcRegion
            from huaweicloudsdkvpc.v3.region.vpc_region import VpcRegion as Vpc3Region
        except ImportError:
            raise UsageError(
                f"the huaweicloud provider needs the Huawei Cloud SDK: {INSTALL_HINT}"
            ) from None

        def client(module: Any, client_name: str, regions: Any) -> Any:
            # The SDK logs failures on its own logger, which has no handler: Python's
            # last-resort handler would print them on stderr next to enictl's one line.
            logging.getLogger(f"HuaweiCloud-SDK-{client_name}").addHandler(logging.NullHandler())
            config = HttpConfig.get_default_config()
            config.retry_times = 0
            config.timeout = (10, 60)
            config.pool_maxsize = POOL_SIZE  # one connection per concurrent apply worker
            credentials = BasicCredentials(
                settings.access_key, settings.secret_key, settings.project_id
            )
            builder = (
                getattr(module, client_name)
                .new_builder()
                .with_http_config(config)
                .with_credentials(credentials)
            )
            if settings.endpoint is not None:
                return builder.with_endpoints([settings.endpoint]).build()
            try:
                region = regions.value_of(settings.region)
            except KeyError:
                raise UsageError(
                    f"{ENV_REGION}={settings.region!r} is not a region of Huawei Cloud's "
                    f"{client_name.removesuffix('Client')} service"
                ) from None
            return builder.with_region(region).build()

        return cls(
            ecs=client(ecs, "EcsClient", EcsRegion),
            vpc=client(vpc, "VpcClient", VpcRegion),
            vpc3=client(vpc3, "VpcClient", Vpc3Region),
            eip=client(eip, "EipClient", EipRegion),
            ecs_models=ecs,
            vpc_models=vpc,
            vpc3_models=vpc3,
            eip_models=eip,
            sdk_exceptions=sdk_exceptions,
        )


class HuaweiCloud:
    """Huawei Cloud through the SDK; implements `controller.providers.base.Provider`."""

    name = "huaweicloud"

    def __init__(
        self,
        clients: _Clients,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if page_size < 1:
            raise UsageError(f"page size must be at least 1, got {page_size}")
        self._c = clients
        self._page = page_size
        self._sleep = sleep
        self._rng = random.Random()

    # -- observe ---------------------------------------------------------------------

    def observe(self) -> Topology:
        with gc_paused():
            return self._observe()

    def _observe(self) -> Topology:
        """The ports listing, the longest (a page of servers comes with several pages of
        ports), is read on its own connection while this thread reads the others: the
        waits for the cloud overlap. It stops early if the others fail."""
        failed = threading.Event()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enictl-ports") as pool:
            ports = pool.submit(self._v3_ports, failed)
            try:
                listings = self._listings(ports)
            except BaseException:
                failed.set()
                raise
        return hwtopology.topology(listings)

    def _listings(self, ports: Future[list[JsonDict]]) -> hwtopology.Listings:
        ecs, vpc, eip = self._c.ecs_models, self._c.vpc_models, self._c.eip_models
        return hwtopology.Listings(
            servers=self._servers(),
            flavors=self._by_marker(self._c.ecs.list_flavors, ecs.ListFlavorsRequest, "flavors"),
            vpcs=self._by_marker(self._c.vpc.list_vpcs, vpc.ListVpcsRequest, "vpcs"),
            subnets=self._by_marker(self._c.vpc.list_subnets, vpc.ListSubnetsRequest, "subnets"),
            security_groups=self._by_marker(
                self._c.vpc.list_security_groups, vpc.ListSecurityGroupsRequest, "security_groups"
            ),
            publicips=self._by_marker(
                self._c.eip.list_publicips, eip.ListPublicipsRequest, "publicips"
            ),
            ports=ports.result(),
        )

    def _servers(self) -> list[JsonDict]:
        """ECS pages by number (`offset` is 1-based) until `count` servers are seen."""
        limit = min(self._page, SERVER_PAGE_MAX)
        found: list[JsonDict] = []
        page = 1
        while True:
            request = self._c.ecs_models.ListServersDetailsRequest(limit=limit, offset=page)
            body = self._read(self._c.ecs.list_servers_details, request)
            items = list(body.get("servers") or ())
            found.extend(items)
            if not items or len(items) < limit or len(found) >= int(body.get("count") or 0):
                return found
            page += 1

    def _v3_ports(self, stop: threading.Event) -> list[JsonDict]:
        """VPC v3 ports (tags included) by marker, following `page_info.next_marker`."""
        limit = min(self._page, PORT_PAGE_MAX)
        found: list[JsonDict] = []
        marker: str | None = None
        while not stop.is_set():
            request = self._c.vpc3_models.ListPortsRequest(limit=limit, marker=marker)
            body = self._read(self._c.vpc3.list_ports, request)
            items = list(body.get("ports") or ())
            found.extend(items)
            marker = (body.get("page_info") or {}).get("next_marker")
            if not items or not marker or len(items) < limit:
                return found
        return found

    def _by_marker(self, call: Callable[[Any], Any], request_type: Any, key: str) -> list[JsonDict]:
        """v1 listings: the next page starts after the last id; a short page is the last."""
        limit = self._page
        found: list[JsonDict] = []
        marker: str | None = None
        while True:
            body = self._read(call, request_type(limit=limit, marker=marker))
            items = list(body.get(key) or ())
            found.extend(items)
            if len(items) < limit:
                return found
            marker = str(items[-1]["id"])

    def _read(self, call: Callable[[Any], Any], request: Any) -> JsonDict:
        """One page read, kept as JSON (`_as_json`), retried (bounded, with jitter) on
        transient errors."""
        call = _as_json(call)
        for attempt in range(READ_ATTEMPTS):
            try:
                return self._json(call, request)
            except TransientProviderError:
                if attempt + 1 == READ_ATTEMPTS:
                    raise
                self._sleep(self._rng.uniform(0.0, min(2.0, 0.05 * 2**attempt)))
        raise AssertionError("unreachable")

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
            self._tag_managed(port_id)
        return port_id

    def set_managed(self, interface_id: str) -> None:
        """Tag an existing port `enictl-managed=true` (adoption): one VPC v3 call, which
        overwrites the tag when it is there already; the executor retries it."""
        self._json(self._c.vpc3.create_port_tag, self._tag_request(interface_id))

    def set_protected(self, interface_id: str, value: bool) -> None:
        """Set the port tag `enictl-protect` to "true" (or "false": cleared): one VPC v3
        call, which overwrites the tag; the executor retries it."""
        request = self._tag_request(interface_id, PROTECT_TAG_KEY, str(value).lower())
        self._json(self._c.vpc3.create_port_tag, request)

    def _tag_request(
        self, port_id: str, key: str = MANAGED_TAG_KEY, value: str = MANAGED_TAG_VALUE
    ) -> Any:
        models = self._c.vpc3_models
        tag = models.ResourceTag(key=key, value=value)
        return models.CreatePortTagRequest(
            port_id=port_id, body=models.CreatePortTagRequestBody(tag=tag)
        )

    def _tag_managed(self, port_id: str) -> None:
        """Tag a port just created; retried here, and the port deleted when it cannot be."""
        request = self._tag_request(port_id)
        for attempt in range(TAG_ATTEMPTS):
            try:
                self._json(self._c.vpc3.create_port_tag, request)
                return
            except TransientProviderError as exc:
                if attempt + 1 < TAG_ATTEMPTS:
                    self._sleep(self._rng.uniform(0.0, min(2.0, 0.05 * 2**attempt)))
                    continue
                failure: ProviderError = exc
            except PermanentProviderError as exc:
                failure = exc
            break
        try:  # leave no unmarked port behind: the executor will create it again
            self.delete_interface(port_id)
        except ProviderError:
            raise type(failure)(
                failure.code,
                f"{failure.message} (port {port_id} was created but could not be tagged "
                f"{MANAGED_TAG_KEY}={MANAGED_TAG_VALUE} nor deleted)",
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

    @staticmethod
    def _job_id(body: JsonDict) -> str:
        job_id = body.get("job_id")
        if not job_id:
            raise PermanentProviderError("", "the cloud accepted the NIC change but named no job")
        return str(job_id)

    def job(self, job_id: str) -> Job:
        request = self._c.ecs_models.ShowJobRequest(job_id=job_id)
        return job_from_json(job_id, self._json(self._c.ecs.show_job, request))

    def delete_interface(self, interface_id: str) -> None:
        vpc = self._c.vpc_models
        self._json(self._c.vpc.delete_port, vpc.DeletePortRequest(port_id=interface_id))

    def close(self) -> None:
        for client in (self._c.ecs, self._c.vpc, self._c.vpc3, self._c.eip):
            client.close()

    # -- the one place SDK failures become enictl's ------------------------------------

    def _json(self, call: Callable[[Any], Any], request: Any) -> JsonDict:
        """Call the SDK; return the response's JSON body ({} when empty)."""
        import requests

        try:
            response = call(request)
        except (self._c.sdk_exceptions.SdkException, requests.exceptions.RequestException) as exc:
            raise classify(exc, self._c.sdk_exceptions) from exc
        if isinstance(response, _JsonBody):
            if isinstance(response.body, dict):
                return response.body
            if isinstance(response.body, str) and response.body.strip():
                raise PermanentProviderError("", "the cloud answered with invalid JSON")
            return {}
        raw = getattr(response, "raw_content", None)
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise PermanentProviderError("", "the cloud answered with invalid JSON") from None
        return body if isinstance(body, dict) else {}


class _JsonBody:
    """A response type the SDK fills with the JSON body as it parsed it.

    The SDK turns a body into its models through the response type's `openapi_types`;
    a single `body` attribute of type `object` takes the parsed JSON as it is. The
    request still goes the SDK's own way (endpoint, signing, HTTP errors raised as
    its exceptions): only the model building is skipped, which for a listing page of
    1,000 servers or ports costs several times more than everything else in reading it.
    """

    openapi_types = {"body": "object"}
    attribute_map = {"body": "body"}

    def __init__(self, body: Any = None) -> None:
        self.body = body
        self.status_code: int | None = None
        self.raw_content: bytes | None = None


def _as_json(call: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The same SDK operation answering a `_JsonBody`, through the generated client's
    request builder (`_<operation>_http_info`) and `do_http_request`; the operation
    itself on an SDK without such builders (or for a test double)."""
    client = getattr(call, "__self__", None)
    build = getattr(type(client), f"_{getattr(call, '__name__', '')}_http_info", None)
    if client is None or build is None:
        return call

    def invoke(request: Any) -> Any:
        info = dict(build(request))
        info["response_type"] = _JsonBody
        return client.do_http_request(**info)

    return invoke


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
    return Job(id=job_id, status=status, error_code=code, error_message=reason)


def classify(exc: Exception, sdk_exceptions: Any) -> ProviderError:
    """An SDK (or transport) failure as a transient or permanent provider error."""
    import requests

    if isinstance(exc, sdk_exceptions.ServiceResponseException):
        status = int(exc.status_code)
        code = str(exc.error_code or status)
        message = str(exc.error_msg or f"HTTP {status}")
        if status == 401 or code.startswith("APIGW.03"):
            message += f" (check {ENV_AK} / {ENV_SK} and {ENV_PROJECT})"
        transient = status == 429 or status >= 500 or code in TRANSIENT_CODES
        kind = TransientProviderError if transient else PermanentProviderError
        return kind(code, message, status=status)
    if isinstance(
        exc,
        (
            sdk_exceptions.ConnectionException,
            sdk_exceptions.RequestTimeoutException,
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
        ),
    ):
        detail = getattr(exc, "error_msg", None) or str(exc) or type(exc).__name__
        return TransientProviderError("", f"cannot reach Huawei Cloud: {detail}")
    detail = getattr(exc, "error_msg", None) or str(exc) or type(exc).__name__
    return PermanentProviderError("", f"Huawei Cloud SDK error: {detail}")
