"""One SDK call of the huaweicloud provider: its JSON body, its failure mapped onto ours.

Every SDK failure is mapped once, in `classify`, onto `TransientProviderError` (retry
later may succeed) or `PermanentProviderError`, keeping the cloud's code and message.
What each code means is one table, `CODES`, each row with its source; a code the table
does not know is transient when its HTTP status is 429 or 5xx. Connection failures and
timeouts are transient; an answer that is not JSON is permanent.

Nested codes are read: ECS may answer a batch NIC call with an outer code and the real
cause in `error.details[].code` (e.g. `Ecs.0100`, "server status does not allow it",
inside `Ecs.1200`). The SDK's exception keeps only the outer code, so the clients are
built with `settings.keeping_bodies()`, an SDK exception handler that also keeps the parsed body
on the exception; `classify` then reports the inner code (the step runner waits for a
server on `Ecs.0100` wherever it came from).

Listing pages skip the SDK's model building (`as_json`, `JsonBody`): they still go
the SDK's request path (endpoint, signing, errors) but are kept as the JSON it parsed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.errors import PermanentProviderError, ProviderError, TransientProviderError
from controller.providers.huaweicloud import ratelimit
from controller.providers.huaweicloud.settings import BODY, ENV_AK, ENV_PROJECT, ENV_SK

JsonDict = dict[str, Any]

ECS_DOC = "ECS API reference, Error Codes (support.huaweicloud.com/api-ecs/ecs_07_0002.html)"
VPC_DOC = "VPC API reference, Error Codes (support.huaweicloud.com/api-vpc/vpc_api_0003.html)"
EIP_DOC = "EIP API reference, Error Codes (support.huaweicloud.com/api-eip/ErrorCode.html)"
APIGW_DOC = "API Gateway error codes (support.huaweicloud.com/devg-apisign/api-sign-errorcode.html)"
BMS_DOC = "BMS API reference, Error Codes (support.huaweicloud.com/api-bms/bms_api_0802.html)"
BMS_GUESS = "the simulator's choice: ECS's number for the same refusal (BMS lists no such row)"
TERRAFORM = "terraform-provider-huaweicloud (huaweicloud/config/config.go: 429 backs off)"
OTHERS = "other Huawei Cloud clients treat it as throttling (unconfirmed)"


@dataclass(frozen=True, slots=True)
class Code:
    """One error code the provider can meet: what it means, whether to retry, where from."""

    code: str
    status: int | None  # the HTTP status it is documented with (None: not documented)
    transient: bool
    meaning: str
    source: str


CODES: dict[str, Code] = {
    row.code: row
    for row in (
        Code("Ecs.0003", 403, False, "no permission (a primary NIC cannot be detached)", ECS_DOC),
        Code("Ecs.0005", 400, False, "invalid parameter values", ECS_DOC),
        Code("Ecs.0010", 400, False, "the private IP address is already in use", ECS_DOC),
        Code("Ecs.0012", 400, False, "the subnet has no free IP address", ECS_DOC),
        Code("Ecs.0014", 400, False, "incorrect VPC, subnet or security group", ECS_DOC),
        Code("Ecs.0038", 400, False, "the subnet does not exist", ECS_DOC),
        Code("Ecs.0039", 400, False, "the IP address is not in the subnet", ECS_DOC),
        Code("Ecs.0050", 400, False, "NIC count over the flavor's quota", ECS_DOC),
        Code("Ecs.0064", 400, False, "the VPC differs from the primary NIC's", ECS_DOC),
        Code("Ecs.0085", 400, False, "the server does not have that NIC", ECS_DOC),
        Code("Ecs.0100", 400, False, "the server's status does not allow it", ECS_DOC),
        Code("Ecs.0114", 404, False, "the server does not exist", ECS_DOC),
        Code("Ecs.0201", None, False, "creating the NIC failed", ECS_DOC),
        Code("Ecs.0217", None, False, "attaching the NIC failed (a job's failure)", ECS_DOC),
        Code("Ecs.0507", None, False, "deleting the NIC failed (a job's failure)", ECS_DOC),
        Code("Ecs.0603", 501, True, "other operations running: try again 1 minute later", ECS_DOC),
        Code("Ecs.0919", 400, False, "the NIC is attached to another instance", ECS_DOC),
        Code("Ecs.1002", None, True, "backend timeout (unconfirmed)", ECS_DOC),
        Code("Ecs.1200", None, False, "a batch NIC call failed: the cause is nested", ECS_DOC),
        Code("Common.0011", 400, False, "the job does not exist", ECS_DOC),
        Code("BMS.0001", 400, False, "invalid request (BMS)", BMS_DOC),
        Code("BMS.0010", 400, False, "the IP address is in use (BMS, unconfirmed)", BMS_GUESS),
        Code("BMS.0050", 400, False, "NIC count over baremetal:net_num (unconfirmed)", BMS_GUESS),
        Code("BMS.0064", 400, False, "the subnet's VPC is not the BMS's (unconfirmed)", BMS_GUESS),
        Code("BMS.0085", 400, False, "the BMS does not have that NIC (unconfirmed)", BMS_GUESS),
        Code("BMS.0100", 400, False, "the BMS's status does not allow it (unconfirmed)", BMS_GUESS),
        Code("BMS.0114", 404, False, "the BMS does not exist (unconfirmed)", BMS_GUESS),
        Code("BMS.0217", None, False, "adding the NIC failed (a job's, unconfirmed)", BMS_GUESS),
        Code("BMS.0507", None, False, "deleting the NIC failed (a job's, unconfirmed)", BMS_GUESS),
        Code("BMS.0603", 501, True, "other NIC operations running (unconfirmed)", BMS_GUESS),
        Code("Common.0024", None, True, "throttled (unconfirmed)", OTHERS),
        Code("Common.1503", None, True, "throttled (unconfirmed)", OTHERS),
        Code("VPC.0002", 400, False, "invalid request", VPC_DOC),
        Code("VPC.0504", 404, False, "the EIP does not exist", EIP_DOC),
        Code("VPC.0509", 500, False, "the port already has an EIP", EIP_DOC),
        Code("VPC.0510", None, False, "the EIP is already bound (unconfirmed)", EIP_DOC),
        Code("VPC.0511", None, False, "the port already has an EIP (unconfirmed)", EIP_DOC),
        Code("VPC.0512", 409, True, "the resource is busy (an EIP update during a move)", EIP_DOC),
        Code("VPC.0603", 404, False, "the security group does not exist", VPC_DOC),
        Code("VPC.0701", 409, False, "the IP address is in use (create port)", VPC_DOC),
        Code("VPC.2500", 400, False, "invalid port parameters (create port)", VPC_DOC),
        Code("VPC.0704", 404, False, "the port does not exist", VPC_DOC),
        Code("VPC.0707", 409, False, "the port is in use", VPC_DOC),
        Code("VPC.2500", 400, False, "invalid create-port parameters", VPC_DOC),
        Code("APIGW.0101", 404, False, "no such API", APIGW_DOC),
        Code("APIGW.0301", 401, False, "authentication failed", APIGW_DOC),
        Code("APIGW.0308", 429, True, "throttled: over the API's request quota", APIGW_DOC),
    )
}
THROTTLED = frozenset({"APIGW.0308", "Common.0024", "Common.1503"})


def transient(code: str, status: int) -> bool:
    """Whether a call refused with `code` (and HTTP `status`) may succeed if retried:
    the table's word, else 429 and 5xx are."""
    row = CODES.get(code)
    if row is not None:
        return row.transient
    return status == 429 or status >= 500


