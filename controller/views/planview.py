"""What a reviewer sees of a plan, whatever the format: the pieces every renderer shares.

Pure functions from a `Plan` to small values: the summary line, steps grouped by server
with each action's own arguments, changes grouped by `origin` (the manifests changed,
or the cloud drifted: see `controller.planning.drift`, or the failover policy moved an
ENI) and folded into review rows, the ENIs that move between servers, what happens to
each orphan, and where each failover ENI is and why. A changed list or mapping
field also says what was added, removed or changed in it (`detail_texts`, from
`controller.planning.diff.details`: one deepdiff call for the shown changes only).
Adoptions (existing unmanaged ENIs a manifest names, which apply tags as managed) are
shown as such, not as a `managed` change. `controller.views.render` writes these out
as text or markdown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.plan import Action, Change, Code, Plan, Severity, Step, Violation
from controller.planning import diff, failover

# How each action reads in the summary line, singular and plural.
_SUMMARY_WORDS: dict[Action, tuple[str, str]] = {
    Action.CREATE: ("to create", "to create"),
    Action.UPDATE: ("to update", "to update"),
    Action.UNBIND_EIP: ("EIP to unbind", "EIPs to unbind"),
    Action.BIND_EIP: ("EIP to bind", "EIPs to bind"),
    Action.DETACH: ("to detach", "to detach"),
    Action.ATTACH: ("to attach", "to attach"),
    Action.DELETE: ("to delete", "to delete"),
    Action.STOP_SERVER: ("server to stop (fence)", "servers to stop (fence)"),
}

NO_CHANGES = "No changes. The cloud matches the manifests."
ADOPT_NOTE = "tag as managed by enictl"
PROTECT_NOTE = "mark as protected: prune never deletes it"
UNPROTECT_NOTE = "clear the protect marker"
INTERFACES_GROUP = "Interfaces (create, update, EIP, delete)"

# Change groups by origin, in display order.
ORIGIN_TITLES: tuple[tuple[str, str], ...] = (
    ("manifest", "Changes from the manifests"),
    ("drift", "Drift: the cloud changed outside enictl"),
    (failover.ORIGIN, "Failover: the policy moves ENIs off failed servers"),
    ("", "Changes"),
)


SHOWN_PER_GROUP = 10  # violations of one group listed before "... and N more"


@dataclass(frozen=True, slots=True)
class ViolationGroup:
    """Violations of one code, severity and hint: the hint is said once for them all."""

    code: Code
    severity: Severity
    hint: str
    items: tuple[Violation, ...]


def violation_groups(violations: Sequence[Violation]) -> list[ViolationGroup]:
    """Violations grouped by (severity, code, hint), errors first, each group in the
    order its first member comes; 200 SubnetMismatch errors are one group, one hint."""
    found: dict[tuple[Severity, Code, str], list[Violation]] = {}
    for v in violations:
        found.setdefault((v.severity, v.code, v.hint), []).append(v)
    groups = [ViolationGroup(c, s, h, tuple(items)) for (s, c, h), items in found.items()]
    return sorted(groups, key=lambda g: g.severity is not Severity.ERROR)


_ORIGINS = frozenset(o for o, _ in ORIGIN_TITLES if o)
FAILOVER_TITLE = "Failover (ENIs with standbys: where each is, why, and its other servers)"


def failover_rows(plan: Plan) -> list[tuple[str, str, str]]:
    """(ENI, where it is or goes and why, whether its other servers could take it now),
    by ENI: `("svc-eni", "on app-2 since 10:42:07: app-1 SHUTOFF", "app-3 ready")`."""
    return [(f.interface, failover.describe(f), failover.readiness(f)) for f in plan.failover]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(plan: Plan) -> str:
    """One line: "Plan: 2 to create, 3 to attach, 1 to detach." or "No changes. ..."."""
    counts = plan.summary()
    parts = []
    for action, (one, many) in _SUMMARY_WORDS.items():
        n = counts.get(action.value, 0)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    if plan.adopt:
        parts.append(f"{len(plan.adopt)} to adopt")
    if plan.protect:
        parts.append(f"{len(plan.protect)} protect marker(s) to set")
    if not plan.applyable:
        errors = len(plan.errors)
        head = f"Plan rejected: {plural(errors, 'error')}. Nothing will be applied."
        return head if not parts else f"{head} It would have: {', '.join(parts)}."
    if not parts:
        return NO_CHANGES
    return f"Plan: {', '.join(parts)}."


def protect_notes(plan: Plan) -> list[tuple[str, str]]:
    """(interface, what apply does to its protect marker), in plan order."""
    return [(m.interface, PROTECT_NOTE if m.value else UNPROTECT_NOTE) for m in plan.protect]


def format_value(value: Any) -> str:
    """A change's before/after value, compactly: none, a name, or [a, b]."""
    if value is None:
        return "(none)"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def step_detail(step: Step) -> str:
    """The action's own arguments, e.g. "to web-2" or "subnet-web 10.0.1.20 [sg-web]"."""
    if step.action is Action.CREATE or step.creates_port:
        ip = step.private_ip or "ip chosen by the cloud"
        sgs = format_value(step.security_groups or ())
        made = f"in {step.subnet or '?'}, {ip}, security groups {sgs}"
        return f"to {step.server}, created there (BMS API) {made}" if step.creates_port else made
    if step.action is Action.UPDATE:
        return f"security groups {format_value(step.security_groups or ())}"
    if step.action in (Action.BIND_EIP, Action.UNBIND_EIP):
        return f"eip {step.eip or '?'}"
    if step.action is Action.ATTACH:
        return f"to {step.server}"
    if step.action is Action.DETACH:
        return f"from {step.server}"
    if step.action is Action.STOP_SERVER:
        return f"hard stop {step.server}"
    return ""


