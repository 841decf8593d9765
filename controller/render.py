"""Plans for people and for machines: text, markdown, JSON and YAML.

Pure functions from a `Plan` to a string. `text` is what a terminal shows (ANSI colour
only when asked), `markdown` is a pull-request comment (summary, step table,
violations with hints, a mermaid flowchart of the ENIs that move between servers),
`json_text` / `yaml_text` are the SPEC section 5 format, byte-identical for the same
plan. Changes are grouped by their `origin`: the manifests changed, or the cloud
drifted (see `controller.drift`). Adoptions (existing unmanaged ENIs a manifest names,
which apply tags as managed) are shown as such, not as a `managed` change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from controller.plan import Action, Change, Plan, Severity, Step, Violation

# How each action reads in the summary line, singular and plural.
_SUMMARY_WORDS: dict[Action, tuple[str, str]] = {
    Action.CREATE: ("to create", "to create"),
    Action.UPDATE: ("to update", "to update"),
    Action.UNBIND_EIP: ("EIP to unbind", "EIPs to unbind"),
    Action.BIND_EIP: ("EIP to bind", "EIPs to bind"),
    Action.DETACH: ("to detach", "to detach"),
    Action.ATTACH: ("to attach", "to attach"),
    Action.DELETE: ("to delete", "to delete"),
}

NO_CHANGES = "No changes. The cloud matches the manifests."
ADOPT_NOTE = "tag as managed by enictl"
INTERFACES_GROUP = "Interfaces (create, update, EIP, delete)"

# Change groups by origin, in display order.
ORIGIN_TITLES: tuple[tuple[str, str], ...] = (
    ("manifest", "Changes from the manifests"),
    ("drift", "Drift: the cloud changed outside enictl"),
    ("", "Changes"),
)

_ANSI = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}

_ACTION_STYLE: dict[Action, str] = {
    Action.CREATE: "green",
    Action.ATTACH: "green",
    Action.UPDATE: "yellow",
    Action.BIND_EIP: "yellow",
    Action.UNBIND_EIP: "yellow",
    Action.DETACH: "yellow",
    Action.DELETE: "red",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def error_count(plan: Plan) -> int:
    return sum(1 for v in plan.violations if v.severity is Severity.ERROR)


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
    if not plan.applyable:
        errors = error_count(plan)
        head = f"Plan rejected: {_plural(errors, 'error')}. Nothing will be applied."
        return head if not parts else f"{head} It would have: {', '.join(parts)}."
    if not parts:
        return NO_CHANGES
    return f"Plan: {', '.join(parts)}."


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
    if step.action is Action.CREATE:
        ip = step.private_ip or "ip chosen by the cloud"
        sgs = format_value(step.security_groups or ())
        return f"in {step.subnet or '?'}, {ip}, security groups {sgs}"
    if step.action is Action.UPDATE:
        return f"security groups {format_value(step.security_groups or ())}"
    if step.action in (Action.BIND_EIP, Action.UNBIND_EIP):
        return f"eip {step.eip or '?'}"
    if step.action is Action.ATTACH:
        return f"to {step.server}"
    if step.action is Action.DETACH:
        return f"from {step.server}"
    return ""


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
        origin = change.origin if change.origin in ("manifest", "drift") else ""
        by_origin.setdefault(origin, []).append(change)
    return [(title, by_origin[o]) for o, title in ORIGIN_TITLES if o in by_origin]


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One line of review: `+` a new resource (its declared fields in `after`), `-` a
    deleted one, `~` one changed field of an existing one."""

    mark: str
    resource: str
    field: str = ""
    before: str = ""
    after: str = ""


def change_rows(changes: Sequence[Change]) -> list[ChangeRow]:
    """Changes as review rows: a create's field changes fold into one `+` row, a
    delete is one `-` row, every other change is a `~` row; plan order is kept."""
    created = {c.resource for c in changes if c.field == "exists" and c.after is True}
    fields: dict[str, list[str]] = {}
    for c in changes:
        if c.resource in created and c.field != "exists" and c.after not in (None, [], ()):
            fields.setdefault(c.resource, []).append(f"{c.field} {format_value(c.after)}")
    rows: list[ChangeRow] = []
    for c in changes:
        if c.field == "exists":
            if c.after is True:
                rows.append(ChangeRow("+", c.resource, after=", ".join(fields.get(c.resource, []))))
            else:
                rows.append(ChangeRow("-", c.resource))
        elif c.resource not in created:
            rows.append(
                ChangeRow("~", c.resource, c.field, format_value(c.before), format_value(c.after))
            )
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


