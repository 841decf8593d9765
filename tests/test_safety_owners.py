"""Owners: several manifest sets manage ENIs in one cloud, each only its own; an ENI
another owner manages is never pruned, adopted or changed here (OwnedElsewhere)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from controller import owners
from controller.cli import main
from controller.errors import UsageError
from controller.manifests.cache import CachedManifests
from controller.model import NetworkInterface, Topology
from controller.plan import Action, Code, Marker
from controller.planning import diff, planner
from controller.providers import open_provider
from controller.providers.sim.cloud import open_cloud
from controller.watching.loop import Outcome, Trigger
from controller.watching.reconciler import ReconcileOptions, Reconciler
from tests.builders import as_declared, desired, eni, standard
from tests.cloudfixtures import CloudProvider
from tests.fakeclock import FakeClock

REPO = Path(__file__).parent.parent
MUTATING = {"create_interface", "delete_interface", "attach", "detach", "set_managed"}


def _theirs(observed: Topology, name: str, owner: str) -> Topology:
    """`observed` with ENI `name` managed by `owner`."""
    iface = replace(observed.interfaces[name], managed=True, owner=owner)
    return replace(observed, interfaces={**observed.interfaces, name: iface})


# -- the owner names ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "team-a", "Repo_1.prod", "x" * 43])
def test_an_owner_name_is_a_tag_value_that_round_trips(name: str) -> None:
    """Owner names are written as the managed tag's value and read back as themselves
    (the default owner as `true`, which enictl wrote before owners existed)."""
    value = owners.tag_value(owners.checked(name))
    assert owners.from_tag_value(value) == name
    assert (value == "true") is (name == "default")


@pytest.mark.parametrize("name", ["", "true", "False", "team a", "x" * 44, "é", "a/b"])
def test_a_bad_owner_name_is_a_usage_error(name: str) -> None:
    """Empty, reserved, too long or with characters a tag value refuses: one clear line."""
    with pytest.raises(UsageError, match="--owner"):
        owners.checked(name)


def test_a_legacy_managed_tag_is_the_default_owner() -> None:
    """`enictl-managed=true` (and a managed ENI with no owner recorded) reads as `default`."""
    assert owners.from_tag_value("true") == "default"
    assert NetworkInterface("a", "s", managed=True).managed_by == "default"
    assert NetworkInterface("a", "s", managed=False, owner="team-a").managed_by is None


# -- the planner ------------------------------------------------------------------------


def _cloud() -> Topology:
    return standard().server("web-1", "s4").eni("mine", server="web-1").eni("spare").build()


def test_another_owners_eni_is_never_an_orphan_here() -> None:
    """With --prune, an ENI another owner manages is left alone, not an orphan; this
    owner's own orphan is deleted."""
    observed = _theirs(_cloud(), "spare", "team-b")
    want = desired(observed, ["web-1"])
    plan = planner.plan(want, observed, prune=True, owner="default")
    deleted = [s.interface for s in plan.steps if s.action is Action.DELETE]
    assert deleted == ["mine"] and plan.orphans == ("mine",)
    assert diff.elsewhere(observed.interfaces["spare"]) in {n.reason for n in plan.unchanged}


def test_team_b_prunes_nothing_of_the_default_owner() -> None:
    """The same cloud planned by owner team-b: the legacy-tagged ENIs are default's."""
    observed = _cloud()
    plan = planner.plan(desired(observed, ["web-1"]), observed, prune=True, owner="team-b")
    assert plan.applyable and plan.steps == () and plan.orphans == ()


def test_declaring_another_owners_eni_is_owned_elsewhere() -> None:
    """A manifest naming an ENI another owner manages: OwnedElsewhere, no step, no
    adoption, nothing taken over in silence."""
    observed = _theirs(_cloud(), "spare", "team-b")
    want = desired(
        observed, ["web-1"], [*as_declared(observed, "mine"), eni("spare", server="web-1")]
    )
    plan = planner.plan(want, observed, owner="default")
    (found,) = plan.errors
    assert found.code is Code.OWNED_ELSEWHERE and found.resource == "NetworkInterface/spare"
    assert "managed by owner team-b" in found.message and "--owner team-b" in found.hint
    assert plan.steps == () and not [m for m in plan.marks if m.marker is Marker.MANAGED]


