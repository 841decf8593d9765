"""The `enictl` command line: parse arguments, call the library, render the result.

Each command lives in its own module under `controller/cli/`, imported only when the
command is used (`COMMAND_MODULES`, `controller.cli.lazygroup`). The `enictl` script
starts in `controller.__main__`, which catches a Ctrl-C that comes while these
modules are still being imported.
`main()` is the only place that turns exceptions into exit codes: an `EnictlError`
prints its own lines, anything else becomes one `error: internal error` line (set
ENICTL_DEBUG=1 for the traceback). Usage errors exit 1, as SPEC section 6 asks;
`enictl` (or a group such as `enictl sim`) with no command prints its help and exits 0.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence

import click

from controller.cli.context import AppContext
from controller.cli.lazygroup import LazyGroup
from controller.errors import LINE_LIMIT, EnictlError, shorten
from controller.providers import PROVIDER_NAMES

# Each command's name and the module that defines it (and lists it in its COMMANDS).
COMMAND_MODULES = {
    "validate": "controller.cli.validate",
    "schema": "controller.cli.schema",
    "sim": "controller.cli.sim",
    "get": "controller.cli.get",
    "plan": "controller.cli.plan",
    "apply": "controller.cli.apply",
    "watch": "controller.cli.watch",
    "force-unlock": "controller.cli.unlock",
    "release": "controller.cli.release",
    "export": "controller.cli.export",
    "show": "controller.cli.show",
}


@click.group(
    cls=LazyGroup,
    lazy=COMMAND_MODULES,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--provider",
    type=click.Choice(PROVIDER_NAMES),
    default="sim",
    show_default=True,
    envvar="ENICTL_PROVIDER",
    help="The cloud to talk to (env ENICTL_PROVIDER).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=".enictl",
    show_default=True,
    envvar="ENICTL_STATE_DIR",
    help="Holds the simulated cloud and, by default, the apply journal, the lock and the "
    "last-applied record (env ENICTL_STATE_DIR).",
)
@click.option(
    "--state-backend",
    default="",
    metavar="URL",
    envvar="ENICTL_STATE_BACKEND",
    help="Where the lock, the apply journal and the last-applied record live: unset for the "
    "state dir (one machine), or postgresql://USER@HOST:PORT/DB, shared by every machine "
    "that manages the same cloud (the PG* environment fills in what the URL leaves out; "
    "env ENICTL_STATE_BACKEND). See docs/state.md.",
)
@click.option(
    "--no-color",
    is_flag=True,
    help="No ANSI colour in any output (as does a non-empty NO_COLOR, no-color.org).",
)
@click.version_option(package_name="enictl")
@click.pass_context
def cli(
    ctx: click.Context, provider: str, state_dir: str, state_backend: str, no_color: bool
) -> None:
    """enictl: a declarative reconciler for cloud elastic network interfaces (ENIs).

    \b
    Example:
      enictl sim init manifests/inventory/demo-cloud.yaml
      enictl plan manifests/demo
    """
    ctx.obj = AppContext(
        provider_name=provider,
        state_dir_arg=state_dir,
        state_backend_arg=state_backend,
        no_color=no_color,
    )
    ctx.obj.backend()  # a wrong --state-backend is refused before anything else (no I/O yet)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 error, 2 changes with --detailed-exitcode)."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="enictl",
            standalone_mode=False,
        )
    except EnictlError as exc:
        for line in exc.error_lines():
            click.echo(shorten(line, LINE_LIMIT), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # `enictl`, `enictl sim`: the help
        click.echo(exc.ctx.get_help())
        return 0
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click's word for Ctrl-C
            click.echo("error: interrupted", err=True)
            return 130
        click.echo("error: aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(shorten(f"error: {exc.format_message()}", LINE_LIMIT), err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except Exception as exc:  # the last line of defence: never a traceback
        if os.environ.get("ENICTL_DEBUG"):
            traceback.print_exc()
        click.echo(shorten(f"error: internal error: {type(exc).__name__}: {exc}"), err=True)
        return 1
    return int(result) if isinstance(result, int) else 0
