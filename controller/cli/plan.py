"""`enictl plan`: load the manifests, observe the cloud, plan, render, optionally save.

Exit codes (SPEC section 6): 0 the plan is fine (with `--detailed-exitcode`: and has
no steps), 2 with `--detailed-exitcode` when it has steps, 1 for any error. A
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
from controller.errors import PlanRejected
from controller.plan import Plan
from controller.views import render

EXIT_CHANGES = 2


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


def use_color(output: str) -> bool:
    """Colour only for text on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if output != "text" or os.environ.get("NO_COLOR"):
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
@options.prune
@options.prune_limit
@options.owner
@click.pass_obj
def plan_command(
    app: AppContext,
    paths: tuple[str, ...],
    output: str,
    out_file: str | None,
    detailed_exitcode: bool,
    prune: bool,
    prune_limit: int,
    owner: str,
) -> int:
    """Show the steps that would make the cloud match the manifests in PATH...

    Nothing is changed. The plan lists its steps grouped by server, the changes (from
    the manifests, or drift: the cloud changed outside enictl; a changed list names
    what is added and removed), orphans, and any violations; a plan with error
    violations is rejected (exit 1).

    \b
    Examples:
      enictl plan manifests/demo
      enictl plan manifests/demo -o markdown > plan.md      # a pull-request comment
      enictl plan manifests/demo --out plan.json && enictl apply --plan plan.json
      enictl plan manifests/demo --detailed-exitcode         # 0 in sync, 2 changes, 1 error
    """
    result = make_plan(app, paths, prune=prune, prune_limit=prune_limit, owner=owner)
    plan = result.plan
    click.echo(render.render(plan, output, color=use_color(output)), nl=False)
    if not plan.applyable:
        raise rejection(plan)
    if out_file is not None:
        saved = applying.save_plan(result, out_file, paths)
        if output == "text":
            click.echo(f"\nSaved the plan to {saved}. Apply it with: enictl apply --plan {saved}")
    if detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return 0


COMMANDS = [plan_command]
