"""`enictl apply`: make the cloud match the manifests, or run a reviewed saved plan.

Under the state backend's lock: finish a crashed run's jobs, observe, plan (or check the
saved plan is fresh, before any step), show the plan, confirm, execute with live
progress, then observe again and say whether the cloud matches the manifests.
Exit 0 when it does; 1 for any error, failed step or difference left.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import click

from controller import apply as applying
from controller.cli import live, options
from controller.cli.context import AppContext
from controller.cli.plan import rejection, use_color
from controller.errors import EnictlError, UsageError
from controller.events import Event, Kind, event
from controller.manifests import loader
from controller.model import Topology
from controller.plan import Plan
from controller.storage import savedplan
from controller.views import render
from controller.views.progress import Progress


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _resume_wait() -> float | None:
    """ENICTL_RESUME_WAIT: seconds to wait for a crashed run's unconfirmed calls to show
    their effect (default: 3x the longest job that run saw, or 60 s)."""
    return options.env_seconds("ENICTL_RESUME_WAIT")


class _Stop:
    """The stop signal of an apply. Until `arm()` (the plan is confirmed and steps are
    about to run) SIGINT and SIGTERM end the process as usual; once armed they start no
    new step and let the steps in flight finish, and a second SIGINT stops at once (the
    journal lets the next apply resume)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.armed = False

    def arm(self) -> None:
        self.armed = True

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.armed or (self.event.is_set() and signum == signal.SIGINT):
            if signum == signal.SIGTERM:
                raise SystemExit(128 + signum)
            raise KeyboardInterrupt
        self.event.set()
        click.echo(
            "\nstopping: no new step will start; waiting for the steps in flight "
            "(press Ctrl-C again to quit at once)",
            err=True,
        )


@contextlib.contextmanager
def _graceful_stop() -> Iterator[_Stop]:
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, stop.handle) for sig in signals}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command("apply", epilog=options.WAITS_HELP)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    help="Run a plan saved by `enictl plan --out FILE` (refused when stale or edited; no prompt).",
)
@click.option("--yes", "-y", is_flag=True, help="Apply without asking for confirmation.")
@options.parallelism(
    "Steps in flight at once (always at most one NIC operation per server).", maximum=1000
)
@options.prune
@options.prune_limit
@options.owner
@options.lock_timeout
@options.json_events("Stream progress as JSON, one event per line, on stdout.")
@click.pass_obj
def apply_command(
    app: AppContext,
    paths: tuple[str, ...],
    plan_file: str | None,
    yes: bool,
    parallelism: int,
    prune: bool,
    prune_limit: int,
    owner: str,
    lock_timeout: float,
    as_json: bool,
) -> int:
    """Make the cloud match the manifests in PATH... (or run a saved plan).

    Plans first and shows the plan; on a terminal it asks before changing anything,
    elsewhere it needs --yes. A plan saved with `enictl plan --out FILE` was reviewed
    already: `--plan FILE` plans again from its manifests and runs that plan without
    asking, but refuses it (before any step) when the manifests or the plan's part of
    the cloud changed since it was made (naming what changed), or when the file says
    anything the plan made again does not (edited, damaged, another version).

    Steps run concurrently across servers, one NIC operation per server at a time;
    transient cloud errors are retried, a failed step stops only the steps that depend
    on it. One apply at a time per state backend (the state dir, or with
    --state-backend postgresql://... every machine sharing that database): another
    one fails fast naming the holder of the lock (host, pid, start, lock id) or waits
    --lock-timeout seconds. An apply that was killed is resumed by the next one: its
    jobs in flight are polled to completion, never sent twice, and the rest is planned
    again from the cloud as it is. On a shared backend the lock is a lease: an apply
    cut off from the database for 10 s stops before its next cloud call and exits 1.

    \b
    Examples:
      enictl apply manifests/demo                   # plan, confirm, apply
      enictl apply manifests/demo --yes --prune     # in CI: no prompt, remove orphans
      enictl plan manifests/demo --out plan.json && enictl apply --plan plan.json
      enictl apply manifests/demo --yes --json | jq -c 'select(.event=="step-failed")'
      enictl apply manifests/demo --yes --lock-timeout 300   # queue behind a running apply
    """
    if plan_file is not None and paths:
        raise UsageError("give either manifest PATHs or --plan FILE, not both")
    if plan_file is None and not paths:
        raise UsageError("give the manifest PATHs to apply, or --plan FILE")
    if plan_file is not None and prune:
        raise UsageError("--prune is part of a saved plan; make the plan with --prune instead")
    given = click.get_current_context().get_parameter_source("prune_limit")
    if plan_file is not None and given is not click.core.ParameterSource.DEFAULT:
        raise UsageError("--prune-limit is part of a saved plan; make the plan with it instead")
    out = live.for_output(sys.stdout, as_json=as_json, color=use_color(app))

    def say(text: str) -> None:
        if not out.json:
            click.echo(text)

    def show(prepared: applying.Prepared) -> None:
        if out.json:
            out(Event(Kind.PLAN, prepared.plan.as_json()))
        else:
            click.echo(render.text(prepared.plan, color=use_color(app)), nl=False)

    def confirmed(prepared: applying.Prepared) -> bool:
        if prepared.saved or yes:
            return True
        if not _stdin_is_terminal():
            raise UsageError(
                "refusing to apply without confirmation: stdin is not a terminal; "
                "pass --yes (or review with `enictl plan --out FILE` and apply --plan FILE)"
            )
        return click.confirm(f"\n{_question(prepared.plan)}", default=False, err=out.json)

    backend = app.backend()

    def run() -> int:
        if plan_file is not None:
            saved = savedplan.load(plan_file)
            given = click.get_current_context().get_parameter_source("owner")
            if given is not click.core.ParameterSource.DEFAULT and owner != saved.owner:
                raise UsageError(
                    f"the plan was made for owner {saved.owner}, not --owner {owner}; "
                    "make the plan with this --owner instead"
                )
            desired = loader.load(list(saved.manifest_paths))
            savedplan.check_manifests(saved, desired.digest)  # before any cloud call

            def plan(observed: Topology) -> applying.Prepared:
                return applying.still_fresh(saved, desired, observed)
        else:
            desired = loader.load(list(paths))

            def plan(observed: Topology) -> applying.Prepared:
                return applying.planned(
                    desired,
                    observed,
                    prune=prune,
                    prune_limit=prune_limit,
                    owner=owner,
                    backend=backend,
                )

        settings = applying.Settings(
            parallelism=parallelism,
            lock_timeout=lock_timeout,
            server_ready_timeout=options.server_ready_timeout(),
            resume_wait=_resume_wait(),
            waits=options.waits(app.provider_name),
        )
        with _graceful_stop() as stop:

            def confirm(prepared: applying.Prepared) -> bool:
                if not confirmed(prepared):
                    return False
                stop.arm()  # from here on a signal lets the steps in flight finish
                return True

            hooks = applying.Hooks(
                plan=plan,
                record=lambda prepared: applying.record_applied(backend, prepared),
                show=show,
                confirm=confirm,
                recovered=lambda found: say(found.line()),
            )
            outcome = applying.converge(
                backend, app.provider, hooks, settings=settings, on_event=out, stop=stop.event
            )
        out.close()
        return _report(outcome, out, say)

    try:
        return run()
    except EnictlError as exc:  # a refused plan, a held lock, ...: with --json, an event too
        out(Event(Kind.ERROR, exc.as_json()))
        raise
    finally:
        out.close()


