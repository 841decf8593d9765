"""The simulated cloud's own rules and effects, on rows of its database.

These are the checks the real cloud makes whatever the caller (enictl's planner or
a human at the console), in the order the ECS and VPC APIs make them, and the state
changes each accepted call or finished job applies. Every function runs inside the
caller's write transaction and raises the cloud's error (see `refusals`) before it
changes anything.

A BMS takes NICs only through the BMS API (`check_bms_attach`, a `bms_attach` job that
creates the port when it finishes; `bms_detach`), which refuses with its own codes
(`refusals.bare_metal`); the ECS API does not know a BMS (`ecs_server`).

Counting for the NIC limit: a server carries its attached ports plus the ports whose
attach job is still running (a pending attach occupies its slot from submission); a
pending detach frees its slot only when the job finishes.

A `stop` job (ECS batch stop, type HARD) is a server job like the NIC ones: one job
per server at a time; when it finishes the server is SHUTOFF. Whether the real ECS
stops a server in ERROR is assumed (the premise of fencing), not confirmed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from controller import addresses
from controller.errors import ProviderError
from controller.model import READY_STATUSES
from controller.providers.base import NewInterface
from controller.providers.sim import refusals, store
from controller.providers.sim.refusals import refuse


@dataclass(frozen=True, slots=True)
class ServerRow:
    id: str
    name: str
    vpc_id: str
    status: str
    max_interfaces: int | None  # None: the flavor states no limit, the simulator keeps none
    availability_zone: str
    bare_metal: bool  # a BMS: NICs only through the BMS API, which creates each port


@dataclass(frozen=True, slots=True)
class PortRow:
    id: str
    name: str
    subnet_id: str
    vpc_id: str
    primary: bool
    server_id: str | None
    delete_on_termination: bool
    zone: str  # the AZ its subnet is pinned to, "" when it fits any


_SERVER = """
SELECT s.id, s.name, s.vpc_id, s.status, f.max_interfaces, s.availability_zone, f.bare_metal
FROM servers s JOIN flavors f ON f.id = s.flavor_id WHERE s.{key} = ?
"""
_PORT = """
SELECT p.id, p.name, p.subnet_id, sn.vpc_id, p.is_primary, p.server_id, p.delete_on_termination,
       sn.availability_zone
