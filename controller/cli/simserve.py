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
from controller.providers.sim.serve import httpserver, pool

_LIMITS = pool.DEFAULT_LIMITS


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
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    default=_LIMITS.workers,
    show_default=True,
    help="Threads that serve requests; more requests at once wait their turn.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1, 1_000_000),
    default=_LIMITS.max_connections,
    show_default=True,
    help="Open connections at most (and below the file descriptor limit); beyond it the "
    "longest idle one is closed.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(0, min_open=True),
    default=_LIMITS.idle_timeout,
    show_default=True,
    metavar="SECONDS",
    help="Close a connection that sends no request for this long.",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(0, min_open=True),
    default=_LIMITS.request_timeout,
    show_default=True,
    metavar="SECONDS",
    help="A request (line, headers and body) must arrive within this, and its answer "
    "leave within it; a slower client is cut off.",
)
@click.option(
    "--max-body",
    type=click.IntRange(1),
    default=_LIMITS.max_body_bytes,
    show_default=True,
    metavar="BYTES",
    help="Largest request body; a larger one is refused with 413 before it is read.",
)
@click.option("--verbose", is_flag=True, help="Print one line per request on stderr.")
@click.pass_obj
def serve(
    app: AppContext,
    host: str,
    port: int,
    workers: int,
    max_connections: int,
    idle_timeout: float,
    request_timeout: float,
    max_body: int,
    verbose: bool,
) -> int:
    """Serve the simulated cloud over Huawei Cloud's ECS, VPC and EIP HTTP API.

    Requests must be signed (SDK-HMAC-SHA256) with HUAWEICLOUD_SDK_AK/SK of this
    environment, or with the built-in test credentials when those are unset. Faults
    and latency set with `enictl sim faults` apply, and every call shows in `sim log`.

    Limits, so that no client (signed or not) can exhaust the server: a body's size
    and the signature's headers are checked before the body is read (413 / 400 for a
    bad Content-Length / 401), a fixed number of worker threads serves requests, idle
    connections are closed, and a request must arrive within the request timeout.

    \b
    Example:
      enictl sim init manifests/inventory/cloud.yaml
      enictl sim serve --port 8080 &
      ENICTL_HUAWEICLOUD_ENDPOINT=http://127.0.0.1:8080 \\
        enictl --provider huaweicloud get interfaces
    """
    simcloud.open_cloud(app.state_dir).close()  # fail now, clearly, when there is no cloud
    settings = httpserver.ServeSettings.from_env()
    limits = pool.Limits(
        workers=workers,
        max_connections=max_connections,
        idle_timeout=idle_timeout,
        request_timeout=request_timeout,
        max_body_bytes=max_body,
    )
    server = httpserver.SimHttpServer(
        app.state_dir, settings, host=host, port=port, verbose=verbose, limits=limits
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
