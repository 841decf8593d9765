"""Progress renderers: JSON lines, plain lines, and the live panel on a terminal."""

from __future__ import annotations

import io
import json

from controller.cli import live
from controller.events import Event, Kind
from controller.views import progress

RAW = [
    {"event": "apply-started", "steps": 2, "parallelism": 10, "elapsed": 0.0},
    {
        "event": "step-started",
        "step": 1,
        "action": "detach",
        "interface": "a",
        "server": "s1",
        "elapsed": 0.01,
    },
    {
        "event": "retry",
        "step": 1,
        "call": "detach",
        "attempt": 1,
        "code": "Ecs.0603",
        "message": "busy",
        "delay": 0.05,
        "elapsed": 0.02,
    },
    {
        "event": "step-failed",
        "step": 1,
        "action": "detach",
        "interface": "a",
        "server": "s1",
        "code": "Ecs.0507",
        "message": "the detach job failed",
        "elapsed": 0.5,
    },
    {"event": "step-skipped", "step": 2, "because": 1, "elapsed": 0.5},
    {
        "event": "apply-done",
        "ok": False,
        "done": 0,
        "failed": [],
        "notStarted": [],
        "elapsed": 0.5,
        "calls": {},
    },
]


EVENTS = [Event(Kind(e["event"]), {k: v for k, v in e.items() if k != "event"}) for e in RAW]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_progress_prints_one_object_per_line() -> None:
    """--json: each event is one line of JSON, in order."""
    out = io.StringIO()
    sink = live.for_output(out, as_json=True)
    for e in EVENTS:
        sink(e)
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == [
        e["event"] for e in RAW
    ]


def test_plain_progress_for_pipes_names_steps_codes_and_counts() -> None:
    """Not a terminal: readable lines with the step, the cloud's code and the retry."""
    out = io.StringIO()
    sink = live.for_output(out, as_json=False)
    assert isinstance(sink, progress.PlainProgress)
    for e in EVENTS:
        sink(e)
    text = out.getvalue()
    assert "Applying 2 step(s), up to 10 at a time" in text
    assert "step 1 detach a on s1: started" in text
    assert "step 1: detach got Ecs.0603, retry 1 in 0.05s" in text
    assert "step 1 detach a on s1: FAILED Ecs.0507: the detach job failed" in text
    assert "step 2: not started (step 1 did not complete)" in text


def test_live_progress_on_a_terminal_shows_the_panel_and_scrolls_results() -> None:
    """A terminal gets the live panel; the failure line is printed above it."""
    out = Tty()
    sink = live.for_output(out, as_json=False, color=False)
    assert isinstance(sink, live.LiveProgress)
    for e in EVENTS:
        sink(e)
    sink.close()
    text = out.getvalue()
    assert "FAILED Ecs.0507" in text
    assert "Applying: 0/2 done, 1 failed" in text
