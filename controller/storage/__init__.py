"""What enictl keeps between runs: the lock, the apply journal, the last-applied record
(behind a state backend: the state dir's files or a PostgreSQL database), saved plans."""

from __future__ import annotations

from pathlib import Path

from controller.errors import UsageError
from controller.storage.backend import LeaseTimings, StateBackend

SCHEMES = ("postgresql://", "postgres://")


def is_database_url(url: str) -> bool:
    return url.strip().lower().startswith(SCHEMES)


def open_backend(url: str | None, state_dir: Path) -> StateBackend:
    """The backend `url` names: empty for the state dir, or a postgresql:// URL."""
    if not url or not url.strip():
        from controller.storage.statedir import StateDirBackend

        return StateDirBackend(state_dir)
    if not is_database_url(url):
        raise UsageError(
            f"--state-backend must be a postgresql://... URL (or unset for the state dir), "
            f"got {url!r}"
        )
    from controller.storage.postgresql.store import PostgresBackend

    return PostgresBackend(url.strip(), timings=LeaseTimings.from_env())
