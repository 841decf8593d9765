"""What an apply did: each step's and each marker's result, and the run's summary.

Values the executor returns (`controller.execution.executor.execute`) and the CLI renders:
`line()` for people, `as_json()` for the `--json` event stream and the watch status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.plan import Mark, Marker, Step


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    status: str  # "done" | "failed" | "not-started"
    code: str = ""
    message: str = ""
    seconds: float = 0.0
    job_id: str = ""

    def head(self) -> str:
        """`step 3: attach eni-a on web-2`."""
        where = f" on {self.step.server}" if self.step.server else ""
        return f"step {self.step.id}: {self.step.action.value} {self.step.interface}{where}"

    def line(self) -> str:
        head = self.head()
        if self.status == "failed":
            return f"{head}: {self.code}: {self.message}"
        if self.status == "not-started":
            return f"{head}: not started ({self.message})"
        return head

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step.id,
            "action": self.step.action.value,
            "interface": self.step.interface,
            "server": self.step.server,
            "status": self.status,
        }
        if self.code or self.message:
            out.update(code=self.code, message=self.message)
        return out


@dataclass(frozen=True, slots=True)
class MarkResult:
    """Setting one marker (`plan.marks`): "done", "failed" or "not-started"."""

    mark: Mark
    status: str
    code: str = ""
    message: str = ""

    @property
    def interface(self) -> str:
        return self.mark.interface

    def line(self) -> str:
        """`adopt eni-a`, `protect eni-b: VPC.0202: ...`."""
        head = f"{self.mark.verb} {self.interface}"
        if self.status == "failed":
            return f"{head}: {self.code}: {self.message}"
        if self.status == "not-started":
            return f"{head}: not started ({self.message})"
        return head

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"interface": self.interface, "status": self.status}
        if self.code or self.message:
            out.update(code=self.code, message=self.message)
        return out


@dataclass(frozen=True, slots=True)
class ApplyResult:
    done: tuple[StepResult, ...]
    failed: tuple[StepResult, ...]
    not_started: tuple[StepResult, ...]
    elapsed: float
    calls: Mapping[str, int] = field(default_factory=dict)
    created: Mapping[str, str] = field(default_factory=dict)  # interface name -> new id
    marks: tuple[MarkResult, ...] = ()  # one per mark of the plan that was tried, in plan order

    def marked(self, marker: Marker) -> tuple[MarkResult, ...]:
        return tuple(m for m in self.marks if m.mark.marker is marker)

    @property
    def adopted(self) -> tuple[str, ...]:
        return tuple(m.interface for m in self.marked(Marker.MANAGED) if m.status == "done")

    @property
    def adopt_failed(self) -> tuple[MarkResult, ...]:
        """Markers (adoptions, protect markers) that failed or did not start."""
        return tuple(m for m in self.marks if m.status != "done")

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_started and not self.adopt_failed

    def summary(self) -> str:
        marks = ""
        adoptions = self.marked(Marker.MANAGED)
        if adoptions:
            marks = f", {len(self.adopted)} adopted"
            missed = len(adoptions) - len(self.adopted)
            if missed:
                marks += f", {missed} not adopted"
        protections = self.marked(Marker.PROTECT)
        if protections:
            set_ = sum(1 for m in protections if m.status == "done")
            marks += f", {set_} protect marker(s) set"
            if set_ < len(protections):
                marks += f", {len(protections) - set_} not set"
        return (
            f"{len(self.done)} done, {len(self.failed)} failed, "
            f"{len(self.not_started)} not started{marks} in {self.elapsed:.1f}s"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "done": len(self.done),
            "failed": [r.as_json() for r in self.failed],
            "notStarted": [r.as_json() for r in self.not_started],
            "adopted": len(self.adopted),
            "adoptFailed": [a.as_json() for a in self.adopt_failed],
            "elapsed": round(self.elapsed, 3),
            "calls": dict(self.calls),
        }
