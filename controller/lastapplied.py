"""The last applied desired state, kept in the state dir (`last-applied.json`).

After a successful apply (and each successful `watch` reconcile) the executor calls
`record(state_dir, desired, manifests_digest=...)`. `enictl plan` reads it back with
`load(state_dir)` and passes it to `controller.drift.label_plan`, which tells
differences caused by edited manifests from drift made outside enictl.

The record is advisory: a missing, unreadable or foreign file reads as "nothing
applied yet" (changes then carry no origin), never as an error that blocks a plan.

The file is compact JSON (no indentation; resources in name order): at 50,000
resources indented, sorted JSON goes through the json module's pure-Python encoder
and costs several times more to write. Files written indented read the same.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller import atomicfile
from controller.drift import Snapshot, snapshot
from controller.model import Topology

FILE_NAME = "last-applied.json"
FORMAT_VERSION = "1"


@dataclass(frozen=True, slots=True)
class LastApplied:
    resources: Mapping[str, Mapping[str, Any]]
    manifests_digest: str = ""
    applied_at: str = ""


def path(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def record(
    state_dir: Path,
    desired: Topology,
    *,
    manifests_digest: str = "",
    now: dt.datetime | None = None,
) -> Path:
    """Store `desired` as the last applied state (atomically); returns the file's path."""
    when = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    enabled = gc.isenabled()
    gc.disable()  # tens of thousands of small acyclic records: nothing for it to free
    try:
        document = {
            "formatVersion": FORMAT_VERSION,
            "manifestsDigest": manifests_digest,
            "appliedAt": when,
            "resources": snapshot(desired),
        }
        text = json.dumps(document, separators=(",", ":")) + "\n"
    finally:
        if enabled:
            gc.enable()
    target = path(state_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomicfile.write_text(target, text)
    return target


def load(state_dir: Path) -> LastApplied | None:
    """The last applied state, or None when none was recorded (or it cannot be read)."""
    try:
        data = json.loads(path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
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


def load_snapshot(state_dir: Path) -> Snapshot | None:
    """Just the resources of the last applied state, for `drift.label_plan`."""
    found = load(state_dir)
    return None if found is None else found.resources