def step_brief(step: Step) -> str:
    """`#3 detach svc-eni from app-1`: a step named where another one depends on it, so
    a reader of a grouped plan never hunts for it."""
    detail = step_detail(step) if step.action in (Action.ATTACH, Action.DETACH) else ""
    return " ".join(p for p in (f"#{step.id}", step.action.value, step.interface, detail) if p)


def dependency_text(step: Step, by_id: Mapping[int, Step]) -> str:
    """`after #3 detach svc-eni from app-1, #5 ...` for a step's dependencies, or ""."""
    if not step.depends_on:
        return ""
    named = [step_brief(by_id[d]) if d in by_id else f"#{d}" for d in step.depends_on]
    return "after " + ", ".join(named)


def step_groups(plan: Plan) -> list[tuple[str, list[Step]]]:
    """Steps grouped for review: server-less steps first, then one group per server.

    Within a group steps keep their plan order (ids).
    """
    loose: list[Step] = []
    by_server: dict[str, list[Step]] = {}
    for step in sorted(plan.steps, key=lambda s: s.id):
        if step.server is None:
            loose.append(step)
        else:
            by_server.setdefault(step.server, []).append(step)
    groups: list[tuple[str, list[Step]]] = []
    if loose:
        groups.append((INTERFACES_GROUP, loose))
    groups.extend((f"Server {name}", by_server[name]) for name in sorted(by_server))
    return groups


def change_groups(
    changes: Iterable[Change], adopt: Iterable[str] = ()
) -> list[tuple[str, list[Change]]]:
    """Changes grouped by origin (manifest, drift, unknown), in their plan order; the
    `managed` change of an ENI in `adopt` is left out (it is shown as an adoption)."""
    adopted = {f"NetworkInterface/{name}" for name in adopt}
    by_origin: dict[str, list[Change]] = {}
    for change in changes:
        if change.field == "managed" and change.resource in adopted:
            continue
        origin = change.origin if change.origin in _ORIGINS else ""
        by_origin.setdefault(origin, []).append(change)
    return [(title, by_origin[o]) for o, title in ORIGIN_TITLES if o in by_origin]


def detail_texts(changes: Sequence[Change]) -> list[str]:
    """What each change of a list or mapping field added, removed and changed, e.g.
    "added sg-b; removed sg-c" or "added tier: 1; changed role: web -> db"; "" for a
    scalar field, and when one side is empty (the values already say it all). One
    `diff.details` call (deepdiff) for them all."""
    wanted = [i for i, c in enumerate(changes) if c.before and c.after]
    out = [""] * len(changes)
    for i, found in zip(wanted, diff.details([changes[i] for i in wanted]), strict=True):
        if found is not None:
            out[i] = _detail_phrase(changes[i], found)
    return out