def orphan_notes(plan: Plan) -> list[tuple[str, str]]:
    """(orphan, what happens to it) for each orphan, in plan order."""
    deletes = {s.interface: s.id for s in plan.steps if s.action is Action.DELETE}
    return [
        (o, f"deleted by step #{deletes[o]}" if o in deletes else "kept; --prune would delete it")
        for o in plan.orphans
    ]


# -- text ---------------------------------------------------------------------------


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_ANSI[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


def text(plan: Plan, *, color: bool) -> str:
    """The human view: summary, steps by server, changes by origin, orphans, violations."""
    paint = _Painter(color)
    lines: list[str] = []
    head_style = "green" if plan.applyable else "red"
    lines.append(paint(summary_line(plan), "bold", head_style))

    groups = step_groups(plan)
    if groups:
        lines += ["", paint("Steps", "bold")]
        widths = (
            max(len(f"#{s.id}") for s in plan.steps),
            max(len(s.action.value) for s in plan.steps),
            max(len(s.interface) for s in plan.steps),
        )
        for title, steps in groups:
            lines.append(f"  {paint(title, 'cyan')}")
            for step in steps:
                lines.append("    " + _text_step(step, paint, widths))

    if plan.adopt:
        lines.append("")
        for name in plan.adopt:
            lines.append(
                f"{paint('Adopt:', 'bold', 'green')} {name} {paint(f'({ADOPT_NOTE})', 'dim')}"
            )

    for title, changes in change_groups(plan.changes, plan.adopt):
        lines += ["", paint(title, "bold")]
        for row in change_rows(changes):
            lines.append("  " + _text_change(row, paint))

    if plan.orphans:
        lines += ["", paint("Orphans (managed ENIs no manifest mentions)", "bold")]
        for orphan, note in orphan_notes(plan):
            lines.append(f"  {orphan}  {paint('(' + note + ')', 'dim')}")

    if plan.unchanged:
        lines += ["", paint(f"Unchanged: {_plural(len(plan.unchanged), 'resource')}.", "dim")]

    if plan.violations:
        lines += ["", paint("Violations", "bold")]
        for violation in plan.violations:
            lines += _text_violation(violation, paint)
    return "\n".join(lines) + "\n"


def _text_step(step: Step, paint: _Painter, widths: tuple[int, int, int]) -> str:
    ident = f"#{step.id}".ljust(widths[0])
    action = paint(step.action.value.ljust(widths[1]), _ACTION_STYLE[step.action])
    parts = [f"{ident}  {action}  {step.interface.ljust(widths[2])}"]
    detail = step_detail(step)
    if detail:
        parts.append(detail)
    if step.depends_on:
        parts.append(paint("after " + ", ".join(f"#{d}" for d in step.depends_on), "dim"))
    line = "  ".join(parts)
    if step.reason:
        line += paint(f"  ({step.reason})", "dim")
    return line


def _text_change(row: ChangeRow, paint: _Painter) -> str:
    if row.mark == "+":
        detail = f"  new: {row.after}" if row.after else "  new"
        return f"{paint('+', 'green')} {row.resource}{detail}"
    if row.mark == "-":
        return f"{paint('-', 'red')} {row.resource}  deleted"
    return (
        f"{paint('~', 'yellow')} {row.resource}  {row.field}: "
        f"{paint(row.before, 'red')} -> {paint(row.after, 'green')}"
    )


def _text_violation(violation: Violation, paint: _Painter) -> list[str]:
    style = "red" if violation.severity is Severity.ERROR else "yellow"
    where = f"  {violation.source}" if violation.source else ""
    out = [
        f"  {paint(violation.severity.value, 'bold', style)}  {paint(violation.code.value, style)}"
        f"  {violation.resource}{where}",
        f"    {violation.message}",
    ]
    if violation.hint:
        out.append(f"    {paint('hint:', 'cyan')} {violation.hint}")
    return out


# -- markdown -----------------------------------------------------------------------


def _cell(value: str) -> str:
    """Text safe inside a markdown table cell."""
    return value.replace("|", "\\|").replace("\n", " ")


def _code(value: str) -> str:
    return f"`{value}`" if value else ""


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def markdown(plan: Plan) -> str:
    """A pull-request comment: summary, step table, changes, violations, a move diagram."""
    icon = "✅" if plan.applyable else "❌"
    lines = ["### enictl plan", "", f"{icon} **{summary_line(plan)}**"]

    if plan.steps:
        lines += ["", "#### Steps", "", *_markdown_steps(plan)]
    if plan.adopt:
        lines += ["", "#### Adopt", ""]
        lines += [f"- `{name}`: {ADOPT_NOTE}" for name in plan.adopt]
    for title, changes in change_groups(plan.changes, plan.adopt):
        lines += ["", f"#### {title}", "", *_markdown_changes(changes)]

    if plan.orphans:
        lines += ["", "#### Orphans", ""]
        lines += [f"- `{o}`: {note}" for o, note in orphan_notes(plan)]

    if plan.violations:
        lines += ["", "#### Violations", ""]
        for v in plan.violations:
            where = f" at `{v.source}`" if v.source else ""
            lines.append(
                f"- **{v.severity.value}** `{v.code.value}` `{v.resource}`{where}: {v.message}"
            )
            if v.hint:
                lines.append(f"  - hint: {v.hint}")

    moved = moves(plan)
    if moved:
        lines += ["", "#### Moves", "", *mermaid_moves(moved)]
    return "\n".join(lines) + "\n"


def _markdown_steps(plan: Plan) -> list[str]:
    header = ("#", "action", "interface", "server", "after", "detail", "reason")
    rows = [
        (
            str(s.id),
            s.action.value,
            _code(s.interface),
            _code(s.server or ""),
            ", ".join(str(d) for d in s.depends_on),
            step_detail(s) if s.action not in (Action.ATTACH, Action.DETACH) else "",
            s.reason,
        )
        for s in sorted(plan.steps, key=lambda s: s.id)
    ]
    return _table(header, rows)


def _markdown_changes(changes: Sequence[Change]) -> list[str]:
    rows = []
    for row in change_rows(changes):
        if row.mark == "+":
            rows.append((_code(row.resource), "*new*", "", row.after))
        elif row.mark == "-":
            rows.append((_code(row.resource), "*deleted*", "", ""))
        else:
            rows.append((_code(row.resource), row.field, _code(row.before), _code(row.after)))
    return _table(("resource", "field", "before", "after"), rows)


def mermaid_moves(moved: Sequence[tuple[str, str, str]]) -> list[str]:
    """A fenced mermaid flowchart: one node per server, one labelled edge per moved ENI."""
    servers = sorted({s for _, a, b in moved for s in (a, b)})
    node = {name: f"s{i}" for i, name in enumerate(servers)}
    out = ["```mermaid", "flowchart LR"]
    out += [f'  {node[name]}["{_mermaid_text(name)}"]' for name in servers]
    out += [f'  {node[src]} -->|"{_mermaid_text(eni)}"| {node[dst]}' for eni, src, dst in moved]
    out.append("```")
    return out


def _mermaid_text(value: str) -> str:
    return value.replace('"', "#quot;")


# -- machine formats ----------------------------------------------------------------


def json_text(plan: Plan) -> str:
    """SPEC section 5 JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(plan.as_json(), indent=2, sort_keys=True) + "\n"


def yaml_text(plan: Plan) -> str:
    """The same document as YAML, keys in the JSON form's order (LibYAML when present:
    the pure-Python emitter takes seconds for a few thousand steps)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(plan.as_json(), Dumper=dumper, sort_keys=False, default_flow_style=False)


FORMATS = ("text", "json", "yaml", "markdown")


def render(plan: Plan, output: str, *, color: bool = False) -> str:
    """Dispatch on the `-o` value."""
    if output == "text":
        return text(plan, color=color)
    if output == "json":
        return json_text(plan)
    if output == "yaml":
        return yaml_text(plan)
    if output == "markdown":
        return markdown(plan)
    raise ValueError(f"unknown output format {output!r}")
