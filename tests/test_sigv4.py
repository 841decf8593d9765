"""SDK-HMAC-SHA256: our verifier accepts exactly what the official SDK signs."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from controller.providers.sim.serve import sigv4

AK, SK = "TESTACCESSKEY0000000", "test-secret-key-that-must-never-show-up"
KEYS = {AK: SK}
SIGNED_AT = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
SDK_DATE = SIGNED_AT.strftime(sigv4.DATE_FORMAT)


def sdk_signed(
    method: str,
    path: str,
    query: list[tuple[str, Any]] | None = None,
    body: bytes = b"",
) -> tuple[str, str, dict[str, str], bytes]:
    """Sign a request with the SDK's own Signer; return (path, raw query, headers, body)."""
    request = SdkRequest(
        method=method,
        schema="http",
        host="127.0.0.1:8080",
        resource_path=path,
        query_params=query or [],
        header_params={
            "Content-Type": "application/json",
            "User-Agent": "huaweicloud-usdk-python/3.0",
            "X-Sdk-Date": SDK_DATE,
        },
        body=body,
    )
    Signer(BasicCredentials(AK, SK, "p")).sign(request)
    raw_query = request.uri.partition("?")[2]
    headers = {k.lower(): v for k, v in request.header_params.items()}
    return path, raw_query, headers, body


def verify(method: str, parts: tuple[str, str, dict[str, str], bytes], **kw: Any) -> str:
    path, raw_query, headers, body = parts
    return sigv4.verify(method, path, raw_query, headers, body, KEYS, now=SIGNED_AT, **kw)


CASES = [
    ("GET", "/v1/p/cloudservers/detail", [("limit", 2), ("offset", 1)], b""),
    ("GET", "/v3/p/ports", [("marker", "a b+c/d~e"), ("limit", 10), ("id", ["z", "a"])], b""),
    ("POST", "/v1/p/ports", [], json.dumps({"port": {"name": "eni-ä"}}).encode()),
    ("PUT", "/v1/p/publicips/abc", [], b'{"publicip": {"port_id": ""}}'),
    ("DELETE", "/v1/p/ports/x%20y", [], b""),
]


@pytest.mark.parametrize(("method", "path", "query", "body"), CASES)
def test_sdk_signed_requests_verify(
    method: str, path: str, query: list[tuple[str, Any]], body: bytes
) -> None:
    """Every request the SDK signs (queries, lists, bodies, odd characters) verifies."""
    assert verify(method, sdk_signed(method, path, query, body)) == AK


@pytest.mark.parametrize(("method", "path", "query", "body"), CASES)
def test_our_signature_equals_the_sdks(
    method: str, path: str, query: list[tuple[str, Any]], body: bytes
) -> None:
    """`sigv4.sign` produces the SDK's Authorization header byte for byte."""
    path, raw_query, headers, body = sdk_signed(method, path, query, body)
    unsigned = {k: v for k, v in headers.items() if k != "authorization"}
    ours = sigv4.sign(AK, SK, method, path, raw_query, unsigned, body)
    assert ours == headers["authorization"]


def tampered(parts: tuple[str, str, dict[str, str], bytes], what: str) -> tuple[Any, ...]:
    path, raw_query, headers, body = parts
    headers = dict(headers)
    if what == "path":
        path += "x"
    elif what == "query":
        raw_query += "&limit=3"
    elif what == "body":
        body += b" "
    elif what == "host":
        headers["host"] = "evil.example:80"
    elif what == "signature":
        headers["authorization"] = headers["authorization"][:-1] + (
            "0" if headers["authorization"][-1] != "0" else "1"
        )
    return path, raw_query, headers, body


@pytest.mark.parametrize("what", ["path", "query", "body", "host", "signature"])
def test_any_tampering_is_refused(what: str) -> None:
    """Changing the path, query, body, a signed header or the signature fails verification."""
    parts = sdk_signed("POST", "/v1/p/ports", [("limit", 1)], b'{"port": {}}')
    with pytest.raises(sigv4.SignatureError) as excinfo:
        verify("POST", tampered(parts, what))  # type: ignore[arg-type]
    assert SK not in str(excinfo.value)


def test_another_method_is_refused() -> None:
    """The method is part of the signature."""
    with pytest.raises(sigv4.SignatureError):
        verify("DELETE", sdk_signed("GET", "/v1/p/ports"))


