"""One call to the simulated cloud: one transaction that settles, rolls the dice, acts, logs.

Every API verb and every console change of `SimCloud` is one `run()`: inside one
`BEGIN IMMEDIATE` transaction it finishes the jobs whose latency has elapsed, rolls
the fault dice (API calls only), runs the action under a savepoint, and appends the
call to the log (read back as `LogEntry`s). A refused call (a `ProviderError`)
changes nothing but the log and the fault counter; it is raised after the
transaction commits.

The cloud's data version (`data_version`) counts every change of what `observe()`
returns, so `sim serve` can answer a listing from its last observation while the
cloud is unchanged.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from controller.errors import ProviderError
from controller.providers.sim import faults as faults_mod
from controller.providers.sim import rules, store
from controller.providers.sim.faults import Faults

T = TypeVar("T")
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One call the simulated cloud received (or one job it finished)."""

    seq: int
    time: float
    operation: str
    target: str
    result: str  # "ok" or "error"
    error_code: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "operation": self.operation,
            "target": self.target,
            "result": self.result,
            "errorCode": self.error_code or None,
            "message": self.message,
        }


@dataclass
class Call:
    """What one call's action gets: the transaction, the time, the dice; it names its target."""

    conn: sqlite3.Connection
    now: float
    dice: faults_mod.Dice
    faults: Faults
    target: str = ""


def run(
    db: sqlite3.Connection,
    clock: Clock,
    operation: str,
    action: Callable[[Call], T],
    *,
    target: str = "",
    inject: bool = True,
) -> T:
    """One call on `db`: finish due jobs, check the quota and roll the dice (when
    `inject`), act, log."""
    error: ProviderError | None = None
    with store.write(db) as conn:
        now = clock()
        settle(conn, now)
        current = faults(conn)
        dice = faults_mod.NO_DICE
        refused = _quota(conn, current, operation, now) if inject else None
        if refused is None and inject and current.draws:
            dice = faults_mod.roll(current, store.bump(conn, "call_counter"), operation)
        call = Call(conn, now, dice, current, target)
        conn.execute("SAVEPOINT call")
        before = conn.total_changes
        try:
            if refused is not None:
                raise refused
            if dice.transient_error is not None:
                raise dice.transient_error
            result = action(call)
        except ProviderError as exc:
            conn.execute("ROLLBACK TO call")
            error = exc
        conn.execute("RELEASE call")
        if error is None and conn.total_changes != before:
            changed(conn)
        store.record(conn, now, operation, call.target, error)
    if error is not None:
        raise error
    return result


def _quota(
    conn: sqlite3.Connection, current: Faults, operation: str, now: float
) -> ProviderError | None:
    """The refusal of a call over its service's quota (`Faults.rate_limit`), or None;
    the service's bucket (tokens, time of the last call) is kept in the meta table."""
    service = faults_mod.SERVICE_OF.get(operation)
    if not current.rate_limit or service is None:
        return None
    key = f"quota.{service}"
    saved = store.get_meta(conn, key).split()
    tokens, last = (float(saved[0]), float(saved[1])) if len(saved) == 2 else (1e9, now)
    admitted, tokens = faults_mod.admit(tokens, now - last, current.rate_limit)
    store.set_meta(conn, key, f"{tokens!r} {max(now, last)!r}")
    return None if admitted else faults_mod.over_quota(operation, current.rate_limit)


def settle(conn: sqlite3.Connection, now: float) -> None:
    """Finish the jobs due by `now`, counting the change (inside a write transaction)."""
    before = conn.total_changes
    rules.settle(conn, now)
    if conn.total_changes != before:
        changed(conn)


def changed(conn: sqlite3.Connection) -> None:
    """Count a change of the cloud's contents (inside the write transaction that made it)."""
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('data_version', '1') "
        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )


def data_version(conn: sqlite3.Connection) -> str:
    """`<cloud id>:<changes>`; the cloud id is drawn at the first call after `sim init`
    (it needs a write transaction then, which every `run` action has)."""
    cloud_id = store.get_meta(conn, "cloud_id")
    if not cloud_id:
        cloud_id = uuid.uuid4().hex
        store.set_meta(conn, "cloud_id", cloud_id)
    return f"{cloud_id}:{store.get_meta(conn, 'data_version', '0')}"


def faults(conn: sqlite3.Connection) -> Faults:
    """The fault settings stored in the cloud (none by default)."""
    text = store.get_meta(conn, "faults")
    return Faults.from_json(text) if text else Faults()


def submit(call: Call, kind: str, server_id: str, port_id: str, spec: str = "") -> str:
    """Start an attach or detach job with the configured latency; returns its id."""
    latency = call.faults.latency_ms / 1000.0
    return rules.submit_job(
        call.conn, call.now, latency, kind, server_id, port_id, call.dice.job_fails, spec
    )
