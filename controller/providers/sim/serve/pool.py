"""The worker pool of `sim serve`: a fixed number of threads over parked connections.

`PoolServer` is a `socketserver.TCPServer` whose `serve_forever` thread owns every
connection that has no request in progress, so that what a client can hold without
credentials is bounded by `Limits`:

- **Parked.** A connection waits in one selector while it has no request in progress:
  a new one before its first byte, a keep-alive one between requests. That costs a
  file descriptor, no thread. One parked longer than `idle_timeout` is closed.
- **Served.** A parked connection that becomes readable goes to the work queue, and
  one of `workers` threads serves one request on it (`connection.ConnectionHandler`):
  request line, headers and body must all arrive within `request_timeout` of the
  worker taking it, however slowly the bytes trickle, and the answer must leave
  within `request_timeout` too; a connection past its deadline is cut off. Pipelined
  requests already received are served by the same worker; then the connection is
  parked again, or closed.
- **Lingering.** An answered connection that closes (a refusal before its body was
  read, `Connection: close`, an error) shuts its sending side first and the server
  discards what the client still sends, for at most `LINGER_SECONDS` and
  `LINGER_BYTES`, then closes it: a client that is still sending reads the refusal
  rather than a connection reset.
- **Capped.** At most `max_connections` are open at once (lowered to fit the process's
  file descriptor limit): at the cap a new connection closes the lingering or parked
  connection that has waited longest; when every connection is being served, new
  ones wait in the listen backlog until one closes.

Threads: the one running `serve_forever` plus `workers`, whatever the number of
connections. Memory for request bodies: at most `workers * max_body_bytes` (the body
limit is the handler's to apply before it reads a body).
"""

from __future__ import annotations

import contextlib
import queue
import resource
import selectors
import socket
import socketserver
import threading
import time
from dataclasses import dataclass

from controller.errors import UsageError
from controller.providers.sim.serve.connection import READ_SIZE, ConnectionHandler, Outcome

LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20
FD_RESERVE = 64  # descriptors left for the listener, SQLite files and the rest
_LISTENER = "listener"
_WAKER = "waker"


