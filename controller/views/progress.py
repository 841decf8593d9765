"""Progress a person (or a pipeline) can follow while an apply runs.

The executor and the recovery emit events, plain dicts with an `"event"` key
(`apply-started`, `adopted`, `adopt-failed`, `protected`, `protect-failed`,
`step-started`, `job-submitted`, `retry`, `waiting-server`, `step-done`, `step-failed`,
`step-skipped`, `interrupted`, `apply-done`, `resume`, `resume-job`, `resume-settled`;
the CLI adds `plan`, `verify` and `apply-complete`).
Three renderers:

- `JsonProgress`: one JSON object per line, flushed at once (`--json`);
- `PlainProgress`: one readable line per start, end, retry and failure, for logs and
  pipes;
- `LiveProgress`: on a terminal, a live panel (steps done / total, failures, elapsed
  time and what each busy server is doing) above which finished steps scroll.

All three are thread-safe callables; `close()` ends a live display.
"""

from __future__ import annotations

import json
import threading
import time
from typing import IO, Any, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

Event = dict[str, Any]


class Progress(Protocol):
    json: bool

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


def describe(event: Event) -> str:
    """`step 3 attach eni-a on web-2`, from a step event."""
    where = f" on {event['server']}" if event.get("server") else ""
    return f"step {event.get('step')} {event.get('action', '')} {event.get('interface', '')}{where}"


class JsonProgress:
    """`--json`: every event as one line of JSON."""

    json = True

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps(event, sort_keys=True, default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        pass


class _Tally:
    """Counts shared by the human renderers."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.active: dict[int, Event] = {}
        self.started_at = time.monotonic()

    def update(self, event: Event) -> None:
        name = event["event"]
        if name == "apply-started":
            self.total = int(event.get("steps", 0))
            self.started_at = time.monotonic()
        elif name == "step-started":
            self.active[int(event["step"])] = {**event, "since": time.monotonic()}
        elif name == "step-done":
            self.done += 1
            self.active.pop(int(event["step"]), None)
        elif name == "step-failed":
            self.failed += 1
            self.active.pop(int(event["step"]), None)
        elif name == "step-skipped":
            self.skipped += 1

    def counts(self) -> str:
        text = f"{self.done}/{self.total} done"
        if self.failed:
            text += f", {self.failed} failed"
        if self.skipped:
            text += f", {self.skipped} not started"
        return text


def _line(event: Event, tally: _Tally) -> str | None:
    """The plain-text line for an event, or None for events not worth a line."""
    name = event["event"]
    at = f"[{event.get('elapsed', 0.0):7.2f}s] " if "elapsed" in event else ""
    if name == "apply-started":
        adopting = f" and adopting {event['adopt']} ENI(s)" if event.get("adopt") else ""
        return (
            f"Applying {event['steps']} step(s){adopting}, up to {event['parallelism']} at a time"
        )
    if name == "adopted":
        return f"{at}adopt {event['interface']}: tagged as managed by enictl"
    if name == "protected":
        state = "set" if event.get("value") else "cleared"
        return f"{at}protect {event['interface']}: protect marker {state}"
    if name == "protect-failed":
        return (
            f"{at}protect {event['interface']}: FAILED {event.get('code')}: {event.get('message')}"
        )
    if name == "adopt-failed":
        return f"{at}adopt {event['interface']}: FAILED {event.get('code')}: {event.get('message')}"
    if name == "step-started":
        return f"{at}{describe(event)}: started"
    if name == "step-done":
        return f"{at}{describe(event)}: done in {event.get('seconds', 0):.2f}s ({tally.counts()})"
    if name == "step-failed":
        return f"{at}{describe(event)}: FAILED {event.get('code')}: {event.get('message')}"
    if name == "step-skipped":
        return f"{at}step {event['step']}: not started (step {event['because']} did not complete)"
    if name == "retry":
        what = f"step {event['step']}" if "step" in event else f"adopt {event.get('adopt')}"
        return (
            f"{at}{what}: {event['call']} got {event['code']}, retry "
            f"{event['attempt']} in {event['delay']:.2f}s"
        )
    if name == "waiting-server":
        return f"{at}step {event['step']}: waiting for {event['server']} ({event['status']})"
    if name == "interrupted":
        return f"{at}interrupted: {event['remaining']} step(s) will not start"
    if name == "resume":
        return (
            f"Found an interrupted apply (run {str(event['run'])[:8]}, pid {event['pid']}, "
            f"started {event['started']}, {event['stepsDone']}/{event['steps']} steps done): "
            f"finishing its {event['jobs']} job(s) in flight"
        )
    if name == "resume-job":
        return f"  job {event['job']} (step {event['step']}): {event['status']}"
    if name == "resume-settled":
        return f"  waited for {event['intents']} unconfirmed call(s)"
    return None


class PlainProgress:
    """Readable lines, one per event that matters, for logs and pipes."""

    json = False

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._tally = _Tally()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._tally.update(event)
            line = _line(event, self._tally)
            if line is not None:
                self._stream.write(line + "\n")
                self._stream.flush()

    def close(self) -> None:
        pass


class LiveProgress:
    """A live panel on a terminal; finished steps, failures and retries scroll above it."""

    json = False

    def __init__(self, stream: IO[str], *, color: bool = True) -> None:
        self._console = Console(file=stream, force_terminal=True, no_color=not color)
        self._lock = threading.Lock()
        self._tally = _Tally()
        self._live: Live | None = None

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._tally.update(event)
            name = event["event"]
            if name == "apply-started" and self._live is None:
                self._live = Live(
                    get_renderable=self._render,
                    console=self._console,
                    refresh_per_second=8,
                    transient=True,
                )
                self._live.start()
            if name == "step-started":
                return  # shown in the panel
            line = _line(event, self._tally)
            if line is None:
                return
            style = {
                "step-failed": "bold red",
                "adopt-failed": "bold red",
                "protect-failed": "bold red",
                "step-done": "green",
                "adopted": "green",
                "retry": "yellow",
            }.get(name, "")
            self._console.print(Text(line, style=style))
            if name == "apply-done":
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
        for sid, event in sorted(active.items())[:20]:
            table.add_row(
                str(event.get("server") or "-"),
                f"{event.get('action')} {event.get('interface')}",
                f"step {sid}",
                f"{now - event['since']:.1f}s",
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
