"""Connecting to the state database, and its schema.

The URL is libpq's (`postgresql://USER:PASSWORD@HOST:PORT/DB?sslmode=...`); whatever
it leaves out comes from the usual environment (PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE, PGSSLMODE, ~/.pgpass), so `postgresql://` alone works in a job that sets
them. The tables go to the first schema of the connection's search_path (choose one
with `?options=-csearch_path%3Dteam_a`).

Every connection is bounded so that a lost network cannot hang a holder past its
renew deadline: a connect timeout, TCP keepalives and `tcp_user_timeout` (unless the
URL sets them), and a `statement_timeout`.

The schema is versioned (`enictl_meta.schemaVersion`). It is created on first use,
inside one transaction under an advisory lock, so concurrent first uses agree. A
database whose schema is newer than this enictl's is refused and nothing in it is
written.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from controller.errors import StateError

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1
_SCHEMA_LOCK = 0x656E6963746C  # pg_advisory_xact_lock key while the schema is created ("enictl")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS enictl_meta (key text PRIMARY KEY, value text NOT NULL)",
    """CREATE TABLE IF NOT EXISTS enictl_lease (
        name text PRIMARY KEY,
        epoch bigint NOT NULL DEFAULT 0,
        lock_id text,
        holder jsonb,
        acquired_at timestamptz,
        expires_at timestamptz NOT NULL DEFAULT 'epoch')""",
    """CREATE TABLE IF NOT EXISTS enictl_journal (
        seq bigserial PRIMARY KEY,
        epoch bigint NOT NULL,
        run text NOT NULL,
        kind text NOT NULL,
        record jsonb NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS enictl_journal_kind_run ON enictl_journal (kind, run)",
    """CREATE TABLE IF NOT EXISTS enictl_last_applied (
        name text PRIMARY KEY,
        epoch bigint NOT NULL,
        revision bigint NOT NULL,
        document text NOT NULL,
        written_at timestamptz NOT NULL DEFAULT clock_timestamp())""",
    "INSERT INTO enictl_lease (name) VALUES ('state') ON CONFLICT DO NOTHING",
)


def describe(url: str) -> str:
    """The URL without its password or query, for messages."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname and not parts.path.strip("/"):
        return f"{parts.scheme}:// (from the PG* environment)"
    user = f"{urllib.parse.unquote(parts.username)}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{parts.path}"


def driver() -> Any:
    """The psycopg module, or a clear error naming the extra to install."""
    try:
        import psycopg
    except ImportError:
        raise StateError(
            "--state-backend postgresql://... needs the psycopg package: "
            "pip install 'enictl[postgresql]'"
        ) from None
    return psycopg


def connect(url: str, *, deadline: float, purpose: str) -> psycopg.Connection[Any]:
    """An autocommit connection whose network waits end within about `deadline` s."""
    pg = driver()
    given = pg.conninfo.conninfo_to_dict(url)
    bounds: dict[str, Any] = {
        "connect_timeout": max(2, int(deadline / 2)),
        "keepalives": 1,
        "keepalives_idle": max(1, int(deadline / 4)),
        "keepalives_interval": 1,
        "keepalives_count": 2,
        "tcp_user_timeout": int(deadline * 1000),
        "application_name": f"enictl {purpose}",
    }
    settings = {k: v for k, v in bounds.items() if k not in given}
    try:
        conn: psycopg.Connection[Any] = pg.connect(url, autocommit=True, **settings)
        conn.execute(f"SET statement_timeout = {int(deadline * 1000)}")
    except pg.Error as exc:
        raise StateError(
            f"state backend {describe(url)} is unreachable: {first_line(exc)}; check "
            "--state-backend (or ENICTL_STATE_BACKEND and the PG* variables) and that the "
            "database is up"
        ) from None
    return conn


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def ensure_schema(conn: psycopg.Connection[Any], where: str) -> None:
    """Create the tables on first use; refuse a schema this enictl does not know."""
    found = _version(conn)
    if found is None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO enictl_meta (key, value) VALUES ('schemaVersion', %s) "
                "ON CONFLICT DO NOTHING",
                (str(SCHEMA_VERSION),),
            )
        found = _version(conn)
    if found != str(SCHEMA_VERSION):
        newer = found is not None and found.isdigit() and int(found) > SCHEMA_VERSION
        why = "made by a newer enictl" if newer else "not one this enictl knows"
        raise StateError(
            f"state backend {where} has schema version {found}, {why} (this enictl uses "
            f"version {SCHEMA_VERSION}); nothing was read or written there: use the enictl "
            "version that made it, or upgrade this one"
        )


def _version(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("SELECT to_regclass('enictl_meta') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return None
    found = conn.execute("SELECT value FROM enictl_meta WHERE key = 'schemaVersion'").fetchone()
    return None if found is None else str(found[0])
