"""Resuming after a crash: finish what a dead apply left in flight, then re-plan.

An apply killed mid-run (kill -9, power loss) leaves its journal run unfinished. The
next apply, holding the lock, calls `recover()` before it observes anything:

1. every job the dead run submitted and never saw finish is polled to completion
   (never submitted again), and its end is journalled;
2. for a call whose intent was journalled but whose job id was not (the process died
   between the two writes), the cloud may or may not have a job running: `recover`
   re-observes until that call's effect is visible (the ENI attached to, or gone
   from, that server), for a bounded time, so the next plan does not trip over a
   job still in flight;
3. a BMS attach creates its port: one that the dead run's job made (or whose call it
   may have made) is claimed, renamed to its ENI and tagged managed
   (`controller.execution.baremetal`), so the next plan finds the ENI and creates no
   second NIC;
4. the dead run is closed as "recovered".

Nothing else is replayed: the caller then observes the cloud and plans afresh. Ports
created by the dead run are found by name (the planner adopts them), so a crash
between a create and its journal record loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.backoff import Backoff
from controller.errors import PermanentProviderError
from controller.events import Kind, OnEvent, event
from controller.execution import baremetal
from controller.storage.journal import (
    Book,
    DanglingIntent,
    NewPort,
    RunJournal,
    UnfinishedRun,
)

__all__ = ["Recovery", "UnfinishedRun", "recover", "settle_timeout", "visible"]
from controller.execution.retry import Patience
from controller.model import Topology
from controller.plan import Action
from controller.providers.base import Provider

STOP = Action.STOP_SERVER.value  # the journal's op for a fence

DEFAULT_SETTLE = 60.0  # seconds to wait for a dangling call when no job duration is known
MAX_SETTLE = 300.0
SETTLE_LOOKS = Backoff(base=0.05, cap=2.0, factor=1.5, jitter=False, timeout=None)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What `recover` found and did."""

    runs: tuple[str, ...]
    jobs: tuple[tuple[str, str], ...]  # (job id, final status)
    intents: int
    unsettled: int  # dangling calls whose effect never showed within the bound

    def line(self) -> str:
        runs = ", ".join(r[:8] for r in self.runs)
        text = (
            f"Resumed interrupted run {runs}: polled {len(self.jobs)} job(s) in flight to "
            f"completion, waited for {self.intents} unconfirmed call(s)"
        )
        if self.unsettled:
            text += f" ({self.unsettled} never showed an effect)"
        return text + "; planning again from the observed cloud."


def settle_timeout(run: UnfinishedRun) -> float:
    """How long to wait for a dangling call: 3x the longest job the run saw, bounded."""
    if run.longest_job <= 0:
        return DEFAULT_SETTLE
    return min(MAX_SETTLE, max(5.0, 3 * run.longest_job))


def visible(observed: Topology, intent: DanglingIntent) -> bool:
    """Whether the cloud shows the effect the intended call would have had (a BMS
    attach: the NIC it creates, `baremetal.created_port`; a stop: the server SHUTOFF, or
    gone)."""
    if intent.new_port is not None:
        return baremetal.created_port(observed, intent.server_id, intent.new_port) is not None
    if intent.op == STOP:
        found = next((s for s in observed.servers.values() if s.id == intent.server_id), None)
        return found is None or found.status == "SHUTOFF"
    iface = next((i for i in observed.interfaces.values() if i.id == intent.interface_id), None)
    server = observed.servers.get(iface.server) if iface and iface.server else None
    on_target = server is not None and server.id == intent.server_id
    return on_target if intent.op.endswith("attach") else not on_target


def recover(
    provider: Provider,
    journal: Book,
    *,
    patience: Patience,
    on_event: OnEvent | None = None,
    settle: float | None = None,
) -> Recovery | None:
    """Finish the unfinished runs in `journal`; None when there were none."""
    runs = journal.unfinished()
    if not runs:
        return None

    def emit(kind: Kind, **fields: object) -> None:
        if on_event is not None:
            on_event(event(kind, **fields))

    finished: list[tuple[str, str]] = []
    intents = unsettled = 0
    for run in runs:
        emit(
            Kind.RESUME,
            run=run.run,
            started=run.started,
            pid=run.pid,
            stepsDone=run.steps_done,
            steps=run.steps_total,
            jobs=len(run.jobs),
            intents=len(run.intents),
        )
        records = RunJournal(journal, run.run)
        claims: list[tuple[str, NewPort, str]] = []  # BMS attaches: server, port, its id
        for job in run.jobs:
            try:
                done = patience.wait_job(
                    provider, job.job_id, kind=job.op, submitted_at=patience.clock()
                )
                status = done.status.value
                if job.new_port is not None and status == "SUCCESS":
                    claims.append((job.server_id, job.new_port, done.interface_id))
            except PermanentProviderError as exc:
                status = f"UNKNOWN ({exc.code})"
            records.job_finished(job.step, job.job_id, status)
            finished.append((job.job_id, status))
            emit(Kind.RESUME_JOB, run=run.run, step=job.step, job=job.job_id, status=status)
        observed: Topology | None = None
        if run.intents:
            intents += len(run.intents)
            left, observed = _settle(provider, run, patience, settle)
            unsettled += left
            emit(Kind.RESUME_SETTLED, run=run.run, intents=len(run.intents), unsettled=left)
            claims += [(i.server_id, i.new_port, "") for i in run.intents if i.new_port]
        _claim(provider, patience, claims, observed)
        records.finish("recovered")
    return Recovery(tuple(r.run for r in runs), tuple(finished), intents, unsettled)


def _claim(
    provider: Provider,
    patience: Patience,
    claims: list[tuple[str, NewPort, str]],
    observed: Topology | None,
) -> None:
    """Claim the ports the dead run's BMS attaches made (`baremetal.claim`), each found
    by its job's word or in an observation; one that never showed is left alone."""
    for server_id, new_port, port_id in claims:
        if not port_id:
            observed = observed or patience.call(provider.observe)
            port_id = baremetal.created_port(observed, server_id, new_port) or ""
        if port_id:
            baremetal.claim(provider, port_id, new_port, lambda _, fn: patience.call(fn))


def _settle(
    provider: Provider, run: UnfinishedRun, patience: Patience, settle: float | None
) -> tuple[int, Topology]:
    """Re-observe until every dangling call's effect shows, or the bound passes; how many
    never showed, and the last observation."""
    deadline = patience.clock() + (settle if settle is not None else settle_timeout(run))
    looks = 0
    while True:
        observed = patience.call(provider.observe)
        pending = [i for i in run.intents if not visible(observed, i)]
        now = patience.clock()
        if not pending or now >= deadline:
            return len(pending), observed
        patience.sleep(min(SETTLE_LOOKS.delay(looks), deadline - now))
        looks += 1
