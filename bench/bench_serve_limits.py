"""What a client without credentials can take from `enictl sim serve`, and what is left.

Starts `enictl sim serve` (defaults, its own process, 127.0.0.1) on a small simulated
cloud and measures, each figure next to the same run's baseline (the idle server):

- memory: the server's RSS and peak RSS (VmHWM) after one unsigned POST that
  announces 1 GiB and streams up to --stream-mib MiB of it, and how long the client
  waited for an answer (none within 10 s: "no answer");
- threads and RSS with --connections idle connections open (/proc/<pid>/task), or
  as many as connect within 30 s;
- signed keep-alive GETs per second from --clients client threads (one connection
  each), with those idle connections open and without.

    .venv/bin/python bench/bench_serve_limits.py [--connections 3000] [--stream-mib 1024]
        [--clients 8] [--seconds 3]
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sim import inventory

from controller.providers.sim.cloud import init_cloud
from controller.providers.sim.serve import httpserver, sigv4

MIB = 1 << 20
P = httpserver.DEFAULT_PROJECT_ID


@contextmanager
def served(state: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of `enictl sim serve --port 0` on `state`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_", "ENICTL_"))}
    command = [sys.executable, "-m", "controller", "--state-dir", str(state), "sim", "serve"]
    process = subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        yield process.pid, int(first.split(" at ")[1].split(" ")[0].rsplit(":", 1)[1])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return -1


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def huge_post(port: int, stream_mib: int) -> str:
    """Send an unsigned 1 GiB POST; the answer's status and when it came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST /v1/{P}/ports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {1 << 30}\r\n"
    sock.sendall(head.encode() + b"\r\n")
    start = time.monotonic()

    def send() -> None:
        try:
            for _ in range(stream_mib):
                sock.sendall(b"x" * MIB)
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        response = http.client.HTTPResponse(sock)
        response.begin()
        answer = f"{response.status} after {time.monotonic() - start:.3f} s"
    except (OSError, http.client.HTTPException):
        answer = "no answer"
    sender.join(timeout=60)
    sock.close()
    return answer


def signed_get(port: int) -> bytes:
    """A signed `GET vpcs` with the built-in keys, as bytes on the wire."""
    path = f"/v1/{P}/vpcs"
    headers = {"host": f"127.0.0.1:{port}"}
    headers["x-sdk-date"] = datetime.now(UTC).strftime(sigv4.DATE_FORMAT)
    headers["authorization"] = sigv4.sign(
        httpserver.DEFAULT_AK, httpserver.DEFAULT_SK, "GET", path, "", headers, b""
    )
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def throughput(pid: int, port: int, clients: int, seconds: float) -> str:
    """Signed GETs per second over keep-alive, `clients` connections at once, and the
    server's CPU milliseconds per request (the steadier figure on a shared machine)."""
    counts = [0] * clients
    cpu = cpu_seconds(pid)
    end = time.monotonic() + seconds

    def client(n: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                while time.monotonic() < end:
                    sock.sendall(signed_get(port))
                    response = http.client.HTTPResponse(sock)
                    response.begin()
                    response.read()
                    counts[n] += 1
        except (OSError, http.client.HTTPException):
            pass

    workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done = max(1, sum(counts))
    per_request = (cpu_seconds(pid) - cpu) * 1000 / done
    return f"{done / seconds:.0f} signed GETs/s, server CPU {per_request:.2f} ms per request"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--stream-mib", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 256)), hard))
    with tempfile.TemporaryDirectory() as tmp:
        init_cloud(Path(tmp), inventory(20, 2)).close()
        measure(Path(tmp), args)


def measure(state: Path, args: argparse.Namespace) -> None:
    with served(state) as (pid, port):
        rate = throughput(pid, port, args.clients, args.seconds)
        rss, peak = status(pid, "VmRSS"), status(pid, "VmHWM")
        print(f"baseline (idle server): RSS {rss} MiB, peak {peak} MiB, {threads(pid)} threads")
        print(f"baseline ({args.clients} keep-alive clients): {rate}")
        answer = huge_post(port, args.stream_mib)
        print(
            f"unsigned 1 GiB POST ({args.stream_mib} MiB streamed): {answer}; "
            f"RSS {status(pid, 'VmRSS')} MiB, peak {status(pid, 'VmHWM')} MiB"
        )
        idle = []
        budget = time.monotonic() + 30  # connecting may stall (a full listen backlog)
        while len(idle) < args.connections and time.monotonic() < budget:
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                continue
        time.sleep(1)  # a benchmark, not a test: let the server accept them
        print(
            f"{len(idle)} idle connections: {threads(pid)} threads, RSS {status(pid, 'VmRSS')} MiB"
        )
        print(f"with them open: {throughput(pid, port, args.clients, args.seconds)}")
        for sock in idle:
            sock.close()


if __name__ == "__main__":
    main()
