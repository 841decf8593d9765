"""`enictl apply`: make the cloud match the manifests, or run a reviewed saved plan.

Under the state dir's lock: finish a crashed run's jobs, observe, plan (or check the
saved plan is fresh, before any step), show the plan, confirm, execute with live
progress, then observe again and say whether the cloud matches the manifests.
Exit 0 when it does; 1 for any error, failed step or difference left.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import click

from controller import apply as applying
from controller.cli import options
from controller.cli.context import AppContext
from controller.cli.plan import rejection, use_color
from controller.errors import UsageError
from controller.plan import Plan
from controller.storage import lock
from controller.views import progress, render


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _resume_wait() -> float | None:
    """ENICTL_RESUME_WAIT: seconds to wait for a crashed run's unconfirmed calls to show
    their effect (default: 3x the longest job that run saw, or 60 s)."""
    return options.env_seconds("ENICTL_RESUME_WAIT")


@contextlib.contextmanager
def _graceful_stop() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM start no new step and let the steps in flight finish; a second
    SIGINT stops at once (the journal lets the next apply resume)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        click.echo(
            "\nstopping: no new step will start; waiting for the steps in flight "
            "(press Ctrl-C again to quit at once)",
            err=True,
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
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
    help="Run a plan saved by `enictl plan --out FILE` (refused when stale; no prompt).",
)
@click.option("--yes", "-y", is_flag=True, help="Apply without asking for confirmation.")
@options.parallelism(
    "Steps in flight at once (always at most one NIC operation per server).", maximum=1000
)
@options.prune
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for another enictl holding the state dir's lock (0: fail at once).",
)
@options.json_events("Stream progress as JSON, one event per line, on stdout.")
@click.pass_obj
def apply_command(
    app: AppContext,
    paths: tuple[str, ...],
    plan_file: str | None,
    yes: bool,
    parallelism: int,
    prune: bool,
    lock_timeout: float,
    as_json: bool,
) -> int:
    """Make the cloud match the manifests in PATH... (or run a saved plan).

    Plans first and shows the plan; on a terminal it asks before changing anything,
    elsewhere it needs --yes. A plan saved with `enictl plan --out FILE` was reviewed
    already: `--plan FILE` runs it without asking, but refuses it (before any step)
    when the manifests or the cloud changed since it was made.

    Steps run concurrently across servers, one NIC operation per server at a time;
    transient cloud errors are retried, a failed step stops only the steps that depend
    on it. One apply at a time per state dir: another one fails fast naming the holder
    of the lock (or waits --lock-timeout seconds). An apply that was killed is resumed
    by the next one: its jobs in flight are polled to completion, never sent twice,
    and the rest is planned again from the cloud as it is.

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
    ready_timeout = options.server_ready_timeout()
    waits = options.waits(app.provider_name)
    out = progress.for_output(sys.stdout, as_json=as_json, color=use_color("text"))

    def say(text: str) -> None:
        if not out.json:
            click.echo(text)

    with lock.acquire(app.state_dir, timeout=lock_timeout, command="enictl apply"):
        provider = app.provider()
        recovered = applying.recover(
            provider, app.state_dir, on_event=out, settle=_resume_wait(), waits=waits
        )
        if recovered is not None:
            say(recovered.line())
        if plan_file is not None:
            prepared = applying.prepare_saved(provider, plan_file, waits)
        else:
            prepared = applying.prepare(
                provider, paths, prune=prune, state_dir=app.state_dir, waits=waits
            )
        plan = prepared.plan
        if out.json:
            out({"event": "plan", **plan.as_json()})
        else:
            click.echo(render.text(plan, color=use_color("text")), nl=False)
        if not plan.applyable:
            raise rejection(plan)
        if not plan.has_changes:
            applying.record_applied(app.state_dir, prepared)
            out({"event": "apply-complete", "ok": True, "inSync": True, "done": 0})
            say("No changes. The cloud matches the manifests.")
            return 0
        if not prepared.saved and not yes:
            if not _stdin_is_terminal():
                raise UsageError(
                    "refusing to apply without confirmation: stdin is not a terminal; "
                    "pass --yes (or review with `enictl plan --out FILE` and apply --plan FILE)"
                )
            if not click.confirm(f"\n{_question(plan)}", default=False, err=out.json):
                say("Apply cancelled; nothing was changed.")
                return 1
        with _graceful_stop() as stop:
            result = applying.run(
                prepared,
                provider,
                app.state_dir,
                parallelism=parallelism,
                on_event=out,
                stop=stop,
                server_ready_timeout=ready_timeout,
                waits=waits,
            )
        out.close()
        remaining = applying.verify(provider, prepared, waits)
        in_sync = not remaining.has_changes
        out(
            {
                "event": "apply-complete",
                "ok": result.ok and in_sync,
                "inSync": in_sync,
                "remaining": len(remaining.steps),
                "remainingAdopt": len(remaining.adopt),
                "remainingProtect": len(remaining.protect),
                **result.as_json(),
            }
        )
        if not result.ok or not in_sync:
            say(f"\nApply failed: {result.summary()}.")
            raise applying.failure(result, remaining)
        applying.record_applied(app.state_dir, prepared)
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
