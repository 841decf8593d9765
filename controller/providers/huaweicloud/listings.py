"""The paged listing reads of the huaweicloud provider: nine listings, one `Listings`.

Observing pages through nine listings, translated in `topology` (pure): ECS servers
and flavors, BMS servers and flavors, VPC v1 VPCs, subnets and security groups, VPC v3
ports, EIP public IPs.
Each API pages its own way, and each is read the way its reference says (`PAGING`):

- every listing but the BMS ones pages by `marker`: ECS servers by the id of the last
  server of a page (`offset`, a page number, is documented as discarded), BMS servers
  by `offset`, a page number from 1, until a page is empty (their `count` is at most
  the page size, the reference says, so it is no total), BMS flavors in one answer, v3 ports by
  `page_info.next_marker` (absent on the last page), the v1 listings and flavors by the
  id of the last item;
- a short page is never taken for the last one: the cloud may cap a page below the
  limit asked for, or leave out what the caller may not see. A listing ends where its
  API says so: no `next_marker` (v3 ports), `count` servers seen or an empty page
  (ECS servers), an empty page (the others);
- the limit asked for is the page size, capped at each API's maximum (1,000 servers,
  2,000 of the others, 1,000 flavors);
- `enterprise_project_id` (`all_granted_eps` by default) goes to the listings that take
  it (servers, VPCs, security groups, public IPs), so that a user authorised per
  enterprise project sees all of the project's resources.

Reading a page is idempotent, so a transient error on one page is retried here
(bounded, with jitter) instead of failing the whole observation (`Reader._read`, apart
from the paging). Pages go through the SDK's request path (endpoint, signing, errors)
but are kept as the JSON it parsed (`errors.as_json`): building its models for
thousands of items cost more than all the rest. The ports listing, the longest, is
read beside the others.

A flavor that states no NIC limit in its extra specs is looked up per server: ECS
`os-interface` shows a server's NICs and how many more it can take
(`attachableQuantity.free_nic`). Only servers of such flavors cost that call, so
observing still costs a number of calls that grows with pages, not with servers,
wherever flavors state their limit.
"""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from controller import backoff
from controller.backoff import Backoff
from controller.errors import PermanentProviderError, TransientProviderError
from controller.providers.huaweicloud import errors, topology
from controller.providers.huaweicloud.errors import JsonDict
from controller.providers.huaweicloud.ratelimit import RateLimits
from controller.providers.huaweicloud.settings import DEFAULT_ENTERPRISE_PROJECT, Clients


class Ending(enum.StrEnum):
    """Where an API says the next page starts, and when a listing is complete."""

    NEXT_MARKER = "next-marker"  # page_info.next_marker; absent on the last page
    PAGE_NUMBER = "page-number"  # `offset` = the page number (from 1); ends at an empty page
    COUNTED = "counted"  # marker = the last id; ends at `count` items or an empty page
    EMPTY_PAGE = "empty-page"  # marker = the last id; ends at an empty page


@dataclass(frozen=True, slots=True)
class Paging:
    """How one API pages: the key of its items, its largest page, how it ends, and
    whether it takes `enterprise_project_id`."""

    key: str
    max_limit: int
    ending: Ending
    enterprise_projects: bool = False


PAGING = {
    "servers": Paging("servers", 1000, Ending.COUNTED, enterprise_projects=True),
    "flavors": Paging("flavors", 1000, Ending.EMPTY_PAGE),  # its maximum is (unconfirmed)
    "vpcs": Paging("vpcs", 2000, Ending.EMPTY_PAGE, enterprise_projects=True),
    "subnets": Paging("subnets", 2000, Ending.EMPTY_PAGE),
    "security_groups": Paging("security_groups", 2000, Ending.EMPTY_PAGE, True),
    "publicips": Paging("publicips", 2000, Ending.EMPTY_PAGE, enterprise_projects=True),
    "ports": Paging("ports", 2000, Ending.NEXT_MARKER),
    "bms_servers": Paging("servers", 1000, Ending.PAGE_NUMBER, enterprise_projects=True),
}


def next_marker(paging: Paging, body: JsonDict, items: Sequence[JsonDict], seen: int) -> str | None:
    """The marker of the page after `body` (whose `items` made `seen` in all), or None
    when the listing is complete."""
    if not items:
        return None
    if paging.ending is Ending.NEXT_MARKER:
        marker = (body.get("page_info") or {}).get("next_marker")
        return str(marker) if marker else None
    if paging.ending is Ending.COUNTED:
        count = body.get("count")
        if isinstance(count, int) and seen >= count:
            return None
    return str(items[-1].get("id") or "") or None


