"""Settings of the huaweicloud provider from the environment, and its SDK clients.

| variable | meaning |
|---|---|
| `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK` | access key pair (required; never printed) |
| `HUAWEICLOUD_PROJECT_ID` | project of the region (required) |
| `HUAWEICLOUD_REGION` | e.g. `ap-southeast-1`: the SDK's endpoints for that region |
| `ENICTL_HUAWEICLOUD_ENDPOINT` | one endpoint for every service, e.g. `http://127.0.0.1:8080` |

The endpoint (e.g. `enictl sim serve`) wins when both it and the region are set.
`ENICTL_HUAWEICLOUD_PAGE_SIZE` (default 1000) sets the page size of every listing
(capped at each API's maximum). `ENICTL_HUAWEICLOUD_ENTERPRISE_PROJECT_ID` (default
`all_granted_eps`: every enterprise project the user may see) goes to the listings that
take `enterprise_project_id`; an enterprise project id narrows them to that project,
`none` sends no such parameter.
`ENICTL_HUAWEICLOUD_RATE_LIMIT` (default 10) is the most calls per second enictl
makes to each service (ECS, BMS, VPC, EIP; `ratelimit`), 0 for no limit. Huawei Cloud does
not publish its ECS/VPC quotas per user (unconfirmed): 10 is a cautious guess, raise
it to what your account's quota allows.

Every problem is a `UsageError` in one line. The SDK is imported only in
`Clients.build`, when the provider is used; its clients never retry
(HttpConfig.retry_times is 0), log nothing on stderr, and keep each error's body for
`errors.classify` (nested codes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from controller.errors import UsageError

ENV_AK = "HUAWEICLOUD_SDK_AK"
ENV_SK = "HUAWEICLOUD_SDK_SK"
ENV_PROJECT = "HUAWEICLOUD_PROJECT_ID"
BODY = "enictl_body"  # where `keeping_bodies()` leaves the parsed error body on an exception
ENV_REGION = "HUAWEICLOUD_REGION"
ENV_ENDPOINT = "ENICTL_HUAWEICLOUD_ENDPOINT"
ENV_PAGE_SIZE = "ENICTL_HUAWEICLOUD_PAGE_SIZE"
ENV_ENTERPRISE_PROJECT = "ENICTL_HUAWEICLOUD_ENTERPRISE_PROJECT_ID"
ENV_RATE_LIMIT = "ENICTL_HUAWEICLOUD_RATE_LIMIT"
INSTALL_HINT = "install enictl's huaweicloud extra (in a clone: pip install -e '.[huaweicloud]')"

DEFAULT_PAGE_SIZE = 1000
DEFAULT_ENTERPRISE_PROJECT = "all_granted_eps"
NO_ENTERPRISE_PROJECT = "none"
DEFAULT_RATE_LIMIT = 10.0  # calls per second per service (unconfirmed quota: a cautious guess)
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
    enterprise_project: str | None = DEFAULT_ENTERPRISE_PROJECT
    rate_limit: float = DEFAULT_RATE_LIMIT  # calls per second per service; 0: none

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
        enterprise = env.get(ENV_ENTERPRISE_PROJECT, "").strip() or DEFAULT_ENTERPRISE_PROJECT
        if any(c.isspace() or c in "/?#&=" for c in enterprise) or len(enterprise) > 36:
            raise UsageError(
                f"{ENV_ENTERPRISE_PROJECT} must be an enterprise project id, "
                f"{DEFAULT_ENTERPRISE_PROJECT} or {NO_ENTERPRISE_PROJECT}, got {enterprise!r}"
            )
        rate = env.get(ENV_RATE_LIMIT, "").strip() or str(DEFAULT_RATE_LIMIT)
        try:
            rate_limit = float(rate)
        except ValueError:
            rate_limit = -1.0
        if not rate_limit >= 0 or rate_limit == float("inf"):
            raise UsageError(
                f"{ENV_RATE_LIMIT} must be a number of calls per second (0: no limit), got {rate!r}"
            )
        return cls(
            values[ENV_AK],
            values[ENV_SK],
            project,
            region,
            endpoint,
            int(page),
            None if enterprise == NO_ENTERPRISE_PROJECT else enterprise,
            rate_limit,
        )


def without_status_retries(client: Any) -> Any:
    """`client`, its HTTP session answering 429 like any other status.

    The SDK mounts urllib3 retries that treat a 429 to a GET, PUT or DELETE as a
    retry (none: `retry_times` is 0) and raise "too many 429 error responses", losing
    the body and its `APIGW.0308` (a POST's 429 comes through as an answer). Without
    them every 429 reaches the exception handler with its body, and the rate limiter
    and the executor's backoff do the waiting. Reaches into the SDK's session
    (huaweicloudsdkcore 3.1.x); an SDK without it keeps its own behaviour."""
    from urllib3.util.retry import Retry

    session = getattr(getattr(client, "_http_client", None), "_session", None)
    for mounted in getattr(session, "adapters", {}).values():
        mounted.max_retries = Retry(total=0, status_forcelist=(), raise_on_status=False)
    return client


@dataclass(frozen=True, slots=True)
class Clients:
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
    bms: Any = None  # the BMS API (bare-metal servers)
    bms_models: Any = None

    @classmethod
    def build(cls, settings: Settings) -> Clients:
        try:
            from huaweicloudsdkbms import v1 as bms
            from huaweicloudsdkbms.v1.region.bms_region import BmsRegion
            from huaweicloudsdkcore.auth.credentials import BasicCredentials
            from huaweicloudsdkcore.exceptions import exceptions as sdk_exceptions
            from huaweicloudsdkcore.exceptions.exception_handler import DefaultExceptionHandler
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
                .with_exception_handler(keeping_bodies(DefaultExceptionHandler))
            )
            if settings.endpoint is not None:
                return without_status_retries(builder.with_endpoints([settings.endpoint]).build())
            try:
                region = regions.value_of(settings.region)
            except KeyError:
                raise UsageError(
                    f"{ENV_REGION}={settings.region!r} is not a region of Huawei Cloud's "
                    f"{client_name.removesuffix('Client')} service"
                ) from None
            return without_status_retries(builder.with_region(region).build())

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
            bms=client(bms, "BmsClient", BmsRegion),
            bms_models=bms,
        )


def keeping_bodies(default_handler: Any) -> Any:
    """An SDK exception handler, a subclass of the SDK's `default_handler` type, that
    leaves the parsed JSON error body on the exception it raises (attribute `BODY`)."""

    class KeepingBodies(default_handler):  # type: ignore[misc]
        def handle_exception(self, request: Any, response: Any) -> None:
            try:
                super().handle_exception(request, response)
            except Exception as exc:
                try:
                    body = json.loads(response.text)
                except ValueError:
                    body = None
                setattr(exc, BODY, body)
                raise

    return KeepingBodies()
