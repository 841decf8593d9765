"""The simulated cloud's Huawei Cloud API: routes, request bodies, answers and error bodies.

`HuaweiApi.handle()` takes one authenticated request (method, path, query, body) and
returns a `Reply`; it knows nothing of sockets (`simserver` does the HTTP). Every
request is one or two calls of a `SimCloud`, so the simulated cloud's enforcement,
latency, fault injection and call log apply: a list page is one `observe` call (and
one line of `sim log`), a mutation is its own verb.

List pages come from the last observation the API keeps (`simlistings.View`): a
list page is one `observe_unless(version)` call, which reads the cloud again only when
it changed since, and a slice of a listing already written as JSON.

The subset served is what the huaweicloud provider uses:

| service | method and path (after `/v1/{project_id}` or `/v3/{project_id}`) |
|---|---|
| ECS | GET `cloudservers/detail` (limit, offset = page number), GET `cloudservers/flavors` |
| ECS | POST `cloudservers/{id}/nics` (one NIC by `port_id`), POST `cloudservers/{id}/nics/delete` |
| ECS | GET `cloudservers/{id}/os-interface`, PUT `cloudservers/{id}/os-interface/{port}` |
| ECS | POST `cloudservers/action` (`os-stop`, one server: the fence of a failover) |
| ECS | GET `jobs/{job_id}` |
| VPC v1 | GET `vpcs`, `subnets`, `security-groups` (limit, marker) |
| VPC v1 | POST `ports`, PUT / DELETE `ports/{id}` |
| VPC v3 | GET `ports` (limit, marker, `page_info`), POST `ports/{id}/tags` (the markers) |
| EIP v1 | GET `publicips` (limit, marker), PUT `publicips/{id}` (bind / unbind) |

Error bodies follow each service: ECS `{"error": {"code", "message"}}`, VPC/EIP v1
`{"code", "message"}`, VPC v3 `{"request_id", "error_code", "error_msg"}`; the status
is the simulated cloud's (`simerrors`). Codes that only the simulator uses start with
`Sim.`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from controller.errors import ProviderError
from controller.gcpause import gc_paused
from controller.model import Topology
from controller.providers.base import NewInterface, Provider
from controller.providers.huaweicloud.topology import (
    FAILOVER_TAG_KEY,
    MANAGED_TAG_KEY,
    MANAGED_TAG_VALUE,
    PROTECT_TAG_KEY,
)
from controller.providers.sim import refusals
from controller.providers.sim.serve import listings
from controller.providers.sim.serve import shapes as shapes

JsonDict = dict[str, Any]
Query = Mapping[str, Sequence[str]]

SERVER_PAGE_DEFAULT, SERVER_PAGE_MAX = 25, 1000
PORT_PAGE_DEFAULT, PORT_PAGE_MAX = 2000, 2000
LIST_PAGE_DEFAULT, LIST_PAGE_MAX = 2000, 2000
NO_SUCH_API = "APIGW.0101"
UNSUPPORTED = "Sim.0002"
BAD_REQUEST = {
    "ecs": refusals.BAD_PARAMETER,
    "vpc": "VPC.0002",
    "vpc3": "VPC.0002",
    "eip": "VPC.0002",
}


class ServedCloud(Provider, Protocol):
    """What the API needs of the simulated cloud (SimCloud has all of it): the Provider
    verbs, a cached observe, and clearing the managed tag."""

    def observe_unless(self, version: str | None) -> tuple[str, Topology | None]: ...
    def set_managed(self, interface_id: str, managed: bool = True) -> None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: a JSON body as values, or (for list pages) already encoded in `raw`."""

    status: int
    body: JsonDict | None = None
    raw: bytes | None = None


