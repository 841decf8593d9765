"""What `sim serve` does with a request before and after its handler: the route table,
the parsed request, and the error bodies each service answers with.

| service | method and path (after `/v1/{project_id}` or `/v3/{project_id}`) |
|---|---|
| ECS | GET `cloudservers/detail` (limit; marker, or offset: a page number), GET `flavors` |
| ECS | POST `cloudservers/{id}/nics` (one NIC by `port_id`), POST `cloudservers/{id}/nics/delete` |
| ECS | GET `cloudservers/{id}/os-interface`, PUT `cloudservers/{id}/os-interface/{port}` |
| ECS | POST `cloudservers/action` (`os-stop`, one server: the fence of a failover) |
| ECS | GET `jobs/{job_id}` |
| VPC v1 | GET `vpcs`, `subnets`, `security-groups`, `ports` (limit, marker) |
| VPC v1 | POST `ports`, GET / PUT / DELETE `ports/{id}` |
| VPC v3 | GET `ports` (limit, marker, `page_info`), GET `ports/{id}`, GET/POST `.../tags` |
| VPC v3 | POST `ports/{id}/tags/delete` (BatchDeletePortTags: `enictl release`) |
| EIP v1 | GET `publicips` (limit, marker), PUT `publicips/{id}` (bind / unbind) |
| BMS | GET `baremetalservers/detail` (limit, offset: a page number), GET `.../flavors` |
| BMS | POST `baremetalservers/{id}/nics` (one NIC by `subnet_id`), POST `.../{id}/nics/delete` |
| BMS | GET `baremetalservers/{id}/os-interface`, PUT `baremetalservers/{id}/os-interface/{port}` |

ECS's and BMS's jobs share `GET /v1/{project_id}/jobs/{job_id}` (two hosts on Huawei
Cloud, one endpoint here): the answer has the shape of the API that made the job.

Error bodies follow each service: ECS and BMS `{"error": {"code", "message"}}` (ShowJob's own
`{"code", "message"}`), VPC/EIP v1 `{"code", "message"}`, VPC v3 `{"request_id",
"error_code", "error_msg"}`. The status is the simulated cloud's (`refusals`) except
where Huawei's reference says otherwise for what it answers (`SERVED`). Codes that only
the simulator uses start with `Sim.`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from controller.model import Topology
from controller.providers.base import Provider
from controller.providers.sim import refusals

JsonDict = dict[str, Any]
Query = Mapping[str, Sequence[str]]

NO_SUCH_API = "APIGW.0101"
UNSUPPORTED = "Sim.0002"
NO_SUCH_PROJECT = "Sim.0003"
PRIMARY_NIC_REFUSED = "Sim.0403"  # the real code is not documented, only HTTP 403
BAD_REQUEST = {
    "ecs": refusals.BAD_PARAMETER,
    "bms": refusals.BMS_BAD_REQUEST,
    "job": refusals.BAD_PARAMETER,
    "vpc": "VPC.0002",
    "vpc3": "VPC.0002",
    "eip": "VPC.0002",
}
# A refusal of the simulated cloud -> (status, code) as Huawei Cloud answers it: the
# primary NIC's detach is a 403 (BatchDeleteServerNics), which must not say Ecs.0003
# ("no permission"); an unknown job is 400 Common.0011 (ECS table).
SERVED = {
    refusals.PRIMARY_NIC: (403, PRIMARY_NIC_REFUSED),
    refusals.JOB_NOT_FOUND: (400, refusals.JOB_NOT_FOUND),
}


class ServedCloud(Provider, Protocol):
    """What the API needs of the simulated cloud (SimCloud has all of it): the Provider
    verbs and a cached observe."""

    def observe_unless(self, version: str | None) -> tuple[str, Topology | None]: ...


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

    @classmethod
    def served(cls, code: str, message: str, status: int | None) -> ApiError:
        """The simulated cloud's refusal as the API answers it (see SERVED)."""
        shown_status, shown_code = SERVED.get(code, (status or 400, code))
        return cls(shown_status, shown_code, message)


@dataclass(frozen=True, slots=True)
class Request:
    """One authenticated request: the cloud, the path's parameters, query and body."""

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

    def object(self, key: str) -> JsonDict:
        value = self.body.get(key)
        if not isinstance(value, dict):
            raise ApiError(400, "", f"the request body needs an object {key!r}")
        return value

    def one_nic(self) -> JsonDict:
        value = self.body.get("nics")
        if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
            raise ApiError(400, "", "nics must hold exactly one object (one NIC per call here)")
        nic: JsonDict = value[0]
        return nic


