"""The progress of an apply on a terminal: a live panel, or plain lines elsewhere.

`LiveProgress` draws, on a terminal, a live panel (steps done / total, failures,
elapsed time and what each busy server is doing) above which finished steps scroll.
`for_output` picks it, the JSON lines (`--json`) or the plain lines of
`controller.views.progress` for logs and pipes.
"""

from __future__ import annotations

import threading
import time
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from controller.events import Event, Kind
from controller.views.progress import JsonProgress, PlainProgress, Progress, Tally, line

STYLES = {
    Kind.STEP_FAILED: "bold red",
    Kind.ADOPT_FAILED: "bold red",
    Kind.PROTECT_FAILED: "bold red",
    Kind.STEP_DONE: "green",
    Kind.ADOPTED: "green",
    Kind.RETRY: "yellow",
}


class LiveProgress:
    """A live panel on a terminal; finished steps, failures and retries scroll above it."""

    json = False

    def __init__(self, stream: IO[str], *, color: bool = True) -> None:
        self._console = Console(file=stream, force_terminal=True, no_color=not color)
        self._lock = threading.Lock()
        self._tally = Tally()
        self._live: Live | None = None

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._tally.update(event)
            if event.kind is Kind.APPLY_STARTED and self._live is None:
                self._live = Live(
                    get_renderable=self._render,
                    console=self._console,
                    refresh_per_second=8,
                    transient=True,
                )
                self._live.start()
            if event.kind is Kind.STEP_STARTED:
                return  # shown in the panel
            text = line(event, self._tally)
            if text is None:
                return
            self._console.print(Text(text, style=STYLES.get(event.kind, "")))
            if event.kind is Kind.APPLY_DONE:
                self.close()
            elif self._live is not None:
                self._live.refresh()  # the panel shows the counts the line just reported

    def _render(self) -> RenderableType:
        tally = self._tally
        elapsed = time.monotonic() - tally.started_at
        head = Text(f"Applying: {tally.counts()} · {elapsed:.1f}s elapsed", style="bold")
        table = Table(box=None, show_header=False, pad_edge=False)
        now = time.monotonic()
        active = dict(tally.active)  # a copy: events arrive while the panel renders
        for sid, (event, since) in sorted(active.items())[:20]:
            table.add_row(
                str(event.get("server") or "-"),
                f"{event.get('action')} {event.get('interface')}",
                f"step {sid}",
                f"{now - since:.1f}s",
            )
        more = len(active) - 20
        if more > 0:
            table.add_row("", f"... and {more} more", "", "")
        return Group(head, table)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def for_output(stream: IO[str], *, as_json: bool, color: bool = True) -> Progress:
    """JSON lines with `--json`; a live panel on a terminal; plain lines otherwise."""
    if as_json:
        return JsonProgress(stream)
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal:
        return LiveProgress(stream, color=color)
    return PlainProgress(stream)