FROM ports p JOIN subnets sn ON sn.id = p.subnet_id WHERE p.{key} = ?
"""


def server(conn: sqlite3.Connection, value: str, *, key: str = "id") -> ServerRow:
    row = conn.execute(_SERVER.format(key=key), (value,)).fetchone()
    if row is None:
        raise refuse(refusals.SERVER_NOT_FOUND, f"server {value} does not exist")
    id_, name, vpc_id, status, limit, zone, bare_metal = row
    return ServerRow(id_, name, vpc_id, status, limit, zone, bool(bare_metal))


def ecs_server(conn: sqlite3.Connection, server_id: str) -> ServerRow:
    """A server as the ECS API knows it: a BMS is not one (its listing shows none)."""
    srv = server(conn, server_id)
    if srv.bare_metal:
        raise refuse(refusals.SERVER_NOT_FOUND, f"server {server_id} is a BMS, not an ECS")
    return srv


def bms_server(conn: sqlite3.Connection, server_id: str) -> ServerRow:
    """A server as the BMS API knows it (BMS codes)."""
    try:
        srv = server(conn, server_id)
    except ProviderError as exc:
        raise refusals.bare_metal(exc) from None
    if not srv.bare_metal:
        raise refuse(refusals.BMS_SERVER_NOT_FOUND, f"server {server_id} is not a BMS")
    return srv


def port(conn: sqlite3.Connection, value: str, *, key: str = "id") -> PortRow:
    row = conn.execute(_PORT.format(key=key), (value,)).fetchone()
    if row is None:
        raise refuse(refusals.PORT_NOT_FOUND, f"port {value} does not exist")
    id_, name, subnet_id, vpc_id, primary, server_id, dot, zone = row
    return PortRow(id_, name, subnet_id, vpc_id, bool(primary), server_id, bool(dot), zone)


def eip(conn: sqlite3.Connection, value: str, *, key: str = "id") -> tuple[str, str, str | None]:
    """(id, name, bound port id) of an EIP."""
    row = conn.execute(f"SELECT id, name, port_id FROM eips WHERE {key} = ?", (value,)).fetchone()
    if row is None:
        raise refuse(refusals.EIP_NOT_FOUND, f"EIP {value} does not exist")
    return row[0], row[1], row[2]


def running_job(conn: sqlite3.Connection, port_id: str) -> tuple[str, str] | None:
    """(kind, server id) of the job running on a port, if any."""
    row = conn.execute(
        "SELECT kind, server_id FROM jobs WHERE status = 'RUNNING' AND port_id = ?", (port_id,)
    ).fetchone()
    return (row[0], row[1]) if row else None


def require_ready(srv: ServerRow, verb: str) -> None:
    if srv.status not in READY_STATUSES:
        raise refuse(
            refusals.SERVER_STATUS, f"cannot {verb} a NIC while {srv.name} is {srv.status}"
        )


def check_bms_attach(conn: sqlite3.Connection, srv: ServerRow, spec: NewInterface) -> None:
    """Whether the BMS API may start creating a NIC on BMS `srv`: status, the subnet (of
    its VPC; the AZ where a simulated subnet is pinned), groups, the address (usable and
    free now, when one is asked for), NIC limit, no other NIC job; BMS codes."""
    try:
        require_ready(srv, "attach")
        row = conn.execute(
            "SELECT vpc_id, cidr, availability_zone FROM subnets WHERE id = ?", (spec.subnet_id,)
        ).fetchone()
        if row is None:
            raise refuse(refusals.PORT_INVALID, f"subnet {spec.subnet_id} does not exist")
        vpc_id, cidr, zone = row
        if vpc_id != srv.vpc_id:
            raise refuse(refusals.VPC_MISMATCH, f"the subnet is in another VPC than {srv.name}")
        if zone and zone != srv.availability_zone:
            raise refuse(refusals.ZONE_MISMATCH, f"the subnet is pinned to {zone}")
        security_groups(conn, spec.security_group_ids, vpc_id)
        choose_ip(conn, spec.subnet_id, cidr, spec.private_ip)
        require_free_slot(conn, srv)
        require_no_nic_job(conn, srv, "attach")
    except ProviderError as exc:
        raise refusals.bare_metal(exc) from None


def bms_spec(spec: NewInterface) -> str:
    """What a BMS attach job keeps of the NIC it will create (jobs.spec)."""
    return json.dumps(
        {"subnet": spec.subnet_id, "ip": spec.private_ip, "groups": spec.security_group_ids}
    )


def require_no_nic_job(conn: sqlite3.Connection, srv: ServerRow, verb: str) -> None:
    """One job at a time per server, as ECS: while an attach, detach or stop is running
    on `srv`, another one is refused with the transient Ecs.0603 (retry later)."""
    row = conn.execute(
        "SELECT kind FROM jobs WHERE status = 'RUNNING' AND server_id = ? LIMIT 1", (srv.id,)
    ).fetchone()
    if row is not None:
        what = "stop" if row[0] == "stop" else f"NIC {row[0]}"
        raise refuse(
            refusals.BUSY,
            f"cannot {verb} while {srv.name} runs a {what} job: other operations "
            "are running, retry later",
        )


def check_attach(conn: sqlite3.Connection, srv: ServerRow, prt: PortRow) -> None:
    """Whether `prt` may start attaching to `srv`: status, port free, VPC, the AZ its
    subnet is pinned to (if any), NIC limit (if the flavor states one)."""
    require_ready(srv, "attach")
    if prt.server_id is not None:
        where = "this server" if prt.server_id == srv.id else "another instance"
        raise refuse(refusals.NIC_ATTACHED, f"port {prt.name} is already attached to {where}")
    job = running_job(conn, prt.id)
    if job is not None:
        raise refuse(refusals.NIC_ATTACHED, f"port {prt.name} is being attached already")
    if prt.vpc_id != srv.vpc_id:
        raise refuse(
            refusals.VPC_MISMATCH,
            f"port {prt.name} is in another VPC than {srv.name}'s primary NIC",
        )
    if prt.zone and prt.zone != srv.availability_zone:
        raise refuse(
            refusals.ZONE_MISMATCH,
            f"port {prt.name}'s subnet is pinned to {prt.zone}, {srv.name} is in "
            f"{srv.availability_zone}",
        )
    require_free_slot(conn, srv)


def require_free_slot(conn: sqlite3.Connection, srv: ServerRow) -> None:
    """The NIC limit, if the flavor states one (a BMS flavor's is baremetal:net_num)."""
    if srv.max_interfaces is None:
        return
    carried = occupied_slots(conn, srv.id)
    if carried >= srv.max_interfaces:
        spec = " (baremetal:net_num)" if srv.bare_metal else ""
        raise refuse(
            refusals.NIC_QUOTA,
            f"{srv.name} carries {carried} NICs (attached or attaching), its flavor allows "
            f"{srv.max_interfaces}{spec}",
        )


def occupied_slots(conn: sqlite3.Connection, server_id: str) -> int:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM ports WHERE server_id = :s)"
        " + (SELECT count(*) FROM jobs WHERE status = 'RUNNING'"
        "    AND kind IN ('attach', 'bms_attach')"
        "    AND server_id = :s)",
        {"s": server_id},
    ).fetchone()
    return int(row[0])


