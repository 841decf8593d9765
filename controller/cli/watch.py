"""`enictl watch`: reconcile continuously; a status line (or a JSON event) per reconcile.

The loop is `controller.watching.loop`, one reconcile is
`controller.watching.reconciler`; this module wires them to the command line: options,
signals, output and the status file.
SIGINT and SIGTERM stop the loop after the steps in flight; the exit code is then 0.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from controller.cli import options
from controller.cli.context import AppContext
from controller.errors import UsageError
from controller.events import Event, Kind, event
from controller.manifests.cache import CachedManifests
from controller.providers import open_provider
from controller.providers.base import Provider
from controller.storage import atomicfile
from controller.storage.backend import LeaseTimings
from controller.views import planview
from controller.watching import grace, loop
from controller.watching.endpoints import parse_address
from controller.watching.loop import Inbox, LoopSettings, Outcome, ReconcileResult
from controller.watching.reconciler import ReconcileOptions, Reconciler
from controller.watching.service import Service

_STATUS_KEYS = (
    "time",
    "trigger",
    "outcome",
    "manifestsDigest",
    "observedFingerprint",
    "inSync",
    "drifted",
    "drift",
    "failovers",
    "changes",
    "applied",
    "violations",
    "problems",
    "durationSeconds",
    "error",
    "role",
    "epoch",
    "leader",
)


def status_line(result: ReconcileResult, *, detect_only: bool) -> str:
    """One human line: time, trigger, outcome, changes, duration, and what to know."""
    when = datetime.fromtimestamp(result.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    noun = "change" if result.changes == 1 else "changes"
    line = (
        f"{when} {result.trigger.value:<9} {result.outcome.value:<11} "
        f"{result.changes:>3} {noun:<7} {result.duration:6.2f}s"
    )
    notes: list[str] = []
    if result.summary:
        notes.append(", ".join(f"{action} {n}" for action, n in result.summary.items()))
    if result.drift:
        shown = ", ".join(planview.change_texts(result.drift[:3]))
        notes.append(f"drift: {shown}" + (" ..." if len(result.drift) > 3 else ""))
    if result.in_grace:
        shown = ", ".join(result.in_grace[:3]) + (" ..." if len(result.in_grace) > 3 else "")
        notes.append(f"orphans kept until --prune-grace: {shown}")
    for moved in result.failovers:
        notes.append(
            f"failover: {moved['interface']} {moved['from'] or 'detached'} -> {moved['to']} "
            f"in {moved['seconds']:.1f}s ({moved['reason']})"
        )
    if result.outcome is Outcome.DRIFT and detect_only:
        notes.append("detect-only: not applied")
    if result.outcome in (Outcome.FAILED, Outcome.INTERRUPTED) and result.changes:
        notes.append(f"{result.applied} of {result.changes} applied")
    if result.violations:
        notes.append(f"{len(result.violations)} violation(s)")
    if result.outcome is Outcome.STANDBY:
        notes.append(f"standing by: {result.leader or 'another replica'} leads")
    elif result.epoch:
        notes.append(f"leader, epoch {result.epoch}")
    if result.error:
        notes.append(f"error: {result.error}")
    return f"{line}  {'; '.join(notes)}".rstrip()


def write_status(path: Path, result: ReconcileResult) -> None:
    """Replace `path` atomically with the last result (a temp file renamed over it)."""
    data = result.as_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomicfile.write_json(path, {key: data[key] for key in _STATUS_KEYS})


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call `stop` (once); the previous handlers come back after."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _echo_json(event: Event) -> None:
    click.echo(json.dumps(event.as_json(), sort_keys=True, default=str))


@click.command("watch", epilog=options.WAITS_HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=30.0,
    show_default=True,
    help="Seconds between drift checks (reconciles when no file changed).",
)
@click.option(
    "--health-interval",
    type=click.FloatRange(min=0.01),
    default=5.0,
    show_default=True,
    help="Seconds between checks of the servers' status (one listing call): a change "
    "reconciles at once, so a failover ENI leaves a failed server without waiting for "
    "--interval.",
)
@click.option(
    "--detect-only",
    is_flag=True,
    help="Report drift and manifest changes; never change the cloud.",
)
@options.prune
@click.option(
    "--prune-grace",
    type=click.FloatRange(min=0),
    default=grace.DEFAULT_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="With --prune, delete an orphan only once it has stayed an orphan this long across "
    "reconciles (a manifest file briefly empty or missing while it is saved deletes nothing).",
)
@options.prune_limit
@options.owner
@options.json_events("One JSON event per line on stdout.")
@click.option(
    "--status-file",
    type=click.Path(dir_okay=False),
    help="After every reconcile, replace FILE (atomically) with its result, for health checks.",
)
@options.parallelism("Steps run at once when applying.")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Serve /healthz, /readyz, Prometheus /metrics and a status page at / on HOST:PORT "
    "(PORT alone: 127.0.0.1; 0.0.0.0:PORT for every interface, e.g. in a pod).",
)
@click.pass_obj
def watch_command(
    app: AppContext,
    paths: tuple[str, ...],
    interval: float,
    health_interval: float,
    detect_only: bool,
    prune: bool,
    prune_grace: float,
    prune_limit: int,
    owner: str,
    as_json: bool,
    status_file: str | None,
    parallelism: int,
    listen: str | None,
) -> int:
    """Keep the cloud matching the manifests in PATH..., until SIGINT or SIGTERM.

    Reconciles at start, whenever a manifest changes (a burst of saves gives one
    reconcile), every --interval seconds to catch drift made outside enictl, and at
    once when a server's status changes (checked every --health-interval seconds):
    failover ENIs follow their service to a standby (docs/failover.md), each move
    reported as a `failover` event.
    Invalid manifests are reported and nothing is reconciled until they are fixed;
    failures are retried after 1 s, 2 s, 4 s ... up to 60 s. With --prune, an orphan
    is deleted only once it has stayed an orphan for --prune-grace seconds, and a
    reconcile that would delete more than --prune-limit ENIs deletes none. Each
    reconcile takes the state dir's lock only while it runs. On SIGINT/SIGTERM the
    steps in flight finish, no new step starts, the lock is released and enictl
    exits 0.

    With --state-backend postgresql://... several watch processes (on one machine or
    many) may run at once: one leads, holding the lease while it runs, and the others
    stand by without any cloud call; when the leader stops, dies, freezes or loses the
    database, a standby takes over within the lease time (15 s; at once when the
    leader stops cleanly) and first finishes what it left in flight. The status line,
    --json events and --status-file say `leader` or `standby` and the lease's epoch.

    With --listen, /healthz answers 200 while the process works, /readyz 200 when it
    leads and its last reconcile succeeded (else 503 and the reason), /metrics the
    Prometheus metrics and / a read-only status page (docs/operations.md).

    \b
    Examples:
      enictl watch manifests/demo --interval 60
      enictl watch manifests/demo --health-interval 1 --json  # failovers within seconds
      enictl watch manifests/demo --detect-only --json        # report drift, change nothing
      enictl watch manifests/ --status-file /run/enictl/status.json
      enictl watch manifests/ --listen 127.0.0.1:9100         # health, metrics, status page
    """
    inbox = Inbox()
    desired = CachedManifests([Path(p) for p in paths])
    backend = app.backend()
    address = parse_address(listen) if listen is not None else None
    service = None
    if address is not None:
        service = Service(
            address,
            provider=app.provider_name,
            backend=backend.describe(),
            paths=paths,
            interval=interval,
            detect_only=detect_only,
            prune=prune,
            owner=owner,
        )

    def provider() -> Provider:
        opened = open_provider(app.provider_name, app.state_dir)
        return service.provider(opened) if service is not None else opened

    def on_event(event: Event) -> None:
        if service is not None:
            service.on_event(event)
        if as_json:
            _echo_json(event)

    def stop() -> None:
        if service is not None:
            service.stopping()
        inbox.stop()

    reconciler = Reconciler(
        state_dir=app.state_dir,
        desired=desired,
        open_provider=provider,
        options=ReconcileOptions(
            detect_only=detect_only,
            prune=prune,
            prune_limit=prune_limit,
            prune_grace=prune_grace,
            owner=owner,
            parallelism=parallelism,
            server_ready_timeout=options.server_ready_timeout(),
            waits=options.waits(app.provider_name),
            standby_wait=LeaseTimings.from_env().renew_every,
        ),
        stop=inbox.stopped,
        on_event=on_event if as_json or service is not None else None,
        backend=backend,
    )
    status_path = Path(status_file) if status_file else None
    said: list[tuple[str, str]] = []  # the last standby seen: (leader, error)

    def on_result(result: ReconcileResult) -> None:
        if service is not None:
            service.on_result(result, reconciler.last_good)
        if status_path is not None:
            try:
                write_status(status_path, result)
            except OSError as exc:
                raise UsageError(f"cannot write the status file {status_path}: {exc}") from exc
        standing = (result.leader, result.error) if result.outcome is Outcome.STANDBY else None
        if standing is not None and said and said[-1] == standing:
            return  # standing by behind the same leader: said already
        said[:] = [standing] if standing is not None else []
        if as_json:
            _echo_json(result.as_event())
            return
        click.echo(status_line(result, detect_only=detect_only))
        for problem in result.problems:
            click.echo(f"error: {problem}", err=True)

    mode = "detect-only" if detect_only else "reconciling"
    if as_json:
        _echo_json(
            event(
                Kind.WATCH_STARTED,
                paths=list(paths),
                interval=interval,
                healthInterval=health_interval,
                detectOnly=detect_only,
                prune=prune,
                pruneGrace=prune_grace,
                pid=os.getpid(),
                stateBackend=backend.describe(),
                listen=service.url if service is not None else None,
            )
        )
    else:
        click.echo(f"watching {' '.join(paths)} every {interval:g}s ({mode}); Ctrl-C to stop")
        if service is not None:
            click.echo(f"serving {service.url} (/healthz /readyz /metrics /)")
    with stop_on_signals(stop):
        threads = loop.watch_files([Path(p) for p in paths], inbox)
        try:
            settings = LoopSettings(interval=interval, health_interval=health_interval)
            count = loop.run(
                reconciler, inbox, on_result, settings=settings, probe=reconciler.health_changed
            )
        finally:
            stop()
            reconciler.close()
            for thread in threads:
                thread.join(timeout=5)
            if service is not None:
                service.close()
    if as_json:
        _echo_json(event(Kind.WATCH_STOPPED, reconciles=count))
    else:
        click.echo(f"stopped after {count} reconcile(s)")
    return 0


COMMANDS = [watch_command]