_P = r"(?P<project_id>[^/]+)"
_ID = r"[^/]+"
_SERVER = f"/v1/{_P}/cloudservers/(?P<server_id>{_ID})"
_BMS = f"/v1/{_P}/baremetalservers/(?P<server_id>{_ID})"
_ROUTES: list[tuple[str, re.Pattern[str], str, str]] = [
    (m, re.compile(f"^{p}/?$"), service, handler)
    for m, p, service, handler in [
        ("GET", f"/v1/{_P}/cloudservers/detail", "ecs", "list_servers"),
        ("GET", f"/v1/{_P}/cloudservers/flavors", "ecs", "list_flavors"),
        ("POST", f"{_SERVER}/nics", "ecs", "attach"),
        ("POST", f"{_SERVER}/nics/delete", "ecs", "detach"),
        ("GET", f"{_SERVER}/os-interface", "ecs", "list_interfaces"),
        ("PUT", f"{_SERVER}/os-interface/(?P<port_id>{_ID})", "ecs", "update_interface"),
        ("POST", f"/v1/{_P}/cloudservers/action", "ecs", "server_action"),
        ("GET", f"/v1/{_P}/jobs/(?P<job_id>{_ID})", "job", "show_job"),
        ("GET", f"/v1/{_P}/vpcs", "vpc", "list_vpcs"),
        ("GET", f"/v1/{_P}/subnets", "vpc", "list_subnets"),
        ("GET", f"/v1/{_P}/security-groups", "vpc", "list_security_groups"),
        ("GET", f"/v1/{_P}/ports", "vpc", "list_ports_v1"),
        ("POST", f"/v1/{_P}/ports", "vpc", "create_port"),
        ("GET", f"/v1/{_P}/ports/(?P<port_id>{_ID})", "vpc", "show_port_v1"),
        ("PUT", f"/v1/{_P}/ports/(?P<port_id>{_ID})", "vpc", "update_port"),
        ("DELETE", f"/v1/{_P}/ports/(?P<port_id>{_ID})", "vpc", "delete_port"),
        ("GET", f"/v3/{_P}/ports", "vpc3", "list_ports"),
        ("GET", f"/v3/{_P}/ports/(?P<port_id>{_ID})", "vpc3", "show_port"),
        ("GET", f"/v3/{_P}/ports/(?P<port_id>{_ID})/tags", "vpc3", "show_port_tags"),
        ("POST", f"/v3/{_P}/ports/(?P<port_id>{_ID})/tags", "vpc3", "tag_port"),
        ("GET", f"/v1/{_P}/baremetalservers/detail", "bms", "list_bms_servers"),
        ("GET", f"/v1/{_P}/baremetalservers/flavors", "bms", "list_bms_flavors"),
        ("POST", f"{_BMS}/nics", "bms", "bms_attach"),
        ("POST", f"{_BMS}/nics/delete", "bms", "bms_detach"),
        ("GET", f"{_BMS}/os-interface", "bms", "bms_interfaces"),
        ("PUT", f"{_BMS}/os-interface/(?P<port_id>{_ID})", "bms", "bms_update_interface"),
        ("POST", f"/v3/{_P}/ports/(?P<port_id>{_ID})/tags/delete", "vpc3", "untag_port"),
        ("GET", f"/v1/{_P}/publicips", "eip", "list_publicips"),
        ("PUT", f"/v1/{_P}/publicips/(?P<publicip_id>{_ID})", "eip", "update_publicip"),
    ]
]


def route(method: str, path: str) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """(service, handler name) and the path's parameters, or None for no such API."""
    for route_method, pattern, service, handler in _ROUTES:
        found = pattern.match(path)
        if found and route_method == method:
            return (service, handler), dict(found.groupdict())
    return None, {}


def json_body(body: bytes) -> JsonDict:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ApiError(400, "", "the request body is not JSON") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "", "the request body must be a JSON object")
    return parsed


def error(service: str, exc: ApiError) -> Reply:
    """The error body `service` answers with."""
    code = exc.code or BAD_REQUEST[service]
    if service in ("ecs", "bms"):
        return Reply(exc.status, {"error": {"code": code, "message": exc.message}})
    if service == "vpc3":
        body = {"request_id": uuid.uuid4().hex, "error_code": code, "error_msg": exc.message}
        return Reply(exc.status, body)
    return Reply(exc.status, {"code": code, "message": exc.message})
