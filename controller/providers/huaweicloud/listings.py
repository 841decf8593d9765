"""The paged listing reads of the huaweicloud provider: seven listings, one `Listings`.

Observing pages through seven listings, translated in `hwtopology` (pure): servers
(`offset` page numbers), v3 ports, flavors, VPCs, subnets, security groups and public
IPs (`limit`/`marker`). Reading a page is idempotent, so a transient error on one page
is retried here (bounded, with jitter) instead of failing the whole observation. Pages
go through the SDK's request path (endpoint, signing, errors) but are kept as the JSON
it parsed (`hwerrors.as_json`): building its models for thousands of items cost more
than all the rest. The ports listing, the longest, is read beside the others.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from controller.errors import TransientProviderError
from controller.providers.huaweicloud import errors, topology
from controller.providers.huaweicloud.errors import JsonDict
from controller.providers.huaweicloud.settings import Clients

SERVER_PAGE_MAX = 1000  # ECS ListServersDetails: at most 1000 per page
PORT_PAGE_MAX = 2000  # VPC v3 ListPorts: 0-2000


class Reader:
    """Reads every listing, page by page, each page retried up to `attempts` tries."""

    def __init__(
        self,
        clients: Clients,
        *,
        page_size: int,
        attempts: int,
        sleep: Callable[[float], None],
        rng: random.Random,
    ) -> None:
        self._c = clients
        self._page = page_size
        self._attempts = attempts
        self._sleep = sleep
        self._rng = rng

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
        return topology.Listings(
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

    def servers(self) -> list[JsonDict]:
        """The ECS servers listing alone (what a health poll reads)."""
        return self._servers()

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
        """One page read, kept as JSON (`hwerrors.as_json`), retried (bounded, with jitter) on
        transient errors."""
        call = errors.as_json(call)
        for attempt in range(self._attempts):
            try:
                return errors.call_json(call, request, self._c.sdk_exceptions)
            except TransientProviderError:
                if attempt + 1 == self._attempts:
                    raise
                self._sleep(self._rng.uniform(0.0, min(2.0, 0.05 * 2**attempt)))
        raise AssertionError("unreachable")
