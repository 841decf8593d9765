"""`sim serve` cannot be exhausted without credentials: bodies, connections, threads, time.

The server runs as `enictl sim serve` in a child process (its memory and threads are
read from /proc), on 127.0.0.1, with short timeouts so that every wait is short; the
official SDK's clients, with their connection pools, must still get every answer.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkvpc import v2 as vpc

from controller.providers.huaweicloud.settings import Clients, Settings
from controller.providers.sim.cloud import init_cloud
from controller.providers.sim.serve import httpserver, pool, sigv4
from tests.sim_support import small_spec

P = httpserver.DEFAULT_PROJECT_ID
ENICTL = (sys.executable, "-m", "controller")
WORKERS = 4
IDLE_TIMEOUT = 0.5
REQUEST_TIMEOUT = 0.5
GIB = 1 << 30
MIB = 1 << 20


@dataclass
class Served:
    """`enictl sim serve` in a child process, its stderr in a file."""

    process: subprocess.Popen[str]
    port: int
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def memory_kib(self, field: str) -> int:
        """VmRSS (now) or VmHWM (peak) of the server process, in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    state = tmp_path_factory.mktemp("serve")
    init_cloud(state, small_spec()).close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_", "ENICTL_"))}
    stderr_path = state / "stderr.txt"
    limits = ["--workers", str(WORKERS), "--idle-timeout", str(IDLE_TIMEOUT)]
    limits += ["--request-timeout", str(REQUEST_TIMEOUT)]
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [*ENICTL, "--state-dir", str(state), "sim", "serve", "--port", "0", *limits],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "serving the simulated cloud" in first, stderr_path.read_text()
        port = int(first.split(" at ")[1].split(" ")[0].rsplit(":", 1)[1])
        yield Served(process, port, stderr_path)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.fixture
def quiet(served: Served) -> Iterator[None]:
    """The test leaves no traceback (nor any other line) on the server's stderr."""
    before = len(served.stderr())
    yield
    assert served.stderr()[before:] == ""


