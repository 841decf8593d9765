"""`enictl release NAME...`: stop managing ENIs, changing nothing else (SPEC section 4)."""

from __future__ import annotations

import json

import click

from controller import release as releasing
from controller.cli import options
from controller.cli.context import AppContext


@click.command("release")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@options.lock_timeout
@options.json_events("Print the result as one JSON document on stdout.")
@click.pass_obj
def release_command(
    app: AppContext, names: tuple[str, ...], lock_timeout: float, as_json: bool
) -> None:
    """Stop managing the ENIs NAME...: remove enictl's markers and change nothing else.

    The managed marker goes (and the protect marker, where it is set); the ENI keeps its
    IP, EIP, security groups and attachment, and from now on enictl treats it as any
    unmanaged ENI: never an orphan, never pruned, still counted against its server's NIC
    limit. Every name is checked first: an unknown name or a primary ENI changes
    nothing. Remove the ENIs from the manifests too: a manifest that still declares one
    adopts it again at the next apply.

    \b
    Examples:
      enictl release legacy-db-1                # before dropping it from the manifests
      enictl release Prod_DB.01 VIP_Prod --json
    """
    released = releasing.release(
        app.backend(),
        app.provider,
        names,
        lock_timeout=lock_timeout,
        waits=options.waits(app.provider_name),
    )
    if as_json:
        click.echo(json.dumps({"released": [r.as_json() for r in released]}, indent=2))
        return
    for result in released:
        click.echo(result.line())
    if any(r.cleared for r in released):
        click.echo(
            "enictl leaves them alone from now on; remove them from the manifests, or the "
            "next apply adopts them again."
        )


COMMANDS = [release_command]
