"""The apply journal: an append-only record of runs, steps and submitted job ids.

`<state_dir>/journal.jsonl` holds one JSON object per line, each written with a single
`write()` on an `O_APPEND` descriptor. What a resumed run depends on (run start and
end, a call's intent, its job id) is made durable with `fsync` before the writer goes
on (concurrent writers share one fsync: group commit); the other records survive a
killed process (they are in the page cache) and ride on the next fsync, since losing
them to a power cut only makes the next run poll a finished job once more. Records:

    {"type": "run-started",  "run": ID, "planDigest": "sha256:...", "steps": N, "pid": P, ...}
    {"type": "step-started", "run": ID, "step": 3, "action": "attach", ...}
    {"type": "job-intent",   "run": ID, "step": 3, "op": "attach", "server": SID, "interface": PID}
    {"type": "job-submitted","run": ID, "step": 3, "op": "attach", "job": JOB, ...}
        (op "bms-attach": interface "" and "newPort": {name, subnet, ip, before}, the
        port the BMS API creates: a resumed run claims it instead of making another)
    {"type": "job-unsent",   "run": ID, "step": 3}          (the submit call failed)
    {"type": "job-finished", "run": ID, "step": 3, "job": JOB, "status": "SUCCESS"}
    {"type": "step-done" | "step-failed", "run": ID, "step": 3, ...}
    {"type": "run-finished", "run": ID, "result": "ok" | "failed" | "recovered"}

The intent is written before the asynchronous call and the job id right after it,
so after a crash a reader knows, per step, either the job to poll or that a call may
have reached the cloud without its id being kept (a "dangling intent"). Everything
else is re-learned from the cloud: the next plan is always computed from a fresh
observation.

A torn last line (a crash mid-write) is ignored, and cut off when the journal is next
opened for writing. Any other line that is not a whole record is damage: reading
stops with a `StateError` that names the line and lists the jobs the rest of the
journal knows to be in flight, so that nothing is lost by guessing. A line is read
at most `MAX_RECORD` bytes at a time, so a journal pointed at a device that never
ends (/dev/zero, /dev/full) cannot fill the memory; such a journal is refused anyway,
as is anything that is not a regular file. Every OSError becomes one error line
naming the file (`controller.storage.failures`).

`Book` is what the executor and the recovery write through; the PostgreSQL backend
keeps the same records in a table (`controller.storage.postgresql.store`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.errors import StateError
from controller.model import DEFAULT_OWNER
from controller.plan import Step
from controller.storage.failures import require_regular, state_error

JOURNAL_FILE = "journal.jsonl"
PREVIOUS_FILE = "journal.1.jsonl"
ROTATE_BYTES = 8 * 1024 * 1024  # start a fresh file past this size, when no run is open
MAX_RECORD = 1024 * 1024  # bytes; no record comes near it

# the fields a record of each type needs to be read back (other types are skipped)
_REQUIRED: dict[str, tuple[str, ...]] = {
    "run-started": ("run",),
    "run-finished": ("run",),
    "step-started": ("run", "step"),
    "job-intent": ("run", "step", "op", "server", "interface"),
    "job-submitted": ("run", "step", "op", "server", "interface", "job"),
    "job-unsent": ("run", "step"),
    "job-finished": ("run", "step"),
    "step-done": ("run", "step"),
    "step-failed": ("run", "step"),
}


@dataclass(frozen=True, slots=True)
class NewPort:
    """The port a BMS attach creates (op "bms-attach"): the ENI's name, the subnet id, the
    address asked for ("" for the cloud's choice), the ports the BMS had before and the
    owner whose managed marker it gets, so that after a crash the port can be told apart,
    claimed for that owner, and never made twice."""

    name: str
    subnet_id: str
    private_ip: str
    before: tuple[str, ...]
    owner: str = DEFAULT_OWNER

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subnet": self.subnet_id,
            "ip": self.private_ip,
            "before": list(self.before),
            "owner": self.owner,
        }

    @classmethod
    def from_json(cls, data: object) -> NewPort | None:
        if not isinstance(data, dict):
            return None
        before = tuple(str(p) for p in data.get("before") or ())
        owner = str(data.get("owner") or DEFAULT_OWNER)
        ip = str(data.get("ip") or "")
        return cls(str(data["name"]), str(data["subnet"]), ip, before, owner)


@dataclass(frozen=True, slots=True)
class InFlightJob:
    """A job that a run submitted and never saw finish."""

    run: str
    step: int
    op: str  # "attach" | "detach" | "bms-attach" | "bms-detach"
    job_id: str
    server_id: str
    interface_id: str  # "" for a BMS attach: the port is the job's to create
    new_port: NewPort | None = None


@dataclass(frozen=True, slots=True)
class DanglingIntent:
    """A call a run was about to make (or made) whose job id was never recorded."""

    run: str
    step: int
    op: str
    server_id: str
    interface_id: str
    new_port: NewPort | None = None


@dataclass(frozen=True, slots=True)
class UnfinishedRun:
    run: str
    plan_digest: str
    started: str
    pid: int
    steps_total: int
    steps_done: int
    jobs: tuple[InFlightJob, ...]
    intents: tuple[DanglingIntent, ...]
    longest_job: float = 0.0  # seconds, of the jobs seen to finish (0: none did)


def _problem(raw: bytes) -> str:
    """Why a line is not a journal record ("" when it is one)."""
    try:
        record = json.loads(raw)
    except ValueError:
        return "not JSON"
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        return "not a journal record"
    missing = [f for f in _REQUIRED.get(record["type"], ()) if f not in record]
    if missing:
        return f"a {record['type']} record without {', '.join(missing)}"
    if "step" in record and not isinstance(record["step"], int):
        return f"a {record['type']} record whose step is not a number"
    return ""


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines, each at most MAX_RECORD bytes (a longer one is cut in pieces)."""
    require_regular(path, "apply journal")
    try:
        with path.open("rb") as fh:
            while raw := fh.readline(MAX_RECORD):
                yield raw
    except FileNotFoundError:
        return
    except OSError as exc:
        raise state_error(path, exc, "read the apply journal") from None


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of a journal file, in order. A torn last line is skipped; a damaged
    line elsewhere raises `StateError` (after the whole file was read)."""
    good: list[dict[str, Any]] = []
    damaged: list[tuple[int, str]] = []
    last_bad: tuple[int, str] | None = None
    number = 0
    for number, raw in enumerate(_lines(path), start=1):
        if last_bad is not None:
            damaged.append(last_bad)
            last_bad = None
        why = _problem(raw) if raw.endswith(b"\n") else "cut short"
        if why:
            last_bad = (number, why)  # damage, unless it turns out to be the torn last line
        else:
            good.append(json.loads(raw))
    if damaged:
        raise _damaged(path, damaged, good)
    yield from (record for record in good if record["type"] in _REQUIRED)


def _damaged(path: Path, damaged: list[tuple[int, str]], good: list[dict[str, Any]]) -> StateError:
    line, why = damaged[0]
    more = f" (and {len(damaged) - 1} more line(s))" if len(damaged) > 1 else ""
    known = [r for r in good if r["type"] in _REQUIRED]
    jobs = [j.job_id for run in unfinished_runs(known) for j in run.jobs]
    held = (
        f"jobs still in flight by the other records: {', '.join(jobs)}"
        if jobs
        else ("no job is in flight by the other records")
    )
    return StateError(
        f"the apply journal {path} is damaged at line {line} ({why}){more}; {held}. "
        f"Move the damaged line(s) out of the file (keep a copy) and run again: "
        "the next apply finishes the jobs the journal lists; nothing was changed in the cloud"
    )


def unfinished_runs(records: Iterable[dict[str, Any]]) -> list[UnfinishedRun]:
    """The runs that started and never finished, oldest first, with their open jobs."""
    runs: dict[str, dict[str, Any]] = {}
    for rec in records:
        run_id = str(rec.get("run", ""))
        kind = rec["type"]
        if kind == "run-started":
            runs[run_id] = {"rec": rec, "open": {}, "done": 0, "longest": 0.0}
            continue
        state = runs.get(run_id)
        if state is None:
            continue
        if kind == "run-finished":
            del runs[run_id]
            continue
        step = int(rec.get("step", 0))
        if kind in ("job-intent", "job-submitted"):
            state["open"][step] = rec
        elif kind == "job-finished" and _claim_pending(state["open"].get(step), rec):
            continue  # a BMS attach stays open until its new port is claimed (step-done)
        elif kind in ("job-unsent", "job-finished", "step-failed"):
            opened = state["open"].pop(step, None)
            if kind == "job-finished" and opened is not None and "t" in rec and "t" in opened:
                took = float(rec["t"]) - float(opened["t"])
                state["longest"] = max(state["longest"], took)
        elif kind == "step-done":
            state["open"].pop(step, None)
            state["done"] += 1
    out = []
    for run_id, state in runs.items():
        jobs, intents = [], []
        for step, rec in sorted(state["open"].items()):
            server, iface, op = str(rec["server"]), str(rec["interface"]), str(rec["op"])
            port = NewPort.from_json(rec.get("newPort"))
            if rec["type"] == "job-submitted":
                jobs.append(InFlightJob(run_id, step, op, str(rec["job"]), server, iface, port))
            else:
                intents.append(DanglingIntent(run_id, step, op, server, iface, port))
        started = state["rec"]
        out.append(
            UnfinishedRun(
                run=run_id,
                plan_digest=str(started.get("planDigest", "")),
                started=str(started.get("started", "")),
                pid=int(started.get("pid", 0)),
                steps_total=int(started.get("steps", 0)),
                steps_done=int(state["done"]),
                jobs=tuple(jobs),
                intents=tuple(intents),
                longest_job=float(state["longest"]),
            )
        )
    return out


def _claim_pending(opened: dict[str, Any] | None, finished: dict[str, Any]) -> bool:
    """Whether a finished job still leaves work: a BMS attach that succeeded has made a
    port that its run must claim (name, managed tag) before the step is done."""
    return (
        opened is not None
        and opened.get("op") == "bms-attach"
        and opened.get("type") == "job-submitted"
        and finished.get("status") == "SUCCESS"
    )


class Book(Protocol):
    """An open journal: the state dir's file (`Journal`) or the database's table."""

    def append(self, record: dict[str, Any], *, durable: bool = True) -> None: ...

    def unfinished(self) -> list[UnfinishedRun]: ...

    def begin_run(self, plan_digest: str, *, steps: int, kind: str = "apply") -> RunJournal: ...

    def close(self) -> None: ...


def start_run(book: Book, plan_digest: str, *, steps: int, kind: str) -> RunJournal:
    """Write a run-started record to `book`; the run's writer."""
    run = RunJournal(book, str(uuid.uuid4()))
    book.append(
        {
            "type": "run-started",
            "run": run.run_id,
            "kind": kind,
            "planDigest": plan_digest,
            "steps": steps,
            "pid": os.getpid(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    return run


class Journal:
    """The journal file of one state dir, open for appending. Thread-safe."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        self.path = path
        self._sync = sync
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0
        require_regular(path, "apply journal")
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise state_error(path, exc, "open the apply journal") from None
        try:
            _cut_torn_tail(self._fd)
        except OSError as exc:
            os.close(self._fd)
            raise state_error(path, exc, "repair the apply journal's torn last line") from None

    @classmethod
    def open(cls, state_dir: Path, *, sync: bool = True) -> Journal:
        """Open (creating) the state dir's journal, rotating it when large and idle."""
        path = state_dir / JOURNAL_FILE
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_size > ROTATE_BYTES and not unfinished_runs(read_records(path)):
                    os.replace(path, state_dir / PREVIOUS_FILE)
        except OSError as exc:
            raise state_error(path, exc, "open the apply journal") from None
        return cls(path, sync=sync)

    def unfinished(self) -> list[UnfinishedRun]:
        return unfinished_runs(read_records(self.path))

    def append(self, record: dict[str, Any], *, durable: bool = True) -> None:
        """Write one record; with `durable`, return only once it (and every record
        before it) is on disk. A record that is not durable survives a crash of the
        process (it is in the page cache) and reaches the disk with the next durable one."""
        record = {**record, "t": round(time.time(), 3)}
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
        try:
            with self._lock:
                if self._fd < 0:
                    raise ValueError("journal is closed")
                _write_all(self._fd, line)
                self._written += 1
                mine = self._written
            if not self._sync or not durable:
                return
            with self._sync_lock:
                if self._synced >= mine:
                    return  # another writer's fsync covered this record
                with self._lock:
                    target = self._written
                    fd = self._fd
                os.fsync(fd)
                self._synced = target
        except OSError as exc:
            raise state_error(self.path, exc, "write the apply journal") from None

    def begin_run(self, plan_digest: str, *, steps: int, kind: str = "apply") -> RunJournal:
        return start_run(self, plan_digest, steps=steps, kind=kind)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _write_all(fd: int, data: bytes) -> None:
    """One record, whole: a short write (a nearly full disk) is cut off again, so the
    file never ends in half a record that a later one would glue onto."""
    size = os.lseek(fd, 0, os.SEEK_END)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(28, os.strerror(28))  # ENOSPC: the rest did not fit
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _cut_torn_tail(fd: int) -> None:
    """Remove a last line that a crash left without its newline, unless it is a whole
    record (then only the newline is missing, and it is added)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    start = max(0, size - MAX_RECORD)
    tail = os.pread(fd, size - start, start)
    cut = tail.rfind(b"\n") + 1
    if cut == 0 and start > 0:
        cut = len(tail)  # a last "line" longer than any record: drop what was read of it
    if not _problem(tail[cut:] + b"\n"):
        os.write(fd, b"\n")
        return
    os.ftruncate(fd, start + cut)


class RunJournal:
    """The records of one run; what the executor writes through."""

    def __init__(self, journal: Book, run_id: str) -> None:
        self.journal = journal
        self.run_id = run_id

    def _write(self, kind: str, *, durable: bool = True, **fields: Any) -> None:
        self.journal.append({"type": kind, "run": self.run_id, **fields}, durable=durable)

    def step_started(self, step: Step) -> None:
        self._write(
            "step-started",
            durable=False,
            step=step.id,
            action=step.action.value,
            interface=step.interface,
            server=step.server,
        )

    def job_intent(
        self,
        step: int,
        op: str,
        server_id: str,
        interface_id: str,
        new_port: NewPort | None = None,
    ) -> None:
        extra: dict[str, Any] = {} if new_port is None else {"newPort": new_port.as_json()}
        self._write(
            "job-intent", step=step, op=op, server=server_id, interface=interface_id, **extra
        )

    def job_submitted(
        self,
        step: int,
        op: str,
        server_id: str,
        interface_id: str,
        job_id: str,
        new_port: NewPort | None = None,
    ) -> None:
        extra: dict[str, Any] = {} if new_port is None else {"newPort": new_port.as_json()}
        self._write(
            "job-submitted",
            step=step,
            op=op,
            server=server_id,
            interface=interface_id,
            job=job_id,
            **extra,
        )

    def job_unsent(self, step: int, code: str) -> None:
        self._write("job-unsent", durable=False, step=step, code=code)

    def job_finished(self, step: int, job_id: str, status: str) -> None:
        self._write("job-finished", durable=False, step=step, job=job_id, status=status)

    def step_done(self, step: int, **detail: Any) -> None:
        self._write("step-done", durable=False, step=step, **detail)

    def step_failed(self, step: int, code: str, message: str) -> None:
        self._write("step-failed", durable=False, step=step, code=code, message=message)

    def finish(self, result: str) -> None:
        self._write("run-finished", result=result)
