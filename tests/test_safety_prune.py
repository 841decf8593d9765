"""Prune has brakes: a plan deletes at most --prune-limit ENIs (PruneLimitExceeded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller.cli import main
from controller.model import Topology
from controller.plan import DEFAULT_PRUNE_LIMIT, Action, Code
from controller.planning import planner
from controller.providers.sim.cloud import open_cloud
from tests.builders import as_declared, desired, standard

REPO = Path(__file__).parent.parent


def _orphans(count: int) -> tuple[Topology, Topology]:
    """A cloud with one declared ENI and `count` managed orphans (some attached)."""
    cloud = standard().server("web-1", "s4").eni("keep", server="web-1")
    for i in range(count):
        cloud.eni(f"old-{i:02d}", server="web-1" if i < 2 else None)
    observed = cloud.build()
    return desired(observed, ["web-1"], as_declared(observed, "keep")), observed


def _deleted(plan_steps: object) -> list[str]:
    return [s.interface for s in plan_steps if s.action is Action.DELETE]  # type: ignore[attr-defined]


def test_the_default_limit_is_ten() -> None:
    """--prune-limit defaults to 10, as SPEC section 4 says."""
    assert DEFAULT_PRUNE_LIMIT == 10


def test_a_plan_may_delete_up_to_the_limit() -> None:
    """Ten orphans with --prune: a plan deleting all ten, no violation."""
    want, observed = _orphans(10)
    plan = planner.plan(want, observed, prune=True)
    assert plan.applyable and len(_deleted(plan.steps)) == 10


def test_one_delete_more_than_the_limit_rejects_the_plan() -> None:
    """Eleven orphans with --prune: rejected with PruneLimitExceeded, no step at all,
    and the hint names the limit that would allow it."""
    want, observed = _orphans(11)
    plan = planner.plan(want, observed, prune=True)
    assert not plan.applyable and plan.steps == ()
    (found,) = plan.errors
    assert found.code is Code.PRUNE_LIMIT_EXCEEDED
    assert "would delete 11 ENIs" in found.message and "--prune-limit 10" in found.message
    assert "--prune-limit 11" in found.hint and "missing, empty or unreadable" in found.hint


@pytest.mark.parametrize(("limit", "applyable"), [(0, False), (10, False), (11, True)])
def test_the_limit_can_be_raised_or_lowered(limit: int, applyable: bool) -> None:
    """The limit is the caller's: 0 forbids any delete, 11 allows eleven."""
    want, observed = _orphans(11)
    assert planner.plan(want, observed, prune=True, prune_limit=limit).applyable is applyable


def test_without_prune_nothing_counts() -> None:
    """Without --prune orphans are kept, so no limit is reached whatever their number."""
    want, observed = _orphans(50)
    plan = planner.plan(want, observed, prune=False, prune_limit=0)
    assert plan.applyable and not plan.steps and len(plan.orphans) == 50


# -- through the CLI -------------------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo applied, then twelve more managed ENIs that no manifest declares."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    state = tmp_path / "state"
    inventory = tmp_path / "manifests" / "inventory" / "demo-cloud.yaml"
    assert main(["--state-dir", str(state), "sim", "init", str(inventory)]) == 0
    assert (
        main(["--state-dir", str(state), "apply", str(tmp_path / "manifests/demo"), "--yes"]) == 0
    )
    cloud = open_cloud(state)
    for i in range(12):
        cloud.force_create_interface(f"stray-{i:02d}", "subnet-mgmt", managed=True)
    cloud.close()
    return tmp_path


def _names(state: Path) -> set[str]:
    cloud = open_cloud(state)
    try:
        return set(cloud.snapshot().interfaces)
    finally:
        cloud.close()


def test_apply_prune_over_the_limit_deletes_nothing(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`apply --prune` that would delete 12 ENIs is rejected: exit 1, the violation
    shown with its hint, every ENI still there."""
    state, manifests = str(demo / "state"), str(demo / "manifests/demo")
    before = _names(demo / "state")
    capsys.readouterr()
    assert main(["--state-dir", state, "apply", manifests, "--yes", "--prune"]) == 1
    out, err = capsys.readouterr()
    assert "PruneLimitExceeded" in out and "--prune-limit 12" in out
    assert "plan rejected" in err
    assert _names(demo / "state") == before


def test_a_raised_limit_lets_the_prune_run(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --prune-limit 12 the same prune runs and the strays are gone."""
    state, manifests = str(demo / "state"), str(demo / "manifests/demo")
    args = ["--state-dir", state, "apply", manifests, "--yes", "--prune", "--prune-limit", "12"]
    assert main(args) == 0, capsys.readouterr().err
    assert not {n for n in _names(demo / "state") if n.startswith("stray-")}


def test_plan_json_carries_the_violation(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --prune -o json` shows PruneLimitExceeded as an error and no steps."""
    state, manifests = str(demo / "state"), str(demo / "manifests/demo")
    capsys.readouterr()
    assert main(["--state-dir", state, "plan", manifests, "--prune", "-o", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["applyable"] is False and data["steps"] == []
    assert [v["code"] for v in data["violations"]] == ["PruneLimitExceeded"]


def test_a_saved_plan_keeps_its_limit_and_apply_plan_takes_none(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan --prune --prune-limit 12 --out` saves the limit; `apply --plan` plans again
    with it (and runs), and refuses a --prune-limit of its own."""
    state, manifests = str(demo / "state"), str(demo / "manifests/demo")
    saved = str(tmp_path / "plan.json")
    plan = ["--state-dir", state, "plan", manifests, "--prune", "--prune-limit", "12"]
    assert main([*plan, "--out", saved]) == 0
    assert json.loads(Path(saved).read_text())["pruneLimit"] == 12
    capsys.readouterr()
    assert main(["--state-dir", state, "apply", "--plan", saved, "--prune-limit", "20"]) == 1
    assert "--prune-limit is part of a saved plan" in capsys.readouterr().err
    assert main(["--state-dir", state, "apply", "--plan", saved]) == 0
    assert not {n for n in _names(demo / "state") if n.startswith("stray-")}