def test_an_unmanaged_eni_is_adopted_and_a_new_one_planned_for_the_owner() -> None:
    """An unmanaged ENI a manifest names is adopted; a created one is planned as this
    owner's."""
    cloud = standard().server("web-1", "s4").eni("old", server="web-1", managed=False)
    observed = cloud.build()
    want = desired(observed, ["web-1"], [*as_declared(observed, "old"), eni("new")])
    plan = planner.plan(want, observed, owner="team-a")
    assert plan.adopt == ("old",) and plan.applyable
    assert diff.diff(want, observed, owner="team-a").target.interfaces["new"].owner == "team-a"


# -- two owners on one cloud ---------------------------------------------------------------

TEAM_A = ("migration.yaml", "policy.yaml")  # app-1, app-2 and svc-eni
TEAM_B = ("traffic.yaml", "policy.yaml")  # gw-1 and its three ENIs


@pytest.fixture
def split(tmp_path: Path) -> Path:
    """The demo cloud, and the demo manifests split between two repositories."""
    for team, files in (("team-a", TEAM_A), ("team-b", TEAM_B)):
        (tmp_path / team).mkdir()
        for name in files:
            shutil.copy(REPO / "manifests" / "demo" / name, tmp_path / team / name)
    inventory = str(REPO / "manifests" / "inventory" / "demo-cloud.yaml")
    assert main(["--state-dir", str(tmp_path / "state"), "sim", "init", inventory]) == 0
    return tmp_path


def _apply(root: Path, team: str, *extra: str) -> int:
    args = ["--state-dir", str(root / "state"), "apply", str(root / team), "--yes", "--prune"]
    return main([*args, "--owner", team, *extra])


def _log(root: Path) -> list[str]:
    cloud = open_cloud(root / "state")
    try:
        return [f"{e.operation} {e.target}" for e in cloud.log() if e.operation in MUTATING]
    finally:
        cloud.close()


def _owners(root: Path) -> dict[str, str | None]:
    cloud = open_cloud(root / "state")
    try:
        return {n: i.managed_by for n, i in cloud.snapshot().interfaces.items() if not i.primary}
    finally:
        cloud.close()


