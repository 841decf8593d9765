"""One SDK call of the huaweicloud provider: its JSON body, its failure mapped onto ours.

Every SDK failure is mapped once, in `classify`, onto `TransientProviderError`
(HTTP 429 and 5xx, throttling and busy codes, connection failures, timeouts) or
`PermanentProviderError` (everything else), keeping the cloud's code and message.
An answer that is not JSON is a permanent error too.

Listing pages skip the SDK's model building (`as_json`, `JsonBody`): they still go
the SDK's request path (endpoint, signing, errors) but are kept as the JSON it parsed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from controller.errors import PermanentProviderError, ProviderError, TransientProviderError
from controller.providers.huaweicloud.settings import ENV_AK, ENV_PROJECT, ENV_SK

JsonDict = dict[str, Any]

TRANSIENT_CODES = frozenset({"Common.1503", "Ecs.0603", "Ecs.1002", "APIGW.0308"})


def call_json(call: Callable[[Any], Any], request: Any, sdk_exceptions: Any) -> JsonDict:
    """Call the SDK; return the response's JSON body ({} when empty)."""
    import requests

    try:
        response = call(request)
    except (sdk_exceptions.SdkException, requests.exceptions.RequestException) as exc:
        raise classify(exc, sdk_exceptions) from exc
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
