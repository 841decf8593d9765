"""What a reviewer reads: saved plans shown again, orphans told apart, steps that name
what they wait for, the unchanged list, and a drift check that sees orphans."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.applyhelpers import Cli

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "manifests" / "demo"
INVENTORY = ROOT / "manifests" / "inventory" / "demo-cloud.yaml"


@pytest.fixture
def sim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """enictl on the demo cloud (sim provider), the demo applied."""
    cli = Cli(tmp_path / "state", capsys)
    cli.init(INVENTORY)
    assert cli("apply", str(DEMO), "--yes").code == 0
    return cli


def _dropped(tmp_path: Path, *names: str) -> Path:
    """A copy of the demo manifests without the NetworkInterfaces `names`."""
    out = tmp_path / "manifests"
    shutil.copytree(DEMO, out)
    for path in out.glob("*.yaml"):
        docs = path.read_text().split("\n---\n")
        path.write_text(
            "\n---\n".join(d for d in docs if not any(f"name: {n}\n" in d for n in names))
        )
    return out


def test_orphans_say_whether_prune_would_delete_them(sim: Cli, tmp_path: Path) -> None:
    """An unprotected orphan is kept until --prune; a protected one is kept for good, and
    with --prune the note agrees with the ProtectedInterface warning."""
    manifests = _dropped(tmp_path, "svc-eni", "gw-1-private")
    out = sim("plan", str(manifests)).out
    assert "  gw-1-private  (kept; --prune would delete it)" in out
    assert "  svc-eni  (kept: protected, --prune keeps it too)" in out
    pruned = sim("plan", str(manifests), "--prune").out
    assert "  svc-eni  (kept: protected, --prune keeps it too)" in pruned
    assert "orphan svc-eni has protect set: --prune keeps it" in pruned
    assert "gw-1-private  (deleted by step #" in pruned


def test_drift_check_exits_2_on_orphans_when_asked(sim: Cli, tmp_path: Path) -> None:
    """--detailed-exitcode alone ignores kept orphans (0); --orphans-are-changes makes them 2."""
    manifests = _dropped(tmp_path, "gw-1-private")
    assert sim("plan", str(manifests), "--detailed-exitcode").code == 0
    assert sim("plan", str(manifests), "--detailed-exitcode", "--orphans-are-changes").code == 2
    assert sim("plan", str(DEMO), "--detailed-exitcode", "--orphans-are-changes").code == 0


def test_verbose_lists_unchanged_resources_with_reasons(sim: Cli) -> None:
    """`-v` lists every unchanged resource with why it needs no step; without it, a count."""
    quiet = sim("plan", str(DEMO)).out
    assert "Unchanged: 8 resources.\n" in quiet and "legacy-monitor" not in quiet
    verbose = sim("plan", str(DEMO), "-v").out.splitlines()
    start = verbose.index("Unchanged: 8 resources:")
    rows = verbose[start + 1 :]
    assert len(rows) == 8
    assert any(r.split() == ["NetworkInterface/legacy-monitor", "unmanaged,", "left", "alone"]
               for r in rows)  # fmt: skip


def test_a_step_names_the_steps_it_waits_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`after #N` says what step N is, so a reader of the grouped plan never hunts."""
    cli = Cli(tmp_path / "state", capsys)
    cli.init(INVENTORY)
    out = cli("plan", str(DEMO)).out
    attach = next(line for line in out.splitlines() if "attach    svc-eni" in line)
    assert "after #8 create svc-eni" in attach


def test_show_renders_a_saved_plan_in_every_format(sim: Cli, tmp_path: Path) -> None:
    """`enictl show FILE` prints the saved plan as plan did (text, markdown) and its JSON."""
    manifests = _dropped(tmp_path, "gw-1-private")
    saved = tmp_path / "plan.json"
    made = sim("plan", str(manifests), "--prune", "--out", str(saved), "-o", "json")
    assert made.code == 0
    shown = sim("show", str(saved), "-o", "json")
    assert shown.code == 0
    assert json.loads(shown.out) == json.loads(made.out)
    text = sim("show", str(saved)).out
    assert text.startswith("Plan: 1 to detach, 1 to delete.\n")
    assert f"Made from {manifests} with --prune. Apply it with: enictl apply --plan {saved}" in text
    assert sim("show", str(saved), "-o", "markdown").out.startswith("### enictl plan\n")
    missing = sim("show", str(tmp_path / "nope.json"))
    assert (missing.code, missing.err) == (1, f"error: {tmp_path}/nope.json: no such plan file\n")


def test_many_subnet_mismatches_give_the_policy_and_its_remedy_once() -> None:
    """200 SubnetMismatch errors (an adopted cloud under the default subnetScope) are one
    group: ten listed, the rest counted, the hint naming subnetScope: vpc said once."""
    from controller.plan import Code, Plan, Severity, Violation
    from controller.planning import invariants
    from controller.views import render

    errors = tuple(
        Violation(
            Code.SUBNET_MISMATCH,
            Severity.ERROR,
            f"NetworkInterface/eni-{i:03d}",
            f"m.yaml:{i + 1}:3",
            f"eni-{i:03d} is in subnet db but web-{i}'s primary subnet is app",
            invariants.SUBNET_SCOPE_HINT,
        )
        for i in range(200)
    )
    out = render.text(Plan("d", "f", violations=errors), color=False)
    assert out.count("hint:") == 1 and out.count("subnetScope: vpc") == 1
    assert "  error  SubnetMismatch  (200 resources)\n" in out
    assert "    NetworkInterface/eni-009 m.yaml:10:3: eni-009 is in subnet db" in out
    assert "eni-010" not in out
    assert "    ... and 190 more like them (-o json lists every one)\n" in out
    md = render.markdown(Plan("d", "f", violations=errors))
    assert md.count("hint:") == 1 and "`SubnetMismatch` (200 resources)" in md


def test_exported_cloud_without_its_policy_is_told_the_policy_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exported manifests with the PlacementPolicy removed are rejected with every
    SubnetMismatch listed and the remedy said once."""
    cli = Cli(tmp_path / "state", capsys)
    cli.init(ROOT / "tests" / "data" / "export" / "cloud.yaml")
    docs = cli("export").out.split("---\n")
    manifests = tmp_path / "cloud.yaml"
    manifests.write_text("---\n".join(d for d in docs if "kind: PlacementPolicy" not in d))
    ran = cli("plan", str(manifests))
    assert ran.code == 1
    assert "  error  SubnetMismatch  (2 resources)\n" in ran.out
    assert ran.out.count("subnetScope: vpc") == 1


def test_sim_init_force_forgets_what_was_applied_to_the_old_cloud(sim: Cli) -> None:
    """After `sim init --force`, the creates of the next plan are no drift, and no
    resource shows in two change sections."""
    assert sim("sim", "init", str(INVENTORY), "--force").code == 0
    plan = json.loads(sim("plan", str(DEMO), "-o", "json").out)
    assert plan["changes"] and {c["origin"] for c in plan["changes"]} == {""}
    assert "Drift" not in sim("plan", str(DEMO)).out


def test_plan_while_an_apply_holds_the_lock_says_so(sim: Cli) -> None:
    """A plan while an apply holds the lock names it and its holder instead of planning;
    once the lock is free the plan runs."""
    from controller.storage import lock

    with lock.acquire(sim.state, command="enictl apply"):
        ran = sim("plan", str(DEMO))
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith(
        "error: enictl apply is in progress: a plan now would show a half-applied cloud; "
        f"state dir {sim.state} is locked by pid "
    )
    assert sim("plan", str(DEMO)).code == 0
