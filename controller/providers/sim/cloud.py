"""The embedded simulated cloud: enictl's default provider and main test double.

A `SimCloud` is a SQLite file under the state dir (`<state_dir>/cloud.db`) that
behaves like Huawei Cloud's ECS/VPC APIs: attach and detach are asynchronous jobs,
the cloud enforces its own rules with the real error codes (`rules`, `refusals`),
faults can be injected reproducibly (`faults`), and every call is logged. Several
processes may share one cloud: each call is one `BEGIN IMMEDIATE` transaction (`transaction`).

Jobs finish lazily: at the start of every call, jobs whose latency has elapsed (by
the injectable clock, `time.time` by default) have their effect applied atomically,
so with zero latency a job is done at the first poll.

A server runs one job at a time, as ECS does: an `attach()`, `detach()` or
`stop_server()` while another is running on the same server is refused with the
transient Ecs.0603 ("other operations running, retry later"); console changes have no
job and are exempt.

A BMS (a server of a `bareMetal` flavor) is invisible to the ECS verbs and has its own
(`attach_bare_metal`, `detach_bare_metal`, `set_bare_metal_delete_on_termination`),
as Huawei Cloud's BMS API: its attach is a job that creates the port when it finishes
(named by its id until enictl renames it) and it cannot attach an existing port.

A port attached by `attach()` starts with deleteOnTermination **true**: whether the
real cloud does this is unconfirmed, and the pessimistic choice makes enictl prove
it clears the flag before detaching an ENI that must survive.

The `force_*` methods change the cloud "by hand", as someone at the console would
(not through enictl): immediately, without faults, still under the cloud's rules.
Tests use them to create drift.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from controller.errors import ProviderError, UsageError
from controller.model import DEFAULT_OWNER, Topology
from controller.providers.base import Job, JobStatus, NewInterface
from controller.providers.sim import inventory, observation, refusals, rules, store, transaction
from controller.providers.sim.faults import Faults
from controller.providers.sim.refusals import refuse
from controller.providers.sim.transaction import Call, LogEntry

__all__ = ["Faults", "LogEntry", "SimCloud", "init_cloud", "open_cloud"]

T = TypeVar("T")
Clock = Callable[[], float]


def init_cloud(
    state_dir: Path,
    inventory_spec: Mapping[str, Any] | Topology,
    *,
    force: bool = False,
    source: str = "inventory",
    clock: Clock = time.time,
) -> SimCloud:
    """Create the simulated cloud in `state_dir` from a CloudInventory spec (a dict,
    checked here: ManifestError with every problem) or the Topology the CloudInventory
    checker made of one (`controller.cloudinventory.checks`, as `enictl sim init` does).

    Refuses to replace an existing cloud unless `force`. `source` names the inventory
    (its file) in error messages. The new database is built beside the old one and
    moved into place only when complete, so a bad inventory leaves the old cloud intact.
    """
    path = store.db_path(state_dir)
    if path.exists() and not force:
        raise UsageError(
            f"a simulated cloud already exists in {state_dir}; use --force to replace it"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".new")
    _remove_db(building)
    conn = store.create(building)
    try:
        with store.write(conn):
            inventory.populate(conn, inventory_spec, source=source)
            store.set_meta(conn, "faults", Faults().to_json())
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        conn.close()
        _remove_db(building)
        raise
    conn.close()
    _remove_db(path)
    building.replace(path)
    return SimCloud(path, clock=clock)


def open_cloud(state_dir: Path, *, clock: Clock = time.time) -> SimCloud:
    """The simulated cloud in `state_dir` (UsageError when there is none)."""
    path = store.db_path(state_dir)
    if not path.is_file():
        raise UsageError(f"no simulated cloud in {state_dir}; run `enictl sim init INVENTORY`")
    return SimCloud(path, clock=clock)


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


class SimCloud:
    """The simulated cloud; implements `controller.providers.base.Provider`."""

    name = "sim"

    def __init__(
        self, path: Path, *, clock: Clock = time.time, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.path = path
        self._clock = clock
        self._sleep = sleep
        self._conn = store.connect(path)
        self._pid = os.getpid()
        self._lock = threading.RLock()

    # -- the Provider verbs --------------------------------------------------------

    def observe(self) -> Topology:
        self._run("observe", lambda call: None, target="cloud")
        with self._lock, store.read(self._db()) as conn:
            return observation.topology(conn)

    def observe_unless(self, version: str | None) -> tuple[str, Topology | None]:
        """One `observe` call (logged, faults apply, due jobs finish) that skips the read
        when the cloud is unchanged: returns the cloud's data version (a new value
        whenever what observe() returns may have changed, unique across `sim init`s)
        and the Topology, or None when the version is still `version`. `sim serve`
        answers every list page with one of these and reuses its last observation."""
        current = self._run(
            "observe", lambda call: transaction.data_version(call.conn), target="cloud"
        )
        if current == version:
            return current, None
        with self._lock, store.read(self._db()) as conn:
            return transaction.data_version(conn), observation.topology(conn)

    def create_interface(self, spec: NewInterface) -> str:
        return self._run(
            "create_interface", lambda call: rules.create_port(call.conn, spec), target=spec.name
        )

    def update_security_groups(
        self, interface_id: str, security_group_ids: tuple[str, ...]
    ) -> None:
        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_id)
            call.target = prt.name
            groups = rules.security_groups(call.conn, security_group_ids, prt.vpc_id)
            rules.set_security_groups(call.conn, prt.id, groups)

        self._run("update_security_groups", act, target=interface_id)

    def bind_eip(self, eip_id: str, interface_id: str) -> None:
        def act(call: Call) -> None:
            _, eip_name, bound_to = rules.eip(call.conn, eip_id)
            call.target = eip_name
            prt = rules.port(call.conn, interface_id)
            call.target = f"{eip_name} -> {prt.name}"
            if bound_to == prt.id:
                return
            if bound_to is not None:
                raise refuse(refusals.EIP_BOUND, f"EIP {eip_name} is already bound to a port")
            if call.conn.execute("SELECT 1 FROM eips WHERE port_id = ?", (prt.id,)).fetchone():
                raise refuse(refusals.PORT_HAS_EIP, f"port {prt.name} already has an EIP")
            call.conn.execute("UPDATE eips SET port_id = ? WHERE id = ?", (prt.id, eip_id))

        self._run("bind_eip", act, target=eip_id)

    def unbind_eip(self, eip_id: str) -> None:
        def act(call: Call) -> None:
            call.target = rules.eip(call.conn, eip_id)[1]
            call.conn.execute("UPDATE eips SET port_id = NULL WHERE id = ?", (eip_id,))

        self._run("unbind_eip", act, target=eip_id)

    def set_delete_on_termination(self, server_id: str, interface_id: str, value: bool) -> None:
        self._set_delete_on_termination(server_id, interface_id, value, bare_metal=False)

    def set_bare_metal_delete_on_termination(
        self, server_id: str, interface_id: str, value: bool
    ) -> None:
        self._set_delete_on_termination(server_id, interface_id, value, bare_metal=True)

    def _set_delete_on_termination(
        self, server_id: str, interface_id: str, value: bool, *, bare_metal: bool
    ) -> None:
        def act(call: Call) -> None:
            srv = (
                rules.bms_server(call.conn, server_id)
                if bare_metal
                else rules.ecs_server(call.conn, server_id)
            )
            prt = rules.port(call.conn, interface_id)
            call.target = f"{prt.name} on {srv.name} = {str(value).lower()}"
            if prt.server_id != srv.id:
                raise refuse(refusals.NIC_NOT_ON_SERVER, f"{srv.name} does not have {prt.name}")
            if rules.running_job(call.conn, prt.id) is not None:
                raise refuse(refusals.BUSY, f"port {prt.name} is being detached, try later")
            call.conn.execute(
                "UPDATE ports SET delete_on_termination = ? WHERE id = ?", (int(value), prt.id)
            )

        verb = "set_bare_metal_delete_on_termination" if bare_metal else "set_delete_on_termination"
        self._run(verb, act, target=f"{interface_id} on {server_id}")

    def attach(self, server_id: str, interface_id: str) -> str:
        def act(call: Call) -> str:
            srv = rules.ecs_server(call.conn, server_id)
            prt = rules.port(call.conn, interface_id)
            call.target = f"{prt.name} -> {srv.name}"
            rules.check_attach(call.conn, srv, prt)
            rules.require_no_nic_job(call.conn, srv, "attach")
            return transaction.submit(call, "attach", srv.id, prt.id)

        return self._run("attach", act, target=f"{interface_id} -> {server_id}")

    def detach(self, server_id: str, interface_id: str) -> str:
        def act(call: Call) -> str:
            srv = rules.ecs_server(call.conn, server_id)
            prt = rules.port(call.conn, interface_id)
            call.target = f"{prt.name} <- {srv.name}"
            rules.check_detach(call.conn, srv, prt)
            rules.require_no_nic_job(call.conn, srv, "detach")
            return transaction.submit(call, "detach", srv.id, prt.id)

        return self._run("detach", act, target=f"{interface_id} <- {server_id}")

    def attach_bare_metal(self, server_id: str, spec: NewInterface) -> str:
        """BMS AddServerNics: a job that creates the port (subnet, address, groups) and
        attaches it; the finished job names the port (`Job.interface_id`)."""

        def act(call: Call) -> str:
            srv = rules.bms_server(call.conn, server_id)
            call.target = f"new NIC in {spec.subnet_id} -> {srv.name}"
            rules.check_bms_attach(call.conn, srv, spec)
            return transaction.submit(call, "bms_attach", srv.id, "", rules.bms_spec(spec))

        return self._run("attach_bare_metal", act, target=f"new NIC -> {server_id}")

    def detach_bare_metal(self, server_id: str, interface_id: str) -> str:
        """BMS DeleteServerNics: a job, like an ECS detach (BMS codes)."""

        def act(call: Call) -> str:
            srv = rules.bms_server(call.conn, server_id)
            try:
                prt = rules.port(call.conn, interface_id)
                call.target = f"{prt.name} <- {srv.name}"
                rules.check_detach(call.conn, srv, prt)
                rules.require_no_nic_job(call.conn, srv, "detach")
            except ProviderError as exc:
                raise refusals.bare_metal(exc) from None
            return transaction.submit(call, "bms_detach", srv.id, prt.id)

        return self._run("detach_bare_metal", act, target=f"{interface_id} <- {server_id}")

    def stop_server(self, server_id: str) -> str:
        """Start a hard stop (ECS batch stop, type HARD); the job leaves it SHUTOFF."""

        def act(call: Call) -> str:
            srv = rules.server(call.conn, server_id)
            call.target = srv.name
            rules.require_no_nic_job(call.conn, srv, "stop it")
            return transaction.submit(call, "stop", srv.id, "")

        return self._run("stop_server", act, target=server_id)

    def server_statuses(self) -> dict[str, str]:
        """Every server's status, by name: one listing call."""

        def act(call: Call) -> dict[str, str]:
            rows = call.conn.execute("SELECT name, status FROM servers ORDER BY name")
            return dict(rows.fetchall())

        return self._run("list_servers", act, target="servers")

    def job(self, job_id: str) -> Job:
        def act(call: Call) -> Job:
            row = call.conn.execute(
                "SELECT status, error_code, fail_reason, port_id FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
            if row is None:
                raise refuse(refusals.JOB_NOT_FOUND, f"job {job_id} does not exist")
            return Job(job_id, JobStatus(row[0]), row[1], row[2], row[3])

        return self._run("job", act, target=job_id)

    def delete_interface(self, interface_id: str) -> None:
        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_id)
            call.target = prt.name
            rules.delete_checked(call.conn, prt)

        self._run("delete_interface", act, target=interface_id)

    def set_managed(self, interface_id: str, owner: str = DEFAULT_OWNER) -> None:
        """Tag a port as managed by `owner`: the VPC v3 port tag `enictl-managed=<owner>`,
        as `sim serve` receives it (`clear_managed` removes it)."""

        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_id)
            call.target = f"{prt.name} = {owner}"
            call.conn.execute(
                "UPDATE ports SET managed = 1, owner = ? WHERE id = ?", (owner, prt.id)
            )

        self._run("set_managed", act, target=interface_id)

    def clear_managed(self, interface_id: str) -> None:
        """Remove the managed marker (`enictl release`); idempotent."""

        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_id)
            call.target = prt.name
            call.conn.execute("UPDATE ports SET managed = 0, owner = '' WHERE id = ?", (prt.id,))

        self._run("clear_managed", act, target=interface_id)

    def set_protected(self, interface_id: str, value: bool) -> None:
        """Set (or clear) a port's protect marker: the VPC v3 tag `enictl-protect=true`."""

        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_id)
            call.target = f"{prt.name} = {str(value).lower()}"
            call.conn.execute("UPDATE ports SET protected = ? WHERE id = ?", (int(value), prt.id))

        self._run("set_protected", act, target=interface_id)

    def rename_interface(self, interface_id: str, name: str) -> None:
        """Rename a port (VPC UpdatePort, as `sim serve` receives it). Names are unique in
        the simulated cloud (Huawei Cloud's need not be): a taken one is refused."""

        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_id)
            call.target = f"{prt.name} -> {name}"
            taken = call.conn.execute(
                "SELECT 1 FROM ports WHERE name = ? AND id != ?", (name, prt.id)
            ).fetchone()
            if taken:
                raise refuse(refusals.DUPLICATE_NAME, f"a port is named {name} already")
            call.conn.execute("UPDATE ports SET name = ? WHERE id = ?", (name, prt.id))

        self._run("rename_interface", act, target=interface_id)

    def set_failover_time(self, interface_id: str, at: float) -> None:
        """Keep when the failover policy last moved a port: the VPC v3 tag
        `enictl-failover-at=<epoch seconds>`, whole seconds as a tag holds them."""

        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_id)
            call.target = f"{prt.name} = {int(at)}"
            call.conn.execute("UPDATE ports SET failover_at = ? WHERE id = ?", (int(at), prt.id))

        self._run("set_failover_time", act, target=interface_id)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- administration: faults and the call log -----------------------------------

    def faults(self) -> Faults:
        with self._lock, store.read(self._db()) as conn:
            return transaction.faults(conn)

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings; the call counter restarts so a seed replays."""
        with self._lock, store.write(self._db()) as conn:
            store.set_meta(conn, "faults", faults.to_json())
            store.set_meta(conn, "call_counter", "0")

    def snapshot(self) -> Topology:
        """The whole cloud as it is now, seen from outside the API (for `sim init`, tests):
        due jobs finish, but no call is logged and no fault is injected."""
        with self._lock:
            with store.write(self._db()) as conn:
                transaction.settle(conn, self._clock())
            with store.read(self._db()) as conn:
                return observation.topology(conn)

    def log(self, *, since: int = 0) -> list[LogEntry]:
        """Every call received (and job finished), oldest first; `since` skips seq <= since."""
        with self._lock, store.read(self._db()) as conn:
            rows = conn.execute(
                "SELECT seq, time, operation, target, result, error_code, message FROM calls"
                " WHERE seq > ? ORDER BY seq",
                (since,),
            ).fetchall()
        return [LogEntry(*row) for row in rows]

    # -- out-of-band changes, as someone at the console would make them -------------

    def force_attach(
        self, interface_name: str, server_name: str, *, delete_on_termination: bool = False
    ) -> None:
        """Attach at once (no job), under the cloud's rules."""

        def act(call: Call) -> None:
            srv = rules.server(call.conn, server_name, key="name")
            prt = rules.port(call.conn, interface_name, key="name")
            if srv.bare_metal:
                raise refuse(
                    refusals.BMS_BAD_REQUEST,
                    f"{srv.name} is a BMS: it takes only the NICs its own API creates",
                )
            rules.check_attach(call.conn, srv, prt)
            call.conn.execute(
                "UPDATE ports SET server_id = ?, delete_on_termination = ? WHERE id = ?",
                (srv.id, int(delete_on_termination), prt.id),
            )

        self._console("attach", f"{interface_name} -> {server_name}", act)

    def force_detach(self, interface_name: str, *, delete: bool = False) -> None:
        """Detach at once (no job); `delete` also deletes the port. Never a primary."""

        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_name, key="name")
            if prt.server_id is None:
                raise refuse(refusals.NIC_NOT_ON_SERVER, f"port {prt.name} is not attached")
            rules.check_detach(call.conn, rules.server(call.conn, prt.server_id), prt)
            if delete:
                rules.delete_port(call.conn, prt.id)
            else:
                call.conn.execute(
                    "UPDATE ports SET server_id = NULL, delete_on_termination = 0 WHERE id = ?",
                    (prt.id,),
                )

        self._console("detach", interface_name, act)

    def force_set_security_groups(self, interface_name: str, group_names: Sequence[str]) -> None:
        def act(call: Call) -> None:
            prt = rules.port(call.conn, interface_name, key="name")
            ids = [_id_of(call.conn, "security_groups", name) for name in group_names]
            rules.set_security_groups(
                call.conn, prt.id, rules.security_groups(call.conn, ids, prt.vpc_id)
            )

        self._console("set_security_groups", f"{interface_name} = {list(group_names)}", act)

    def force_set_status(self, server_name: str, status: str) -> None:
        def act(call: Call) -> None:
            srv = rules.server(call.conn, server_name, key="name")
            rules.set_status(call.conn, srv.id, status, call.now)

        self._console("set_status", f"{server_name} = {status}", act)

    def force_delete_server(self, server_name: str) -> None:
        """Delete a server: its primary NIC and the ports attached with
        deleteOnTermination true go with it; every other port stays, detached."""

        def act(call: Call) -> None:
            rules.delete_server(call.conn, rules.server(call.conn, server_name, key="name"))

        self._console("delete_server", server_name, act)

    def force_create_interface(
        self,
        name: str,
        subnet_name: str,
        *,
        private_ip: str | None = None,
        security_groups: Sequence[str] = (),
        managed: bool = False,
        owner: str = DEFAULT_OWNER,
    ) -> str:
        """Create an unattached port by names (managed by `owner` when `managed`);
        returns its id."""
        with self._lock, store.read(self._db()) as conn:
            subnet_id = _id_of(conn, "subnets", subnet_name)
            group_ids = tuple(_id_of(conn, "security_groups", g) for g in security_groups)
        spec = NewInterface(name, subnet_id, private_ip, group_ids, managed=managed, owner=owner)
        return self._console(
            "create_interface", name, lambda call: rules.create_port(call.conn, spec)
        )

    def force_delete_interface(self, interface_name: str) -> None:
        def act(call: Call) -> None:
            rules.delete_checked(call.conn, rules.port(call.conn, interface_name, key="name"))

        self._console("delete_interface", interface_name, act)

    def force_bind_eip(self, eip_name: str, interface_name: str | None) -> None:
        """Bind an EIP to a port (moving it if bound elsewhere), or unbind it with None."""

        def act(call: Call) -> None:
            eip_id = rules.eip(call.conn, eip_name, key="name")[0]
            port_id = None
            if interface_name is not None:
                port_id = rules.port(call.conn, interface_name, key="name").id
                call.conn.execute("UPDATE eips SET port_id = NULL WHERE port_id = ?", (port_id,))
            call.conn.execute("UPDATE eips SET port_id = ? WHERE id = ?", (port_id, eip_id))

        self._console("bind_eip", f"{eip_name} -> {interface_name}", act)

    # -- machinery -----------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        """The connection; a forked child opens its own (SQLite connections must never
        cross a fork)."""
        if self._pid != os.getpid():
            self._conn = store.connect(self.path)
            self._pid = os.getpid()
        return self._conn

    def _console(self, verb: str, target: str, action: Callable[[Call], T]) -> T:
        return self._run(f"console.{verb}", action, target=target, inject=False)

    def _run(
        self, operation: str, action: Callable[[Call], T], *, target: str = "", inject: bool = True
    ) -> T:
        """One call, one transaction (`transaction.run`); one thread of this process at a
        time. An API call then answers `Faults.call_ms` later (waited outside the lock, so
        calls of several threads overlap as they would over a network)."""
        pause = 0.0

        def timed(call: Call) -> T:
            nonlocal pause
            pause = call.faults.call_ms / 1000.0 if inject else 0.0
            return action(call)

        try:
            with self._lock:
                return transaction.run(
                    self._db(), self._clock, operation, timed, target=target, inject=inject
                )
        finally:
            if pause:
                self._sleep(pause)


def _id_of(conn: sqlite3.Connection, table: str, name: str) -> str:
    row = conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise UsageError(f"no {table.replace('_', ' ').rstrip('s')} named {name!r} in the cloud")
    return str(row[0])
