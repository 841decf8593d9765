"""`enictl schema KIND`: print a manifest kind's JSON Schema (Draft 2020-12)."""

from __future__ import annotations

import click

from controller.errors import UsageError
from controller.manifests import schema

_NAMES = ", ".join(k.lower() for k in (*schema.KIND_FILES, schema.BUNDLE_NAME))


@click.command("schema")
@click.argument("kind")
def schema_command(kind: str) -> None:
    """Print the JSON Schema of a manifest KIND.

    KIND (any case) is one of server, networkinterface, placementpolicy,
    cloudinventory, or manifest (any desired-state document, dispatched on `kind`).
    Editors validate manifests with it through a modeline on a file's first line:
    `# yaml-language-server: $schema=<path or URL of the schema>`.

    \b
    Examples:
      enictl schema networkinterface
      enictl schema manifest > .schemas/enictl-manifest.json
    """
    found = schema.kind_named(kind)
    if found is None:
        raise UsageError(f"unknown kind '{kind}' (expected one of: {_NAMES})")
    click.echo(schema.schema_text(found), nl=False)


COMMANDS = [schema_command]
