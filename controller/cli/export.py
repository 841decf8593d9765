"""`enictl export`: manifests for what the cloud holds now (SPEC sections 4, 6)."""

from __future__ import annotations

from pathlib import Path

import click

from controller import selectors
from controller.cli.context import AppContext
from controller.errors import UsageError
from controller.manifests import export as exporting
from controller.storage import atomicfile


def _names(values: tuple[str, ...]) -> tuple[str, ...]:
    """`--servers a,b --servers c` -> (a, b, c), in order, without repeats."""
    found = [name.strip() for value in values for name in value.split(",")]
    return tuple(dict.fromkeys(name for name in found if name))


@click.command("export")
@click.option(
    "--servers",
    "servers",
    multiple=True,
    metavar="NAME,...",
    help="Only these servers and the ENIs attached to them (comma-separated; repeatable).",
)
@click.option("--vpc", default="", metavar="VPC", help="Only the ENIs in this VPC.")
@click.option("--subnet", default="", metavar="SUBNET", help="Only the ENIs in this subnet.")
@click.option(
    "-l",
    "--selector",
    default="",
    metavar="SELECTOR",
    help="Only the ENIs whose labels (the cloud's tags) match, e.g. `role=db,env in (prod)`.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per server (and enictl-export.yaml for the rest) into this "
    "folder, which must hold no YAML yet; default: one stream on stdout.",
)
@click.option(
    "--schema",
    "schema_ref",
    default=exporting.DEFAULT_SCHEMA_REF,
    show_default=True,
    metavar="REF",
    help="The schema the `# yaml-language-server: $schema=` modeline names (a URL or a "
    "path relative to the files, e.g. ../schemas/manifest.json).",
)
@click.pass_obj
def export_command(
    app: AppContext,
    servers: tuple[str, ...],
    vpc: str,
    subnet: str,
    selector: str,
    out_dir: Path | None,
    schema_ref: str,
) -> None:
    """Write manifests for the cloud as it is: Servers and NetworkInterfaces.

    Every extension ENI (narrowed by the options) becomes a NetworkInterface with its
    subnet, private IP, security groups, EIP, server and protect marker; each server
    an ENI is attached to becomes a Server (its primary ENI's security groups left
    out, so enictl leaves them alone). A PlacementPolicy with subnetScope: vpc is added
    when an ENI sits outside its server's primary subnet. `enictl plan` of the result
    against the same cloud shows only adoptions. A resource whose cloud name manifests
    cannot hold (1-64 letters, digits, _ - .) is skipped with a warning: rename it in
    the cloud, then export again.

    \b
    Examples:
      enictl export > manifests/cloud.yaml && enictl plan manifests/
      enictl export --vpc vpc-prod --out-dir manifests/prod
      enictl export --servers db-1,db-2 -l team=data
    """
    scope = exporting.Scope(
        servers=_names(servers),
        vpc=vpc.strip(),
        subnet=subnet.strip(),
        selector=selectors.parse(selector),
    )
    result = exporting.export(app.provider().observe(), scope)
    for skipped in result.skipped:
        click.echo(f"warning: {skipped.line()}", err=True)
    if out_dir is None:
        if result.count:
            click.echo(result.stream_text(schema_ref), nl=False)
        else:
            click.echo("warning: nothing to export: no extension ENI in the scope", err=True)
        return
    files = result.files(schema_ref)
    taken = sorted(p.name for p in out_dir.glob("*.y*ml")) if out_dir.is_dir() else []
    if taken:
        raise UsageError(
            f"export: {out_dir} already holds {', '.join(taken[:3])}"
            f"{' ...' if len(taken) > 3 else ''}; export into an empty folder"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            atomicfile.write_text(out_dir / name, text)
    except OSError as exc:
        raise UsageError(f"export: cannot write into {out_dir}: {exc.strerror or exc}") from None
    click.echo(f"exported {result.count} document(s) into {len(files)} file(s) in {out_dir}")


COMMANDS = [export_command]
