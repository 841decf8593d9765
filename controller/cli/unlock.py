"""`enictl force-unlock LOCK_ID`: break the state backend's lock, naming it by its id."""

from __future__ import annotations

import click

from controller.cli.context import AppContext
from controller.storage import lock


@click.command("force-unlock")
@click.argument("lock_id")
@click.pass_obj
def force_unlock_command(app: AppContext, lock_id: str) -> None:
    """Remove the lock (or lease) whose id is LOCK_ID.

    A crashed enictl never leaves the lock stuck: on the state dir the operating
    system releases it when the process dies, and a --state-backend lease expires
    15 s after its holder stopped renewing it. So this is for a live process you want
    to stop coordinating with, or a state dir on a shared filesystem. On a lease the
    epoch moves on, so the old holder's next journal write or cloud call is refused.
    The lock id is printed in the error of a blocked apply; a wrong id is refused and
    nothing changes.

    \b
    Example:
      enictl force-unlock 0b6f3c9e-1d2a-4c47-9a34-6a1f2f8f5e10
    """
    backend = app.backend()
    holder = backend.force_unlock(lock_id)
    click.echo(f"Unlocked {backend.describe()} (was held by {holder.describe()}).")
    if not backend.shared and lock.pid_alive_here(holder):
        click.echo(
            f"warning: pid {holder.pid} is still running; two writers may now change the "
            "same cloud at once",
            err=True,
        )


COMMANDS = [force_unlock_command]
