"""The HTTP endpoints of `enictl watch --listen HOST:PORT` (SPEC section 6).

    /healthz   200 while the process works (the loop runs or finishes its steps)
    /readyz    200 when this replica leads and its last reconcile succeeded, else 503;
               the body is the reason in one line
    /metrics   Prometheus text format (OpenMetrics when the scraper asks for it)
    /          the read-only HTML status page (controller.watching.statuspage)

They run on threads of their own beside the reconcile loop and read only what the
loop last published (a `Board` snapshot, the metrics registry): an answer never
waits for a reconcile, and a reconcile or a failover never waits for an answer. A
slow or stuck client holds only its own thread (each connection times out after
`REQUEST_TIMEOUT` seconds; at most `MAX_CONNECTIONS` are served at once, more are
closed at once). GET and HEAD only. The listen address is loopback unless told
otherwise; no page carries a credential.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from controller.errors import UsageError
from controller.watching import statuspage
from controller.watching.metrics import Metrics
from controller.watching.status import Board

LOOPBACK = "127.0.0.1"
REQUEST_TIMEOUT = 10.0  # seconds a connection may stay silent
MAX_CONNECTIONS = 16

_COMMON_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Address:
    """Where the endpoints listen."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """`HOST:PORT`, `[IPV6]:PORT`, or `PORT` / `:PORT` for loopback (127.0.0.1)."""
    value = text.strip()
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        _check_ipv6(text, host)
    elif ":" in host:
        raise UsageError(f"--listen {text!r}: write an IPv6 address in brackets, e.g. [::1]:9100")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {text!r}: the port must be a number from 0 to 65535")
    return Address(host or LOOPBACK, int(port))


def _check_ipv6(text: str, host: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise UsageError(f"--listen {text!r}: {host!r} is not an IPv6 address") from None


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Endpoints:
    """The serving HTTP server; `close()` stops it and frees the port."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def address(self) -> Address:
        host, port = self._server.server_address[:2]
        return Address(str(host), int(port))

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def close(self) -> None:
        """Stop accepting, wait for the serving thread, close the socket."""
        self._server.shutdown()
        self._thread.join(timeout=REQUEST_TIMEOUT)
        self._server.server_close()


class Routes:
    """What each path answers, from the board and the metrics."""

    def __init__(self, board: Board, metrics: Metrics) -> None:
        self.board = board
        self.metrics = metrics
        self._page: tuple[int, str] = (-1, "")  # the page's body, by the board's serial
        self.paths: dict[str, Callable[[dict[str, str]], Response]] = {
            "/healthz": self.healthz,
            "/readyz": self.readyz,
            "/metrics": self.scrape,
            "/": self.page,
        }

    def healthz(self, _headers: dict[str, str]) -> Response:
        stopping = self.board.snapshot.stopping
        return Response(200, _TEXT, b"ok: stopping\n" if stopping else b"ok\n")

    def readyz(self, _headers: dict[str, str]) -> Response:
        verdict = self.board.snapshot.readiness()
        return Response(200 if verdict.ready else 503, _TEXT, f"{verdict.reason}\n".encode())

    def scrape(self, headers: dict[str, str]) -> Response:
        body, content_type = self.metrics.exposition(headers.get("accept", ""))
        return Response(200, content_type, body)

    def page(self, _headers: dict[str, str]) -> Response:
        snapshot = self.board.snapshot
        serial, body = self._page
        if serial != snapshot.serial:
            body = statuspage.render_body(snapshot)
            self._page = (snapshot.serial, body)
        page = statuspage.render(snapshot, body).encode()
        policy = {"Content-Security-Policy": _PAGE_POLICY, "X-Frame-Options": "DENY"}
        return Response(200, "text/html; charset=utf-8", page, policy)

    def answer(self, path: str, headers: dict[str, str]) -> Response:
        route = self.paths.get(path.split("?", 1)[0])
        if route is None:
            known = " ".join(sorted(self.paths))
            return Response(404, _TEXT, f"not found; try one of: {known}\n".encode())
        return route(headers)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: a scraper reuses its connection
    disable_nagle_algorithm = True  # else the body waits ~40 ms for the headers' ACK

    def version_string(self) -> str:
        return "enictl"  # the Server header names no Python version

    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:
        self._send(self._response(), body=True)

    def do_HEAD(self) -> None:
        self._send(self._response(), body=False)

    def _refuse(self) -> None:
        message = b"read-only: GET or HEAD\n"
        self._send(Response(405, _TEXT, message, {"Allow": "GET, HEAD"}), body=True)

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

    def _response(self) -> Response:
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            return self.server.routes.answer(self.path, headers)
        except Exception as exc:  # an endpoint's bug answers 500, never kills the server
            return Response(500, _TEXT, f"internal error: {type(exc).__name__}\n".encode())

    def _send(self, response: Response, *, body: bool) -> None:
        self.send_response(response.status)
        for name, value in {**_COMMON_HEADERS, **response.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: stdout carries the watch's own lines (or JSON events), stderr its errors."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck connection never holds the process at exit
    request_queue_size = 128  # the listen backlog: a burst of probes is not dropped (SYN)
    allow_reuse_address = True

    def __init__(self, family: socket.AddressFamily, address: Any, routes: Routes) -> None:
        self.address_family = family
        self.routes = routes
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer's own would look the host's name up (a DNS query): not needed here
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (a reset, a broken pipe) is its own
        business: no traceback on the watch's stderr."""

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # too many at once: closed, the loop unaffected
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def serve(address: Address, board: Board, metrics: Metrics) -> Endpoints:
    """Listen on `address` and answer on a daemon thread; a port already taken or a
    host that cannot be had is a `UsageError` naming the address."""
    try:
        found = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise UsageError(f"--listen {address}: cannot resolve {address.host!r}: {exc}") from exc
    family, _type, _proto, _name, sockaddr = found[0]
    try:
        server = _Server(family, sockaddr, Routes(board, metrics))
    except OSError as exc:
        raise UsageError(f"--listen {address}: cannot listen: {exc.strerror or exc}") from exc
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="enictl-endpoints",
        daemon=True,
    )
    thread.start()
    return Endpoints(server, thread)