def throttled(error: ProviderError) -> bool:
    """Whether the cloud refused the call for the request quota (slow down)."""
    return error.status == 429 or error.code in THROTTLED


def call_json(
    call: Callable[[Any], Any],
    request: Any,
    sdk_exceptions: Any,
    bucket: ratelimit.Bucket | None = None,
) -> JsonDict:
    """Call the SDK, after a token from the service's `bucket` (when limited); return
    the response's JSON body ({} when empty). A throttled call slows the bucket down."""
    import requests

    if bucket is not None:
        bucket.take()
    try:
        response = call(request)
    except (sdk_exceptions.SdkException, requests.exceptions.RequestException) as exc:
        error = classify(exc, sdk_exceptions)
        if bucket is not None and throttled(error):
            bucket.throttled()
        raise error from exc
    if isinstance(response, JsonBody):
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


class JsonBody:
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


def as_json(call: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The same SDK operation answering a `JsonBody`, through the generated client's
    request builder (`_<operation>_http_info`) and `do_http_request`; the operation
    itself on an SDK without such builders (or for a test double)."""
    client = getattr(call, "__self__", None)
    build = getattr(type(client), f"_{getattr(call, '__name__', '')}_http_info", None)
    if client is None or build is None:
        return call

    def invoke(request: Any) -> Any:
        info = dict(build(request))
        info["response_type"] = JsonBody
        return client.do_http_request(**info)

    return invoke


def classify(exc: Exception, sdk_exceptions: Any) -> ProviderError:
    """An SDK (or transport) failure as a transient or permanent provider error."""
    import requests

    if isinstance(exc, sdk_exceptions.ServiceResponseException):
        status = int(exc.status_code)
        code = str(exc.error_code or status)
        message = str(exc.error_msg or f"HTTP {status}")
        for inner_code, inner_message in nested(getattr(exc, BODY, None)):
            code, message = inner_code, f"{inner_message or message} (in {code}: {message})"
            break
        if status == 401:
            message += f" (check {ENV_AK} / {ENV_SK} and {ENV_PROJECT})"
        kind = TransientProviderError if transient(code, status) else PermanentProviderError
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


def nested(body: object) -> list[tuple[str, str]]:
    """The (code, message) pairs of an error body's `error.details` (or top-level
    `details`), the ones this table knows first."""
    if not isinstance(body, Mapping):
        return []
    error = body.get("error")
    details = error.get("details") if isinstance(error, Mapping) else None
    if details is None:
        details = body.get("details")
    found = (
        [
            (str(d["code"]), str(d.get("message") or d.get("msg") or ""))
            for d in details or ()
            if isinstance(d, Mapping) and d.get("code")
        ]
        if isinstance(details, list)
        else []
    )
    return sorted(found, key=lambda pair: pair[0] not in CODES)
