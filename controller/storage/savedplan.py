"""Saved plans: `enictl plan --out FILE` writes one, `enictl apply --plan FILE` reads it.

The file is the plan's JSON (SPEC section 5) with two more keys: `manifests`, the
paths the plan was made from (as given on the command line, so `apply --plan` reads
them again, relative to its working directory), and `prune`. Before any step runs,
`apply --plan` re-reads the manifests, observes the cloud and calls `check_fresh`:
a plan whose `manifestsDigest` or `observedFingerprint` no longer matches is stale.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import InvalidPlanFile, StalePlan
from controller.plan import FORMAT_VERSION, Plan
from controller.storage import atomicfile


@dataclass(frozen=True, slots=True)
class SavedPlan:
    plan: Plan
    manifest_paths: tuple[str, ...]
    prune: bool


def document(plan: Plan, *, manifest_paths: Sequence[str], prune: bool) -> dict[str, Any]:
    """The saved file's JSON document."""
    data = plan.as_json()
    data["manifests"] = [str(p) for p in manifest_paths]
    data["prune"] = bool(prune)
    return data


def save(path: str | Path, plan: Plan, *, manifest_paths: Sequence[str], prune: bool) -> Path:
    """Write the plan to `path` atomically (sorted keys, like `-o json`)."""
    target = Path(path)
    data = document(plan, manifest_paths=manifest_paths, prune=prune)
    try:
        atomicfile.write_json(target, data)
    except OSError as exc:
        raise InvalidPlanFile(f"{target}: cannot write the plan: {exc.strerror or exc}") from exc
    return target


def load(path: str | Path) -> SavedPlan:
    """Read a saved plan; a clean `InvalidPlanFile` for anything that is not one."""
    source = Path(path)
    try:
        raw = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidPlanFile(f"{source}: no such plan file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidPlanFile(f"{source}: cannot read the plan file: {exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidPlanFile(f"{source}: not a plan file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or "formatVersion" not in data:
        raise InvalidPlanFile(f"{source}: not an enictl plan file (no formatVersion)")
    version = str(data["formatVersion"])
    if version != FORMAT_VERSION:
        raise InvalidPlanFile(
            f"{source}: plan format version {version} is not supported "
            f"(this enictl reads version {FORMAT_VERSION}); make the plan again"
        )
    manifests = data.get("manifests")
    if (
        not isinstance(manifests, list)
        or not manifests
        or not all(isinstance(p, str) for p in manifests)
    ):
        raise InvalidPlanFile(
            f"{source}: not a saved plan (no manifest paths; save one with `enictl plan --out`)"
        )
    try:
        plan = Plan.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidPlanFile(
            f"{source}: corrupt plan file ({type(exc).__name__}: {exc})"
        ) from None
    return SavedPlan(plan=plan, manifest_paths=tuple(manifests), prune=bool(data.get("prune")))


def _short(digest: str) -> str:
    head, _, tail = digest.partition(":")
    return f"{head}:{tail[:12]}" if tail else digest[:19] or "(none)"


def check_fresh(saved: SavedPlan, manifests_digest: str, observed_fingerprint: str) -> None:
    """Raise `StalePlan` unless the manifests and the cloud are as when the plan was made."""
    plan = saved.plan
    manifests_changed = plan.manifests_digest != manifests_digest
    cloud_changed = plan.observed_fingerprint != observed_fingerprint
    if manifests_changed and cloud_changed:
        raise StalePlan(
            "plan is stale: the manifests and the cloud changed since it was made; make a new plan"
        )
    if manifests_changed:
        raise StalePlan(
            "plan is stale: the manifests changed since it was made "
            f"({_short(plan.manifests_digest)} -> {_short(manifests_digest)}); make a new plan"
        )
    if cloud_changed:
        raise StalePlan(
            "plan is stale: the cloud changed since it was made "
            f"({_short(plan.observed_fingerprint)} -> {_short(observed_fingerprint)}); "
            "make a new plan"
        )
