"""Huawei Cloud's request signature, SDK-HMAC-SHA256, computed and verified from raw parts.

This is the algorithm of `huaweicloudsdkcore.signer.Signer` (the AK/SK "V4-like"
signature of API Gateway), written out so that `enictl sim serve` can verify what the
official SDK sends, with the standard library only:

    canonical request = METHOD \\n canonical URI \\n canonical query \\n
                        canonical headers \\n signed header names \\n hex sha256(body)
    string to sign    = "SDK-HMAC-SHA256" \\n X-Sdk-Date \\n hex sha256(canonical request)
    signature         = hex HMAC-SHA256(SK, string to sign)
    Authorization     = SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<a;b;c>, Signature=<hex>

- canonical URI: the path, percent-decoded, each segment re-encoded (only `~` kept
  besides unreserved characters), with a trailing `/`;
- canonical query: `key=value` pairs sorted, both re-encoded the same way, joined by `&`;
- canonical headers: `name:value` for each signed header (lower-case name, stripped
  value), one per line, ending with a newline;
- body hash: the empty-string hash for no body; `UNSIGNED-PAYLOAD` when the client sent
  `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` *and signed that header* (the SDK does so for
  bodies that are not JSON); else the hash of the bytes received. The header is never
  trusted unsigned nor with another value: a captured request replayed with another body
  and the old body's hash in an unsigned header would otherwise verify.

Verification comes in two halves so that a server can refuse a request before it
reads its body: `check_headers` (signed at all, a known key, host and date signed, the
date within the window) needs the headers only; `check_signature` then hashes the
body. `verify` does both. Neither reveals the secret key or the expected signature in
its messages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "x-sdk-date"
CONTENT_HASH_HEADER = "x-sdk-content-sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
MAX_CLOCK_SKEW = timedelta(minutes=15)  # API Gateway's window (unconfirmed figure)


class SignatureError(Exception):
    """The request is not signed, or not signed by a known key: answer 401."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parsed `Authorization` header."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """The signed form of a URL path (without its query)."""
    segments = [_encode(part) for part in unquote(path).split("/")]
    joined = "/".join(segments)
    return joined if joined.endswith("/") else joined + "/"


def canonical_query(raw_query: str) -> str:
    """The signed form of a raw query string: decoded pairs, sorted, re-encoded."""
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    pairs.sort()
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in pairs)


def payload_hash(body: bytes, headers: Mapping[str, str], signed_headers: tuple[str, ...]) -> str:
    """The body's hash as the signer saw it (see the module docstring)."""
    if not body:
        return EMPTY_HASH
    declared = headers.get(CONTENT_HASH_HEADER, "").strip()
    if declared == UNSIGNED_PAYLOAD and CONTENT_HASH_HEADER in signed_headers:
        return UNSIGNED_PAYLOAD
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
) -> str:
    """The canonical request; `headers` must be keyed by lower-case name."""
    lines = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    return "\n".join(
        (
            method.upper(),
            canonical_uri(path),
            canonical_query(raw_query),
            lines,
            ";".join(signed_headers),
            payload_hash(body, headers, signed_headers),
        )
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret_key: str, to_sign: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_authorization(value: str) -> Authorization:
    """Parse `SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...`."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        raise SignatureError(f"unsupported authorization scheme (expected {ALGORITHM})")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key] = val.strip()
    missing = [k for k in ("Access", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise SignatureError(f"authorization header lacks {', '.join(missing)}")
    names = tuple(fields["SignedHeaders"].split(";"))
    return Authorization(fields["Access"], names, fields["Signature"].lower())


def sign(
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """The `Authorization` value for a request whose headers (lower-case keys) include
    `x-sdk-date` and `host`; every given header is signed, as the SDK does."""
    names = tuple(sorted(k for k in headers if "_" not in k))
    canonical = canonical_request(method, path, raw_query, headers, names, body)
    value = signature(secret_key, string_to_sign(canonical, headers[DATE_HEADER]))
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(names)}, Signature={value}"


@dataclass(frozen=True, slots=True)
class Claim:
    """A request's signature headers, checked before its body is read: a known access
    key, the host and date signed, the date within the window. Only the signature,
    which covers the body, is left to check (`check_signature`)."""

    authorization: Authorization
    secret_key: str = field(repr=False)
    sdk_date: str


def check_headers(
    headers: Mapping[str, str], keys: Mapping[str, str], *, now: datetime | None = None
) -> Claim:
    """Check what the headers alone can show (`headers` keyed by lower-case name, `keys`
    AK -> SK); raises `SignatureError`. A server calls it before it reads the body."""
    header = headers.get("authorization")
    if not header:
        raise SignatureError("the request is not signed (no Authorization header)")
    auth = parse_authorization(header)
    secret = keys.get(auth.access_key)
    if secret is None:
        raise SignatureError("unknown access key")
    if "host" not in auth.signed_headers or DATE_HEADER not in auth.signed_headers:
        raise SignatureError("the signature must cover the host and x-sdk-date headers")
    sdk_date = headers.get(DATE_HEADER, "")
    try:
        signed_at = datetime.strptime(sdk_date, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("x-sdk-date is missing or not YYYYMMDDTHHMMSSZ") from None
    current = now or datetime.now(UTC)
    if abs(current - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureError("x-sdk-date is too far from the server's clock")
    return Claim(auth, secret, sdk_date)


def check_signature(
    claim: Claim,
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """Check the signature of a request whose headers passed `check_headers`; return the AK."""
    auth = claim.authorization
    canonical = canonical_request(method, path, raw_query, headers, auth.signed_headers, body)
    expected = signature(claim.secret_key, string_to_sign(canonical, claim.sdk_date))
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureError("the signature does not match")
    return auth.access_key


def verify(
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> str:
    """Check a request's signature against `keys` (AK -> SK); return the AK.

    `headers` must be keyed by lower-case name. Raises `SignatureError` with a
    message that names neither the secret nor the expected signature.
    """
    claim = check_headers(headers, keys, now=now)
    return check_signature(claim, method, path, raw_query, headers, body)
