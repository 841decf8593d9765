"""The options several commands share, spelled once: `--prune`, `--prune-limit`, `--owner`,
`--parallelism`, `--json` and `-o/--output`, and the environment variables that tune
apply's waits (`waits()`, `server_ready_timeout()`; `WAITS_HELP` lists them in `--help`).

Each option is a click decorator; the ones whose range or help differ by command take
those as arguments, so a command's `--help` says what that command does with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import click

from controller.errors import UsageError
from controller.execution import retry
from controller.model import DEFAULT_OWNER
from controller.plan import DEFAULT_PRUNE_LIMIT
from controller.providers.huaweicloud.settings import DEFAULT_RATE_LIMIT  # not the SDK

F = TypeVar("F", bound=Callable[..., Any])

prune = click.option(
    "--prune",
    is_flag=True,
    help="Also detach and delete managed ENIs that no manifest mentions (never protected ones).",
)

verbose = click.option(
    "-v", "--verbose", is_flag=True, help="Also list the unchanged resources, each with why."
)

lock_timeout = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for another enictl holding the state dir's lock (0: fail at once).",
)


def _owner(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from controller import owners

    return owners.checked(value)


owner = click.option(
    "--owner",
    default=DEFAULT_OWNER,
    show_default=True,
    envvar="ENICTL_OWNER",
    metavar="NAME",
    callback=_owner,
    help="Whose manifests these are (env ENICTL_OWNER): ENIs are marked managed by this owner, "
    "only its own orphans are pruned, and an ENI another owner manages is never touched.",
)

prune_limit = click.option(
    "--prune-limit",
    type=click.IntRange(min=0),
    default=DEFAULT_PRUNE_LIMIT,
    show_default=True,
    metavar="N",
    help="Reject a plan that would delete more than N ENIs (PruneLimitExceeded): a brake "
    "for a manifest file that is missing, empty or unread.",
)


def parallelism(help: str, *, maximum: int | None = None) -> Callable[[F], F]:
    """`--parallelism N`: steps in flight at once, 1 to `maximum` (default 10)."""
    return click.option(
        "--parallelism",
        type=click.IntRange(1, maximum),
        default=10,
        show_default=True,
        help=help,
    )


def json_events(help: str) -> Callable[[F], F]:
    """`--json` (the `as_json` flag): JSON events, one per line, on stdout."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def output(
    formats: Sequence[str], *, default: str, help: str | None = None, show_default: bool = True
) -> Callable[[F], F]:
    """`-o/--output FORMAT`, one of `formats`."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(list(formats)),
        default=default,
        show_default=show_default,
        help=help,
    )


def env_seconds(name: str) -> float | None:
    """The number of seconds in environment variable `name` (at least 0), or None when it
    is unset or empty; anything else is a usage error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, got {raw!r}") from None


def server_ready_timeout() -> float:
    """ENICTL_SERVER_READY_TIMEOUT: how long a step waits for a server that is not ACTIVE
    or SHUTOFF before it fails with ServerNotReady (default 300 s)."""
    from controller.execution.executor import SERVER_READY_TIMEOUT  # only apply and watch get here

    seconds = env_seconds("ENICTL_SERVER_READY_TIMEOUT")
    return SERVER_READY_TIMEOUT if seconds is None else seconds


RETRY_TIMEOUT = "ENICTL_RETRY_TIMEOUT"
RETRY_MAX_DELAY = "ENICTL_RETRY_MAX_DELAY"
JOB_POLL_DELAY = "ENICTL_JOB_POLL_DELAY"
JOB_POLL_INTERVAL = "ENICTL_JOB_POLL_INTERVAL"
JOB_TIMEOUT = "ENICTL_JOB_TIMEOUT"

_SIM, _CLOUD, _RETRY = retry.PollPolicy(), retry.CLOUD_POLL, retry.RetryPolicy()
WAITS_HELP = f"""\b
Environment (times in seconds; the local sim's default where it differs):
  ENICTL_RETRY_TIMEOUT         retry a call that fails transiently for this long ({_RETRY.timeout:g})
  ENICTL_RETRY_MAX_DELAY       longest pause between two tries ({_RETRY.cap:g}; jittered)
  ENICTL_JOB_POLL_DELAY        first poll of a job, after its submission ({_CLOUD.first:g}; sim {_SIM.first:g})
  ENICTL_JOB_POLL_INTERVAL     longest pause between two polls ({_CLOUD.interval.cap:g}; sim {_SIM.interval.cap:g})
  ENICTL_JOB_TIMEOUT           a job still running after this fails its step ({_CLOUD.timeout:g})
  ENICTL_SERVER_READY_TIMEOUT  wait for a server not ACTIVE/SHUTOFF (300)
  ENICTL_HUAWEICLOUD_RATE_LIMIT  calls per second per service, huaweicloud ({DEFAULT_RATE_LIMIT:g}; 0: none)"""  # noqa: E501


def waits(provider: str) -> retry.Waits:
    """How patient apply and watch are with `provider`: the retry and poll policies,
    sized for a real cloud (the local `sim` polls sooner and more often), each bound
    overridable by its environment variable (see `WAITS_HELP`)."""
    base = retry.Waits(poll=retry.PollPolicy() if provider == "sim" else retry.CLOUD_POLL)
    policy, poll = base.retry, base.poll
    if (seconds := env_seconds(RETRY_TIMEOUT)) is not None:
        policy = replace(policy, timeout=seconds)
    if (seconds := env_seconds(RETRY_MAX_DELAY)) is not None:
        policy = replace(policy, cap=seconds, base=min(policy.base, seconds))
    if (seconds := env_seconds(JOB_POLL_DELAY)) is not None:
        poll = replace(poll, first=seconds)
    if (seconds := env_seconds(JOB_POLL_INTERVAL)) is not None:
        interval = replace(poll.interval, cap=seconds, base=min(poll.interval.base, seconds))
        poll = replace(poll, interval=interval)
    if (seconds := env_seconds(JOB_TIMEOUT)) is not None:
        poll = replace(poll, timeout=seconds)
    return retry.Waits(retry=policy, poll=poll)
