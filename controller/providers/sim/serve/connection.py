"""One connection of `sim serve`: its requests read and answered one at a time, by deadlines.

`ConnectionHandler` is an HTTP/1.1 `BaseHTTPRequestHandler` made once per connection
(when it is accepted) that serves one request per `serve_one(timeout)` call and says
what should become of the connection (`Outcome`). The request line, headers and body
must all arrive within `timeout` of the call, however slowly the bytes trickle (one
deadline, not a timeout per read), and the answer must be sent within `timeout`; past
that the request is dropped and the connection is to be cut off. Between calls the
connection's reads never block, so `pool` can park it in a selector and ask whether a
pipelined request is already buffered.

`100 Continue` is held back until the subclass wants the body (`continue_body`), so
that a request refused on its headers never gets to send it.
"""

from __future__ import annotations

import io
import socket
import sys
import time
from enum import StrEnum
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

READ_SIZE = 65536


class Outcome(StrEnum):
    """What becomes of a connection after a request."""

    KEEP = "keep"  # parked for the next request
    AGAIN = "again"  # the next request (pipelined) is already here: serve it now
    LINGER = "linger"  # answered, closing: drain what the client still sends, then close
    CLOSE = "close"  # cut off (past its deadline) or gone: close now


class _TimedReader(io.RawIOBase):
    """The socket's bytes for a `BufferedReader`: every read ends by the deadline; with
    no deadline (parked) a read never blocks and answers None when nothing is there."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.deadline: float | None = None
        self.expired = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int | None:
        if self.deadline is None:
            self._sock.settimeout(0.0)
            try:
                return self._sock.recv_into(buffer)
            except BlockingIOError:
                return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            self.expired = True
            raise


class _TimedWriter(io.BufferedIOBase):
    """Unbuffered writes to the socket, each sent whole within `timeout` seconds."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.timeout = 0.0
        self.sent = 0
        self.expired = False

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer, /) -> int:
        view = memoryview(data)
        self._sock.settimeout(self.timeout)
        try:
            self._sock.sendall(view)
        except TimeoutError:
            self.expired = True
            raise
        self.sent += view.nbytes
        return view.nbytes


class ConnectionHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 handler that lives as long as its connection: it is made when the
    connection is accepted and serves one request per `serve_one` call."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.connection = self.request
        self._reader = _TimedReader(self.request)
        self._buffered = io.BufferedReader(self._reader, READ_SIZE)
        self._writer = _TimedWriter(self.request)
        self.rfile = self._buffered
        self.wfile = self._writer
        # Headers and body go out in separate writes: without this, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        """Nothing when made: the server calls `serve_one` for each request."""

    def finish(self) -> None:
        """Nothing when made either: the server closes the socket when it is done."""

    def handle_expect_100(self) -> bool:
        """Hold `100 Continue` back until the body is wanted (`continue_body`)."""
        return True

    def continue_body(self) -> None:
        """Ask for the body now, if the client waits to be asked (`Expect: 100-continue`)."""
        expects = self.headers.get("Expect", "").strip().lower() == "100-continue"
        if expects and self.request_version != "HTTP/1.0":
            self.send_response_only(100)
            self.end_headers()

    def serve_one(self, timeout: float) -> Outcome:
        """Read one request and answer it, each within `timeout` seconds from now."""
        self.close_connection = True
        self._reader.deadline = time.monotonic() + timeout
        self._writer.timeout = timeout
        sent_before = self._writer.sent
        try:
            self.handle_one_request()
            if self._reader.expired or self._writer.expired or self._writer.sent == sent_before:
                return Outcome.CLOSE
            if self.close_connection:
                return Outcome.LINGER
            self._reader.deadline = None
            return Outcome.AGAIN if self._buffered.peek(1) else Outcome.KEEP
        except OSError:  # the client went away
            return Outcome.CLOSE
        except Exception as exc:  # never let a worker die, nor print a traceback
            sys.stderr.write(f"sim serve: internal error: {type(exc).__name__}: {exc}\n")
            return Outcome.CLOSE
        finally:
            self._reader.deadline = None