def _report(outcome: applying.Outcome, out: Progress, say: Callable[[str], None]) -> int:
    """The end of an apply: the last event, the last line, the exit code."""
    status, plan, result = outcome.status, outcome.prepared.plan, outcome.result
    if status is applying.Status.REJECTED:
        raise rejection(plan)
    if status is applying.Status.HELD:
        say("Apply cancelled; nothing was changed.")
        return 1
    if result is None:
        out(event(Kind.APPLY_COMPLETE, ok=True, inSync=True, done=0))
        say("No changes. The cloud matches the manifests.")
        return 0
    remaining = outcome.remaining
    assert remaining is not None
    out(
        event(
            Kind.APPLY_COMPLETE,
            ok=status is applying.Status.APPLIED,
            inSync=outcome.in_sync,
            remaining=len(remaining.steps),
            remainingAdopt=len(remaining.adopt),
            remainingProtect=len(remaining.protect),
            **result.as_json(),
        )
    )
    if status is not applying.Status.APPLIED:
        say(f"\nApply failed: {result.summary()}.")
        raise outcome.failure()
    say(f"\nApply complete: {result.summary()}. The cloud matches the manifests.")
    return 0


def _question(plan: Plan) -> str:
    """`Apply these 3 step(s)?`, `Adopt 2 ENI(s) ...?`, `Set 1 protect marker(s)?` or
    several of them."""
    parts = [f"apply these {len(plan.steps)} step(s)"] if plan.steps else []
    if plan.adopt:
        parts.append(f"adopt {len(plan.adopt)} ENI(s) (tag as managed by enictl)")
    if plan.protect:
        parts.append(f"set {len(plan.protect)} protect marker(s)")
    question = " and ".join(parts)
    return question[0].upper() + question[1:] + "?"


COMMANDS = [apply_command]
