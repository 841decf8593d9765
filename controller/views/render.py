"""Plans for people and for machines: text, markdown, JSON and YAML.

Pure functions from a `Plan` to a string. `text` is what a terminal shows (ANSI colour
only when asked), `markdown` is a pull-request comment (summary, step table,
violations with hints, a mermaid flowchart of the ENIs that move between servers),
`json_text` / `yaml_text` are the SPEC section 5 format, byte-identical for the same
plan. What the two human formats show (the summary line, step and change groups, moves,
orphan notes) is `controller.views.planview`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import yaml

from controller.plan import Action, Change, Plan, Severity, Step, Violation
from controller.views import planview

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
    Action.STOP_SERVER: "red",
}


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
    lines.append(paint(planview.summary_line(plan), "bold", head_style))

    groups = planview.step_groups(plan)
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

    if plan.failover:
        lines += ["", paint(planview.FAILOVER_TITLE, "bold")]
        width = max(len(f.interface) for f in plan.failover)
        for name, where, others in planview.failover_rows(plan):
            lines.append(f"  {name.ljust(width)}  {where}  {paint(f'(others: {others})', 'dim')}")

    if plan.adopt:
        lines.append("")
        for name in plan.adopt:
            note = paint(f"({planview.ADOPT_NOTE})", "dim")
            lines.append(f"{paint('Adopt:', 'bold', 'green')} {name} {note}")

    if plan.protect:
        lines.append("")
        for name, note in planview.protect_notes(plan):
            lines.append(f"{paint('Protect:', 'bold', 'green')} {name} {paint(f'({note})', 'dim')}")

    for title, changes in planview.change_groups(plan.changes, plan.adopt):
        lines += ["", paint(title, "bold")]
        for row in planview.change_rows(changes):
            lines.append("  " + _text_change(row, paint))

    if plan.orphans:
        lines += ["", paint("Orphans (managed ENIs no manifest mentions)", "bold")]
        for orphan, note in planview.orphan_notes(plan):
            lines.append(f"  {orphan}  {paint('(' + note + ')', 'dim')}")

    if plan.unchanged:
        lines += [
            "",
            paint(f"Unchanged: {planview.plural(len(plan.unchanged), 'resource')}.", "dim"),
        ]

    if plan.violations:
        lines += ["", paint("Violations", "bold")]
        for violation in plan.violations:
            lines += _text_violation(violation, paint)
    return "\n".join(lines) + "\n"


def _text_step(step: Step, paint: _Painter, widths: tuple[int, int, int]) -> str:
    ident = f"#{step.id}".ljust(widths[0])
    action = paint(step.action.value.ljust(widths[1]), _ACTION_STYLE[step.action])
    parts = [f"{ident}  {action}  {step.interface.ljust(widths[2])}"]
    detail = planview.step_detail(step)
    if detail:
        parts.append(detail)
    if step.depends_on:
        parts.append(paint("after " + ", ".join(f"#{d}" for d in step.depends_on), "dim"))
    line = "  ".join(parts)
    if step.reason:
        line += paint(f"  ({step.reason})", "dim")
    return line


def _text_change(row: planview.ChangeRow, paint: _Painter) -> str:
    if row.mark == "+":
        detail = f"  new: {row.after}" if row.after else "  new"
        return f"{paint('+', 'green')} {row.resource}{detail}"
    if row.mark == "-":
        return f"{paint('-', 'red')} {row.resource}  deleted"
    line = (
        f"{paint('~', 'yellow')} {row.resource}  {row.field}: "
        f"{paint(row.before, 'red')} -> {paint(row.after, 'green')}"
    )
    return f"{line}  {paint(f'({row.detail})', 'dim')}" if row.detail else line


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
    lines = ["### enictl plan", "", f"{icon} **{planview.summary_line(plan)}**"]

    if plan.steps:
        lines += ["", "#### Steps", "", *_markdown_steps(plan)]
    if plan.failover:
        rows = [(_code(n), where, others) for n, where, others in planview.failover_rows(plan)]
        lines += ["", f"#### {planview.FAILOVER_TITLE}", ""]
        lines += _table(("interface", "where and why", "other servers"), rows)
    if plan.adopt:
        lines += ["", "#### Adopt", ""]
        lines += [f"- `{name}`: {planview.ADOPT_NOTE}" for name in plan.adopt]
    if plan.protect:
        lines += ["", "#### Protect", ""]
        lines += [f"- `{name}`: {note}" for name, note in planview.protect_notes(plan)]
    for title, changes in planview.change_groups(plan.changes, plan.adopt):
        lines += ["", f"#### {title}", "", *_markdown_changes(changes)]

    if plan.orphans:
        lines += ["", "#### Orphans", ""]
        lines += [f"- `{o}`: {note}" for o, note in planview.orphan_notes(plan)]

    if plan.violations:
        lines += ["", "#### Violations", ""]
        for v in plan.violations:
            where = f" at `{v.source}`" if v.source else ""
            lines.append(
                f"- **{v.severity.value}** `{v.code.value}` `{v.resource}`{where}: {v.message}"
            )
            if v.hint:
                lines.append(f"  - hint: {v.hint}")

    moved = planview.moves(plan)
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
            planview.step_detail(s) if s.action not in (Action.ATTACH, Action.DETACH) else "",
            s.reason,
        )
        for s in sorted(plan.steps, key=lambda s: s.id)
    ]
    return _table(header, rows)


def _markdown_changes(changes: Sequence[Change]) -> list[str]:
    """The change table; a "what changed" column only when a row has a detail."""
    found = planview.change_rows(changes)
    header: tuple[str, ...] = ("resource", "field", "before", "after")
    rows: list[tuple[str, ...]] = []
    for row in found:
        if row.mark == "+":
            rows.append((_code(row.resource), "*new*", "", row.after))
        elif row.mark == "-":
            rows.append((_code(row.resource), "*deleted*", "", ""))
        else:
            rows.append((_code(row.resource), row.field, _code(row.before), _code(row.after)))
    if any(row.detail for row in found):
        header += ("what changed",)
        rows = [(*cells, row.detail) for cells, row in zip(rows, found, strict=True)]
    return _table(header, rows)


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