class Reader:
    """Reads every listing, page by page, each page retried as `retry` allows."""

    def __init__(
        self,
        clients: Clients,
        *,
        page_size: int,
        retry: Backoff,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random,
        limits: RateLimits | None = None,
        enterprise_project: str | None = DEFAULT_ENTERPRISE_PROJECT,
    ) -> None:
        self._c = clients
        self._limits = limits
        self._page = page_size
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._enterprise_project = enterprise_project

    def listings(self) -> topology.Listings:
        """The ports listing, the longest (a page of servers comes with several pages of
        ports), is read on its own connection while this thread reads the others: the
        waits for the cloud overlap. It stops early if the others fail."""
        failed = threading.Event()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enictl-ports") as pool:
            ports = pool.submit(self._v3_ports, failed)
            try:
                return self._listings(ports)
            except BaseException:
                failed.set()
                raise

    def _listings(self, ports: Future[list[JsonDict]]) -> topology.Listings:
        ecs, vpc, eip = self._c.ecs_models, self._c.vpc_models, self._c.eip_models
        servers = self._pages(
            "servers", self._c.ecs.list_servers_details, ecs.ListServersDetailsRequest
        )
        flavors = self._pages("flavors", self._c.ecs.list_flavors, ecs.ListFlavorsRequest)
        bms = self._c.bms_models
        bms_servers = self._pages(
            "bms_servers", self._c.bms.list_bare_metal_servers, bms.ListBareMetalServersRequest
        )
        bms_flavors = self._read(
            self._c.bms.list_baremetal_flavor_detail_extends,
            bms.ListBaremetalFlavorDetailExtendsRequest(),
        ).get("flavors")
        return topology.Listings(
            servers=servers,
            flavors=flavors,
            bms_servers=bms_servers,
            bms_flavors=list(bms_flavors or ()),
            vpcs=self._pages("vpcs", self._c.vpc.list_vpcs, vpc.ListVpcsRequest),
            subnets=self._pages("subnets", self._c.vpc.list_subnets, vpc.ListSubnetsRequest),
            security_groups=self._pages(
                "security_groups", self._c.vpc.list_security_groups, vpc.ListSecurityGroupsRequest
            ),
            publicips=self._pages(
                "publicips", self._c.eip.list_publicips, eip.ListPublicipsRequest
            ),
            ports=ports.result(),
            nic_limits=self._nic_limits(topology.servers_without_limit(servers, flavors)),
        )

    def servers(self) -> list[JsonDict]:
        """The ECS servers listing alone (what a health poll reads)."""
        ecs = self._c.ecs_models
        return self._pages(
            "servers", self._c.ecs.list_servers_details, ecs.ListServersDetailsRequest
        )

    def _v3_ports(self, stop: threading.Event) -> list[JsonDict]:
        """VPC v3 ports, tags included."""
        models = self._c.vpc3_models
        return self._pages("ports", self._c.vpc3.list_ports, models.ListPortsRequest, stop)

    def _pages(
        self,
        name: str,
        call: Callable[[Any], Any],
        request_type: Any,
        stop: threading.Event | None = None,
    ) -> list[JsonDict]:
        """Every item of the listing `name` (a key of PAGING), page after page."""
        paging = PAGING[name]
        arguments: dict[str, Any] = {"limit": min(self._page, paging.max_limit)}
        if paging.enterprise_projects and self._enterprise_project:
            arguments["enterprise_project_id"] = self._enterprise_project
        found: list[JsonDict] = []
        markers: set[str] = set()
        marker: str | None = None
        page = 0
        while stop is None or not stop.is_set():
            page += 1
            if paging.ending is Ending.PAGE_NUMBER:
                body = self._read(call, request_type(offset=page, **arguments))
                items = list(body.get(paging.key) or ())
                found.extend(items)
                if not items:
                    break
                continue
            body = self._read(call, request_type(marker=marker, **arguments))
            items = list(body.get(paging.key) or ())
            found.extend(items)
            marker = next_marker(paging, body, items, len(found))
            if marker is None:
                break
            if marker in markers:
                raise PermanentProviderError(
                    "", f"the {name} listing does not advance: marker {marker} came twice"
                )
            markers.add(marker)
        return found

    def _nic_limits(self, server_ids: Sequence[str]) -> dict[str, int]:
        """Server id -> its NIC limit, from ECS `os-interface` (one call per server)."""
        ecs = self._c.ecs_models
        limits: dict[str, int] = {}
        for server_id in server_ids:
            request = ecs.ListServerInterfacesRequest(server_id=server_id)
            limit = topology.nic_limit(self._read(self._c.ecs.list_server_interfaces, request))
            if limit is not None:
                limits[server_id] = limit
        return limits

    def _read(self, call: Callable[[Any], Any], request: Any) -> JsonDict:
        """One page read, kept as JSON (`errors.as_json`), retried on transient errors
        as `self._retry` allows."""
        bucket = self._limits.bucket(call) if self._limits is not None else None
        call = errors.as_json(call)
        return backoff.retry(
            lambda: errors.call_json(call, request, self._c.sdk_exceptions, bucket),
            self._retry,
            retry_on=TransientProviderError,
            sleep=self._sleep,
            clock=self._clock,
            rng=self._rng,
        )