@dataclass(frozen=True, slots=True)
class Limits:
    """What `sim serve` lets its clients hold (`enictl sim serve --help` has the flags)."""

    workers: int = 16
    max_connections: int = 1000
    idle_timeout: float = 60.0
    request_timeout: float = 10.0
    # API Gateway forwards bodies up to 12 MB (APIG FAQ "Does APIG Have a Limit on the
    # Size of the API Request Body?"); that ECS/VPC/EIP sit behind the same limit is
    # (unconfirmed), so the simulated cloud takes as much as the gateway does.
    max_body_bytes: int = 12 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("workers", "max_connections", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise UsageError(f"sim serve: {name} must be at least 1")
        for name in ("idle_timeout", "request_timeout"):
            if not getattr(self, name) > 0:
                raise UsageError(f"sim serve: {name} must be more than 0 seconds")


DEFAULT_LIMITS = Limits()


@dataclass
class _Lingering:
    deadline: float
    discarded: int = 0


def fd_budget(wanted: int) -> int:
    """`wanted` connections, or fewer when the file descriptor limit would not allow them."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


class PoolServer(socketserver.TCPServer):
    """A TCP server that parks idle connections and serves requests from a fixed pool."""

    allow_reuse_address = True
    request_queue_size = 1024  # the listen backlog (the kernel caps it at somaxconn)

    def __init__(
        self, address: tuple[str, int], handler: type[ConnectionHandler], limits: Limits
    ) -> None:
        self.limits = limits
        self.max_connections = fd_budget(limits.max_connections)
        self._handler = handler
        super().__init__(address, handler)
        self._waker, self._wake_end = socket.socketpair()
        self._wake_end.setblocking(False)
        self._waker.setblocking(False)
        self._work: queue.SimpleQueue[ConnectionHandler | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[ConnectionHandler, Outcome]] = queue.SimpleQueue()
        self._stop = threading.Event()  # once set, never cleared: a server serves once
        self._stopped = threading.Event()
        self._stopped.set()
        self._starting = threading.Lock()
        # Owned by the serve_forever thread:
        self._parked: dict[ConnectionHandler, float] = {}  # in order of parking = of expiry
        self._lingering: dict[ConnectionHandler, _Lingering] = {}
        self._open = 0
        self._listening = False
        self._sink = bytearray(READ_SIZE)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until `shutdown()` (or an exception such as KeyboardInterrupt)."""
        with self._starting:
            if self._stop.is_set():
                return
            self._stopped.clear()
        workers = [
            threading.Thread(target=self._work_loop, name=f"sim-serve-{n}", daemon=True)
            for n in range(self.limits.workers)
        ]
        for worker in workers:
            worker.start()
        self.socket.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self._waker, selectors.EVENT_READ, _WAKER)
                self._listen(selector)
                try:
                    while not self._stop.is_set():
                        self._turn(selector, poll_interval)
                finally:
                    self._close_all(selector, workers)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop `serve_forever` (also one not started yet) and wait until it has."""
        with self._starting:
            self._stop.set()
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        self._waker.close()
        self._wake_end.close()

    # -- the serve_forever thread ------------------------------------------------------

    def _turn(self, selector: selectors.BaseSelector, poll_interval: float) -> None:
        timeout = max(0.0, min(poll_interval, self._next_expiry() - time.monotonic()))
        for key, _ in selector.select(timeout):
            if key.data == _LISTENER:
                self._accept(selector)
            elif key.data == _WAKER:
                self._drain_waker()
            elif key.data in self._lingering:
                self._discard(selector, key.data)
            else:
                self._dispatch(selector, key.data)
        self._take_back(selector)
        self._expire(selector)
        if not self._listening and self._open < self.max_connections:
            self._listen(selector)

    def _next_expiry(self) -> float:
        """When the first parked or lingering connection is due (each dict is in order)."""
        idle = next(iter(self._parked.values()), float("inf"))
        lingering = next(iter(self._lingering.values()), None)
        return idle if lingering is None else min(idle, lingering.deadline)

    def _listen(self, selector: selectors.BaseSelector) -> None:
        selector.register(self.socket, selectors.EVENT_READ, _LISTENER)
        self._listening = True

    def _pause(self, selector: selectors.BaseSelector) -> None:
        """Leave new connections in the backlog until one closes (or the next turn)."""
        selector.unregister(self.socket)
        self._listening = False

    def _accept(self, selector: selectors.BaseSelector) -> None:
        for _ in range(64):  # a burst per turn, so parked connections get their turn too
            if self._open >= self.max_connections and not (self._lingering or self._parked):
                self._pause(selector)  # every connection is being served
                return
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError:  # out of file descriptors
                self._pause(selector)
                return
            try:
                handler = self._handler(sock, address, self)
            except OSError:  # reset before we got to it
                sock.close()
                continue
            if self._open >= self.max_connections:
                self._evict(selector)
            self._open += 1
            self._park(selector, handler)

    def _evict(self, selector: selectors.BaseSelector) -> None:
        """Close the connection that has lingered, or else idled, longest."""
        waiting = self._lingering or self._parked
        self._close(selector, next(iter(waiting)))

    def _park(self, selector: selectors.BaseSelector, handler: ConnectionHandler) -> None:
        self._parked[handler] = time.monotonic() + self.limits.idle_timeout
        selector.register(handler.request, selectors.EVENT_READ, handler)

    def _dispatch(self, selector: selectors.BaseSelector, handler: ConnectionHandler) -> None:
        selector.unregister(handler.request)
        del self._parked[handler]
        self._work.put(handler)

    def _take_back(self, selector: selectors.BaseSelector) -> None:
        while True:
            try:
                handler, outcome = self._done.get_nowait()
            except queue.Empty:
                return
            if outcome is Outcome.KEEP:
                self._park(selector, handler)
            elif outcome is Outcome.LINGER:
                self._linger(selector, handler)
            else:
                self._close(selector, handler)

    def _linger(self, selector: selectors.BaseSelector, handler: ConnectionHandler) -> None:
        sock: socket.socket = handler.request
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:
            self._close(selector, handler)
            return
        self._lingering[handler] = _Lingering(time.monotonic() + LINGER_SECONDS)
        selector.register(sock, selectors.EVENT_READ, handler)

    def _discard(self, selector: selectors.BaseSelector, handler: ConnectionHandler) -> None:
        state = self._lingering[handler]
        try:
            received = handler.request.recv_into(self._sink)
        except BlockingIOError:
            return
        except OSError:
            received = 0
        state.discarded += received
        if received == 0 or state.discarded >= LINGER_BYTES:
            self._close(selector, handler)

    def _expire(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        while self._lingering:
            handler, state = next(iter(self._lingering.items()))
            if state.deadline > now:
                break
            self._close(selector, handler)
        while self._parked:
            handler, expiry = next(iter(self._parked.items()))
            if expiry > now:
                break
            self._close(selector, handler)

    def _close(self, selector: selectors.BaseSelector, handler: ConnectionHandler) -> None:
        waiting = self._parked.pop(handler, None) is not None
        waiting = self._lingering.pop(handler, None) is not None or waiting
        if waiting:
            selector.unregister(handler.request)
        handler.request.close()
        self._open -= 1

    def _close_all(self, selector: selectors.BaseSelector, workers: list[threading.Thread]) -> None:
        """Stop the workers (each finishes the request it serves) and close every connection."""
        handlers: list[ConnectionHandler] = []
        while not self._work.empty():  # connections no worker has taken yet
            queued = self._work.get()
            handlers += [queued] if queued is not None else []
        for _ in workers:
            self._work.put(None)
        for worker in workers:
            worker.join(timeout=self.limits.request_timeout + 1)
        while not self._done.empty():
            handlers.append(self._done.get()[0])
        for handler in [*handlers, *self._parked, *self._lingering]:
            self._close(selector, handler)

    def _drain_waker(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._waker.recv(4096):
                pass

    # -- the workers ---------------------------------------------------------------------

    def _work_loop(self) -> None:
        while (handler := self._work.get()) is not None:
            outcome = Outcome.AGAIN
            while outcome is Outcome.AGAIN:
                outcome = handler.serve_one(self.limits.request_timeout)
            self._done.put((handler, outcome))
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a wake is pending already, or the server closed
            self._wake_end.send(b"\0")
