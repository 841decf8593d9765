"""Plan renderers: text, markdown, json and yaml."""

from __future__ import annotations

import json
import re

import yaml

from controller.plan import Action, Change, Mark, Marker, Plan, Step
from controller.views import planview, render
from tests.sample_plans import empty_plan, rejected_plan, swap_plan

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_summary_line_counts_actions_in_action_order() -> None:
    """The summary names each action with steps, in the SPEC's action order."""
    assert planview.summary_line(swap_plan()) == "Plan: 1 to create, 2 to detach, 3 to attach."


def test_summary_line_for_no_changes() -> None:
    """A plan without steps says the cloud matches the manifests."""
    assert planview.summary_line(empty_plan()) == "No changes. The cloud matches the manifests."


def test_summary_line_for_a_rejected_plan() -> None:
    """A rejected plan says so, counts its errors and what it would have done."""
    line = planview.summary_line(rejected_plan())
    assert line.startswith("Plan rejected: 1 error. Nothing will be applied.")
    assert "1 to attach" in line


def _adoption_plan(*, with_step: bool) -> Plan:
    """eni-db (unmanaged, detached) and eni-log (unmanaged, in sync) are adopted."""
    attach = Step(1, Action.ATTACH, "eni-db", server="web-1", reason="eni-db is declared on web-1")
    return Plan(
        "d",
        "f",
        steps=(attach,) if with_step else (),
        changes=(
            Change("NetworkInterface/eni-db", "managed", False, True, "drift"),
            Change("NetworkInterface/eni-db", "server", None, "web-1", "manifest"),
            Change("NetworkInterface/eni-log", "managed", False, True, "drift"),
        ),
        marks=(Mark("eni-db", Marker.MANAGED), Mark("eni-log", Marker.MANAGED)),
    )


def test_summary_line_counts_adoptions_and_never_says_no_changes_with_one_pending() -> None:
    """Pending adoptions are changes: "Plan: 2 to adopt.", after the step counts."""
    assert planview.summary_line(_adoption_plan(with_step=False)) == "Plan: 2 to adopt."
    assert planview.summary_line(_adoption_plan(with_step=True)) == "Plan: 1 to attach, 2 to adopt."


def test_adoptions_are_shown_as_such_not_as_managed_drift() -> None:
    """Text and markdown list "Adopt: NAME (tag as managed by enictl)", and the managed
    change of an adopted ENI is not listed as a change (nor as drift)."""
    plan = _adoption_plan(with_step=True)
    out = render.text(plan, color=False)
    assert "\nAdopt: eni-db (tag as managed by enictl)\n" in out
    assert "\nAdopt: eni-log (tag as managed by enictl)\n" in out
    assert "managed" not in out.replace("as managed by", "") and "Drift" not in out
    assert "Changes from the manifests\n  ~ NetworkInterface/eni-db  server: (none) -> web-1" in out
    assert planview.NO_CHANGES not in render.text(_adoption_plan(with_step=False), color=False)
    md = render.markdown(plan)
    assert "#### Adopt\n\n- `eni-db`: tag as managed by enictl\n- `eni-log`:" in md
    assert "| managed |" not in md and "Drift" not in md
    assert json.loads(render.json_text(plan))["adopt"] == ["eni-db", "eni-log"]


def test_summary_words_for_eip_steps() -> None:
    """EIP steps read as EIPs to bind/unbind, singular and plural."""
    plan = Plan(
        "d",
        "f",
        steps=(
            Step(1, Action.UNBIND_EIP, "a", eip="eip-1"),
            Step(2, Action.BIND_EIP, "b", eip="eip-1", depends_on=(1,)),
            Step(3, Action.BIND_EIP, "c", eip="eip-2"),
        ),
    )
    assert planview.summary_line(plan) == "Plan: 1 EIP to unbind, 2 EIPs to bind."


