"""The last applied desired state, kept in the state dir (`last-applied.json`).

After an apply that succeeds or finds nothing to do (`controller.apply.record_applied`)
and each `watch` reconcile that ends in sync, not under `--detect-only`
(`controller.watching.reconciler`), `record(state_dir, desired, manifests_digest=...)`
stores the desired state's `drift.snapshot`. Planning
(`controller.apply.prepare` for `plan` and `apply`, and the reconciler) reads it back
with `load_snapshot(state_dir)` and passes it to `controller.planning.drift.label_plan`,
which tells differences caused by edited manifests from drift made outside enictl.

The record is advisory: a missing, unreadable or foreign file reads as "nothing
applied yet" (changes then carry no origin), never as an error that blocks a plan.

The file is compact JSON (no indentation; resources in name order): at 50,000
resources indented, sorted JSON goes through the json module's pure-Python encoder
and costs several times more to write. Files written indented read the same.

A long-running process (`enictl watch`) records and reads the file again and again:
the last record written or read is kept in memory with the file's identity (inode,
size, mtime, ctime) and reused while that identity is unchanged, so a plan after a
record does not parse the file it just wrote. The cyclic garbage collector is paused
while records are built or parsed (tens of thousands of small acyclic dicts: in a
big process each collection re-scans its whole heap and frees nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.gcpause import gc_paused
from controller.model import Topology
from controller.planning.drift import Snapshot, snapshot
from controller.storage import atomicfile
from controller.storage.failures import state_error

FILE_NAME = "last-applied.json"
FORMAT_VERSION = "1"
_KEPT = 4  # records kept in memory (one per state dir in use)

Identity = tuple[int, int, int, int]  # (inode, size, mtime_ns, ctime_ns)


@dataclass(frozen=True, slots=True)
class LastApplied:
    resources: Mapping[str, Mapping[str, Any]]
    manifests_digest: str = ""
    applied_at: str = ""


def path(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def encode(
    desired: Topology, *, manifests_digest: str = "", now: dt.datetime | None = None
) -> tuple[str, LastApplied]:
    """The record's text (compact JSON and a newline) and the value it reads back as."""
    when = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    resources = _without_gc(lambda: snapshot(desired))
    document = {
        "formatVersion": FORMAT_VERSION,
        "manifestsDigest": manifests_digest,
        "appliedAt": when,
        "resources": resources,
    }
    text = json.dumps(document, separators=(",", ":")) + "\n"
    return text, LastApplied(resources, manifests_digest, when)


def decode(text: str) -> LastApplied | None:
    """A record's text read back; None when it is not one (of this format version)."""
    try:
        data = _without_gc(lambda: json.loads(text))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("formatVersion") != FORMAT_VERSION:
        return None
    resources = data.get("resources")
    if not isinstance(resources, dict) or not all(isinstance(v, dict) for v in resources.values()):
        return None
    return LastApplied(
        resources=resources,
        manifests_digest=str(data.get("manifestsDigest", "")),
        applied_at=str(data.get("appliedAt", "")),
    )


def record(
    state_dir: Path,
    desired: Topology,
    *,
    manifests_digest: str = "",
    now: dt.datetime | None = None,
) -> Path:
    """Store `desired` as the last applied state (atomically); returns the file's path."""
    text, found = encode(desired, manifests_digest=manifests_digest, now=now)
    target = path(state_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomicfile.write_text(target, text)
    except OSError as exc:
        raise state_error(target, exc, "write the last-applied record") from None
    identity = _identity(target)
    if identity is not None:
        _keep(target, identity, found)
    return target


def forget(state_dir: Path) -> bool:
    """Remove the record (a new cloud in the state dir: nothing was applied to it yet);
    whether there was one."""
    target = path(state_dir)
    _memory.pop(str(target), None)
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True


def load(state_dir: Path) -> LastApplied | None:
    """The last applied state, or None when none was recorded (or it cannot be read)."""
    target = path(state_dir)
    identity = _identity(target)
    if identity is None:
        return None
    kept = _memory.get(str(target))
    if kept is not None and kept[0] == identity:
        return kept[1]
    try:
        found = decode(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if found is not None:
        _keep(target, identity, found)
    return found


_memory: dict[str, tuple[Identity, LastApplied]] = {}


def _identity(target: Path) -> Identity | None:
    try:
        st = os.stat(target)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _keep(target: Path, identity: Identity, found: LastApplied) -> None:
    _memory.pop(str(target), None)
    while len(_memory) >= _KEPT:
        del _memory[next(iter(_memory))]
    _memory[str(target)] = (identity, found)


def _without_gc(build: Callable[[], Any]) -> Any:
    with gc_paused():
        return build()


def load_snapshot(state_dir: Path) -> Snapshot | None:
    """Just the resources of the last applied state, for `drift.label_plan`."""
    found = load(state_dir)
    return None if found is None else found.resources
