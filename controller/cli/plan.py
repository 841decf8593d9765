"""`enictl plan`: load the manifests, observe the cloud, plan, render, optionally save.

Exit codes (SPEC section 6): 0 the plan is fine (with `--detailed-exitcode`: and has
no steps), 2 with `--detailed-exitcode` when it has steps (or, with
`--orphans-are-changes`, orphans), 1 for any error. A
rejected plan is still printed with its violations, then stderr gets one
`error: plan rejected: N violations` line and the exit code is 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from controller import apply as applying
from controller.cli import options
from controller.cli.context import AppContext
from controller.errors import LockHeld, PlanRejected
from controller.plan import Plan
from controller.storage import lock
from controller.views import render

EXIT_CHANGES = 2


def _no_apply_in_progress(app: AppContext, timeout: float) -> None:
    """LockHeld, naming the holder, while an apply or a watch reconcile holds the lock
    (the state dir's, waiting up to `timeout` seconds; a shared backend's lease, now)."""
    backend = app.backend()
    if not backend.shared:
        lock.wait_unlocked(app.state_dir, timeout=timeout)
        return
    holder = backend.holder()
    if holder is not None:
        what = holder.command or "an apply"
        raise LockHeld(
            f"{what} is in progress: a plan now would show a half-applied cloud "
            f"(held by {holder.describe()}; {backend.describe()})"
        )


def make_plan(
    app: AppContext, paths: Sequence[str], *, prune: bool, prune_limit: int, owner: str
) -> applying.Prepared:
    """Load, observe, plan, and label each change as manifest change or drift."""
    return applying.prepare(
        app.provider(),
        paths,
        prune=prune,
        prune_limit=prune_limit,
        owner=owner,
        backend=app.backend(),
    )


def use_color(app: AppContext, output: str = "text") -> bool:
    """Colour only for text on a terminal, and never with `--no-color` or when NO_COLOR
    is set (no-color.org)."""
    if output != "text" or app.no_color or os.environ.get("NO_COLOR"):
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def rejection(plan: Plan) -> PlanRejected:
    return PlanRejected(plan.rejection())


@click.command("plan")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@options.output(
    render.FORMATS,
    default="text",
    help="text for people, markdown for a pull-request comment, json/yaml for machines.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Also save the plan to FILE for `enictl apply --plan FILE` (not when rejected).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when the plan has changes, 0 when it has none (1 is always an error).",
)
@click.option(
    "--orphans-are-changes",
    is_flag=True,
    help="With --detailed-exitcode, orphans (managed ENIs no manifest mentions, kept "
    "without --prune) count as changes too: exit 2 while there are any (a drift check).",
)
@options.prune
@options.prune_limit
@options.owner
@options.verbose
@options.lock_timeout
@click.pass_obj
def plan_command(
    app: AppContext,
    paths: tuple[str, ...],
    output: str,
    out_file: str | None,
    detailed_exitcode: bool,
    orphans_are_changes: bool,
    prune: bool,
    prune_limit: int,
    owner: str,
    verbose: bool,
    lock_timeout: float,
) -> int:
    """Show the steps that would make the cloud match the manifests in PATH...

    Nothing is changed. The plan lists its steps grouped by server, the changes (from
    the manifests, or drift: the cloud changed outside enictl; a changed list names
    what is added and removed), orphans, and any violations; a plan with error
    violations is rejected (exit 1). While an apply (or a watch reconcile) holds the
    state dir's lock, plan says so and who holds it instead of planning from a
    half-applied cloud (exit 1; --lock-timeout waits for it).

    \b
    Examples:
      enictl plan manifests/demo
      enictl plan manifests/demo -o markdown > plan.md      # a pull-request comment
      enictl plan manifests/demo --out plan.json && enictl apply --plan plan.json
      enictl plan manifests/demo --detailed-exitcode         # 0 in sync, 2 changes, 1 error
      enictl plan manifests/ --detailed-exitcode --orphans-are-changes   # scheduled drift check
      enictl plan manifests/demo -v                          # also list what needs no step
    """
    _no_apply_in_progress(app, lock_timeout)  # no plan of a half-applied cloud
    result = make_plan(app, paths, prune=prune, prune_limit=prune_limit, owner=owner)
    plan = result.plan
    shown = render.render(plan, output, color=use_color(app, output), verbose=verbose)
    click.echo(shown, nl=False)
    if not plan.applyable:
        raise rejection(plan)
    if out_file is not None:
        saved = applying.save_plan(result, out_file, paths)
        if output == "text":
            click.echo(f"\nSaved the plan to {saved}. Apply it with: enictl apply --plan {saved}")
    if detailed_exitcode and (plan.has_changes or (orphans_are_changes and plan.orphans)):
        return EXIT_CHANGES
    return 0


COMMANDS = [plan_command]