def check_detach(conn: sqlite3.Connection, srv: ServerRow, prt: PortRow) -> None:
    """Whether `prt` may start detaching from `srv`: not primary, status, attached there."""
    if prt.primary:
        raise refuse(refusals.PRIMARY_NIC, f"port {prt.name} is a primary NIC: never detached")
    require_ready(srv, "detach")
    if prt.server_id != srv.id:
        raise refuse(refusals.NIC_NOT_ON_SERVER, f"{srv.name} does not have port {prt.name}")
    if running_job(conn, prt.id) is not None:
        raise refuse(refusals.BUSY, f"port {prt.name} is being detached already, try later")


def security_groups(conn: sqlite3.Connection, ids: Sequence[str], vpc_id: str) -> list[str]:
    """The given security group ids, each checked to exist and, where it is pinned to a
    VPC, to be pinned to `vpc_id` (a regional group serves every VPC)."""
    for group_id in ids:
        row = conn.execute(
            "SELECT vpc_id FROM security_groups WHERE id = ?", (group_id,)
        ).fetchone()
        if row is None:
            raise refuse(refusals.SECURITY_GROUP_NOT_FOUND, f"security group {group_id} not found")
        if row[0] is not None and row[0] != vpc_id:
            raise refuse(
                refusals.PORT_INVALID,
                f"security group {group_id} is pinned to another VPC than the port's",
            )
    return list(ids)


def set_security_groups(conn: sqlite3.Connection, port_id: str, ids: Sequence[str]) -> None:
    conn.execute(
        "UPDATE ports SET security_groups = ? WHERE id = ?", (store.join_ids(ids), port_id)
    )


def choose_ip(conn: sqlite3.Connection, subnet_id: str, cidr: str, wanted: str | None) -> int:
    """The address a new port gets: `wanted` if usable and free, else the lowest free
    usable one. Every port holds its address, the other ports (DHCP, VIPs, ...) too."""
    pool = addresses.pool(cidr)
    if pool is None:
        raise refuse(refusals.PORT_INVALID, f"subnet {cidr} has no IPv4 addresses")
    if wanted is None:
        used = (
            r[0]
            for r in conn.execute(
                "SELECT ip_int FROM ports WHERE subnet_id = :s"
                " UNION SELECT ip_int FROM other_ports WHERE subnet_id = :s ORDER BY 1",
                {"s": subnet_id},
            )
        )
        address = pool.lowest_free(used)
        if address is None:
            raise refuse(refusals.PORT_INVALID, f"subnet {cidr} has no free IP address")
        return address
    parsed = addresses.parse_ip(wanted)
    if parsed is None:
        raise refuse(refusals.PORT_INVALID, f"{wanted!r} is not an IPv4 address")
    place = pool.place(parsed)
    if place is not addresses.Place.USABLE:
        what = "does not belong to" if place is addresses.Place.OUTSIDE else "is reserved in"
        raise refuse(refusals.PORT_INVALID, f"{wanted} {what} subnet {cidr}")
    taken = conn.execute(
        "SELECT 1 FROM ports WHERE subnet_id = :s AND ip_int = :ip"
        " UNION ALL SELECT 1 FROM other_ports WHERE subnet_id = :s AND ip_int = :ip",
        {"s": subnet_id, "ip": parsed},
    ).fetchone()
    if taken:
        raise refuse(refusals.IP_IN_USE, f"{wanted} is already in use")
    return parsed


def delete_port(conn: sqlite3.Connection, port_id: str) -> None:
    """Remove a port: its EIP is unbound, its address and name become free."""
    conn.execute("UPDATE eips SET port_id = NULL WHERE port_id = ?", (port_id,))
    conn.execute("DELETE FROM ports WHERE id = ?", (port_id,))