def test_unknown_key_missing_header_and_wrong_scheme_are_refused() -> None:
    """No Authorization, another scheme or an unknown AK: refused, naming no secret."""
    path, raw_query, headers, body = sdk_signed("GET", "/v1/p/vpcs")
    cases = [
        {k: v for k, v in headers.items() if k != "authorization"},
        {**headers, "authorization": "Basic dXNlcjpwYXNz"},
        {**headers, "authorization": headers["authorization"].replace(AK, "OTHERKEY")},
        {**headers, "authorization": "SDK-HMAC-SHA256 Access=x"},
    ]
    for case in cases:
        with pytest.raises(sigv4.SignatureError) as excinfo:
            sigv4.verify("GET", path, raw_query, case, body, KEYS, now=SIGNED_AT)
        assert SK not in str(excinfo.value)


def test_stale_or_missing_date_is_refused() -> None:
    """A signature older (or newer) than the clock-skew window, or without a date, fails."""
    parts = sdk_signed("GET", "/v1/p/vpcs")
    late = SIGNED_AT + sigv4.MAX_CLOCK_SKEW + timedelta(seconds=1)
    with pytest.raises(sigv4.SignatureError, match="too far"):
        sigv4.verify("GET", parts[0], parts[1], parts[2], parts[3], KEYS, now=late)
    undated = {k: v for k, v in parts[2].items() if k != sigv4.DATE_HEADER}
    with pytest.raises(sigv4.SignatureError):
        sigv4.verify("GET", parts[0], parts[1], undated, parts[3], KEYS, now=SIGNED_AT)


def test_canonical_forms() -> None:
    """Canonical URI ends with '/', query pairs are sorted and re-encoded."""
    assert sigv4.canonical_uri("/v1/p/ports") == "/v1/p/ports/"
    assert sigv4.canonical_uri("/v1/a%20b/") == "/v1/a%20b/"
    assert sigv4.canonical_query("b=2&a=1&a=0") == "a=0&a=1&b=2"
    assert sigv4.canonical_query("k=a+b%2Fc") == "k=a%2Bb%2Fc"
    assert sigv4.payload_hash(b"", {}, ()) == sigv4.EMPTY_HASH


def test_the_content_hash_header_counts_only_signed_and_unsigned_payload() -> None:
    """X-Sdk-Content-Sha256 replaces the body's hash only when signed and UNSIGNED-PAYLOAD."""
    declared = {sigv4.CONTENT_HASH_HEADER: sigv4.UNSIGNED_PAYLOAD}
    signed = (sigv4.CONTENT_HASH_HEADER, "host")
    real = hashlib.sha256(b"x").hexdigest()
    assert sigv4.payload_hash(b"x", declared, signed) == sigv4.UNSIGNED_PAYLOAD
    assert sigv4.payload_hash(b"x", declared, ("host",)) == real
    other = {sigv4.CONTENT_HASH_HEADER: hashlib.sha256(b"y").hexdigest()}
    assert sigv4.payload_hash(b"x", other, signed) == real


def test_a_replay_with_another_body_and_an_unsigned_hash_header_is_refused() -> None:
    """A captured request, its body changed and the old body's hash put in an unsigned
    X-Sdk-Content-Sha256 header, no longer verifies."""
    original = b'{"port": {"name": "a"}}'
    path, raw_query, headers, _ = sdk_signed("POST", "/v1/p/ports", [], original)
    forged = {**headers, sigv4.CONTENT_HASH_HEADER: hashlib.sha256(original).hexdigest()}
    with pytest.raises(sigv4.SignatureError, match="does not match"):
        sigv4.verify(
            "POST", path, raw_query, forged, b'{"port": {"name": "b"}}', KEYS, now=SIGNED_AT
        )


def test_an_sdk_request_with_a_non_json_body_verifies_as_unsigned_payload() -> None:
    """The SDK signs `UNSIGNED-PAYLOAD` (header included) for a body that is not JSON."""
    request = SdkRequest(
        method="PUT",
        schema="http",
        host="127.0.0.1:8080",
        resource_path="/v1/p/upload",
        query_params=[],
        header_params={"Content-Type": "application/octet-stream", "X-Sdk-Date": SDK_DATE},
        body=b"raw bytes",
    )
    Signer(BasicCredentials(AK, SK, "p")).sign(request)
    headers = {k.lower(): v for k, v in request.header_params.items()}
    assert sigv4.CONTENT_HASH_HEADER in headers["authorization"]
    assert sigv4.verify("PUT", "/v1/p/upload", "", headers, b"raw bytes", KEYS, now=SIGNED_AT) == AK