def test_text_groups_steps_by_server_with_ids_dependencies_and_reasons() -> None:
    """Text lists server-less steps first, then one group per server, with #ids and after."""
    out = render.text(swap_plan(), color=False)
    lines = out.splitlines()
    interfaces = lines.index("  " + planview.INTERFACES_GROUP)
    web1 = lines.index("  Server web-1")
    web2 = lines.index("  Server web-2")
    web3 = lines.index("  Server web-3")
    assert interfaces < web1 < web2 < web3
    assert "#1" in lines[interfaces + 1] and "create" in lines[interfaces + 1]
    attach_a = next(line for line in lines[web2:web3] if "attach" in line)
    assert "#4" in attach_a and "to web-2" in attach_a and "after #3" in attach_a
    assert "(eni-a moves to web-2)" in attach_a


def test_text_shows_changes_by_origin_orphans_and_unchanged() -> None:
    """Manifest changes and drift get their own headings; orphans say they are kept."""
    out = render.text(swap_plan(), color=False)
    assert "Changes from the manifests\n  ~ NetworkInterface/eni-a  server: web-1 -> web-2" in out
    assert (
        "Drift: the cloud changed outside enictl\n"
        "  ~ NetworkInterface/eni-c  securityGroups: [sg-web] -> [sg-web, sg-db]" in out
    )
    assert out.index("Changes from the manifests") < out.index("Drift:")
    assert "eni-old  (kept; --prune would delete it)" in out
    assert "Unchanged: 1 resource." in out


def test_text_changes_without_origin_have_a_plain_heading() -> None:
    """Changes whose origin is unknown (nothing applied yet) are listed under Changes."""
    plan = Plan("d", "f", changes=(Change("NetworkInterface/x", "eip", None, "eip-1"),))
    out = render.text(plan, color=False)
    assert "\nChanges\n  ~ NetworkInterface/x  eip: (none) -> eip-1\n" in out
    assert "Drift" not in out


def test_created_and_deleted_resources_fold_into_one_row() -> None:
    """A create's field changes read as one `+` row with its declared fields; a delete as `-`."""
    plan = Plan(
        "d",
        "f",
        changes=(
            Change("NetworkInterface/new", "exists", False, True, "manifest"),
            Change("NetworkInterface/new", "subnet", None, "subnet-web", "manifest"),
            Change("NetworkInterface/new", "securityGroups", None, [], "manifest"),
            Change("NetworkInterface/new", "server", None, "web-1", "manifest"),
            Change("NetworkInterface/old", "exists", True, False, "manifest"),
        ),
    )
    out = render.text(plan, color=False)
    assert "  + NetworkInterface/new  new: subnet subnet-web, server web-1\n" in out
    assert "  - NetworkInterface/old  deleted\n" in out
    assert "securityGroups" not in out
    md = render.markdown(plan)
    assert "| `NetworkInterface/new` | *new* |  | subnet subnet-web, server web-1 |" in md
    assert "| `NetworkInterface/old` | *deleted* |  |  |" in md


def test_text_orphan_deleted_by_prune_names_its_step() -> None:
    """An orphan with a delete step points at it."""
    plan = Plan(
        "d", "f", steps=(Step(1, Action.DELETE, "eni-old", reason="orphan"),), orphans=("eni-old",)
    )
    assert "eni-old  (deleted by step #1)" in render.text(plan, color=False)


def test_text_violations_show_code_resource_source_message_and_hint() -> None:
    """Each violation shows severity, code, resource, source, message and hint."""
    out = render.text(rejected_plan(), color=False)
    assert "  error  FlavorLimitExceeded  Server/web-2  manifests/app.yaml:12:3\n" in out
    assert "    web-2 (s6.large.2, max 3 NICs) would carry 4\n" in out
    assert "    hint: move an ENI off web-2 or pick a larger flavor\n" in out
    assert "  warning  ServerNotReady  Server/web-3\n" in out


def test_text_has_colour_only_when_asked() -> None:
    """color=False gives no escape codes; color=True colours the same text."""
    plain = render.text(swap_plan(), color=False)
    coloured = render.text(swap_plan(), color=True)
    assert "\x1b[" not in plain
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain


def test_text_no_changes() -> None:
    """An empty plan is just the no-changes line."""
    assert render.text(empty_plan(), color=False) == planview.NO_CHANGES + "\n"


def test_markdown_has_summary_table_changes_and_violations() -> None:
    """Markdown carries the summary, a step table, change tables and violations with hints."""
    out = render.markdown(swap_plan())
    assert "✅ **Plan: 1 to create, 2 to detach, 3 to attach.**" in out
    assert "| # | action | interface | server | after | detail | reason |" in out
    assert "| 4 | attach | `eni-a` | `web-2` | 3 |  | eni-a moves to web-2 |" in out
    assert "#### Changes from the manifests" in out
    assert "#### Drift: the cloud changed outside enictl" in out
    assert "| `NetworkInterface/eni-c` | securityGroups | `[sg-web]` | `[sg-web, sg-db]` |" in out
    rejected = render.markdown(rejected_plan())
    assert rejected.splitlines()[2].startswith("❌ **Plan rejected")
    assert (
        "- **error** `FlavorLimitExceeded` `Server/web-2` at `manifests/app.yaml:12:3`: "
        "web-2 (s6.large.2, max 3 NICs) would carry 4\n"
        "  - hint: move an ENI off web-2 or pick a larger flavor" in rejected
    )


def test_markdown_mermaid_has_one_edge_per_moved_eni() -> None:
    """The mermaid flowchart has a node per server and a labelled edge per moved ENI."""
    out = render.markdown(swap_plan())
    block = out.split("```mermaid\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0] == "flowchart LR"
    assert '  s0["web-1"]' in block and '  s1["web-2"]' in block
    edges = [line.strip() for line in block if "-->" in line]
    assert edges == ['s0 -->|"eni-a"| s1', 's1 -->|"eni-b"| s0']
    assert "web-3" not in "\n".join(block)  # eni-new is created, not moved


def test_markdown_without_moves_has_no_mermaid() -> None:
    """No ENI moves between servers: no diagram."""
    assert "```mermaid" not in render.markdown(empty_plan())
    assert "```mermaid" not in render.markdown(rejected_plan())


def test_markdown_escapes_pipes_in_cells() -> None:
    """A pipe inside a reason does not break the table."""
    plan = Plan("d", "f", steps=(Step(1, Action.DELETE, "x", reason="a | b"),))
    assert "| a \\| b |" in render.markdown(plan)


def test_moves_ignore_detach_only_and_attach_only() -> None:
    """Only a detach from one server plus an attach to another is a move."""
    plan = Plan(
        "d",
        "f",
        steps=(
            Step(1, Action.DETACH, "parked", server="web-1"),
            Step(2, Action.ATTACH, "fresh", server="web-2"),
            Step(3, Action.DETACH, "moved", server="web-1"),
            Step(4, Action.ATTACH, "moved", server="web-3", depends_on=(3,)),
        ),
    )
    assert planview.moves(plan) == [("moved", "web-1", "web-3")]


def test_json_text_is_the_plan_json_sorted_and_stable() -> None:
    """json_text is byte-identical for the same plan and round-trips through Plan.from_json."""
    plan = swap_plan()
    out = render.json_text(plan)
    assert out == render.json_text(swap_plan())
    assert out.endswith("}\n")
    data = json.loads(out)
    assert data == plan.as_json()
    assert list(data) == sorted(data)
    assert Plan.from_json(data).steps == plan.steps


def test_yaml_text_is_the_same_document() -> None:
    """yaml_text loads to the same document as the JSON form."""
    plan = rejected_plan()
    assert yaml.safe_load(render.yaml_text(plan)) == plan.as_json()


def test_render_dispatches_on_output_format() -> None:
    """render() picks the renderer named by -o."""
    plan = swap_plan()
    assert render.render(plan, "json") == render.json_text(plan)
    assert render.render(plan, "markdown") == render.markdown(plan)
    assert render.render(plan, "text") == render.text(plan, color=False)