class ApiError(Exception):
    """A refusal of the API layer itself (bad request, unknown route)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class _Request:
    cloud: ServedCloud
    params: Mapping[str, str]
    query: Query
    body: JsonDict

    def int_arg(self, name: str, default: int, maximum: int | None = None) -> int:
        values = self.query.get(name)
        if not values or values[0] == "":
            return default
        try:
            value = int(values[0])
        except ValueError:
            raise ApiError(400, "", f"query parameter {name} must be an integer") from None
        if value < 0:
            raise ApiError(400, "", f"query parameter {name} must be >= 0")
        return min(value, maximum) if maximum is not None else value

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class HuaweiApi:
    """Routes requests for one project to a simulated cloud."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self._jobs: dict[str, tuple[str, str, str]] = {}  # job id -> kind, server, port
        self._jobs_lock = threading.Lock()
        self._last: listings.View | None = None
        self._view_lock = threading.Lock()

    def handle(
        self, cloud: ServedCloud, method: str, path: str, query: Query, body: bytes
    ) -> Reply:
        route, params = _route(method, path)
        if route is None:
            return _error("vpc3", ApiError(404, NO_SUCH_API, f"no API {method} {path}"))
        service, handler_name = route
        handler: Callable[[_Request], Reply] = getattr(self, handler_name)
        if params.pop("project_id") != self.project_id:
            error = ApiError(404, "Sim.0003", "this project does not exist here")
            return _error(service, error)
        try:
            parsed = _json_body(body)
            return handler(_Request(cloud, params, query, parsed))
        except ApiError as exc:
            if not exc.code:
                exc.code = BAD_REQUEST[service]
            return _error(service, exc)
        except ProviderError as exc:
            return _error(service, ApiError(exc.status or 400, exc.code, exc.message))

    # -- ECS -------------------------------------------------------------------------

    def list_servers(self, req: _Request) -> Reply:
        limit = req.int_arg("limit", SERVER_PAGE_DEFAULT, SERVER_PAGE_MAX)
        page = req.int_arg("offset", 1)
        servers = self._view(req.cloud).listing("servers")
        array = servers.array(servers.page_start(page, limit), limit)
        return Reply(200, raw=listings.envelope({"count": len(servers)}, "servers", array))

    def list_flavors(self, req: _Request) -> Reply:
        return self._catalog_page(req, "flavors", default=1000)

    def attach(self, req: _Request) -> Reply:
        nics = _list(req.body, "nics")
        port_id = str(nics[0].get("port_id") or "")
        if not port_id:
            raise ApiError(
                400, UNSUPPORTED, "the simulated cloud attaches existing ports only (port_id)"
            )
        job_id = req.cloud.attach(req.params["server_id"], port_id)
        self._remember(job_id, "attach", req.params["server_id"], port_id)
        return Reply(200, {"job_id": job_id})

    def detach(self, req: _Request) -> Reply:
        port_id = str(_list(req.body, "nics")[0].get("id") or "")
        if not port_id:
            raise ApiError(400, "", "nics[0].id is required")
        job_id = req.cloud.detach(req.params["server_id"], port_id)
        self._remember(job_id, "detach", req.params["server_id"], port_id)
        return Reply(200, {"job_id": job_id})

    def list_interfaces(self, req: _Request) -> Reply:
        index = self._view(req.cloud).index
        server = index.server_by_id(req.params["server_id"])
        if server is None:
            raise ApiError(404, refusals.SERVER_NOT_FOUND, "the server does not exist")
        return Reply(200, shapes.interface_attachments(index, server))

    def update_interface(self, req: _Request) -> Reply:
        attachment = req.body.get("interface_attachment")
        value = attachment.get("delete_on_termination") if isinstance(attachment, dict) else None
        if not isinstance(value, bool):
            raise ApiError(400, "", "interface_attachment.delete_on_termination must be a boolean")
        server_id, port_id = req.params["server_id"], req.params["port_id"]
        req.cloud.set_delete_on_termination(server_id, port_id, value)
        return Reply(
            200, {"interfaceAttachment": {"port_id": port_id, "delete_on_termination": value}}
        )

    def server_action(self, req: _Request) -> Reply:
        """BatchStopServers: `{"os-stop": {"type": "HARD", "servers": [{"id": ...}]}}` (one
        server per call here); the answer names the job. Other actions are not served."""
        stop = req.body.get("os-stop")
        if not isinstance(stop, dict):
            raise ApiError(400, UNSUPPORTED, "the simulated cloud serves only the os-stop action")
        kind = stop.get("type", "SOFT")
        if kind not in ("SOFT", "HARD"):
            raise ApiError(400, "", f"os-stop.type must be SOFT or HARD, got {kind!r}")
        server_id = str(_list(stop, "servers")[0].get("id") or "")
        if not server_id:
            raise ApiError(400, "", "os-stop.servers[0].id is required")
        job_id = req.cloud.stop_server(server_id)
        self._remember(job_id, "stop", server_id, "")
        return Reply(200, {"job_id": job_id})

    def show_job(self, req: _Request) -> Reply:
        job_id = req.params["job_id"]
        found = req.cloud.job(job_id)
        with self._jobs_lock:
            kind, server_id, port_id = self._jobs.get(job_id, ("attach", "", ""))
        return Reply(200, shapes.job(found, kind, server_id, port_id))

    def _remember(self, job_id: str, kind: str, server_id: str, port_id: str) -> None:
        with self._jobs_lock:
            self._jobs[job_id] = (kind, server_id, port_id)

    # -- VPC -------------------------------------------------------------------------

    def list_vpcs(self, req: _Request) -> Reply:
        return self._catalog_page(req, "vpcs")

    def list_subnets(self, req: _Request) -> Reply:
        return self._catalog_page(req, "subnets")

    def list_security_groups(self, req: _Request) -> Reply:
        return self._catalog_page(req, "security_groups")

    def list_publicips(self, req: _Request) -> Reply:
        return self._catalog_page(req, "publicips")

    def _catalog_page(self, req: _Request, key: str, default: int = LIST_PAGE_DEFAULT) -> Reply:
        """A page of a listing that pages by marker and says nothing else."""
        limit = req.int_arg("limit", default, LIST_PAGE_MAX)
        items = self._view(req.cloud).listing(key)
        array = items.array(items.after(req.arg("marker")), limit)
        return Reply(200, raw=listings.envelope({}, key, array))

    def list_ports(self, req: _Request) -> Reply:
        limit = req.int_arg("limit", PORT_PAGE_DEFAULT, PORT_PAGE_MAX)
        ports = self._view(req.cloud).listing("ports")
        start = ports.after(req.arg("marker"))
        chosen = ports.ids[start : start + limit]
        page_info: JsonDict = {"current_count": len(chosen)}
        if chosen:
            page_info["previous_marker"] = chosen[0]
        if chosen and start + limit < len(ports):
            page_info["next_marker"] = chosen[-1]
        fields = {"request_id": uuid.uuid4().hex, "page_info": page_info}
        return Reply(200, raw=listings.envelope(fields, "ports", ports.array(start, limit)))

    def create_port(self, req: _Request) -> Reply:
        port = _object(req.body, "port")
        fixed = port.get("fixed_ips") or []
        private_ip = fixed[0].get("ip_address") if fixed and isinstance(fixed[0], dict) else None
        spec = NewInterface(
            name=str(port.get("name") or ""),
            subnet_id=str(port.get("network_id") or ""),
            private_ip=str(private_ip) if private_ip else None,
            security_group_ids=tuple(str(g) for g in port.get("security_groups") or ()),
            managed=False,
        )
        port_id = req.cloud.create_interface(spec)
        return Reply(200, {"port": self._port_v1(req.cloud, port_id, spec)})

    def update_port(self, req: _Request) -> Reply:
        port = _object(req.body, "port")
        port_id = req.params["port_id"]
        if "security_groups" in port:
            groups = tuple(str(g) for g in port.get("security_groups") or ())
            req.cloud.update_security_groups(port_id, groups)
        return Reply(200, {"port": self._port_v1(req.cloud, port_id, None)})

    def delete_port(self, req: _Request) -> Reply:
        req.cloud.delete_interface(req.params["port_id"])
        return Reply(204)

    def tag_port(self, req: _Request) -> Reply:
        tag = _object(req.body, "tag")
        value = str(tag.get("value")) == MANAGED_TAG_VALUE
        if tag.get("key") == FAILOVER_TAG_KEY:
            seconds = str(tag.get("value"))
            if not seconds.isdigit():
                message = f"{FAILOVER_TAG_KEY} must be epoch seconds, got {seconds!r}"
                raise ApiError(400, "", message)
            req.cloud.set_failover_time(req.params["port_id"], float(seconds))
            return Reply(204)
        if tag.get("key") == PROTECT_TAG_KEY:
            req.cloud.set_protected(req.params["port_id"], value)
            return Reply(204)
        if tag.get("key") != MANAGED_TAG_KEY:
            raise ApiError(
                400,
                UNSUPPORTED,
                f"the simulated cloud keeps only the {MANAGED_TAG_KEY}, {PROTECT_TAG_KEY} and "
                f"{FAILOVER_TAG_KEY} tags",
            )
        req.cloud.set_managed(req.params["port_id"], value)
        return Reply(204)

    def _port_v1(self, cloud: ServedCloud, port_id: str, spec: NewInterface | None) -> JsonDict:
        """The port as it is now; if observing fails (an injected fault), what is known,
        so that the mutation that already happened is still reported as done."""
        try:
            index = self._view(cloud).index
        except ProviderError:
            index = None
        found = index.interface_by_id(port_id) if index else None
        if index is not None and found is not None:
            return shapes.port_v1(index, found)
        partial: JsonDict = {"id": port_id, "status": "DOWN", "device_id": "", "device_owner": ""}
        if spec is not None:
            partial.update(name=spec.name, network_id=spec.subnet_id)
        return partial

    # -- EIP -------------------------------------------------------------------------

    def update_publicip(self, req: _Request) -> Reply:
        publicip = _object(req.body, "publicip")
        eip_id, port_id = req.params["publicip_id"], publicip.get("port_id")
        if port_id:
            req.cloud.bind_eip(eip_id, str(port_id))
        else:
            req.cloud.unbind_eip(eip_id)
        return Reply(200, {"publicip": {"id": eip_id, "port_id": port_id or None}})

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
                index = shapes.Index.of(topology, self.project_id)
                self._last = listings.View(version, index, last)
            return self._last


