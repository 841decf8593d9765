"""The default state backend: files in the state dir, for one machine.

The lock is `controller.storage.lock` (flock and a holder record), the journal
`controller.storage.journal` (journal.jsonl), the last-applied record
`controller.storage.lastapplied` (last-applied.json). Nothing here is new behaviour:
this is those three modules behind the `StateBackend` interface.
"""

from __future__ import annotations

import threading
from pathlib import Path

from controller.model import Topology
from controller.planning.drift import Snapshot
from controller.storage import journal, lastapplied, lock


class StateDirBackend:
    """`StateBackend` on the files of one state dir."""

    shared = False

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def describe(self) -> str:
        return f"state dir {self.state_dir}"

    def acquire(
        self, *, timeout: float = 0.0, command: str = "", stop: threading.Event | None = None
    ) -> lock.StateLock:
        return lock.acquire(self.state_dir, timeout=timeout, command=command)

    def holder(self) -> lock.Holder | None:
        return lock.read_holder(self.state_dir)

    def force_unlock(self, lock_id: str) -> lock.Holder:
        return lock.force_unlock(self.state_dir, lock_id)

    def journal(self) -> journal.Journal:
        return journal.Journal.open(self.state_dir)

    def journal_mark(self) -> object:
        try:
            st = (self.state_dir / journal.JOURNAL_FILE).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def last_applied(self) -> Snapshot | None:
        return lastapplied.load_snapshot(self.state_dir)

    def record_applied(self, desired: Topology, *, manifests_digest: str) -> None:
        lastapplied.record(self.state_dir, desired, manifests_digest=manifests_digest)

    def close(self) -> None:
        return None
