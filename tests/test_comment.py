"""The markdown plan is a pull-request comment: summary first, folded, under GitHub's limit."""

from __future__ import annotations

from controller.plan import Action, Change, Code, Plan, Severity, Step, Violation
from controller.views import comment, render

GITHUB_LIMIT = 65_536


def _huge_plan(n: int = 5_000) -> Plan:
    """`n` steps (creates and attaches over n/5 servers), their changes, drift, orphans
    and warnings: a big account onboarded or rebuilt at once."""
    steps, changes = [], []
    for i in range(n // 2):
        name, server = f"eni-{i:05d}", f"server-{i % (n // 5):04d}"
        steps.append(Step(2 * i + 1, Action.CREATE, name, subnet="subnet-app", reason="new"))
        steps.append(Step(2 * i + 2, Action.ATTACH, name, server=server, depends_on=(2 * i + 1,)))
        changes.append(Change(f"NetworkInterface/{name}", "exists", False, True, "manifest"))
        changes.append(Change(f"NetworkInterface/{name}", "server", None, server, "manifest"))
    drift = [
        Change(f"NetworkInterface/old-{i}", "securityGroups", ["sg-a"], ["sg-a", "sg-b"], "drift")
        for i in range(500)
    ]
    warnings = tuple(
        Violation(Code.SERVER_NOT_READY, Severity.WARNING, f"Server/s-{i}", "", "not ready")
        for i in range(300)
    )
    return Plan(
        "sha256:d",
        "sha256:f",
        steps=tuple(steps),
        changes=(*changes, *drift),
        violations=warnings,
        orphans=tuple(f"orphan-{i}" for i in range(400)),
    )


def test_a_5000_step_plan_stays_under_githubs_comment_limit() -> None:
    """5,000 steps render under 65,536 characters: summary first, every section there
    (folded), and a pointer to the full plan where rows were left out."""
    md = render.markdown(_huge_plan())
    assert len(md) <= comment.LIMIT < GITHUB_LIMIT
    lines = md.splitlines()
    assert lines[2] == "✅ **Plan: 2500 to create, 2500 to attach.**"
    assert "- 0 errors, 300 warnings" in lines and "- 5000 steps on 1000 servers" in lines
    assert "- 500 fields drifted outside enictl" in lines and "- 400 orphans" in lines
    for title in ("Violations", "Steps", "Changes from the manifests", "Drift: the cloud"):
        assert f"<details><summary><b>{title}" in md
    assert "more not shown here (this comment has a size limit)" in md
    assert "`enictl show plan.json` prints it" in md
    assert md.index("<b>Violations</b>") < md.index("<b>Steps</b>")


def test_a_limit_is_kept_whatever_it_is() -> None:
    """A smaller limit is kept too, and the sections after the cut still have titles."""
    md = comment.markdown(_huge_plan(500), limit=8_000)
    assert len(md) <= 8_000
    assert "<b>Orphans</b> (400)" in md


def test_a_small_plan_is_neither_folded_nor_cut() -> None:
    """A handful of steps is a plain section with every row."""
    plan = Plan("d", "f", steps=tuple(Step(i, Action.DELETE, f"e{i}") for i in range(1, 4)))
    md = render.markdown(plan)
    assert "<details>" not in md and "not shown here" not in md
    assert "#### Steps" in md and "| 3 | delete | `e3` |" in md