def request_head(
    method: str,
    path: str,
    port: int,
    headers: dict[str, str] | None = None,
    *,
    signed_body: bytes | None = None,
) -> bytes:
    """A request's line and headers; signed with the built-in keys when `signed_body` is given."""
    fields = {"host": f"127.0.0.1:{port}", "content-type": "application/json"}
    fields["x-sdk-date"] = datetime.now(UTC).strftime(sigv4.DATE_FORMAT)
    if signed_body is not None:
        fields["authorization"] = sigv4.sign(
            httpserver.DEFAULT_AK, httpserver.DEFAULT_SK, method, path, "", fields, signed_body
        )
    fields.update(headers or {})
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answers(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Status, headers and body of the next `count` answers on `sock`, through one buffer
    (answers to pipelined requests arrive back to back). A 1xx answer counts as one."""
    stream = sock.makefile("rb")
    answers = []
    for _ in range(count):
        status_line = stream.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection without an answer")
        headers = {k.lower(): v for k, v in http.client.parse_headers(stream).items()}
        body = stream.read(int(headers.get("content-length", "0")))
        answers.append((int(status_line.split()[1]), headers, body))
    return answers


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    return read_answers(sock, 1)[0]


def wait_closed(sock: socket.socket, within: float) -> float:
    """Seconds until the server closes `sock` (EOF or reset); fails after `within`."""
    start = time.monotonic()
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {within} s")
    return time.monotonic() - start


def memory_growth_kib(served: Served, before: tuple[int, int]) -> int:
    rss, peak = before
    return max(served.memory_kib("VmRSS") - rss, served.memory_kib("VmHWM") - peak)


def stream(sock: socket.socket, total: int) -> None:
    """Send `total` bytes of body as fast as the server takes them, until it stops us."""
    chunk = b"x" * MIB
    try:
        for _ in range(total // MIB):
            sock.sendall(chunk)
    except OSError:  # refused: the server shut its side
        pass


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed-headers"])
def test_a_huge_post_is_refused_before_its_body_and_memory_stays_flat(
    served: Served, quiet: None, signed: bool
) -> None:
    """A 1 GiB POST (unsigned, or with signature headers that look right) gets its refusal
    while its body is still streaming in, and the server's memory grows by < 16 MiB."""
    before = (served.memory_kib("VmRSS"), served.memory_kib("VmHWM"))
    sock = served.connect()
    head = {"content-length": str(GIB)}
    path = f"/v1/{P}/ports"
    sock.sendall(request_head("POST", path, served.port, head, signed_body=b"" if signed else None))
    sender = threading.Thread(target=stream, args=(sock, 256 * MIB), daemon=True)
    sender.start()
    status, headers, answer = read_answer(sock)
    sender.join(timeout=30)
    sock.close()
    assert status in (401, 413) and headers["connection"] == "close"
    assert b"APIGW.0" in answer
    assert memory_growth_kib(served, before) < 16 * 1024


def test_an_unsigned_body_is_never_asked_for(served: Served, quiet: None) -> None:
    """An unsigned POST whose client waits before sending its body (`Expect:
    100-continue`, or just slow) gets 401 on its headers alone, and no `100 Continue`."""
    sock = served.connect()
    head = {"content-length": str(MIB), "expect": "100-continue"}
    sock.sendall(request_head("POST", f"/v1/{P}/ports", served.port, head))
    status, _, answer = read_answer(sock)
    sock.close()
    assert status == 401 and b"APIGW.0301" in answer


@pytest.mark.parametrize(
    ("lengths", "status"),
    [
        (["abc"], 400),
        (["-1"], 400),
        (["1.5"], 400),
        (["0x10"], 400),
        (["+5"], 400),
        ([""], 400),
        (["5, 6"], 400),
        (["5", "6"], 400),
        (["99999999999999999999999999"], 413),
        (["7" * 5000], 413),
        ([str(12 * MIB + 1)], 413),
    ],
    ids=lambda v: str(v)[:24],
)
def test_a_bad_or_huge_content_length_gets_an_answer_not_a_traceback(
    served: Served, quiet: None, lengths: list[str], status: int
) -> None:
    """A Content-Length that is not one number of bytes is a 400, one above the body
    limit a 413 (API Gateway's APIGW.0201), and the server prints nothing."""
    head = request_head("POST", f"/v1/{P}/ports", served.port, signed_body=b"")
    extra = "".join(f"Content-Length: {value}\r\n" for value in lengths).encode()
    sock = served.connect()
    sock.sendall(head[:-2] + extra + b"\r\n")
    answered, headers, answer = read_answer(sock)
    sock.close()
    assert (answered, headers["connection"]) == (status, "close")
    assert b'"error_code": "APIGW.0201"' in answer


def test_a_chunked_body_is_read_checked_and_limited(served: Served, quiet: None) -> None:
    """A chunked body is signed like any other (a wrong hash is a 401, the right one
    reaches the API), and chunks that add up beyond the limit are a 413."""
    payload = b'{"port": {"name": "p"}}'
    chunked = {"transfer-encoding": "chunked"}
    answers = []
    for signed_over in (b"{}", payload):
        sock = served.connect()
        head = request_head("POST", f"/v1/{P}/ports", served.port, chunked, signed_body=signed_over)
        sock.sendall(
            head + b"7\r\n" + payload[:7] + b"\r\n10;ext=1\r\n" + payload[7:] + b"\r\n0\r\n\r\n"
        )
        answers.append(read_answer(sock))
        sock.close()
    assert answers[0][0] == 401
    assert answers[1][0] == 400 and b"VPC.2500" in answers[1][2]  # the API read the body
    sock = served.connect()
    sock.sendall(request_head("POST", f"/v1/{P}/ports", served.port, chunked, signed_body=b""))
    sock.sendall(b"%x\r\n" % (12 * MIB + 1))
    status, _, _ = read_answer(sock)
    sock.close()
    assert status == 413


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        ({"transfer-encoding": "gzip, chunked"}, 501),
        ({"transfer-encoding": "chunked", "content-length": "5"}, 400),
    ],
    ids=["gzip", "both"],
)
def test_a_framing_the_simulator_does_not_take_is_refused(
    served: Served, quiet: None, framing: dict[str, str], status: int
) -> None:
    """A transfer coding other than chunked is a 501; Transfer-Encoding with Content-Length
    (ambiguous framing) is a 400."""
    sock = served.connect()
    sock.sendall(request_head("POST", f"/v1/{P}/ports", served.port, framing, signed_body=b""))
    answered, _, _ = read_answer(sock)
    sock.close()
    assert answered == status


def test_idle_connections_are_closed_after_the_idle_timeout(served: Served, quiet: None) -> None:
    """A connection that never sends a byte, and a keep-alive one after its answer, are
    both closed once idle for --idle-timeout, not before."""
    silent = served.connect()
    idle_since = [time.monotonic()]
    kept = served.connect()
    kept.sendall(request_head("GET", f"/v1/{P}/vpcs", served.port, signed_body=b""))
    status, headers, _ = read_answer(kept)
    idle_since.append(time.monotonic())
    assert status == 200 and "connection" not in headers  # kept alive
    for sock, since in zip((silent, kept), idle_since, strict=True):
        wait_closed(sock, within=IDLE_TIMEOUT * 10)
        assert IDLE_TIMEOUT * 0.8 < time.monotonic() - since < IDLE_TIMEOUT * 5
        sock.close()


