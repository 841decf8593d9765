"""A plan as a pull-request comment: summary first, long sections folded, always short enough.

GitHub refuses a comment longer than 65,536 characters, and a plan of a few hundred ENIs
renders to more than that as plain tables. `markdown(plan)` therefore:

- starts with the summary (the plan's line, then the counts a reviewer looks for:
  errors, warnings, steps, servers, adoptions, drift, orphans);
- writes the sections in the order a reviewer needs them: violations, steps, adoptions,
  protect markers, changes (from the manifests, then drift), orphans, the moves diagram;
- folds a section longer than `FOLD_ROWS` rows into `<details>` (collapsed, its title
  and row count showing);
- keeps the whole under `limit` characters (default `LIMIT`, which leaves room for the
  heading a CI step puts above it): once the budget runs short, a section keeps the
  rows that fit and says how many it left out and where the full plan is (the saved
  plan file, `enictl show FILE`). The moves diagram is shown whole or not at all.

What each section shows (steps, change rows, orphan notes) is `controller.views.planview`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controller.plan import Action, Change, Plan
from controller.views import planview

LIMIT = 60_000  # characters; GitHub's comment limit is 65,536
FOLD_ROWS = 10  # a section with more rows is collapsed into <details>
ARTIFACT = "plan.json"
_RESERVE = 400  # kept back per section still to come: its title and a truncation note


@dataclass(frozen=True, slots=True)
class Section:
    """A titled list of rows (table rows under `header`, or list items)."""

    title: str
    rows: tuple[str, ...]
    header: tuple[str, ...] = ()  # a table's two header lines
    whole: bool = False  # shown entirely or not at all (a diagram)


def cell(value: str) -> str:
    """Text safe inside a markdown table cell."""
    return value.replace("|", "\\|").replace("\n", " ")


def code(value: str) -> str:
    return f"`{value}`" if value else ""


def table_header(names: Sequence[str]) -> tuple[str, ...]:
    return ("| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|")


def table_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def markdown(plan: Plan, *, limit: int = LIMIT, artifact: str = ARTIFACT) -> str:
    """The comment: summary, then every section, under `limit` characters."""
    icon = "✅" if plan.applyable else "❌"
    head = ["### enictl plan", "", f"{icon} **{planview.summary_line(plan)}**"]
    facts = summary_facts(plan)
    if facts:
        head += ["", *(f"- {fact}" for fact in facts)]
    out = "\n".join(head) + "\n"
    sections = [s for s in _sections(plan) if s.rows]
    for index, section in enumerate(sections):
        budget = limit - len(out) - _RESERVE * (len(sections) - index - 1)
        out += _render(section, budget, artifact)
    return out


def summary_facts(plan: Plan) -> list[str]:
    """The counts a reviewer reads before anything else (none for an empty plan)."""
    facts = []
    errors = len(plan.errors)
    warnings = len(plan.violations) - errors
    if errors or warnings:
        facts.append(f"{planview.plural(errors, 'error')}, {planview.plural(warnings, 'warning')}")
    if plan.steps:
        servers = {s.server for s in plan.steps if s.server is not None}
        facts.append(
            f"{planview.plural(len(plan.steps), 'step')} on "
            f"{planview.plural(len(servers), 'server')}"
        )
    drift = sum(1 for c in plan.changes if c.origin == "drift")
    if drift:
        facts.append(f"{planview.plural(drift, 'field')} drifted outside enictl")
    if plan.orphans:
        facts.append(f"{planview.plural(len(plan.orphans), 'orphan')}")
    return facts


def _sections(plan: Plan) -> list[Section]:
    sections = [Section("Violations", tuple(_violation_rows(plan)))]
    header = ("#", "action", "interface", "server", "after", "detail", "reason")
    rows = tuple(
        table_row(
            (
                str(s.id),
                s.action.value,
                code(s.interface),
                code(s.server or ""),
                ", ".join(str(d) for d in s.depends_on),
                planview.step_detail(s) if s.action not in (Action.ATTACH, Action.DETACH) else "",
                s.reason,
            )
        )
        for s in sorted(plan.steps, key=lambda s: s.id)
    )
    sections.append(Section("Steps", rows, table_header(header)))
    failovers = tuple(
        table_row((code(name), where, others))
        for name, where, others in planview.failover_rows(plan)
    )
    sections.append(
        Section(
            planview.FAILOVER_TITLE,
            failovers,
            table_header(("interface", "where and why", "other servers")),
        )
    )
    sections.append(
        Section("Adopt", tuple(f"- `{name}`: {planview.ADOPT_NOTE}" for name in plan.adopt))
    )
    sections.append(
        Section(
            "Protect",
            tuple(f"- `{name}`: {note}" for name, note in planview.protect_notes(plan)),
        )
    )
    for title, changes in planview.change_groups(plan.changes, plan.adopt):
        sections.append(_change_section(title, changes))
    sections.append(
        Section("Orphans", tuple(f"- `{o}`: {note}" for o, note in planview.orphan_notes(plan)))
    )
    moved = planview.moves(plan)
    if moved:
        sections.append(Section("Moves", tuple(mermaid_moves(moved)), whole=True))
    return sections


def _violation_rows(plan: Plan) -> list[str]:
    """Errors first; violations sharing a code and hint as one item, the hint said once."""
    rows = []
    for group in planview.violation_groups(plan.violations):
        head = f"- **{group.severity.value}** `{group.code.value}`"
        hint = f"\n  - hint: {group.hint}" if group.hint else ""
        if len(group.items) == 1:
            (v,) = group.items
            where = f" at `{v.source}`" if v.source else ""
            rows.append(f"{head} `{v.resource}`{where}: {v.message}{hint}")
            continue
        rows.append(f"{head} ({len(group.items)} resources){hint}")
        for v in group.items:
            where = f" at `{v.source}`" if v.source else ""
            rows.append(f"  - `{v.resource}`{where}: {v.message}")
    return rows


def _change_section(title: str, changes: Sequence[Change]) -> Section:
    """The change table; a "what changed" column only when a row has a detail."""
    found = planview.change_rows(changes)
    names: tuple[str, ...] = ("resource", "field", "before", "after")
    cells: list[tuple[str, ...]] = []
    for row in found:
        if row.mark == "+":
            cells.append((code(row.resource), "*new*", "", row.after))
        elif row.mark == "-":
            cells.append((code(row.resource), "*deleted*", "", ""))
        else:
            cells.append((code(row.resource), row.field, code(row.before), code(row.after)))
    if any(row.detail for row in found):
        names += ("what changed",)
        cells = [(*c, row.detail) for c, row in zip(cells, found, strict=True)]
    return Section(title, tuple(table_row(c) for c in cells), table_header(names))


def _render(section: Section, budget: int, artifact: str) -> str:
    """One section within `budget` characters (rows that do not fit are counted)."""
    total = len(section.rows)
    folded = total > FOLD_ROWS
    if folded:
        top = f"\n<details><summary><b>{section.title}</b> ({total})</summary>\n\n"
        bottom = "\n</details>\n"
    else:
        top, bottom = f"\n#### {section.title}\n\n", ""
    note_room = 200
    lines = list(section.header)
    used = len(top) + len(bottom) + sum(len(line) + 1 for line in lines) + note_room
    shown = 0
    if section.whole:
        size = sum(len(r) + 1 for r in section.rows)
        shown = total if used + size <= budget else 0
    else:
        for row in section.rows:
            if used + len(row) + 1 > budget:
                break
            used += len(row) + 1
            shown += 1
    if shown == 0 and section.header:
        lines = []
    lines += section.rows[:shown]
    if shown < total:
        left = total - shown
        lines += [
            "",
            f"*... {left} more not shown here (this comment has a size limit): the whole "
            f"plan is in `{artifact}`; `enictl show {artifact}` prints it.*",
        ]
    return top + "\n".join(lines) + "\n" + bottom


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
