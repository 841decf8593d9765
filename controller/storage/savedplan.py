"""Saved plans: `enictl plan --out FILE` writes one, `enictl apply --plan FILE` runs it.

The file is the plan's JSON (SPEC section 5) with the inputs it was made from:
`manifests` (the paths as given on the command line, read again by `apply --plan`
relative to its working directory), `prune`, `pruneLimit`, `owner`, and `scope`, the
records of the plan's part of the cloud when it was made (`controller.planning.scope`,
fingerprinted as `observedFingerprint`).

A file cannot make enictl do anything enictl would not plan itself. `apply --plan`
reads the manifests again, observes the cloud and plans again from them; then
`check` refuses, before any step runs:

- a file whose manifests changed (their digest), or whose part of the cloud changed
  (`StalePlan`, naming each resource and field that changed);
- a file whose steps, violations, summary, markers or records differ from the plan
  made again from the same inputs (`InvalidPlanFile`: edited by hand, damaged, or
  made by another version), naming the first differences.

What runs is the plan made again, never the steps read from the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import owners
from controller.errors import InvalidPlanFile, StalePlan
from controller.manifests import discovery
from controller.model import DEFAULT_OWNER
from controller.plan import DEFAULT_PRUNE_LIMIT, FORMAT_VERSION, Change, Plan
from controller.planning import scope
from controller.storage import atomicfile

Records = Mapping[str, Mapping[str, Any]]  # a `planning.scope.Scope`, as read or to write
_SHOWN = 3  # differences named in a refusal
_SHOWN_CHANGES = 5  # changes of the cloud named in a stale plan's message


@dataclass(frozen=True, slots=True)
class SavedPlan:
    plan: Plan
    manifest_paths: tuple[str, ...]
    prune: bool
    prune_limit: int = DEFAULT_PRUNE_LIMIT
    owner: str = DEFAULT_OWNER
    records: Records = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)  # the file as read
    source: str = ""  # the file's path, for messages


def document(
    plan: Plan,
    *,
    manifest_paths: Sequence[str],
    prune: bool,
    prune_limit: int = DEFAULT_PRUNE_LIMIT,
    owner: str = DEFAULT_OWNER,
    records: Records,
) -> dict[str, Any]:
    """The saved file's JSON document."""
    data = plan.as_json()
    data["manifests"] = [str(p) for p in manifest_paths]
    data["prune"] = bool(prune)
    data["pruneLimit"] = int(prune_limit)
    data["owner"] = owner
    data["scope"] = {key: dict(record) for key, record in records.items()}
    return data


def save(
    path: str | Path,
    plan: Plan,
    *,
    manifest_paths: Sequence[str],
    prune: bool,
    prune_limit: int = DEFAULT_PRUNE_LIMIT,
    owner: str = DEFAULT_OWNER,
    records: Records,
) -> Path:
    """Write the plan to `path` atomically (sorted keys, like `-o json`)."""
    target = Path(path)
    data = document(
        plan,
        manifest_paths=manifest_paths,
        prune=prune,
        prune_limit=prune_limit,
        owner=owner,
        records=records,
    )
    try:
        atomicfile.write_json(target, data)
    except OSError as exc:
        raise InvalidPlanFile(f"{target}: cannot write the plan: {exc.strerror or exc}") from exc
    return target


