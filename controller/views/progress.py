"""Progress a person (or a pipeline) can follow while an apply runs.

The executor and the recovery emit `controller.events.Event`s. Two renderers write
them to a stream:

- `JsonProgress`: one JSON object per line, flushed at once (`--json`);
- `PlainProgress`: one readable line per start, end, retry and failure, for logs and
  pipes.

Both are thread-safe callables. The live panel a terminal gets is the CLI's
(`controller.cli.live`); it shares the counts (`Tally`) and the lines (`line`) here.
"""

from __future__ import annotations

import json
import threading
import time
from typing import IO, Protocol

from controller.events import Event, Kind


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
        text = json.dumps(event.as_json(), sort_keys=True, default=str)
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def close(self) -> None:
        pass


class Tally:
    """Counts shared by the human renderers; `active` maps a running step to its
    start event and the monotonic time it started."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.active: dict[int, tuple[Event, float]] = {}
        self.started_at = time.monotonic()

    def update(self, event: Event) -> None:
        kind = event.kind
        if kind is Kind.APPLY_STARTED:
            self.total = int(event.get("steps", 0))
            self.started_at = time.monotonic()
        elif kind is Kind.STEP_STARTED:
            self.active[int(event["step"])] = (event, time.monotonic())
        elif kind is Kind.STEP_DONE:
            self.done += 1
            self.active.pop(int(event["step"]), None)
        elif kind is Kind.STEP_FAILED:
            self.failed += 1
            self.active.pop(int(event["step"]), None)
        elif kind is Kind.STEP_SKIPPED:
            self.skipped += 1

    def counts(self) -> str:
        text = f"{self.done}/{self.total} done"
        if self.failed:
            text += f", {self.failed} failed"
        if self.skipped:
            text += f", {self.skipped} not started"
        return text


def line(event: Event, tally: Tally) -> str | None:
    """The plain-text line for an event, or None for events not worth a line."""
    name = event.kind
    at = f"[{event.get('elapsed', 0.0):7.2f}s] " if "elapsed" in event else ""
    if name is Kind.APPLY_STARTED:
        adopting = f" and adopting {event['adopt']} ENI(s)" if event.get("adopt") else ""
        return (
            f"Applying {event['steps']} step(s){adopting}, up to {event['parallelism']} at a time"
        )
    if name is Kind.ADOPTED:
        return f"{at}adopt {event['interface']}: tagged as managed by enictl"
    if name is Kind.PROTECTED:
        state = "set" if event.get("value") else "cleared"
        return f"{at}protect {event['interface']}: protect marker {state}"
    if name is Kind.PROTECT_FAILED:
        return (
            f"{at}protect {event['interface']}: FAILED {event.get('code')}: {event.get('message')}"
        )
    if name is Kind.ADOPT_FAILED:
        return f"{at}adopt {event['interface']}: FAILED {event.get('code')}: {event.get('message')}"
    if name is Kind.STEP_STARTED:
        return f"{at}{describe(event)}: started"
    if name is Kind.STEP_DONE:
        return f"{at}{describe(event)}: done in {event.get('seconds', 0):.2f}s ({tally.counts()})"
    if name is Kind.STEP_FAILED:
        return f"{at}{describe(event)}: FAILED {event.get('code')}: {event.get('message')}"
    if name is Kind.STEP_SKIPPED:
        return f"{at}step {event['step']}: not started (step {event['because']} did not complete)"
    if name is Kind.RETRY:
        what = f"step {event['step']}" if "step" in event else f"adopt {event.get('adopt')}"
        return (
            f"{at}{what}: {event['call']} got {event['code']}, retry "
            f"{event['attempt']} in {event['delay']:.2f}s"
        )
    if name is Kind.WAITING_SERVER:
        return f"{at}step {event['step']}: waiting for {event['server']} ({event['status']})"
    if name is Kind.INTERRUPTED:
        return f"{at}interrupted: {event['remaining']} step(s) will not start"
    if name is Kind.RESUME:
        return (
            f"Found an interrupted apply (run {str(event['run'])[:8]}, pid {event['pid']}, "
            f"started {event['started']}, {event['stepsDone']}/{event['steps']} steps done): "
            f"finishing its {event['jobs']} job(s) in flight"
        )
    if name is Kind.RESUME_JOB:
        return f"  job {event['job']} (step {event['step']}): {event['status']}"
    if name is Kind.RESUME_SETTLED:
        return f"  waited for {event['intents']} unconfirmed call(s)"
    return None


class PlainProgress:
    """Readable lines, one per event that matters, for logs and pipes."""

    json = False

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._tally = Tally()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._tally.update(event)
            text = line(event, self._tally)
            if text is not None:
                self._stream.write(text + "\n")
                self._stream.flush()

    def close(self) -> None:
        pass
