"""Plans for people and for machines: text, markdown, JSON and YAML.

Pure functions from a `Plan` to a string. `text` is what a terminal shows (ANSI colour
only when asked), `markdown` is a pull-request comment (`controller.views.comment`: summary first,
long sections folded, always within GitHub's comment size limit),
`json_text` / `yaml_text` are the SPEC section 5 format, byte-identical for the same
plan. What the two human formats show (the summary line, step and change groups, moves,
orphan notes) is `controller.views.planview`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import yaml

from controller.plan import Action, Plan, Severity, Step
from controller.views import comment, planview

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


def text(plan: Plan, *, color: bool, verbose: bool = False) -> str:
    """The human view: summary, steps by server, changes by origin, orphans, violations;
    `verbose` lists the unchanged resources, each with why it needs no step."""
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
        by_id = {s.id: s for s in plan.steps}
        for title, steps in groups:
            lines.append(f"  {paint(title, 'cyan')}")
            for step in steps:
                lines.append("    " + _text_step(step, paint, widths, by_id))

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
        count = planview.plural(len(plan.unchanged), "resource")
        lines += ["", paint(f"Unchanged: {count}{':' if verbose else '.'}", "dim")]
        if verbose:
            width = max(len(noop.resource) for noop in plan.unchanged)
            lines += [
                f"  {noop.resource.ljust(width)}  {paint(noop.reason, 'dim')}"
                for noop in plan.unchanged
            ]

    if plan.violations:
        lines += ["", paint("Violations", "bold")]
        for group in planview.violation_groups(plan.violations):
            lines += _text_violations(group, paint)
    return "\n".join(lines) + "\n"


def _text_step(
    step: Step, paint: _Painter, widths: tuple[int, int, int], by_id: Mapping[int, Step]
) -> str:
    ident = f"#{step.id}".ljust(widths[0])
    action = paint(step.action.value.ljust(widths[1]), _ACTION_STYLE[step.action])
    parts = [f"{ident}  {action}  {step.interface.ljust(widths[2])}"]
    detail = planview.step_detail(step)
    if detail:
        parts.append(detail)
    if step.depends_on:
        parts.append(paint(planview.dependency_text(step, by_id), "dim"))
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


def _text_violations(group: planview.ViolationGroup, paint: _Painter) -> list[str]:
    """One violation as a header, its message and hint; several of one code and hint as
    one header, a line each (at most `SHOWN_PER_GROUP`) and the hint once."""
    style = "red" if group.severity is Severity.ERROR else "yellow"
    head = f"  {paint(group.severity.value, 'bold', style)}  {paint(group.code.value, style)}"
    hint = [f"    {paint('hint:', 'cyan')} {group.hint}"] if group.hint else []
    if len(group.items) == 1:
        (v,) = group.items
        where = f"  {v.source}" if v.source else ""
        return [f"{head}  {v.resource}{where}", f"    {v.message}", *hint]
    out = [f"{head}  ({len(group.items)} resources)"]
    for v in group.items[: planview.SHOWN_PER_GROUP]:
        where = f" {v.source}:" if v.source else ":"
        out.append(f"    {v.resource}{where} {v.message}")
    more = len(group.items) - planview.SHOWN_PER_GROUP
    if more > 0:
        out.append(f"    ... and {more} more like them (-o json lists every one)")
    return [*out, *hint]


# -- markdown: controller.views.comment ----------------------------------------------

markdown = comment.markdown


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


def render(plan: Plan, output: str, *, color: bool = False, verbose: bool = False) -> str:
    """Dispatch on the `-o` value (`verbose`: text lists the unchanged resources)."""
    if output == "text":
        return text(plan, color=color, verbose=verbose)
    if output == "json":
        return json_text(plan)
    if output == "yaml":
        return yaml_text(plan)
    if output == "markdown":
        return markdown(plan)
    raise ValueError(f"unknown output format {output!r}")
