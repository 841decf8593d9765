"""A request's body as `sim serve` takes it: its framing checked on the headers, then read.

`framing(headers, limit)` decides from the headers alone, before a byte of the body
is read, how long the body is and whether it may be read at all (RFC 9112 section 6):

- `Content-Length` must be digits only; several values (repeated headers, or a
  comma list) must all be equal; anything else is a 400. A length above `limit` is
  a 413, whatever its number of digits (no giant integer is ever parsed).
- `Transfer-Encoding: chunked` is read chunk by chunk, and refused with a 413 as soon
  as the chunks add up to more than `limit`. Any other transfer coding is a 501 (the
  simulator does not decode it); a request with both `Transfer-Encoding` and
  `Content-Length`, or with `Transfer-Encoding` in HTTP/1.0, is a 400 (the framing is
  ambiguous: that is how requests are smuggled past a proxy).
- Neither header: no body.

API Gateway answers a malformed request with HTTP 400 `APIGW.0201` "API request error"
and a body above its limit with HTTP 413 `APIGW.0201` "Request entity too large"
(API Gateway error codes, devg-apisign/api-sign-errorcode); `BodyRefused` carries
those, and `Sim.0002` for the codings the simulator does not take.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Protocol

CHUNKED = -1  # `framing`'s answer for a chunked body
REQUEST_ERROR = "APIGW.0201"
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9A-Fa-f]{1,16}")
_MAX_LINE = 4096  # a chunk-size line or a trailer line
_MAX_TRAILERS = 100


class Stream(Protocol):
    """What the body is read from (the handler's buffered reader)."""

    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


class BodyRefused(Exception):
    """The request's body cannot be taken: answer `status` with API Gateway's body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @classmethod
    def bad(cls, why: str) -> BodyRefused:
        return cls(400, REQUEST_ERROR, f"API request error: {why}")

    @classmethod
    def too_large(cls, limit: int) -> BodyRefused:
        return cls(413, REQUEST_ERROR, f"Request entity too large (at most {limit} bytes)")


def framing(headers: Message, version: str, limit: int) -> int:
    """The body's length in bytes, or `CHUNKED`; raises `BodyRefused` (see the module)."""
    lengths = _values(headers, "Content-Length")
    codings = [coding.lower() for coding in _values(headers, "Transfer-Encoding")]
    if codings:
        if lengths:
            raise BodyRefused.bad("both Transfer-Encoding and Content-Length")
        if version == "HTTP/1.0":
            raise BodyRefused.bad("Transfer-Encoding in an HTTP/1.0 request")
        if codings != ["chunked"]:
            raise BodyRefused(501, "Sim.0002", "only Transfer-Encoding: chunked is supported")
        return CHUNKED
    if not lengths:
        return 0
    if any(not _DIGITS.fullmatch(value) for value in lengths):
        raise BodyRefused.bad("Content-Length is not a number of bytes")
    if len({value.lstrip("0") for value in lengths}) > 1:
        raise BodyRefused.bad("Content-Length values differ")
    digits = lengths[0].lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise BodyRefused.too_large(limit)
    return int(digits)


def read(stream: Stream, length: int, limit: int) -> bytes:
    """Read the body `framing` announced (`length` bytes, or chunks up to `limit`)."""
    if length != CHUNKED:
        body = stream.read(length) if length else b""
        if len(body) < length:
            raise BodyRefused.bad("the body ended before its Content-Length")
        return body
    parts: list[bytes] = []
    total = 0
    while True:
        size_field = _line(stream).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_field.decode("latin-1")):
            raise BodyRefused.bad("a chunk size is not a hexadecimal number")
        size = int(size_field, 16)
        if size == 0:
            break
        total += size
        if total > limit:
            raise BodyRefused.too_large(limit)
        chunk = stream.read(size)
        if len(chunk) < size or _line(stream).strip():
            raise BodyRefused.bad("a chunk is shorter than its size")
        parts.append(chunk)
    for _ in range(_MAX_TRAILERS):
        if not _line(stream).strip():
            return b"".join(parts)
    raise BodyRefused.bad("too many trailer fields")


def _values(headers: Message, name: str) -> list[str]:
    """Every value of a header sent once or more, comma lists split (RFC 9110 5.3)."""
    return [value.strip() for field in headers.get_all(name, []) for value in field.split(",")]


def _line(stream: Stream) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE or not line.endswith(b"\n"):
        raise BodyRefused.bad("a chunk line is too long or cut short")
    return line