_JOB_FAILED = {
    "attach": refusals.ATTACH_FAILED,
    "bms_attach": refusals.ATTACH_FAILED,
    "stop": refusals.STOP_FAILED,
}


def set_status(conn: sqlite3.Connection, server_id: str, status: str, now: float) -> None:
    """A server's new status, and since when it has it (only when it changes)."""
    conn.execute(
        "UPDATE servers SET status = ?, status_since = ? WHERE id = ? AND status != ?",
        (status, now, server_id, status),
    )


def delete_server(conn: sqlite3.Connection, srv: ServerRow) -> None:
    """A server deleted: its primary NIC and the ports attached with deleteOnTermination
    go with it, the other ports stay, detached; its running jobs fail."""
    conn.execute(
        "UPDATE jobs SET status = 'FAIL', error_code = ?, fail_reason = 'the server was deleted'"
        " WHERE status = 'RUNNING' AND server_id = ?",
        (refusals.SERVER_NOT_FOUND, srv.id),
    )
    rows = conn.execute(
        "SELECT id, is_primary, delete_on_termination FROM ports WHERE server_id = ?", (srv.id,)
    ).fetchall()
    for port_id, primary, dot in rows:
        if primary or dot:
            delete_port(conn, port_id)
        else:
            conn.execute(
                "UPDATE ports SET server_id = NULL, delete_on_termination = 0 WHERE id = ?",
                (port_id,),
            )
    conn.execute("DELETE FROM servers WHERE id = ?", (srv.id,))


def finish_job(
    conn: sqlite3.Connection,
    job_id: str,
    kind: str,
    server_id: str,
    port_id: str,
    fails: bool,
    due: float = 0.0,
) -> tuple[str, str]:
    """Apply a due job's effect (or its failure); returns (error code, reason), empty if ok.
    A BMS attach creates its port now (named by its id: the BMS API sets no name)."""
    status = conn.execute("SELECT status FROM servers WHERE id = ?", (server_id,)).fetchone()
    code, reason = "", ""
    if fails:
        code = _JOB_FAILED.get(kind, refusals.DETACH_FAILED)
        reason = f"injected fault: the {kind} job failed"
    elif kind == "stop":
        if status is None:
            code, reason = refusals.SERVER_NOT_FOUND, "the server is gone"
        else:
            set_status(conn, server_id, "SHUTOFF", due)
    elif status is None or status[0] not in READY_STATUSES:
        code, reason = refusals.SERVER_STATUS, f"the server is {status[0] if status else 'gone'}"
    elif kind == "bms_attach":
        try:
            port_id = _bms_port(conn, job_id, server_id)
        except ProviderError as exc:
            code, reason = exc.code, exc.message
    elif kind == "attach":
        conn.execute(
            "UPDATE ports SET server_id = ?, delete_on_termination = 1 WHERE id = ?",
            (server_id, port_id),
        )
    else:
        row = conn.execute(
            "SELECT delete_on_termination FROM ports WHERE id = ?", (port_id,)
        ).fetchone()
        if row is not None and row[0]:
            delete_port(conn, port_id)
        else:
            conn.execute(
                "UPDATE ports SET server_id = NULL, delete_on_termination = 0 WHERE id = ?",
                (port_id,),
            )
    if code and kind.startswith("bms_"):
        code = refusals.bare_metal(refuse(code, reason)).code
    conn.execute(
        "UPDATE jobs SET status = ?, error_code = ?, fail_reason = ? WHERE id = ?",
        ("FAIL" if code else "SUCCESS", code, reason, job_id),
    )
    return code, reason


def _bms_port(conn: sqlite3.Connection, job_id: str, server_id: str) -> str:
    """Create and attach the port of a due BMS attach job; its id (refusals as raised)."""
    (text,) = conn.execute("SELECT spec FROM jobs WHERE id = ?", (job_id,)).fetchone()
    spec = json.loads(text)
    row = conn.execute(
        "SELECT vpc_id, cidr FROM subnets WHERE id = ?", (spec["subnet"],)
    ).fetchone()
    if row is None:
        raise refuse(refusals.PORT_INVALID, "the subnet is gone")
    groups = security_groups(conn, spec["groups"], row[0])
    address = choose_ip(conn, spec["subnet"], row[1], spec["ip"])
    port_id = store.next_id(conn, "port")
    _insert_port(conn, port_id, port_id, spec["subnet"], address, None, groups)
    conn.execute(
        "UPDATE ports SET server_id = ?, delete_on_termination = 1 WHERE id = ?",
        (server_id, port_id),
    )
    conn.execute("UPDATE jobs SET port_id = ? WHERE id = ?", (port_id, job_id))
    return port_id


