"""Huawei Cloud's error codes, classified as the cloud means them (`huaweicloud.errors`).

Each answer is built the way the SDK sees one: a real-shaped JSON body in a
`requests.Response`, turned into the SDK's exception by the SDK's own exception
handler (wrapped by `keeping_bodies`, as the provider's clients are), then
classified. The codes the simulator can answer are also driven through `enictl sim
serve` in test_huaweicloud_provider.py and test_retry_ratelimit.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from huaweicloudsdkcore.exceptions import exceptions as sdk
from huaweicloudsdkcore.exceptions.exception_handler import DefaultExceptionHandler

from controller.errors import ProviderError
from controller.execution import steps
from controller.providers.huaweicloud import errors, settings
from controller.providers.sim import refusals


def answer(status: int, body: dict[str, Any]) -> Exception:
    """The SDK's exception for an HTTP answer `status` with JSON `body`."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.encoding = "utf-8"
    response.headers["X-Request-Id"] = "req-1"
    with pytest.raises(sdk.ServiceResponseException) as raised:
        settings.keeping_bodies(DefaultExceptionHandler).handle_exception(None, response)
    return raised.value


def classified(status: int, body: dict[str, Any]) -> ProviderError:
    return errors.classify(answer(status, body), sdk)


def ecs(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def vpc(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def apigw(code: str, message: str) -> dict[str, Any]:
    return {"error_code": code, "error_msg": message, "request_id": "req-1"}


@pytest.mark.parametrize(
    ("status", "body", "code", "transient"),
    [
        (501, ecs("Ecs.0603", "Other operations are running. Try again 1 minute later."),
         "Ecs.0603", True),
        (409, vpc("VPC.0512", "The resource status is busy."), "VPC.0512", True),
        (500, vpc("VPC.0701", "The IP address is already in use."), "VPC.0701", False),
        (500, vpc("VPC.0509", "The port already has an EIP."), "VPC.0509", False),
        (429, apigw("APIGW.0308", "The throttling threshold has been reached"),
         "APIGW.0308", True),
        (400, ecs("Ecs.0050", "The NIC quota of the flavor is exceeded."), "Ecs.0050", False),
        (400, ecs("Ecs.0100", "The ECS status does not support this operation."),
         "Ecs.0100", False),
        (401, apigw("APIGW.0301", "Incorrect IAM authentication information"),
         "APIGW.0301", False),
    ],
)  # fmt: skip
def test_each_code_is_classified_as_the_cloud_means_it(
    status: int, body: dict[str, Any], code: str, transient: bool
) -> None:
    """The table decides, not the status: VPC.0701 at 500 is permanent, VPC.0512 at 409
    transient; the cloud's code and status are kept."""
    error = classified(status, body)
    assert (error.code, error.status, error.transient) == (code, status, transient)


@pytest.mark.parametrize(
    ("status", "transient"), [(429, True), (500, True), (503, True), (400, False), (404, False)]
)
def test_a_code_the_table_does_not_know_goes_by_its_status(status: int, transient: bool) -> None:
    """An unknown code is transient at 429 and 5xx, permanent at other 4xx."""
    assert classified(status, ecs("Ecs.9999", "something new")).transient is transient


def test_a_nested_code_is_the_one_reported() -> None:
    """Ecs.0100 inside Ecs.1200 (`error.details[].code`) is reported as Ecs.0100, which
    the step runner waits on (server not ready), with both messages kept."""
    body = ecs(
        "Ecs.1200",
        "Batch operation failed.",
        details=[{"code": "Ecs.0100", "message": "The ECS status does not support it."}],
    )
    error = classified(400, body)
    assert error.code == "Ecs.0100" and not error.transient
    assert error.code in steps.NOT_READY_CODES
    assert "does not support it" in error.message and "Ecs.1200" in error.message


def test_among_nested_codes_a_known_one_wins() -> None:
    """Details listing an unknown code before a known one report the known one."""
    details = [{"code": "Ecs.9998", "message": "?"}, {"code": "Ecs.0603", "message": "busy"}]
    error = classified(400, ecs("Ecs.1200", "Batch operation failed.", details=details))
    assert (error.code, error.transient) == ("Ecs.0603", True)


def test_throttling_is_recognised_and_says_nothing_of_credentials() -> None:
    """429 APIGW.0308 is throttling (the rate limiter slows down on it); only a 401
    adds the hint to check the keys."""
    throttled = classified(429, apigw("APIGW.0308", "over the quota"))
    refused = classified(401, apigw("APIGW.0301", "bad signature"))
    assert errors.throttled(throttled) and not errors.throttled(refused)
    assert "HUAWEICLOUD_SDK_AK" not in throttled.message
    assert "HUAWEICLOUD_SDK_AK" in refused.message


def test_every_row_names_its_source() -> None:
    """Each code of the table says where its meaning comes from."""
    assert all(row.source and row.meaning for row in errors.CODES.values())
    assert all(code == row.code for code, row in errors.CODES.items())


def test_the_simulator_refuses_as_the_table_classifies() -> None:
    """Every code the simulated cloud answers is transient there exactly when the table
    says so, and answers the documented status where the table documents one for a
    transient code."""
    codes = [
        value
        for name, value in vars(refusals).items()
        if name.isupper() and isinstance(value, str) and "." in value
    ]
    for code in codes:
        refusal = refusals.refuse(code, "x")
        row = errors.CODES.get(code)
        if row is None:
            assert code.startswith("Sim."), f"{code} is missing from the table"
            continue
        assert refusal.transient is row.transient, code
        if row.transient and row.status is not None:
            assert refusal.status == row.status, code
