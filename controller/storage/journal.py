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
observation. A torn last line (power loss mid-write) is ignored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.plan import Step

JOURNAL_FILE = "journal.jsonl"
PREVIOUS_FILE = "journal.1.jsonl"
ROTATE_BYTES = 8 * 1024 * 1024  # start a fresh file past this size, when no run is open


@dataclass(frozen=True, slots=True)
class NewPort:
    """The port a BMS attach creates (op "bms-attach"): the ENI's name, the subnet id, the
    address asked for ("" for the cloud's choice) and the ports the BMS had before, so
    that after a crash the port can be told apart, claimed, and never made twice."""

    name: str
    subnet_id: str
    private_ip: str
    before: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subnet": self.subnet_id,
            "ip": self.private_ip,
            "before": list(self.before),
        }

    @classmethod
    def from_json(cls, data: object) -> NewPort | None:
        if not isinstance(data, dict):
            return None
        before = tuple(str(p) for p in data.get("before") or ())
        return cls(str(data["name"]), str(data["subnet"]), str(data.get("ip") or ""), before)


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


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every whole record of a journal file, in order; torn or foreign lines are skipped."""
    try:
        with path.open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # a torn last write
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict) and "type" in record:
                    yield record
    except FileNotFoundError:
        return


def unfinished_runs(records: Iterator[dict[str, Any]]) -> list[UnfinishedRun]:
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


class Journal:
    """The journal file of one state dir, open for appending. Thread-safe."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        self.path = path
        self._sync = sync
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(self._fd).st_size
        if size and not _ends_with_newline(path, size):
            os.write(self._fd, b"\n")  # seal a torn last line so the next record is whole

    @classmethod
    def open(cls, state_dir: Path, *, sync: bool = True) -> Journal:
        """Open (creating) the state dir's journal, rotating it when large and idle."""
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / JOURNAL_FILE
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > ROTATE_BYTES and not unfinished_runs(read_records(path)):
                os.replace(path, state_dir / PREVIOUS_FILE)
        return cls(path, sync=sync)

    def unfinished(self) -> list[UnfinishedRun]:
        return unfinished_runs(read_records(self.path))

    def append(self, record: dict[str, Any], *, durable: bool = True) -> None:
        """Write one record; with `durable`, return only once it (and every record
        before it) is on disk. A record that is not durable survives a crash of the
        process (it is in the page cache) and reaches the disk with the next durable one."""
        record = {**record, "t": round(time.time(), 3)}
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._fd < 0:
                raise ValueError("journal is closed")
            os.write(self._fd, line)
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

    def begin_run(self, plan_digest: str, *, steps: int, kind: str = "apply") -> RunJournal:
        run = RunJournal(self, str(uuid.uuid4()))
        self.append(
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

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _ends_with_newline(path: Path, size: int) -> bool:
    with path.open("rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) == b"\n"


class RunJournal:
    """The records of one run; what the executor writes through."""

    def __init__(self, journal: Journal, run_id: str) -> None:
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