def test_two_owners_prune_on_both_sides_and_delete_nothing_of_each_other(
    split: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each repository applies its half with --prune under its own owner, twice, in
    turn: each creates and tags its own ENIs, and no apply deletes or detaches one of
    the other's (it used to delete 5)."""
    for _ in range(2):
        assert _apply(split, "team-a") == 0, capsys.readouterr().err
        assert _apply(split, "team-b") == 0, capsys.readouterr().err
    assert _owners(split) == {
        "svc-eni": "team-a", "gw-1-private": "team-b", "gw-1-public": "team-b",
        "gw-1-mgmt": "team-b", "legacy-monitor": None,
    }  # fmt: skip
    log = _log(split)
    assert not [line for line in log if line.startswith(("delete_interface", "detach"))]
    assert sum(line.startswith("create_interface") for line in log) == 4


LEGACY = """apiVersion: enictl/v1
kind: NetworkInterface
metadata: {name: legacy-monitor}
spec: {subnet: subnet-app, privateIp: 10.0.1.50, securityGroups: [sg-app], server: app-2}
"""


def test_an_adopted_eni_gets_the_adopting_owner(
    split: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Team A declares the unmanaged legacy-monitor: apply tags it team-a's, and team
    B's prune then leaves it alone."""
    (split / "team-a" / "legacy.yaml").write_text(LEGACY)
    assert _apply(split, "team-a") == 0, capsys.readouterr().err
    assert _owners(split)["legacy-monitor"] == "team-a"
    assert _apply(split, "team-b") == 0, capsys.readouterr().err
    assert _owners(split)["legacy-monitor"] == "team-a"


def test_declaring_the_other_owners_eni_is_refused(
    split: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Team A copies one of team B's ENIs into its manifests: its apply is rejected
    with OwnedElsewhere and the ENI keeps its owner and its server."""
    assert _apply(split, "team-b") == 0
    (split / "team-a" / "stolen.yaml").write_text(STOLEN)
    capsys.readouterr()
    assert _apply(split, "team-a") == 1
    out, err = capsys.readouterr()
    assert "OwnedElsewhere" in out and "managed by owner team-b" in out
    assert "plan rejected" in err
    assert _owners(split)["gw-1-public"] == "team-b"


STOLEN = """apiVersion: enictl/v1
kind: NetworkInterface
metadata: {name: gw-1-public}
spec: {subnet: subnet-public, privateIp: 10.0.3.10, securityGroups: [sg-public]}
"""


def test_the_owner_comes_from_the_environment(
    split: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENICTL_OWNER names the owner when --owner is not given."""
    monkeypatch.setenv("ENICTL_OWNER", "team-b")
    args = ["--state-dir", str(split / "state"), "apply", str(split / "team-b"), "--yes"]
    assert main(args) == 0, capsys.readouterr().err
    assert _owners(split)["gw-1-mgmt"] == "team-b"


def test_a_saved_plan_keeps_its_owner(
    split: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan --owner team-b --out` saves the owner; `apply --plan` plans again for it,
    refuses another --owner, and then tags the created ENIs team-b's."""
    saved = str(tmp_path / "plan.json")
    state = ["--state-dir", str(split / "state")]
    assert main([*state, "plan", str(split / "team-b"), "--owner", "team-b", "--out", saved]) == 0
    assert json.loads(Path(saved).read_text())["owner"] == "team-b"
    capsys.readouterr()
    assert main([*state, "apply", "--plan", saved, "--owner", "team-a"]) == 1
    assert "the plan was made for owner team-b" in capsys.readouterr().err
    assert main([*state, "apply", "--plan", saved]) == 0
    assert _owners(split)["gw-1-private"] == "team-b"


def test_a_bad_owner_is_one_line(split: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--owner true` is refused with one error line before anything is read."""
    assert _apply(split, "team-a", "--owner", "true") == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --owner 'true' is reserved")


def test_two_watches_with_different_manifests_do_not_flap(split: Path) -> None:
    """Two watch reconcilers on one cloud, each with its half of the manifests, its own
    owner and --prune, reconciling in turn 20 times: once converged, no attach, detach,
    create or delete at all (they flapped 160 times in 20 s)."""
    clock = FakeClock()
    state = split / "state"

    def reconciler(team: str) -> Reconciler:
        return Reconciler(
            state_dir=state,
            desired=CachedManifests([split / team]),
            open_provider=lambda: open_provider("sim", state),
            options=ReconcileOptions(prune=True, prune_grace=0.0, owner=team),
            clock=clock,
        )

    watches = [reconciler("team-a"), reconciler("team-b")]
    for watch in watches:
        assert watch(Trigger.START, frozenset()).outcome is Outcome.APPLIED
    converged = len(_log(split))
    for _ in range(20):
        for watch in watches:
            clock.advance(1.0)
            assert watch(Trigger.INTERVAL, frozenset()).outcome is Outcome.IN_SYNC
    assert _log(split)[converged:] == []


# -- through Huawei Cloud's API ------------------------------------------------------------


def test_the_owner_travels_in_the_port_tag(
    split: Path,
    cloud_provider: CloudProvider,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On both providers (huaweicloud through `sim serve`: the VPC v3 port tag
    `enictl-managed=<owner>`), created ENIs carry their owner, and a later plan of the
    other owner sees them as another's."""
    cloud_provider.use(split / "state")
    assert _apply(split, "team-b") == 0, capsys.readouterr().err
    assert _owners(split)["gw-1-public"] == "team-b"
    state = ["--state-dir", str(split / "state")]
    capsys.readouterr()
    plan = [*state, "plan", str(split / "team-a"), "--prune", "--owner", "team-a", "-o", "json"]
    assert main(plan) == 0
    data = json.loads(capsys.readouterr().out)
    assert not [s for s in data["steps"] if s["interface"].startswith("gw-1")]
    assert data["orphans"] == []