def load(path: str | Path) -> SavedPlan:
    """Read a saved plan; a clean `InvalidPlanFile` for anything that is not one."""
    source = Path(path)
    if not source.exists():
        raise InvalidPlanFile(f"{source}: no such plan file")
    try:
        raw = discovery.read(source).decode("utf-8")
    except discovery.Unreadable as exc:
        raise InvalidPlanFile(f"{source}: not a plan file: {exc.reason}") from None
    except UnicodeDecodeError as exc:
        raise InvalidPlanFile(f"{source}: not a plan file (not UTF-8: {exc.reason})") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidPlanFile(f"{source}: not a plan file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or "formatVersion" not in data:
        raise InvalidPlanFile(f"{source}: not an enictl plan file (no formatVersion)")
    version = str(data["formatVersion"])
    if version != FORMAT_VERSION:
        raise InvalidPlanFile(
            f"{source}: plan format version {version[:20]} is not supported "
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
    prune, limit, records = data.get("prune"), data.get("pruneLimit"), data.get("scope")
    if not isinstance(prune, bool):
        raise InvalidPlanFile(f"{source}: corrupt plan file (prune is not true or false)")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidPlanFile(f"{source}: corrupt plan file (pruneLimit is not a count)")
    owner = data.get("owner")
    if not isinstance(owner, str) or owners.from_tag_value(owner) != owner:
        raise InvalidPlanFile(f"{source}: corrupt plan file (owner is not an owner name)")
    if not isinstance(records, dict) or not all(isinstance(r, dict) for r in records.values()):
        raise InvalidPlanFile(
            f"{source}: not a plan this enictl saved (no record of its part of the cloud); "
            "make the plan again with `enictl plan --out`"
        )
    try:
        plan = Plan.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidPlanFile(
            f"{source}: corrupt plan file ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return SavedPlan(plan, tuple(manifests), prune, limit, owner, records, data, str(source))


def check_manifests(saved: SavedPlan, manifests_digest: str) -> None:
    """`StalePlan` unless the manifests are those the plan was made from (no cloud call
    needed: `apply --plan` checks this before it takes the lock)."""
    recorded = saved.document.get("manifestsDigest")
    if recorded != manifests_digest:
        raise StalePlan(
            "plan is stale: the manifests changed since it was made "
            f"({_short(recorded)} -> {_short(manifests_digest)}); make a new plan"
        )


def check(
    saved: SavedPlan, *, changed: Sequence[Change], fresh: Plan, fresh_records: Records
) -> None:
    """Refuse `saved` unless it is `fresh`, the plan made again from the same manifests
    (`check_manifests` first): `StalePlan` when its part of the cloud changed (`changed`:
    `planning.scope.changes`), `InvalidPlanFile` when the file says anything else."""
    if changed:
        raise StalePlan(stale_message(changed), changes=[c.as_json() for c in changed])
    expected = document(
        fresh,
        manifest_paths=saved.manifest_paths,
        prune=saved.prune,
        prune_limit=saved.prune_limit,
        owner=saved.owner,
        records=fresh_records,
    )
    found = differences(saved.document, expected)
    if found:
        more = f"; and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
        shown = "; ".join(found[:_SHOWN]) + more
        raise InvalidPlanFile(
            f"{saved.source or 'the plan file'}: refused: it is not the plan enictl makes from "
            f"the same manifests and cloud (edited by hand, damaged, or made by another "
            f"version): {shown}; make the plan again with `enictl plan --out`"
        )


def stale_message(changed: Sequence[Change]) -> str:
    """`plan is stale: the cloud changed since it was made: Server/web-1 status: ACTIVE
    -> SHUTOFF; ...`, naming the first few changes (all of them in the plan's part)."""
    shown = "; ".join(scope.describe(c) for c in changed[:_SHOWN_CHANGES])
    more = len(changed) - _SHOWN_CHANGES
    tail = f"; and {more} more" if more > 0 else ""
    return f"plan is stale: the cloud changed since it was made: {shown}{tail}; make a new plan"


def differences(found: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """What the file says that the plan made again does not, in review order. The
    changes are compared without their drift labels (the last-applied record they come
    from may have moved on)."""
    out: list[str] = []
    unknown = sorted(set(found) - set(expected))
    if unknown:
        out.append("unknown keys " + ", ".join(_text(k) for k in unknown[:5]))
    for key in ("applyable", "summary"):
        if not _same(found.get(key), expected[key]):
            out.append(f"{key}: the file says {_text(found.get(key))}, "
                       f"the plan {_text(expected[key])}")  # fmt: skip
    out += _listed("step", found.get("steps"), expected["steps"], _step_text)
    out += _listed("violation", found.get("violations"), expected["violations"], _violation_text)
    for key in ("adopt", "protect"):
        if not _same(found.get(key), expected[key]):
            out.append(f"{key}: the file says {_text(found.get(key))}, "
                       f"the plan {_text(expected[key])}")  # fmt: skip
    if not _same(_unlabelled(found.get("changes")), _unlabelled(expected["changes"])):
        out.append("its list of changes differs")
    if not _same(found.get("orphans"), expected["orphans"]):
        out.append(f"orphans: the file says {_text(found.get('orphans'))}, "
                   f"the plan {_text(expected['orphans'])}")  # fmt: skip
    for key in ("observedFingerprint", "scope"):
        if not _same(found.get(key), expected[key]):
            out.append(f"its record of the cloud ({key}) differs")
    return out


def _listed(noun: str, found: Any, expected: list[Any], text: Any) -> list[str]:
    if not isinstance(found, list):
        return [f"{noun}s: the file has {_text(found)}, not a list"]
    if len(found) != len(expected):
        return [f"{noun}s: the file has {len(found)}, the plan {len(expected)}"]
    for index, (mine, theirs) in enumerate(zip(found, expected, strict=True), 1):
        if not _same(mine, theirs):
            return [f"{noun} {index}: the file says {text(mine)}, the plan {text(theirs)}"]
    return []


def _step_text(step: Any) -> str:
    if not isinstance(step, dict):
        return _text(step)
    where = f" on {_text(step['server'])}" if step.get("server") else ""
    head = f"{_text(step.get('action'))} {_text(step.get('interface'))}{where}"
    return f"{head} (dependsOn {_text(step.get('dependsOn'))})"


def _violation_text(violation: Any) -> str:
    if not isinstance(violation, dict):
        return _text(violation)
    return f"{_text(violation.get('code'))} {_text(violation.get('resource'))}"


def _unlabelled(changes: Any) -> Any:
    if not isinstance(changes, list):
        return changes
    return [{k: v for k, v in c.items() if k != "origin"} if isinstance(c, dict) else c
            for c in changes]  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells 1, 1.0 and true apart."""
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _text(value: Any, limit: int = 60) -> str:
    """A value from the file, shown in a message, never longer than `limit`."""
    text = value if isinstance(value, str) else _canonical(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(digest: Any) -> str:
    if not isinstance(digest, str):
        return "(none)"
    head, _, tail = digest.partition(":")
    return f"{head}:{tail[:12]}" if tail else digest[:19] or "(none)"
