"""`enictl sim serve`: the simulated cloud over Huawei Cloud's HTTP API (stdlib only).

An HTTP/1.1 server on a bounded worker pool (`pool`: parked keep-alive connections,
idle and request timeouts, a connection cap) that takes each request in this order,
and reads its body only once the headers allowed it:

1. the body's framing and size (`body.framing`): a bad `Content-Length` is a 400, a
   body above `Limits.max_body_bytes` a 413;
2. the signature's headers (`sigv4.check_headers`): unsigned, an unknown key, the
   host or date unsigned, a date out of the window: 401;
3. the body, read within the request timeout, then the signature over it
   (`sigv4.check_signature`): 401 when it does not match;
4. `api.HuaweiApi` with a `SimCloud` opened on the state dir for that request (so
   `sim init --force` under a running server is picked up, and every request shares
   the cloud's SQLite transactions with other processes).

A request refused before its body was read gets `Connection: close` (the unread body
must not be taken for the next request), and the connection lingers (`pool`) so that
the client reads the refusal.

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
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from controller.errors import EnictlError, UsageError
from controller.providers.sim.serve import body, sigv4
from controller.providers.sim.serve.api import HuaweiApi, Reply, ServedCloud
from controller.providers.sim.serve.connection import ConnectionHandler
from controller.providers.sim.serve.pool import DEFAULT_LIMITS, Limits, PoolServer

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


class SimHttpServer(PoolServer):
    """The HTTP server: keep-alive (HTTP/1.1) on a bounded worker pool (`pool.Limits`)."""

    def __init__(
        self,
        state_dir: Path,
        settings: ServeSettings,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        open_cloud: CloudOpener = _open_sim,
        verbose: bool = False,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.state_dir = state_dir
        self.settings = settings
        self.api = HuaweiApi(settings.project_id)
        self.open_cloud = open_cloud
        self.verbose = verbose
        self.requests = 0
        self._count_lock = threading.Lock()
        try:
            super().__init__((host, port), _Handler, limits)
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


class _Handler(ConnectionHandler):
    server: SimHttpServer

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
        """Framing and signature headers, then the body, then the signature, then the API."""
        self.server.count()
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        settings = self.server.settings
        limit = self.server.limits.max_body_bytes
        try:
            length = body.framing(self.headers, self.request_version, limit)
            claim = sigv4.check_headers(headers, {settings.access_key: settings.secret_key})
        except (body.BodyRefused, sigv4.SignatureError) as exc:
            self.close_connection = True  # the body stays unread: it is no next request
            self._send(_refusal(exc))
            return
        self.continue_body()
        try:
            payload = body.read(self.rfile, length, limit)
            sigv4.check_signature(claim, self.command, split.path, split.query, headers, payload)
        except (body.BodyRefused, sigv4.SignatureError) as exc:
            self.close_connection = self.close_connection or isinstance(exc, body.BodyRefused)
            self._send(_refusal(exc))
            return
        query = parse_qs(split.query, keep_blank_values=True)
        self._send(self._answer(split.path, query, payload))

    def _answer(self, path: str, query: dict[str, list[str]], payload: bytes) -> Reply:
        try:
            cloud = self.server.open_cloud(self.server.state_dir)
        except EnictlError as exc:
            return Reply(503, {"error": {"code": "Sim.0004", "message": str(exc)}})
        try:
            return self.server.api.handle(cloud, self.command, path, query, payload)
        except Exception as exc:  # never kill the worker with a traceback
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
        if self.close_connection:
            self.send_header("Connection", "close")
        if reply.body is not None or reply.raw is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)


def _refusal(exc: body.BodyRefused | sigv4.SignatureError) -> Reply:
    """API Gateway's answer to a request it does not pass on (its body shape)."""
    if isinstance(exc, sigv4.SignatureError):
        message = f"Incorrect IAM authentication information: {exc}"
        return Reply(401, {"error_msg": message, "error_code": AUTH_FAILED})
    return Reply(exc.status, {"error_msg": exc.message, "error_code": exc.code})


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
    limits: Limits = DEFAULT_LIMITS,
) -> RunningServer:
    """Serve `state_dir`'s simulated cloud from a daemon thread (port 0: a free one)."""
    server = SimHttpServer(
        state_dir,
        settings or ServeSettings.from_env({}),
        host=host,
        port=port,
        open_cloud=open_cloud,
        limits=limits,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="sim-serve", daemon=True
    )
    thread.start()
    return RunningServer(server, thread)
