"""The simulated cloud's Huawei Cloud API: one handler per call (`routing` has the table).

`HuaweiApi.handle()` takes one authenticated request (method, path, query, body) and
returns a `Reply`; it knows nothing of sockets (`httpserver` does the HTTP). Every
request is one or two calls of a `SimCloud`, so the simulated cloud's enforcement,
latency, fault injection and call log apply: a list page is one `observe` call (and
one line of `sim log`), a mutation is its own verb.

List pages come from the last observation the API keeps (`listings.View`): a list page
is one `observe_unless(version)` call, which reads the cloud again only when it changed
since, and a slice of a listing already written as JSON. Pages follow each API: ECS
servers by `marker` or `offset` with `count`, VPC v3 ports by `marker` with
`page_info`, the rest by `marker` alone; a limit above an API's maximum is capped, as
the real APIs do (`PAGE_SIZES`).

Answers have the real shapes (`compute`, `network`) and statuses: CreatePort is a 201,
UpdateServerInterface answers with no body, UpdatePublicip with the whole public IP,
UpdatePort honours a rename, BatchStopServers (`os-stop`, one server per call) names
its job. The BMS API (`baremetal`) pages its servers by page number, lists its flavors
at once, and adds NICs by subnet only.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from controller import owners
from controller.errors import ProviderError
from controller.gcpause import gc_paused
from controller.providers.base import NewInterface
from controller.providers.huaweicloud.topology import (
    FAILOVER_TAG_KEY,
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    PROTECT_TAG_KEY,
)
from controller.providers.sim import refusals
from controller.providers.sim.serve import baremetal, compute, listings, network
from controller.providers.sim.serve.index import Index
from controller.providers.sim.serve.routing import (
    UNSUPPORTED,
    ApiError,
    Reply,
    Request,
    ServedCloud,
    error,
    json_body,
    route,
)

__all__ = ["ApiError", "HuaweiApi", "Reply", "ServedCloud"]

JsonDict = dict[str, Any]
# listing -> (default page size, maximum); a larger limit is silently capped.
PAGE_SIZES = {
    "servers": (25, 1000),
    "bms_servers": (25, 1000),
    "bms_flavors": (1000, 1000),  # the BMS flavors listing does not page
    "flavors": (1000, 1000),  # the flavors maximum is (unconfirmed)
    "ports": (2000, 2000),
    "ports_v1": (2000, 2000),
    "vpcs": (2000, 2000),
    "subnets": (2000, 2000),
    "security_groups": (2000, 2000),
    "publicips": (2000, 2000),
}
PAGING_PARAMETERS = frozenset({"limit", "marker", "offset", "enterprise_project_id"})
ALL_ENTERPRISE_PROJECTS = "all_granted_eps"
ENTERPRISE_SCOPED = frozenset({"servers", "bms_servers", "vpcs", "security_groups", "publicips"})
_ENTERPRISE_PROJECT_ID = re.compile(r"^(0|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$")
MAX_PORT_NAME = 255


class HuaweiApi:
    """Routes requests for one project to a simulated cloud."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self._jobs: dict[str, tuple[str, str, str]] = {}  # job id -> kind, server, port
        self._jobs_lock = threading.Lock()
        self._last: listings.View | None = None
        self._view_lock = threading.Lock()

    def handle(self, cloud: ServedCloud, method: str, path: str, query: Any, body: bytes) -> Reply:
        found, params = route(method, path)
        if found is None:
            return error("vpc3", ApiError(404, "APIGW.0101", f"no API {method} {path}"))
        service, handler_name = found
        handler: Callable[[Request], Reply] = getattr(self, handler_name)
        if params.pop("project_id") != self.project_id:
            return error(service, ApiError(404, "Sim.0003", "this project does not exist here"))
        try:
            return handler(Request(cloud, params, query, json_body(body)))
        except ApiError as exc:
            return error(service, exc)
        except ProviderError as exc:
            return error(service, ApiError.served(exc.code, exc.message, exc.status))

    # -- ECS -------------------------------------------------------------------------

    def list_servers(self, req: Request) -> Reply:
        """ECS pages by `marker` (the last server's id) or, documented as discarded but
        still answered, by `offset` (a 1-based page number); `count` is the total."""
        servers, limit, in_scope = self._listing(req, "servers")
        if not in_scope:
            return Reply(200, raw=listings.envelope({"count": 0}, "servers", b"[]"))
        marker = req.arg("marker")
        if marker:
            start = servers.after(marker)
        else:
            start = servers.page_start(req.int_arg("offset", 1), limit)
        array = servers.array(start, limit)
        return Reply(200, raw=listings.envelope({"count": len(servers)}, "servers", array))

    def list_flavors(self, req: Request) -> Reply:
        return self._catalog_page(req, "flavors")

    def attach(self, req: Request) -> Reply:
        port_id = str(req.one_nic().get("port_id") or "")
        if not port_id:
            raise ApiError(
                400, UNSUPPORTED, "the simulated cloud attaches existing ports only (port_id)"
            )
        job_id = req.cloud.attach(req.params["server_id"], port_id)
        self._remember(job_id, "attach", req.params["server_id"], port_id)
        return Reply(200, {"job_id": job_id})

    def detach(self, req: Request) -> Reply:
        port_id = str(req.one_nic().get("id") or "")
        if not port_id:
            raise ApiError(400, "", "nics[0].id is required")
        job_id = req.cloud.detach(req.params["server_id"], port_id)
        self._remember(job_id, "detach", req.params["server_id"], port_id)
        return Reply(200, {"job_id": job_id})

    def list_interfaces(self, req: Request) -> Reply:
        index = self._view(req.cloud).index
        server = index.server_by_id(req.params["server_id"])
        if server is None or server.bare_metal:
            raise ApiError(404, refusals.SERVER_NOT_FOUND, "the server does not exist")
        return Reply(200, compute.interface_attachments(index, server))

    def update_interface(self, req: Request) -> Reply:
        """UpdateServerInterface: the answer has no body."""
        return self._update_interface(req, req.cloud.set_delete_on_termination, "")

    def _update_interface(
        self, req: Request, setter: Callable[[str, str, bool], None], code: str
    ) -> Reply:
        """delete_on_termination of a NIC (ECS, or BMS: `code` its bad-request code)."""
        attachment = req.body.get("interface_attachment")
        value = attachment.get("delete_on_termination") if isinstance(attachment, dict) else None
        if not isinstance(value, bool):
            raise ApiError(
                400, code, "interface_attachment.delete_on_termination must be a boolean"
            )
        setter(req.params["server_id"], req.params["port_id"], value)
        return Reply(200)

    def server_action(self, req: Request) -> Reply:
        """BatchStopServers: `{"os-stop": {"type": "HARD", "servers": [{"id": ...}]}}` (one
        server per call here); the answer names the job. Other actions are not served."""
        stop = req.body.get("os-stop")
        if not isinstance(stop, dict):
            raise ApiError(400, UNSUPPORTED, "the simulated cloud serves only the os-stop action")
        kind = stop.get("type", "SOFT")
        if kind not in ("SOFT", "HARD"):
            raise ApiError(400, "", f"os-stop.type must be SOFT or HARD, got {kind!r}")
        servers = stop.get("servers")
        if not isinstance(servers, list) or len(servers) != 1 or not isinstance(servers[0], dict):
            raise ApiError(400, "", "os-stop.servers must hold exactly one server here")
        server_id = str(servers[0].get("id") or "")
        if not server_id:
            raise ApiError(400, "", "os-stop.servers[0].id is required")
        job_id = req.cloud.stop_server(server_id)
        self._remember(job_id, "stop", server_id, "")
        return Reply(200, {"job_id": job_id})

    def show_job(self, req: Request) -> Reply:
        """ShowJob, or ShowJobInfos for a job of the BMS API (one path, two hosts)."""
        job_id = req.params["job_id"]
        found = req.cloud.job(job_id)
        with self._jobs_lock:
            kind, server_id, port_id = self._jobs.get(job_id, ("attach", "", ""))
        if kind.startswith("bms_"):
            return Reply(200, baremetal.job(found, kind, server_id))
        return Reply(200, compute.job(found, kind, server_id, port_id))

    # -- BMS -------------------------------------------------------------------------

    def list_bms_servers(self, req: Request) -> Reply:
        """BMS ListBareMetalServers pages by `offset`, a 1-based page number; `count` is
        what the page holds (see `baremetal`)."""
        servers, limit, in_scope = self._listing(req, "bms_servers", frozenset({"marker"}))
        if not in_scope:
            return Reply(200, raw=listings.envelope({"count": 0}, "servers", b"[]"))
        start = servers.page_start(req.int_arg("offset", 1), limit)
        shown = max(0, min(limit, len(servers) - start))
        array = servers.array(start, limit)
        return Reply(200, raw=listings.envelope({"count": shown}, "servers", array))

    def list_bms_flavors(self, req: Request) -> Reply:
        """The BMS flavors, all at once (the API does not page); `availability_zone` is
        taken: every simulated flavor is sold in every AZ."""
        extra = set(req.query) - {"availability_zone"}
        if extra:
            raise ApiError(400, UNSUPPORTED, f"the BMS flavors listing takes no {sorted(extra)}")
        flavors = self._view(req.cloud).listing("bms_flavors")
        return Reply(200, raw=listings.envelope({}, "flavors", flavors.array(0, len(flavors))))

    def bms_attach(self, req: Request) -> Reply:
        """AddServerNics: one NIC by `subnet_id` (the BMS API cannot attach a port)."""
        nic = req.one_nic()
        unknown = sorted(set(nic) - {"subnet_id", "ip_address", "security_groups"})
        if unknown or not nic.get("subnet_id"):
            why = f"unknown {unknown}" if unknown else "subnet_id is required"
            raise ApiError(400, refusals.BMS_BAD_REQUEST, f"nics[0]: {why}")
        groups = nic.get("security_groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise ApiError(400, refusals.BMS_BAD_REQUEST, "security_groups: a list of {id}")
        spec = NewInterface(
            name="",
            subnet_id=str(nic["subnet_id"]),
            private_ip=str(nic["ip_address"]) if nic.get("ip_address") else None,
            security_group_ids=tuple(str(g.get("id") or "") for g in groups),
            managed=False,
        )
        server_id = req.params["server_id"]
        job_id = req.cloud.attach_bare_metal(server_id, spec)
        self._remember(job_id, "bms_attach", server_id, "")
        return Reply(200, {"job_id": job_id})

    def bms_detach(self, req: Request) -> Reply:
        port_id = str(req.one_nic().get("id") or "")
        if not port_id:
            raise ApiError(400, refusals.BMS_BAD_REQUEST, "nics[0].id is required")
        job_id = req.cloud.detach_bare_metal(req.params["server_id"], port_id)
        self._remember(job_id, "bms_detach", req.params["server_id"], port_id)
        return Reply(200, {"job_id": job_id})

    def bms_interfaces(self, req: Request) -> Reply:
        index = self._view(req.cloud).index
        server = index.server_by_id(req.params["server_id"])
        if server is None or not server.bare_metal:
            raise ApiError(404, refusals.BMS_SERVER_NOT_FOUND, "the BMS does not exist")
        return Reply(200, baremetal.interface_attachments(index, server))

    def bms_update_interface(self, req: Request) -> Reply:
        """UpdateBaremetalServerInterfaceAttachments: no body in the answer."""
        setter = req.cloud.set_bare_metal_delete_on_termination
        return self._update_interface(req, setter, refusals.BMS_BAD_REQUEST)

    def _remember(self, job_id: str, kind: str, server_id: str, port_id: str) -> None:
        with self._jobs_lock:
            self._jobs[job_id] = (kind, server_id, port_id)

    # -- VPC -------------------------------------------------------------------------

    def list_vpcs(self, req: Request) -> Reply:
        return self._catalog_page(req, "vpcs")

    def list_subnets(self, req: Request) -> Reply:
        return self._catalog_page(req, "subnets")

    def list_security_groups(self, req: Request) -> Reply:
        return self._catalog_page(req, "security_groups")

    def list_publicips(self, req: Request) -> Reply:
        return self._catalog_page(req, "publicips")

    def list_ports_v1(self, req: Request) -> Reply:
        return self._catalog_page(req, "ports_v1", key="ports")

    def _catalog_page(self, req: Request, name: str, key: str | None = None) -> Reply:
        """A page of a listing that pages by marker and says nothing else: the caller
        reads on after the last id until a page comes back empty."""
        items, limit, in_scope = self._listing(req, name)
        key = key or name
        if not in_scope:
            return Reply(200, raw=listings.envelope({}, key, b"[]"))
        array = items.array(items.after(req.arg("marker")), limit)
        return Reply(200, raw=listings.envelope({}, key, array))

    def _listing(
        self, req: Request, name: str, untaken: frozenset[str] = frozenset()
    ) -> tuple[listings.Listing, int, bool]:
        """The listing, the page size asked for (capped), and whether the request's
        enterprise project takes in the simulated cloud (all in project "0"). A filter
        the simulated cloud does not apply is refused, not ignored (and the paging
        parameters `untaken` that this API does not have)."""
        filters = sorted(set(req.query) - (PAGING_PARAMETERS - untaken))
        if filters:
            raise ApiError(400, UNSUPPORTED, f"the simulated cloud does not filter by {filters}")
        default, maximum = PAGE_SIZES[name]
        limit = req.int_arg("limit", default, maximum)
        found = self._view(req.cloud).listing(name)
        return found, limit, name not in ENTERPRISE_SCOPED or _in_enterprise_scope(req)

    def list_ports(self, req: Request) -> Reply:
        """VPC v3 ports: `page_info.next_marker` only while more ports follow."""
        ports, limit, _ = self._listing(req, "ports")
        start = ports.after(req.arg("marker"))
        chosen = ports.ids[start : start + limit]
        page_info: JsonDict = {"current_count": len(chosen)}
        if chosen:
            page_info["previous_marker"] = chosen[0]
        if chosen and start + limit < len(ports):
            page_info["next_marker"] = chosen[-1]
        fields = {"request_id": uuid.uuid4().hex, "page_info": page_info}
        return Reply(200, raw=listings.envelope(fields, "ports", ports.array(start, limit)))

    def show_port(self, req: Request) -> Reply:
        text = self._port_text(req, "ports")
        body = f'{{"port":{text},"request_id":"{uuid.uuid4().hex}"}}'
        return Reply(200, raw=body.encode())

    def show_port_v1(self, req: Request) -> Reply:
        return Reply(200, raw=b'{"port":' + self._port_text(req, "ports_v1").encode() + b"}")

    def _port_text(self, req: Request, name: str) -> str:
        ports = self._view(req.cloud).listing(name)
        found = ports.get(req.params["port_id"])
        if found is None:
            raise ApiError(404, refusals.PORT_NOT_FOUND, "the port does not exist")
        return found

    def show_port_tags(self, req: Request) -> Reply:
        index = self._view(req.cloud).index
        port_id = req.params["port_id"]
        iface = index.interface_by_id(port_id)
        if iface is None and not index.other_port(port_id):
            raise ApiError(404, refusals.PORT_NOT_FOUND, "the port does not exist")
        tags = network.tags(iface) if iface is not None else []
        return Reply(200, {"tags": tags, "request_id": uuid.uuid4().hex})

    def create_port(self, req: Request) -> Reply:
        port = req.object("port")
        fixed = port.get("fixed_ips") or []
        private_ip = fixed[0].get("ip_address") if fixed and isinstance(fixed[0], dict) else None
        unsupported = sorted(set(port) - {"name", "network_id", "fixed_ips", "security_groups"})
        if unsupported:
            raise ApiError(400, UNSUPPORTED, f"the simulated cloud does not set {unsupported}")
        spec = NewInterface(
            name=_port_name(port),
            subnet_id=str(port.get("network_id") or ""),
            private_ip=str(private_ip) if private_ip else None,
            security_group_ids=tuple(str(g) for g in port.get("security_groups") or ()),
            managed=False,
        )
        port_id = req.cloud.create_interface(spec)
        return Reply(201, {"port": self._port_v1(req.cloud, port_id, spec)})

    def update_port(self, req: Request) -> Reply:
        """UpdatePort changes a port's name and security groups (both at once, too)."""
        port = req.object("port")
        port_id = req.params["port_id"]
        unsupported = sorted(set(port) - {"name", "security_groups"})
        if unsupported:
            raise ApiError(400, UNSUPPORTED, f"the simulated cloud does not update {unsupported}")
        if "name" in port:
            req.cloud.rename_interface(port_id, _port_name(port))
        if "security_groups" in port:
            groups = tuple(str(g) for g in port.get("security_groups") or ())
            req.cloud.update_security_groups(port_id, groups)
        return Reply(200, {"port": self._port_v1(req.cloud, port_id, None)})

    def delete_port(self, req: Request) -> Reply:
        req.cloud.delete_interface(req.params["port_id"])
        return Reply(204)

    def tag_port(self, req: Request) -> Reply:
        tag = req.object("tag")
        if tag.get("key") == FAILOVER_TAG_KEY:
            seconds = str(tag.get("value"))
            if not seconds.isdigit():
                message = f"{FAILOVER_TAG_KEY} must be epoch seconds, got {seconds!r}"
                raise ApiError(400, "", message)
            req.cloud.set_failover_time(req.params["port_id"], float(seconds))
            return Reply(204)
        if tag.get("key") == PROTECT_TAG_KEY:
            protect = str(tag.get("value")) == MANAGED_TAG_VALUE
            req.cloud.set_protected(req.params["port_id"], protect)
            return Reply(204)
        if tag.get("key") != MANAGED_TAG_KEY:
            raise ApiError(
                400,
                UNSUPPORTED,
                f"the simulated cloud keeps only the {MANAGED_TAG_KEY}, {PROTECT_TAG_KEY} and "
                f"{FAILOVER_TAG_KEY} tags",
            )
        owner = owners.from_tag_value(tag.get("value"))
        if owner is None:  # enictl-managed=false: not managed
            req.cloud.clear_managed(req.params["port_id"])
        else:
            req.cloud.set_managed(req.params["port_id"], owner)
        return Reply(204)

    def untag_port(self, req: Request) -> Reply:
        """BatchDeletePortTags: idempotent, a tag that is not there is no error (as the
        VPC reference says); enictl's markers are cleared, other keys were never kept."""
        tags = req.body.get("tags")
        if not isinstance(tags, list) or not tags:
            raise ApiError(400, UNSUPPORTED, "tags must be a non-empty list of {key}")
        keys = [t.get("key") if isinstance(t, dict) else None for t in tags]
        if not all(isinstance(k, str) and k for k in keys):
            raise ApiError(400, UNSUPPORTED, "every tag needs a non-empty key")
        port_id = req.params["port_id"]
        if MANAGED_TAG_KEY in keys:
            req.cloud.clear_managed(port_id)
        if PROTECT_TAG_KEY in keys:
            req.cloud.set_protected(port_id, False)
        if not {MANAGED_TAG_KEY, PROTECT_TAG_KEY} & set(keys):
            self._port_text(req, "ports")  # still a 404 for a port that is not there
        return Reply(204)

    def _port_v1(self, cloud: ServedCloud, port_id: str, spec: NewInterface | None) -> JsonDict:
        """The port as it is now; if observing fails (an injected fault), what is known,
        so that the mutation that already happened is still reported as done."""
        index = self._index_or_none(cloud)
        found = index.interface_by_id(port_id) if index else None
        if index is not None and found is not None:
            return network.port_v1(index, found)
        partial: JsonDict = {"id": port_id, "status": "DOWN", "device_id": "", "device_owner": ""}
        if spec is not None:
            partial.update(name=spec.name, network_id=spec.subnet_id)
        return partial

    def _index_or_none(self, cloud: ServedCloud) -> Index | None:
        try:
            return self._view(cloud).index
        except ProviderError:
            return None

    # -- EIP -------------------------------------------------------------------------

    def update_publicip(self, req: Request) -> Reply:
        """Bind (`port_id`) or unbind (`port_id` empty or absent); the answer is the whole
        public IP as it is then."""
        publicip = req.object("publicip")
        if "alias" in publicip or "ip_version" in publicip:
            raise ApiError(400, UNSUPPORTED, "the simulated cloud changes only an EIP's port_id")
        eip_id, port_id = req.params["publicip_id"], publicip.get("port_id")
        if port_id:
            req.cloud.bind_eip(eip_id, str(port_id))
        else:
            req.cloud.unbind_eip(eip_id)
        index = self._index_or_none(req.cloud)
        names = {e.id: n for n, e in index.topology.catalog.eips.items()} if index else {}
        if index is None or eip_id not in names:
            return Reply(200, {"publicip": {"id": eip_id, "port_id": port_id or None}})
        return Reply(200, {"publicip": network.publicip(index, names[eip_id], updated=True)})

    def _view(self, cloud: ServedCloud) -> listings.View:
        """The cloud as it is now: one `observe` call, and a new observation only when
        the cloud changed since the last one."""
        with self._view_lock:
            last = self._last
            version, topology = cloud.observe_unless(last.version if last else None)
            if topology is None and last is not None:
                return last
            if topology is None:
                topology = cloud.observe()
            with gc_paused():
                index = Index.of(topology, self.project_id)
                self._last = listings.View(version, index, last)
            return self._last


def _port_name(port: JsonDict) -> str:
    """A port's name as VPC takes it: 0 to 255 characters."""
    name = port.get("name")
    if name is None:
        return ""
    if not isinstance(name, str) or len(name) > MAX_PORT_NAME:
        raise ApiError(400, "", f"port.name must be a string of at most {MAX_PORT_NAME} characters")
    return name


def _in_enterprise_scope(req: Request) -> bool:
    """Whether the listing's `enterprise_project_id` (none: every project) takes in the
    default enterprise project, where all of the simulated cloud is."""
    wanted = req.arg("enterprise_project_id")
    if wanted is None or wanted in (ALL_ENTERPRISE_PROJECTS, "0"):
        return True
    if not _ENTERPRISE_PROJECT_ID.match(wanted):
        raise ApiError(
            400,
            "",
            f"enterprise_project_id must be a UUID, 0 or {ALL_ENTERPRISE_PROJECTS}, got {wanted!r}",
        )
    return False
