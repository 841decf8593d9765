"""`enictl sim serve`: the simulated cloud over Huawei Cloud's HTTP API (stdlib only).

A threaded `http.server` that checks each request's SDK-HMAC-SHA256 signature
(`sigv4`), then hands it to `api.HuaweiApi` with a `SimCloud` opened on the state
dir for that request (so `sim init --force` under a running server is picked up, and
every request shares the cloud's SQLite transactions with other processes).

Credentials: the AK/SK in `HUAWEICLOUD_SDK_AK` / `HUAWEICLOUD_SDK_SK` of the serving
process; when both are unset, the fixed test credentials below, which are public and
only good for a simulated cloud. The project id is `HUAWEICLOUD_PROJECT_ID`, else
`DEFAULT_PROJECT_ID`. A bad or missing signature gets HTTP 401 with API Gateway's
body (`APIGW.0301`, (unconfirmed) as the exact code); a request for another project
gets 404. The signature covers the body as received: a declared content hash counts
only when it is signed and says `UNSIGNED-PAYLOAD` (`sigv4.payload_hash`), so a
captured request replayed with another body is refused. It binds to 127.0.0.1 unless
told otherwise.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from controller.errors import EnictlError, UsageError
from controller.providers.sim.serve import sigv4
from controller.providers.sim.serve.api import HuaweiApi, Reply, ServedCloud

DEFAULT_AK = "ENICTLSIMULATEDCLOUD"
DEFAULT_SK = "enictl-simulated-cloud-test-secret-key-0"
DEFAULT_PROJECT_ID = "0123456789abcdef0123456789abcdef"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
AUTH_FAILED = "APIGW.0301"

CloudOpener = Callable[[Path], ServedCloud]


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Who may call the served cloud, and for which project. Keys never in repr()."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    project_id: str
    default_keys: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServeSettings:
        env = os.environ if env is None else env
        ak = env.get("HUAWEICLOUD_SDK_AK", "").strip()
        sk = env.get("HUAWEICLOUD_SDK_SK", "").strip()
        project = env.get("HUAWEICLOUD_PROJECT_ID", "").strip() or DEFAULT_PROJECT_ID
        if bool(ak) != bool(sk):
            raise UsageError(
                "set both HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or neither "
                "(then sim serve uses its built-in test credentials)"
            )
        if not ak:
            return cls(DEFAULT_AK, DEFAULT_SK, project, default_keys=True)
        return cls(ak, sk, project, default_keys=False)

    def client_env(self, url: str) -> dict[str, str]:
        """The environment that points `enictl --provider huaweicloud` at this server."""
        return {
            "ENICTL_HUAWEICLOUD_ENDPOINT": url,
            "HUAWEICLOUD_PROJECT_ID": self.project_id,
            "HUAWEICLOUD_SDK_AK": self.access_key,
            "HUAWEICLOUD_SDK_SK": self.secret_key,
        }


def _open_sim(state_dir: Path) -> ServedCloud:
    from controller.providers.sim.cloud import open_cloud

    return open_cloud(state_dir)


class SimHttpServer(ThreadingHTTPServer):
    """The HTTP server; one thread per connection, keep-alive (HTTP/1.1)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        state_dir: Path,
        settings: ServeSettings,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        open_cloud: CloudOpener = _open_sim,
        verbose: bool = False,
    ) -> None:
        self.state_dir = state_dir
        self.settings = settings
        self.api = HuaweiApi(settings.project_id)
        self.open_cloud = open_cloud
        self.verbose = verbose
        self.requests = 0
        self._count_lock = threading.Lock()
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    def count(self) -> None:
        with self._count_lock:
            self.requests += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimHttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"sim serve: {self.address_string()} {format % args}\n")

    def _serve(self) -> None:
        self.server.count()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        settings = self.server.settings
        try:
            sigv4.verify(
                self.command,
                split.path,
                split.query,
                headers,
                body,
                {settings.access_key: settings.secret_key},
            )
        except sigv4.SignatureError as exc:
            message = f"Incorrect IAM authentication information: {exc}"
            self._send(Reply(401, {"error_msg": message, "error_code": AUTH_FAILED}))
            return
        query = parse_qs(split.query, keep_blank_values=True)
        self._send(self._answer(split.path, query, body))

    def _answer(self, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        try:
            cloud = self.server.open_cloud(self.server.state_dir)
        except EnictlError as exc:
            return Reply(503, {"error": {"code": "Sim.0004", "message": str(exc)}})
        try:
            return self.server.api.handle(cloud, self.command, path, query, body)
        except Exception as exc:  # never kill the connection thread with a traceback
            message = f"internal error: {type(exc).__name__}: {exc}"
            return Reply(500, {"error": {"code": "Sim.0500", "message": message}})
        finally:
            close = getattr(cloud, "close", None)
            if close is not None:
                close()

    def _send(self, reply: Reply) -> None:
        payload = reply.raw
        if payload is None:
            payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        if reply.body is not None or reply.raw is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)


@dataclass
class RunningServer:
    """A server answering from a background thread (tests, fixtures)."""

    server: SimHttpServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    def client_env(self) -> dict[str, str]:
        return self.server.settings.client_env(self.url)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start(
    state_dir: Path,
    settings: ServeSettings | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    open_cloud: CloudOpener = _open_sim,
) -> RunningServer:
    """Serve `state_dir`'s simulated cloud from a daemon thread (port 0: a free one)."""
    server = SimHttpServer(
        state_dir,
        settings or ServeSettings.from_env({}),
        host=host,
        port=port,
        open_cloud=open_cloud,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="sim-serve", daemon=True
    )
    thread.start()
    return RunningServer(server, thread)
