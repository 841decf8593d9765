"""`enictl sim ...`: create the simulated cloud, inject faults, read its call log, and
change it as someone at its console would (`sim console ...`).

These commands always act on the simulated cloud in the state dir, whatever
`--provider` says. `sim serve` lives in its own module (`controller.cli.simserve`),
imported only when it is used (it brings the HTTP server and the API shapes).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from controller.cli import options
from controller.cli.context import AppContext
from controller.cli.get import format_table
from controller.cli.lazygroup import LazyGroup
from controller.errors import UsageError
from controller.manifests import loader
from controller.providers.sim import cloud as simcloud
from controller.providers.sim.faults import Faults
from controller.storage import lastapplied


@click.group("sim", cls=LazyGroup, lazy={"serve": "controller.cli.simserve"})
def sim() -> None:
    """The simulated cloud in the state dir: create it, inject faults, read its log,
    change it from its console.

    \b
    Example:
      enictl sim init manifests/inventory/demo-cloud.yaml
      enictl sim faults --job-ms 200 --error-rate 0.05 --seed 7
      enictl sim log --tail 20
      enictl sim console set-status app-1 SHUTOFF        # app-1 fails
    """


@sim.command("init")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing simulated cloud.")
@click.pass_obj
def init(app: AppContext, inventory: Path, force: bool) -> None:
    """Create the simulated cloud from a CloudInventory file.

    The file is checked first, every problem located at file:line:col (as `enictl
    validate` does). Subnets and security groups may be pinned to an AZ or a VPC,
    flavors may state no NIC limit, `ports` hold addresses enictl never manages: see
    docs/manifests.md, "CloudInventory". The state dir's last-applied record is
    dropped (it describes the old cloud), so the next plan labels no change as drift.

    \b
    Example:
      enictl sim init manifests/inventory/demo-cloud.yaml
      enictl --state-dir /tmp/lab sim init inventory.yaml --force   # start over
    """
    seeded = loader.load_inventory(inventory)
    cloud = simcloud.init_cloud(app.state_dir, seeded, force=force, source=str(inventory))
    lastapplied.forget(app.state_dir)  # what was applied to the old cloud is not drift here
    try:
        topology = cloud.snapshot()
    finally:
        cloud.close()
    catalog = topology.catalog
    counts = [
        (len(topology.servers), "server"),
        (len(topology.interfaces), "interface"),
        (len(catalog.flavors), "flavor"),
        (len(catalog.vpcs), "VPC"),
        (len(catalog.subnets), "subnet"),
        (len(catalog.security_groups), "security group"),
        (len(catalog.eips), "EIP"),
    ]
    if catalog.ports:
        counts.append((len(catalog.ports), "other port"))
    summary = ", ".join(f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in counts)
    click.echo(f"simulated cloud created in {app.state_dir}: {summary}")


@sim.command("faults")
@click.option(
    "--job-ms",
    "--latency-ms",
    "latency_ms",
    type=click.IntRange(min=0),
    help="Time each attach/detach/stop job takes (--latency-ms is the older name).",
)
@click.option(
    "--call-ms",
    type=click.IntRange(min=0),
    help="Time each API call takes to answer (console changes excepted).",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    help="Share of calls refused with a transient error (Ecs.0603 or HTTP 429 APIGW.0308).",
)
@click.option(
    "--job-fail-rate",
    type=click.FloatRange(0, 1),
    help="Share of attach/detach jobs that end FAIL (Ecs.0217 / Ecs.0507).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=0),
    metavar="N",
    help="Calls per second per service (ECS, VPC, EIP) beyond which a call is refused "
    "with HTTP 429 APIGW.0308 (0: no quota). Listings are not counted.",
)
@click.option("--seed", type=int, help="Seed of the fault sequence (same seed, same faults).")
@click.option("--off", is_flag=True, help="Clear every fault setting.")
@options.output(["text", "json"], default="text", show_default=False)
@click.pass_obj
def faults(
    app: AppContext,
    latency_ms: int | None,
    error_rate: float | None,
    job_fail_rate: float | None,
    rate_limit: int | None,
    call_ms: int | None,
    seed: int | None,
    off: bool,
    output: str,
) -> None:
    """Show the fault settings, or change the ones given (--off clears them all).

    \b
    Example:
      enictl sim faults --job-ms 500                      # every attach/detach takes 0.5 s
      enictl sim faults --call-ms 100 --job-ms 2000       # a distant cloud (bench_failover)
      enictl sim faults --error-rate 0.1 --seed 42        # reproducible transient errors
      enictl sim faults --rate-limit 20                   # a quota: 20 calls/s per service
      enictl sim faults --off
    """
    changes = {
        "latency_ms": latency_ms,
        "error_rate": error_rate,
        "job_fail_rate": job_fail_rate,
        "seed": seed,
        "rate_limit": rate_limit,
        "call_ms": call_ms,
    }
    given = {key: value for key, value in changes.items() if value is not None}
    if off and given:
        raise UsageError("--off clears every fault setting; give it alone")
    cloud = simcloud.open_cloud(app.state_dir)
    try:
        current = cloud.faults()
        if off:
            current = Faults()
        elif given:
            current = Faults(**{**dataclasses.asdict(current), **given})
        if off or given:
            cloud.set_faults(current)
    finally:
        cloud.close()
    if output == "json":
        click.echo(json.dumps(current.as_json(), indent=2))
    else:
        click.echo(format_table(["SETTING", "VALUE"], [list(pair) for pair in current.describe()]))


@sim.command("log")
@options.output(["text", "json"], default="text", show_default=False)
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N entries.")
@click.pass_obj
def log(app: AppContext, output: str, tail: int | None) -> None:
    """Every call the simulated cloud received, and every job it finished, oldest first.

    \b
    Example:
      enictl sim log --tail 20
      enictl sim log -o json | jq '.[] | select(.result == "error")'
    """
    cloud = simcloud.open_cloud(app.state_dir)
    try:
        entries = cloud.log()
    finally:
        cloud.close()
    if tail is not None:
        entries = entries[-tail:]
    if output == "json":
        click.echo(json.dumps([e.as_json() for e in entries], indent=2))
        return
    rows = [
        [
            datetime.fromtimestamp(e.time, UTC).isoformat(timespec="milliseconds"),
            e.operation,
            e.target or "-",
            e.result,
            e.error_code or "-",
            e.message,
        ]
        for e in entries
    ]
    click.echo(format_table(["TIME", "OPERATION", "TARGET", "RESULT", "CODE", "MESSAGE"], rows))


# ECS server statuses (Huawei Cloud's ECS API reference, "ECS statuses")
SERVER_STATUSES = (
    "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "REBOOT", "REBUILD",
    "RESIZE", "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED", "SHUTOFF", "UNKNOWN",
    "VERIFY_RESIZE",
)  # fmt: skip


@sim.group("console")
def console() -> None:
    """Change the simulated cloud as someone at its console would, outside enictl.

    Each change is immediate (no job), never faulted, and logged as `console.*` in
    `sim log`. enictl's rules do not apply, the cloud's own do (a NIC limit, a primary
    NIC, another VPC are refused with the cloud's error). Use it to try failover (a
    server fails) and drift detection (an ENI moved or regrouped by hand).

    \b
    Example:
      enictl sim console set-status app-1 SHUTOFF     # app-1 fails: its failover ENIs move
      enictl sim console delete-server app-1          # ports with deleteOnTermination go too
      enictl sim console detach svc-eni               # drift: the ENI is off its server
      enictl sim console attach svc-eni app-2
      enictl sim console set-security-groups svc-eni sg-web sg-admin
    """


def _at_console(app: AppContext, change: Callable[[simcloud.SimCloud], None], done: str) -> None:
    cloud = simcloud.open_cloud(app.state_dir)
    try:
        change(cloud)
    finally:
        cloud.close()
    click.echo(done)


@console.command("set-status")
@click.argument("server")
@click.argument("status", type=click.Choice(SERVER_STATUSES), metavar="STATUS")
@click.pass_obj
def set_status(app: AppContext, server: str, status: str) -> None:
    """Set SERVER's status (ACTIVE, SHUTOFF, ERROR, BUILD, ...): a failure or a repair.

    \b
    Example:
      enictl sim console set-status app-1 ERROR
    """
    _at_console(app, lambda c: c.force_set_status(server, status), f"{server} is {status}")


@console.command("delete-server")
@click.argument("server")
@click.pass_obj
def delete_server(app: AppContext, server: str) -> None:
    """Delete SERVER: its primary NIC and its ports attached with deleteOnTermination
    true go with it; its other ports stay, detached.

    \b
    Example:
      enictl sim console delete-server app-1
    """
    _at_console(app, lambda c: c.force_delete_server(server), f"{server} deleted")


@console.command("detach")
@click.argument("interface")
@click.pass_obj
def detach(app: AppContext, interface: str) -> None:
    """Detach INTERFACE from its server at once (the port stays).

    \b
    Example:
      enictl sim console detach svc-eni
    """
    _at_console(app, lambda c: c.force_detach(interface), f"{interface} detached")


@console.command("attach")
@click.argument("interface")
@click.argument("server")
@click.pass_obj
def attach(app: AppContext, interface: str, server: str) -> None:
    """Attach INTERFACE (detached) to SERVER at once.

    \b
    Example:
      enictl sim console attach svc-eni app-2
    """
    _at_console(
        app, lambda c: c.force_attach(interface, server), f"{interface} attached to {server}"
    )


@console.command("set-security-groups")
@click.argument("interface")
@click.argument("groups", nargs=-1, metavar="SG...")
@click.pass_obj
def set_security_groups(app: AppContext, interface: str, groups: tuple[str, ...]) -> None:
    """Replace INTERFACE's security groups with SG... (none given: no group).

    \b
    Example:
      enictl sim console set-security-groups svc-eni sg-web sg-admin
    """
    shown = ", ".join(groups) or "none"
    _at_console(
        app,
        lambda c: c.force_set_security_groups(interface, groups),
        f"{interface} security groups: {shown}",
    )


COMMANDS = [sim]
