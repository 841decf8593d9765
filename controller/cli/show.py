"""`enictl show PLANFILE`: a plan saved by `enictl plan --out FILE`, rendered again."""

from __future__ import annotations

import click

from controller.cli import options
from controller.cli.context import AppContext
from controller.cli.plan import use_color
from controller.storage import savedplan
from controller.views import render


@click.command("show")
@click.argument("plan_file", metavar="PLANFILE", type=click.Path(dir_okay=False))
@options.output(
    ["text", "json", "markdown"],
    default="text",
    help="text for people, markdown for a pull-request comment, json: the plan format.",
)
@click.pass_obj
def show_command(app: AppContext, plan_file: str, output: str) -> None:
    """Render the saved plan PLANFILE, as `enictl plan` showed it (nothing is contacted).

    It shows the steps, changes, markers, orphans and violations the file holds, and
    the manifests it was made from; whether it is still fresh is for `enictl apply
    --plan PLANFILE` to check (it refuses a stale plan before any step runs).

    \b
    Examples:
      enictl show plan.json                       # review the artifact of a pull request
      enictl show plan.json -o markdown > plan.md
      enictl show plan.json -o json | jq '.steps[] | select(.action == "delete")'
    """
    saved = savedplan.load(plan_file)
    click.echo(render.render(saved.plan, output, color=use_color(app, output)), nl=False)
    if output == "text":
        paths = " ".join(saved.manifest_paths)
        prune = " with --prune" if saved.prune else ""
        click.echo(f"\nMade from {paths}{prune}. Apply it with: enictl apply --plan {plan_file}")


COMMANDS = [show_command]