def test_a_trickling_client_is_cut_off_within_the_request_timeout(
    served: Served, quiet: None
) -> None:
    """A client that sends its headers, or its body, a byte at a time (each byte well
    inside any per-read timeout) is cut off once the request takes --request-timeout."""
    body = b'{"vpc": {"name": "v"}}'
    heads = [
        request_head("GET", f"/v1/{P}/vpcs", served.port, signed_body=b"")[:-2],
        request_head("POST", f"/v1/{P}/vpcs", served.port, signed_body=body),
    ]
    for head in heads:
        sock = served.connect()
        sock.sendall(head)
        start = time.monotonic()
        sock.settimeout(0.05)  # the pace of the trickle: one byte per 50 ms
        closed = False
        while not closed and time.monotonic() - start < REQUEST_TIMEOUT * 10:
            try:
                sock.sendall(b"x")  # a header name, or a body byte
                closed = sock.recv(65536) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
        elapsed = time.monotonic() - start
        sock.close()
        assert closed and REQUEST_TIMEOUT * 0.8 < elapsed < REQUEST_TIMEOUT * 3


def test_many_connections_take_no_more_threads_than_the_pool(served: Served, quiet: None) -> None:
    """500 connections at once, each with a signed request, are all answered while the
    server never runs more than its --workers threads (and the one that accepts)."""
    socks = [served.connect() for _ in range(500)]
    peak = served.threads()
    for n, sock in enumerate(socks):
        sock.sendall(request_head("GET", f"/v1/{P}/vpcs", served.port, signed_body=b""))
        peak = max(peak, served.threads()) if n % 50 == 0 else peak
    statuses = []
    for sock in socks:
        statuses.append(read_answer(sock)[0])
        peak = max(peak, served.threads())
        sock.close()
    assert statuses == [200] * 500
    assert peak <= WORKERS + 1


def test_pipelined_requests_are_all_answered_in_order(served: Served, quiet: None) -> None:
    """Requests sent back to back before any answer (HTTP/1.1 pipelining) are each
    answered, in order, on the one connection."""
    sock = served.connect()
    good = request_head("GET", f"/v1/{P}/vpcs", served.port, signed_body=b"")
    other_project = request_head("GET", "/v1/other/vpcs", served.port, signed_body=b"")
    sock.sendall(good + other_project + good)
    statuses = [status for status, _, _ in read_answers(sock, 3)]
    sock.close()
    assert statuses == [200, 404, 200]


def test_at_the_connection_cap_the_longest_idle_connection_makes_room(tmp_path: Path) -> None:
    """With --max-connections 2 and both idle, a third client is answered and the
    connection idle longest is closed to make room for it."""
    init_cloud(tmp_path, small_spec()).close()
    limits = pool.Limits(max_connections=2, idle_timeout=30)
    running = httpserver.start(tmp_path, httpserver.ServeSettings.from_env({}), limits=limits)
    address = ("127.0.0.1", int(running.url.rsplit(":", 1)[1]))
    try:
        oldest = socket.create_connection(address, timeout=10)  # both silent: parked
        newer = socket.create_connection(address, timeout=10)  # in the order they came
        third = socket.create_connection(address, timeout=10)
        third.sendall(request_head("GET", f"/v1/{P}/vpcs", address[1], signed_body=b""))
        assert read_answer(third)[0] == 200
        wait_closed(oldest, within=5)
        newer.sendall(request_head("GET", f"/v1/{P}/vpcs", address[1], signed_body=b""))
        assert read_answer(newer)[0] == 200  # still open
        for sock in (oldest, newer, third):
            sock.close()
    finally:
        running.stop()


def sdk_clients(env: dict[str, str]) -> Clients:
    settings = Settings(
        env["HUAWEICLOUD_SDK_AK"],
        env["HUAWEICLOUD_SDK_SK"],
        env["HUAWEICLOUD_PROJECT_ID"],
        endpoint=env["ENICTL_HUAWEICLOUD_ENDPOINT"],
    )
    return Clients.build(settings)


def test_the_sdk_pool_works_over_fewer_workers_and_idle_closes(tmp_path: Path) -> None:
    """The official SDK's keep-alive pool (up to 10 connections) gets every answer from
    2 workers, from 8 threads at once, and again after the server closed its idle
    connections."""
    init_cloud(tmp_path, small_spec()).close()
    limits = pool.Limits(workers=2, idle_timeout=0.3, request_timeout=5)
    running = httpserver.start(tmp_path, httpserver.ServeSettings.from_env({}), limits=limits)
    clients = sdk_clients(running.client_env())
    answers: list[Any] = []

    def calls() -> None:
        for _ in range(5):
            answers.append(clients.vpc.list_vpcs(vpc.ListVpcsRequest()).vpcs)

    try:
        threads = [threading.Thread(target=calls) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(answers) == 40 and all(answers)
        # A connection opened after the SDK's last call closes after theirs did.
        address = ("127.0.0.1", int(running.url.rsplit(":", 1)[1]))
        probe = socket.create_connection(address, timeout=10)
        probe.sendall(request_head("GET", f"/v1/{P}/vpcs", address[1], signed_body=b""))
        read_answer(probe)
        wait_closed(probe, within=10)
        probe.close()
        assert clients.vpc.list_vpcs(vpc.ListVpcsRequest()).vpcs
    finally:
        for client in (clients.ecs, clients.vpc, clients.vpc3, clients.eip):
            client.close()
        running.stop()