def create_port(conn: sqlite3.Connection, spec: NewInterface) -> str:
    """A new unattached port: subnet, unique name, security groups of its VPC, free IP."""
    row = conn.execute(
        "SELECT vpc_id, cidr FROM subnets WHERE id = ?", (spec.subnet_id,)
    ).fetchone()
    if row is None:
        raise refuse(refusals.PORT_INVALID, f"subnet {spec.subnet_id} does not exist")
    if not spec.name:
        raise refuse(refusals.BAD_PARAMETER, "a port needs a name")
    if conn.execute("SELECT 1 FROM ports WHERE name = ?", (spec.name,)).fetchone():
        raise refuse(refusals.DUPLICATE_NAME, f"a port named {spec.name} already exists")
    groups = security_groups(conn, spec.security_group_ids, row[0])
    address = choose_ip(conn, spec.subnet_id, row[1], spec.private_ip)
    port_id = store.next_id(conn, "port")
    owner = spec.owner if spec.managed else None
    _insert_port(conn, port_id, spec.name, spec.subnet_id, address, owner, groups)
    return port_id


def _insert_port(
    conn: sqlite3.Connection,
    port_id: str,
    name: str,
    subnet_id: str,
    address: int,
    owner: str | None,
    groups: Sequence[str],
) -> None:
    """A new unattached port row, managed by `owner` (None: unmanaged)."""
    conn.execute(
        "INSERT INTO ports(id, name, subnet_id, ip, ip_int, is_primary, managed, server_id,"
        " delete_on_termination, security_groups, owner)"
        " VALUES (?, ?, ?, ?, ?, 0, ?, NULL, 0, ?, ?)",
        (
            port_id,
            name,
            subnet_id,
            addresses.ip_text(address),
            address,
            int(owner is not None),
            store.join_ids(groups),
            owner or "",
        ),
    )


def delete_checked(conn: sqlite3.Connection, prt: PortRow) -> None:
    """Delete a port if the cloud allows it: never a primary, never while attached."""
    if prt.primary:
        raise refuse(refusals.PRIMARY_NIC, f"port {prt.name} is a primary NIC: never deleted")
    if prt.server_id is not None or running_job(conn, prt.id) is not None:
        raise refuse(refusals.PORT_IN_USE, f"port {prt.name} is attached; detach it first")
    delete_port(conn, prt.id)


def submit_job(
    conn: sqlite3.Connection,
    now: float,
    latency: float,
    kind: str,
    server_id: str,
    port_id: str,
    fails: bool,
    spec: str = "",
) -> str:
    """Start an attach/detach job (`bms_attach`: `spec` the port to create, `port_id` ""
    until it exists), due `latency` seconds from `now`; returns its id."""
    job_id = store.next_id(conn, "job")
    conn.execute(
        "INSERT INTO jobs(id, kind, server_id, port_id, submitted, due, status, fails, spec)"
        " VALUES (?, ?, ?, ?, ?, ?, 'RUNNING', ?, ?)",
        (job_id, kind, server_id, port_id, now, now + latency, int(fails), spec),
    )
    return job_id


def settle(conn: sqlite3.Connection, now: float) -> None:
    """Finish every job whose latency has elapsed, oldest first, logging each."""
    due = conn.execute(
        "SELECT j.id, j.kind, j.server_id, j.port_id, j.fails, j.due, p.name, s.name"
        " FROM jobs j LEFT JOIN ports p ON p.id = j.port_id"
        " LEFT JOIN servers s ON s.id = j.server_id"
        " WHERE j.status = 'RUNNING' AND j.due <= ? ORDER BY j.due, j.rowid",
        (now,),
    ).fetchall()
    for job_id, kind, server_id, port_id, fails, due_at, port_name, server_name in due:
        code, reason = finish_job(conn, job_id, kind, server_id, port_id, bool(fails), due_at)
        arrow = "->" if kind.endswith("attach") else "<-"
        if port_name is None and kind == "bms_attach":
            port_name = "a new port"
        error = refuse(code, reason) if code else None
        target = f"{port_name} {arrow} {server_name} ({job_id})"
        if kind == "stop":
            target = f"{server_name} ({job_id})"
        store.record(conn, due_at, f"job.{kind}", target, error)