def _detail_phrase(change: Change, found: diff.Detail) -> str:
    before, after = change.before, change.after
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        parts = [
            ("added", [f"{k}: {format_value(after[k])}" for k in found.added]),
            ("removed", [f"{k}: {format_value(before[k])}" for k in found.removed]),
            (
                "changed",
                [
                    f"{k}: {format_value(before[k])} -> {format_value(after[k])}"
                    for k in found.changed
                ],
            ),
        ]
    else:
        parts = [
            ("added", [format_value(v) for v in found.added]),
            ("removed", [format_value(v) for v in found.removed]),
        ]
    return "; ".join(f"{verb} {', '.join(items)}" for verb, items in parts if items)


def change_texts(changes: Sequence[Change]) -> list[str]:
    """Each change as one plain line, for logs and status lines: "NetworkInterface/eni-a
    securityGroups: [sg-a] -> [sg-a, sg-b] (added sg-b)"."""
    out = []
    for change, detail in zip(changes, detail_texts(changes), strict=True):
        before, after = format_value(change.before), format_value(change.after)
        line = f"{change.resource} {change.field}: {before} -> {after}"
        out.append(f"{line} ({detail})" if detail else line)
    return out


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One line of review: `+` a new resource (its declared fields in `after`), `-` a
    deleted one, `~` one changed field of an existing one (with its `detail_texts`)."""

    mark: str
    resource: str
    field: str = ""
    before: str = ""
    after: str = ""
    detail: str = ""


def change_rows(changes: Sequence[Change]) -> list[ChangeRow]:
    """Changes as review rows: a create's field changes fold into one `+` row, a
    delete is one `-` row, every other change is a `~` row; plan order is kept."""
    created = {c.resource for c in changes if c.field == "exists" and c.after is True}
    fields: dict[str, list[str]] = {}
    for c in changes:
        if c.resource in created and c.field != "exists" and c.after not in (None, [], ()):
            fields.setdefault(c.resource, []).append(f"{c.field} {format_value(c.after)}")
    edited = [c for c in changes if c.field != "exists" and c.resource not in created]
    details = iter(detail_texts(edited))
    rows: list[ChangeRow] = []
    for c in changes:
        if c.field == "exists":
            if c.after is True:
                rows.append(ChangeRow("+", c.resource, after=", ".join(fields.get(c.resource, []))))
            else:
                rows.append(ChangeRow("-", c.resource))
        elif c.resource not in created:
            before, after = format_value(c.before), format_value(c.after)
            rows.append(ChangeRow("~", c.resource, c.field, before, after, next(details)))
    return rows


def moves(plan: Plan) -> list[tuple[str, str, str]]:
    """(interface, from server, to server) for each ENI detached from one server and
    attached to another in this plan, sorted by interface."""
    detached: dict[str, str] = {}
    attached: dict[str, str] = {}
    for step in plan.steps:
        if step.server is None:
            continue
        if step.action is Action.DETACH:
            detached.setdefault(step.interface, step.server)
        elif step.action is Action.ATTACH:
            attached[step.interface] = step.server
    return sorted(
        (name, src, attached[name])
        for name, src in detached.items()
        if name in attached and attached[name] != src
    )


ORPHAN_KEPT = "kept; --prune would delete it"
ORPHAN_PROTECTED = "kept: protected, --prune keeps it too"


def orphan_notes(plan: Plan) -> list[tuple[str, str]]:
    """(orphan, what happens to it) for each orphan, in plan order: deleted by a step,
    kept until `--prune`, or kept for good because it is protected."""
    deletes = {s.interface: s.id for s in plan.steps if s.action is Action.DELETE}
    protected = {
        noop.resource.partition("/")[2]
        for noop in plan.unchanged
        if noop.reason == diff.ORPHAN_PROTECTED
    }
    notes = []
    for orphan in plan.orphans:
        if orphan in deletes:
            notes.append((orphan, f"deleted by step #{deletes[orphan]}"))
        else:
            notes.append((orphan, ORPHAN_PROTECTED if orphan in protected else ORPHAN_KEPT))
    return notes
