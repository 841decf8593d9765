"""`enictl sim serve`: the simulated cloud in the state dir over Huawei Cloud's HTTP API.

Joins the `sim` group (`controller.cli.sim` picks up this module's COMMANDS). The
server runs until Ctrl-C; it prints where it listens and the environment that points
`enictl --provider huaweicloud` (or any Huawei Cloud SDK client) at it. A secret key
from the environment is never printed; the built-in test credentials are (they are
public and only open the simulated cloud).
"""

from __future__ import annotations

import click

from controller.cli.context import AppContext
from controller.providers.sim import cloud as simcloud
from controller.providers.sim.serve import httpserver


@click.command("serve")
@click.option(
    "--host",
    default=httpserver.DEFAULT_HOST,
    show_default=True,
    help="Address to listen on (loopback unless you mean otherwise).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=httpserver.DEFAULT_PORT,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option("--verbose", is_flag=True, help="Print one line per request on stderr.")
@click.pass_obj
def serve(app: AppContext, host: str, port: int, verbose: bool) -> int:
    """Serve the simulated cloud over Huawei Cloud's ECS, VPC and EIP HTTP API.

    Requests must be signed (SDK-HMAC-SHA256) with HUAWEICLOUD_SDK_AK/SK of this
    environment, or with the built-in test credentials when those are unset. Faults
    and latency set with `enictl sim faults` apply, and every call shows in `sim log`.

    \b
    Example:
      enictl sim init manifests/inventory/cloud.yaml
      enictl sim serve --port 8080 &
      ENICTL_HUAWEICLOUD_ENDPOINT=http://127.0.0.1:8080 \\
        enictl --provider huaweicloud get interfaces
    """
    simcloud.open_cloud(app.state_dir).close()  # fail now, clearly, when there is no cloud
    settings = httpserver.ServeSettings.from_env()
    server = httpserver.SimHttpServer(
        app.state_dir, settings, host=host, port=port, verbose=verbose
    )
    env = settings.client_env(server.url)
    click.echo(f"serving the simulated cloud in {app.state_dir} at {server.url} (Ctrl-C stops)")
    click.echo(f"  export ENICTL_HUAWEICLOUD_ENDPOINT={env['ENICTL_HUAWEICLOUD_ENDPOINT']}")
    click.echo(f"  export HUAWEICLOUD_PROJECT_ID={env['HUAWEICLOUD_PROJECT_ID']}")
    if settings.default_keys:
        click.echo(f"  export HUAWEICLOUD_SDK_AK={env['HUAWEICLOUD_SDK_AK']}")
        click.echo(f"  export HUAWEICLOUD_SDK_SK={env['HUAWEICLOUD_SDK_SK']}")
    else:
        click.echo("  (requests must be signed with HUAWEICLOUD_SDK_AK / _SK of this shell)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
    return 0


COMMANDS = [serve]
