"""What an apply did: each step's and each adoption's result, and the run's summary.

Values the executor returns (`controller.execution.executor.execute`) and the CLI renders:
`line()` for people, `as_json()` for the `--json` event stream and the watch status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.plan import Step


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
class AdoptResult:
    """The adoption of one ENI: tagged as managed ("done"), "failed" or "not-started";
    or (`verb` "protect") the setting of its protect marker."""

    interface: str
    status: str
    code: str = ""
    message: str = ""
    verb: str = "adopt"

    def line(self) -> str:
        if self.status == "failed":
            return f"{self.verb} {self.interface}: {self.code}: {self.message}"
        if self.status == "not-started":
            return f"{self.verb} {self.interface}: not started ({self.message})"
        return f"{self.verb} {self.interface}"

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
    adoptions: tuple[AdoptResult, ...] = ()  # one per name in `plan.adopt`
    protections: tuple[AdoptResult, ...] = ()  # one per mark in `plan.protect` that ran

    @property
    def adopted(self) -> tuple[str, ...]:
        return tuple(a.interface for a in self.adoptions if a.status == "done")

    @property
    def adopt_failed(self) -> tuple[AdoptResult, ...]:
        """Adoptions that failed or did not start."""
        return tuple(a for a in self.adoptions + self.protections if a.status != "done")

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_started and not self.adopt_failed

    def summary(self) -> str:
        adopted = ""
        if self.adoptions:
            adopted = f", {len(self.adopted)} adopted"
            missed = sum(1 for a in self.adoptions if a.status != "done")
            if missed:
                adopted += f", {missed} not adopted"
        if self.protections:
            marked = sum(1 for a in self.protections if a.status == "done")
            adopted += f", {marked} protect marker(s) set"
            if marked < len(self.protections):
                adopted += f", {len(self.protections) - marked} not set"
        return (
            f"{len(self.done)} done, {len(self.failed)} failed, "
            f"{len(self.not_started)} not started{adopted} in {self.elapsed:.1f}s"
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
