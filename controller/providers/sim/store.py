"""The simulated cloud's storage: one SQLite file, its schema, transactions and ids.

The file is shared by every process that uses the cloud (an apply, a watch, a test),
so it runs in WAL mode with a busy timeout, and every mutation happens inside one
`BEGIN IMMEDIATE` transaction: writers queue up, readers see a consistent snapshot.

Names are what users see; ids are UUIDs derived from a kind and a name (inventory
resources) or from a sequence number kept in the database (ports and jobs created
later), so the same inventory and the same calls give the same ids.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.errors import ProviderError

DB_NAME = "cloud.db"
SCHEMA_VERSION = "1"
BUSY_TIMEOUT_MS = 30_000
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://enictl.invalid/sim")
_NAMESPACE_BYTES = _NAMESPACE.bytes

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE flavors (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, max_interfaces INTEGER,
    bare_metal INTEGER NOT NULL DEFAULT 0);
CREATE TABLE vpcs (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, cidr TEXT NOT NULL);
CREATE TABLE subnets (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, vpc_id TEXT NOT NULL REFERENCES vpcs(id),
    cidr TEXT NOT NULL, availability_zone TEXT NOT NULL);
CREATE TABLE security_groups (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, vpc_id TEXT REFERENCES vpcs(id));
CREATE TABLE servers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, flavor_id TEXT NOT NULL REFERENCES flavors(id),
    availability_zone TEXT NOT NULL, vpc_id TEXT NOT NULL REFERENCES vpcs(id),
    status TEXT NOT NULL, status_since REAL);
CREATE TABLE ports (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    subnet_id TEXT NOT NULL REFERENCES subnets(id),
    ip TEXT NOT NULL, ip_int INTEGER NOT NULL,
    is_primary INTEGER NOT NULL, managed INTEGER NOT NULL,
    protected INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '',
    server_id TEXT REFERENCES servers(id), delete_on_termination INTEGER NOT NULL,
    security_groups TEXT NOT NULL DEFAULT '',
    failover_at REAL,
    UNIQUE (subnet_id, ip_int));
CREATE INDEX ports_by_server ON ports(server_id);
CREATE TABLE other_ports (
    id TEXT PRIMARY KEY, subnet_id TEXT NOT NULL REFERENCES subnets(id),
    ip TEXT NOT NULL, ip_int INTEGER NOT NULL, owner TEXT NOT NULL,
    UNIQUE (subnet_id, ip_int));
CREATE TABLE eips (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, address TEXT NOT NULL UNIQUE,
    port_id TEXT UNIQUE REFERENCES ports(id));
CREATE TABLE jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, server_id TEXT NOT NULL, port_id TEXT NOT NULL,
    submitted REAL NOT NULL, due REAL NOT NULL, status TEXT NOT NULL,
    fails INTEGER NOT NULL, error_code TEXT NOT NULL DEFAULT '',
    fail_reason TEXT NOT NULL DEFAULT '', spec TEXT NOT NULL DEFAULT '');
CREATE INDEX jobs_running ON jobs(due) WHERE status = 'RUNNING';
CREATE INDEX jobs_running_port ON jobs(port_id) WHERE status = 'RUNNING';
CREATE INDEX jobs_running_server ON jobs(server_id) WHERE status = 'RUNNING';
CREATE TABLE calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, operation TEXT NOT NULL,
    target TEXT NOT NULL, result TEXT NOT NULL, error_code TEXT NOT NULL,
    message TEXT NOT NULL);
"""


_OTHER_PORTS = next(t for t in SCHEMA.split(";") if "CREATE TABLE other_ports" in t)


def join_ids(ids: Iterable[str]) -> str:
    """A port's security group ids, in order, as stored in `ports.security_groups`."""
    return " ".join(ids)


def split_ids(text: str) -> list[str]:
    return text.split()


def db_path(state_dir: Path) -> Path:
    return state_dir / DB_NAME


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, busy timeout."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    _upgrade(conn)
    return conn


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring a cloud made by an older enictl up to the schema: `ports.protected` (the
    protect marker), `ports.owner` (the managed marker's owner), `ports.failover_at`
    (the failover time tag), `servers.status_since`, `other_ports`, `flavors.bare_metal`
    and `jobs.spec` (a BMS attach's port) came later; an old port has no protect marker
    and, when managed, the default owner (''); an old server no known status change; an
    old cloud no other ports and no BMS. Another process may add them first, which is
    fine. (Its groups and subnets, all pinned then, stay pinned.)"""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(ports)")}
    if not columns:
        return
    _add_column(conn, columns, "ports", "protected INTEGER NOT NULL DEFAULT 0")
    _add_column(conn, columns, "ports", "owner TEXT NOT NULL DEFAULT ''")
    _add_column(conn, columns, "ports", "failover_at REAL")
    for table, column in (
        ("servers", "status_since REAL"),
        ("flavors", "bare_metal INTEGER NOT NULL DEFAULT 0"),
        ("jobs", "spec TEXT NOT NULL DEFAULT ''"),
    ):
        known = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        _add_column(conn, known, table, column)
    known = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'other_ports'").fetchone()
    if known is None:
        conn.execute(_OTHER_PORTS.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1))


def _add_column(conn: sqlite3.Connection, columns: set[str], table: str, column: str) -> None:
    if column.split()[0] in columns:
        return
    try:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


def create(path: Path) -> sqlite3.Connection:
    """A new, empty database with the schema (the file must not exist)."""
    conn = connect(path)
    # A new cloud is built in a scratch file that is moved into place when complete, so
    # losing it to a crash costs nothing: no fsync while building.
    conn.execute("PRAGMA synchronous = OFF")
    # executescript() commits on its own, so the schema goes in statement by statement.
    with write(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        set_meta(conn, "schema_version", SCHEMA_VERSION)
        set_meta(conn, "sequence", "0")
        set_meta(conn, "call_counter", "0")
    return conn


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One `BEGIN IMMEDIATE` transaction: committed on success, rolled back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction: every query inside sees the same snapshot."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def get_meta(conn: sqlite3.Connection, key: str, default: str = "") -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def bump(conn: sqlite3.Connection, key: str) -> int:
    """Increment an integer meta counter (inside a write transaction); return the new value."""
    row = conn.execute(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ? RETURNING value", (key,)
    ).fetchone()
    return int(row[0])


def named_id(kind: str, name: str) -> str:
    """The id of an inventory resource: stable for a given kind and name."""
    return _uuid5(f"{kind}/{name}")


def next_id(conn: sqlite3.Connection, kind: str) -> str:
    """A fresh id for a resource created at run time (inside a write transaction)."""
    return _uuid5(f"{kind}#{bump(conn, 'sequence')}")


def _uuid5(name: str) -> str:
    """`str(uuid.uuid5(_NAMESPACE, name))`, several times faster (init makes 100,000s)."""
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def record(
    conn: sqlite3.Connection, at: float, operation: str, target: str, error: ProviderError | None
) -> None:
    """Append one entry to the call log (inside the call's transaction)."""
    conn.execute(
        "INSERT INTO calls(time, operation, target, result, error_code, message)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            at,
            operation,
            target,
            "error" if error else "ok",
            error.code if error else "",
            error.message if error else "",
        ),
    )
