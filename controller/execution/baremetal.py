"""New ENIs on a BMS: the port the BMS API creates, told apart and claimed as the ENI.

A BMS takes NICs only through its own API, which creates the port as it attaches it
(subnet, address, security groups) and gives it none of enictl's marks: no name, no
managed tag. So a BMS attach ends with a claim (`claim`): the port is renamed to the
ENI's name, then tagged managed. From then on it is the declared ENI, found by name by
every later plan.

Between the attach and the claim the port is one of the BMS's anonymous NICs. The
journal keeps what tells it apart (`NewPort`: the ENI's name, the subnet, the address
asked for and the ports the BMS had before the call), and `created_port` finds it in
an observation: on the server, not one of those it had, in that subnet, with that
address (when one was asked for), not claimed by anyone else. A resumed run claims it
(`controller.execution.recovery`); a step retried after a call whose answer was lost
looks for it first (`controller.execution.steps`). Either way no second NIC is made.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.model import Topology
from controller.providers.base import Provider
from controller.storage.journal import NewPort

Run = Callable[[str, Callable[[], object]], object]  # (verb, call): a retried provider call


def ports_on(observed: Topology, server: str) -> tuple[str, ...]:
    """The ids of the ports attached to `server` (a name), sorted."""
    return tuple(sorted(i.id for i in observed.interfaces.values() if i.server == server))


def created_port(observed: Topology, server_id: str, new: NewPort) -> str | None:
    """The id of the port a BMS attach described by `new` created on server `server_id`,
    if the cloud shows it (module docstring); None otherwise."""
    servers = {s.id: s.name for s in observed.servers.values()}
    subnets = {s.id: s.name for s in observed.catalog.subnets.values()}
    server, subnet = servers.get(server_id), subnets.get(new.subnet_id)
    if server is None or subnet is None:
        return None
    found = sorted(
        i.id
        for i in observed.interfaces.values()
        if i.server == server
        and i.id not in new.before
        and not i.primary
        and i.subnet == subnet
        and (not new.private_ip or i.private_ip == new.private_ip)
        and (i.name == new.name or not i.managed)
    )
    return found[0] if found else None


def claim(provider: Provider, port_id: str, new: NewPort, run: Run) -> None:
    """Make the port a BMS attach created the ENI `new.name`: rename it, then tag it
    managed by `new.owner` (in that order: a port with the name and no tag is adopted by
    the next plan, never created again). Both calls are idempotent."""
    run("rename_interface", lambda: provider.rename_interface(port_id, new.name))
    run("set_managed", lambda: provider.set_managed(port_id, new.owner))
