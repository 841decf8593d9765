"""What a running apply or watch reports as it goes: one typed value per event.

The executor, the step runner and the recovery emit `Event`s while they work; the
apply sequence, the CLI and the watch loop add their own (`plan`, `apply-complete`,
`reconcile`, ...). Every kind an event can have is a member of `Kind`, so a renderer
or a test matches on `event.kind is Kind.STEP_DONE`, never on a string it could
misspell. Renderers (`controller.views.progress`, the live panel of the CLI) read the
fields with `event.get(...)`; `as_json()` is the `--json` line, `{"event": kind, ...}`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Kind(enum.StrEnum):
    """Every kind of event, with the fields it carries (SPEC: `--json` event stream)."""

    # an apply's run (the executor): `elapsed` seconds since the run started on each
    APPLY_STARTED = "apply-started"  # steps, adopt, parallelism
    ADOPTED = "adopted"  # interface
    ADOPT_FAILED = "adopt-failed"  # interface, code, message
    PROTECTED = "protected"  # interface, value
    PROTECT_FAILED = "protect-failed"  # interface, code, message
    STEP_STARTED = "step-started"  # step, action, interface, server
    JOB_SUBMITTED = "job-submitted"  # step, job, server
    ATTACHED = "attached"  # step, interface, server: a failover ENI's attach job succeeded
    RETRY = "retry"  # step | adopt, call, attempt, code, delay
    WAITING_SERVER = "waiting-server"  # step, server, status
    STEP_DONE = "step-done"  # step, action, interface, server, seconds
    STEP_FAILED = "step-failed"  # step, ..., code, message
    STEP_SKIPPED = "step-skipped"  # step, action, interface, server, because
    INTERRUPTED = "interrupted"  # remaining
    APPLY_DONE = "apply-done"  # ok and the ApplyResult's JSON
    # finishing a crashed run (the recovery)
    RESUME = "resume"  # run, started, pid, steps, stepsDone, jobs
    RESUME_JOB = "resume-job"  # run, step, job, status
    RESUME_SETTLED = "resume-settled"  # run, intents, unsettled
    # around the run (the CLI and the watch loop)
    PLAN = "plan"  # the plan's JSON
    APPLY_COMPLETE = "apply-complete"  # ok, inSync, remaining..., the ApplyResult's JSON
    ERROR = "error"  # error (its class), message, and its details (a stale plan's changes)
    WATCH_STARTED = "watch-started"
    WATCH_STOPPED = "watch-stopped"  # reconciles
    RECONCILE = "reconcile"  # the ReconcileResult's JSON
    FAILOVER = "failover"  # interface, from, to, reason, seconds (detection to attached)


@dataclass(frozen=True, slots=True)
class Event:
    kind: Kind
    fields: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def as_json(self) -> dict[str, Any]:
        return {"event": self.kind.value, **self.fields}


def event(kind: Kind, **fields: Any) -> Event:
    """`Event(kind, fields)`, with the fields as keywords."""
    return Event(kind, fields)


OnEvent = Callable[[Event], None]
