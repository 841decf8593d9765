"""One root exception; each subclass knows its exit code and its one-line message.

The CLI catches `EnictlError` and prints `error_lines()`; it never chooses a message
by inspecting the class. User errors point at a manifest place, rejected plans carry
their violations, provider errors say whether a retry may help.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ECHO_LIMIT = 200  # characters of user input a message echoes (a name, a value)
LINE_LIMIT = 2000  # characters of one error line, whatever it holds


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text`, or its start and how much was left out: input echoed in a message stays
    small however big the input (a 50 MB name printed five times made 250 MB of stderr)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


class EnictlError(Exception):
    """Root of every error enictl reports to a user (exit code 1 unless stated)."""

    exit_code: int = 1

    def error_lines(self) -> list[str]:
        """The lines to print on stderr, each starting with `error: `."""
        return [f"error: {self}"]

    def as_json(self) -> dict[str, Any]:
        """The error as a `--json` event's fields: its kind, its message, its details."""
        return {"error": type(self).__name__, "message": str(self)}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the manifests, located at file:line:col."""

    location: str  # "file:line:col" (or just "file" when no position is known)
    message: str
    code: str = "InvalidManifest"
    resource: str = ""  # "Kind/name" when known
    field: str = ""  # dotted path inside the document, e.g. "spec.privateIp"

    def line(self) -> str:
        """`file:line:col: Code: Kind/name field: message`: the stable code as the JSON
        names it, so that a search for a code finds the text output too."""
        where = f" {shorten(self.resource)}" if self.resource else ""
        at = f" {shorten(self.field)}:" if self.field else ""
        message = shorten(self.message, LINE_LIMIT)
        text = f"{shorten(self.location)}: {self.code}:{where}{at} {message}"
        return text.replace(":  ", ": ")

    def as_json(self) -> dict[str, str]:
        return {
            "location": shorten(self.location),
            "code": self.code,
            "resource": shorten(self.resource),
            "field": shorten(self.field),
            "message": shorten(self.message, LINE_LIMIT),
        }


class ManifestError(EnictlError):
    """The manifests are invalid; carries every problem found, not only the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the manifests")

    def error_lines(self) -> list[str]:
        return [f"error: {p.line()}" for p in self.problems]


class UsageError(EnictlError):
    """A command was called wrongly or its settings are missing (e.g. credentials)."""


class PlanRejected(EnictlError):
    """The plan has error-severity violations; nothing is applied."""


class StalePlan(EnictlError):
    """A saved plan no longer matches the manifests or its part of the cloud; `changes`
    says what changed in the cloud (each a `Change`'s JSON: resource, field, before,
    after)."""

    def __init__(self, message: str, changes: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.changes = tuple(changes)

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "changes": [dict(c) for c in self.changes]}


class InvalidPlanFile(EnictlError):
    """A saved plan file is missing, unreadable, corrupt or of another format version."""


class ApplyFailed(EnictlError):
    """Some steps failed or did not start, or the cloud does not match afterwards."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = tuple(details)

    def error_lines(self) -> list[str]:
        return [f"error: {self}", *(f"  {line}" for line in self.details)]


class StepFailed(EnictlError):
    """One plan step could not be done; `code`/`message` are the cloud's when it refused
    (the executor records it in the step's result and goes on with independent steps)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LockHeld(EnictlError):
    """Another enictl process holds the state backend's lock (or lease)."""


class StateError(EnictlError):
    """The state backend cannot be used: a state file that cannot be written or read
    (disk full, read-only, not a regular file), a damaged journal, a database that is
    unreachable or whose schema is newer than this enictl. The message names the file
    (or the database) and what to do."""


class LeaseLost(StepFailed):
    """This process no longer holds the state backend's lease (expired while it could
    not renew, or taken over): it makes no further cloud call. A step that meets it
    fails with code `LeaseLost`; the apply then ends with this error."""

    def __init__(self, message: str) -> None:
        super().__init__("LeaseLost", message)

    def error_lines(self) -> list[str]:
        return [f"error: {self.message}"]


class ProviderError(EnictlError):
    """The cloud refused or failed a call. `code` is the cloud's code (e.g. Ecs.0050)."""

    transient: bool = False

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}" if code else message)


class TransientProviderError(ProviderError):
    """Throttling, busy backend, timeouts, 5xx: retrying later may succeed."""

    transient = True


class PermanentProviderError(ProviderError):
    """The cloud will refuse this call again: the step fails."""