# ---------------------------------------------------------------- routing

_P = r"(?P<project_id>[^/]+)"
_ID = r"[^/]+"
_ROUTES: list[tuple[str, re.Pattern[str], str, str]] = [
    (m, re.compile(f"^{p}/?$"), service, handler)
    for m, p, service, handler in [
        ("GET", f"/v1/{_P}/cloudservers/detail", "ecs", "list_servers"),
        ("GET", f"/v1/{_P}/cloudservers/flavors", "ecs", "list_flavors"),
        ("POST", f"/v1/{_P}/cloudservers/(?P<server_id>{_ID})/nics", "ecs", "attach"),
        (
            "POST",
            f"/v1/{_P}/cloudservers/(?P<server_id>{_ID})/nics/delete",
            "ecs",
            "detach",
        ),
        (
            "GET",
            f"/v1/{_P}/cloudservers/(?P<server_id>{_ID})/os-interface",
            "ecs",
            "list_interfaces",
        ),
        (
            "PUT",
            f"/v1/{_P}/cloudservers/(?P<server_id>{_ID})/os-interface/(?P<port_id>{_ID})",
            "ecs",
            "update_interface",
        ),
        ("POST", f"/v1/{_P}/cloudservers/action", "ecs", "server_action"),
        ("GET", f"/v1/{_P}/jobs/(?P<job_id>{_ID})", "ecs", "show_job"),
        ("GET", f"/v1/{_P}/vpcs", "vpc", "list_vpcs"),
        ("GET", f"/v1/{_P}/subnets", "vpc", "list_subnets"),
        ("GET", f"/v1/{_P}/security-groups", "vpc", "list_security_groups"),
        ("POST", f"/v1/{_P}/ports", "vpc", "create_port"),
        ("PUT", f"/v1/{_P}/ports/(?P<port_id>{_ID})", "vpc", "update_port"),
        ("DELETE", f"/v1/{_P}/ports/(?P<port_id>{_ID})", "vpc", "delete_port"),
        ("GET", f"/v3/{_P}/ports", "vpc3", "list_ports"),
        ("POST", f"/v3/{_P}/ports/(?P<port_id>{_ID})/tags", "vpc3", "tag_port"),
        ("GET", f"/v1/{_P}/publicips", "eip", "list_publicips"),
        ("PUT", f"/v1/{_P}/publicips/(?P<publicip_id>{_ID})", "eip", "update_publicip"),
    ]
]


def _route(method: str, path: str) -> tuple[tuple[str, str] | None, dict[str, str]]:
    for route_method, pattern, service, handler in _ROUTES:
        found = pattern.match(path)
        if found and route_method == method:
            return (service, handler), dict(found.groupdict())
    return None, {}


def _json_body(body: bytes) -> JsonDict:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ApiError(400, "", "the request body is not JSON") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "", "the request body must be a JSON object")
    return parsed


def _object(body: JsonDict, key: str) -> JsonDict:
    value = body.get(key)
    if not isinstance(value, dict):
        raise ApiError(400, "", f"the request body needs an object {key!r}")
    return value


def _list(body: JsonDict, key: str) -> list[JsonDict]:
    value = body.get(key)
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise ApiError(400, "", f"{key} must hold exactly one object (one NIC per call here)")
    return value


def _error(service: str, exc: ApiError) -> Reply:
    if service == "ecs":
        return Reply(exc.status, {"error": {"code": exc.code, "message": exc.message}})
    if service == "vpc3":
        body = {"request_id": uuid.uuid4().hex, "error_code": exc.code, "error_msg": exc.message}
        return Reply(exc.status, body)
    return Reply(exc.status, {"code": exc.code, "message": exc.message})
