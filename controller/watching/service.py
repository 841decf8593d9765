"""What `enictl watch --listen` runs beside the reconcile loop, wired in one place.

    reconciler's provider ──► metered ──► Metrics.call, Board.observed
    executor events ────────────────────► Metrics.event
    each ReconcileResult ───────────────► Metrics.result, Board.record
    SIGINT / SIGTERM ───────────────────► Board.stopping (readiness 503 at once)
    Board + Metrics ──► endpoints (/healthz, /readyz, /metrics, /) on their own threads

The CLI opens a `Service` before the loop starts (so a taken port fails the command
before any reconcile) and closes it after the loop returned.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from controller import __version__
from controller.apply import Desired
from controller.events import Event
from controller.model import DEFAULT_OWNER
from controller.providers.base import Provider
from controller.watching import endpoints, metered
from controller.watching.endpoints import Address, Endpoints
from controller.watching.loop import ReconcileResult
from controller.watching.metrics import Metrics
from controller.watching.status import About, Board


class Service:
    """The board, the metrics and the endpoints of one watch process."""

    def __init__(
        self,
        address: Address,
        *,
        provider: str,
        backend: str,
        paths: Sequence[str],
        interval: float,
        detect_only: bool = False,
        prune: bool = False,
        owner: str = DEFAULT_OWNER,
    ) -> None:
        about = About(
            version=__version__,
            provider=provider,
            backend=backend,
            paths=tuple(paths),
            interval=interval,
            detect_only=detect_only,
            prune=prune,
            owner=owner,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        self.board = Board(about)
        self.metrics = Metrics(version=__version__, provider=provider)
        self.endpoints: Endpoints = endpoints.serve(address, self.board, self.metrics)

    @property
    def url(self) -> str:
        return self.endpoints.url

    def provider(self, inner: Provider) -> Provider:
        """The provider the reconciler uses: every call counted, every observation kept."""
        return metered.metered(inner, self.metrics, self.board.observed)

    def on_event(self, event: Event) -> None:
        self.metrics.event(event)
        self.board.event(event)

    def on_result(self, result: ReconcileResult, desired: Desired | None) -> None:
        self.metrics.result(result)
        self.board.record(result, desired.topology if desired is not None else None)

    def stopping(self) -> None:
        self.board.stopping()

    def close(self) -> None:
        self.endpoints.close()
