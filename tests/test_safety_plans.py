"""Saved plans cannot be forged, and go stale only when their part of the cloud changes.

The corpus takes a reviewed plan of the demo (svc-eni moves from app-1 to app-2) and
tampers with it in every way the red-team pass found and more: every copy is refused
with one clean line, and the simulated cloud receives no call but observations.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from controller import apply
from controller.cli import main
from controller.manifests import loader
from controller.model import NetworkInterface, Topology
from controller.planning import planner
from controller.providers.sim.cloud import SimCloud, init_cloud, open_cloud

REPO = Path(__file__).parent.parent
PLANS = Path(__file__).parent / "plans"
Doc = dict[str, Any]


@dataclass(frozen=True)
class Reviewed:
    """A demo cloud after `apply manifests/demo`, and a saved plan of one more change."""

    state: Path
    manifests: Path
    plan: Path

    def document(self) -> Doc:
        data: Doc = json.loads(self.plan.read_text())
        return data

    def cloud(self) -> SimCloud:
        return open_cloud(self.state)

    def calls(self) -> int:
        cloud = self.cloud()
        try:
            return len(cloud.log())
        finally:
            cloud.close()

    def calls_since(self, mark: int) -> list[str]:
        cloud = self.cloud()
        try:
            return [e.operation for e in cloud.log()[mark:]]
        finally:
            cloud.close()

    def topology(self) -> Topology:
        cloud = self.cloud()
        try:
            return cloud.snapshot()
        finally:
            cloud.close()


def run(*args: str) -> int:
    return main(list(args))


def review(root: Path) -> Reviewed:
    """The demo applied, then svc-eni moved to app-2 in the manifests and planned."""
    manifests = root / "manifests"
    shutil.copytree(REPO / "manifests", manifests)
    state = root / "state"
    demo = str(manifests / "demo")
    inventory = str(manifests / "inventory" / "demo-cloud.yaml")
    assert run("--state-dir", str(state), "sim", "init", inventory) == 0
    assert run("--state-dir", str(state), "apply", demo, "--yes") == 0
    migration = manifests / "demo" / "migration.yaml"
    migration.write_text(migration.read_text().replace("server: app-1", "server: app-2"))
    plan = root / "plan.json"
    assert run("--state-dir", str(state), "plan", demo, "--out", str(plan)) == 0
    return Reviewed(state, manifests / "demo", plan)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Reviewed:
    """One reviewed plan for the whole corpus (a refused apply changes nothing)."""
    return review(tmp_path_factory.mktemp("reviewed"))


@pytest.fixture
def reviewed(tmp_path: Path) -> Reviewed:
    """A reviewed plan of one's own, for the tests that change the cloud."""
    return review(tmp_path)


# -- the tamper corpus ----------------------------------------------------------------


def _step(sid: int, action: str, interface: str, server: str | None = None, **more: Any) -> Doc:
    reason = more.pop("reason", "reviewed")
    return {"id": sid, "action": action, "interface": interface, "server": server,
            "dependsOn": more.pop("dependsOn", []), "reason": reason, **more}  # fmt: skip


def _edit(change: Callable[[Doc], object]) -> Callable[[Doc], bytes]:
    """A tamper that edits the document in place (a deep copy) and writes it back."""

    def tamper(doc: Doc) -> bytes:
        data = copy.deepcopy(doc)
        change(data)
        return json.dumps(data, indent=2, sort_keys=True).encode()

    return tamper


def _raw(change: Callable[[bytes], bytes]) -> Callable[[Doc], bytes]:
    """A tamper of the file's bytes."""

    def tamper(doc: Doc) -> bytes:
        return change(json.dumps(doc, indent=2, sort_keys=True).encode())

    return tamper


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Doc], bytes]:
    def change(data: Doc) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return _edit(change)


def _delete(*path: Any) -> Callable[[Doc], bytes]:
    def change(data: Doc) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return _edit(change)


def _steps(*steps: Doc) -> Callable[[Doc], bytes]:
    return _set(("steps",), list(steps))


def _plus(*steps: Doc) -> Callable[[Doc], bytes]:
    return _edit(lambda d: d["steps"].extend(steps))


DETACH = _step(1, "detach", "svc-eni", "app-1", reason="svc-eni moves to app-2")
ATTACH = _step(2, "attach", "svc-eni", "app-2", dependsOn=[1],
               reason="svc-eni moves from app-1 to app-2")  # fmt: skip
LEGACY_GONE = (_step(1, "detach", "legacy-monitor", "app-2"),
               _step(2, "delete", "legacy-monitor", dependsOn=[1]))  # fmt: skip
SCOPE_LEGACY = ("scope", "Server/app-2", "interfaces")
WARNING = {"code": "ServerNotReady", "severity": "warning", "resource": "Server/app-2",
           "source": "", "message": "m", "hint": ""}  # fmt: skip

TAMPERS: dict[str, Callable[[Doc], bytes]] = {
    "steps-replaced-by-delete-of-unmanaged": _steps(*LEGACY_GONE),
    "added-delete-of-unmanaged": _plus(
        _step(3, "detach", "legacy-monitor", "app-2"),
        _step(4, "delete", "legacy-monitor", dependsOn=[3]),
    ),
    "added-delete-of-protected": _plus(
        _step(3, "detach", "gw-1-mgmt", "gw-1"), _step(4, "delete", "gw-1-mgmt", dependsOn=[3])
    ),
    "added-delete-of-moved-eni": _plus(_step(3, "delete", "svc-eni", dependsOn=[2])),
    "added-unbind-eip": _plus(_step(3, "unbind-eip", "gw-1-public", eip="eip-gw")),
    "added-bind-eip": _plus(_step(3, "bind-eip", "legacy-monitor", eip="eip-gw")),
    "added-update-security-groups": _plus(
        _step(3, "update", "gw-1-private", securityGroups=["sg-public"])
    ),
    "added-create-of-unreviewed-eni": _plus(
        _step(3, "create", "rogue", subnet="subnet-app", privateIp=None, securityGroups=[])
    ),
    "added-attach-of-unmanaged": _plus(_step(3, "attach", "legacy-monitor", "app-1")),
    "added-stop-server": _plus(_step(3, "stop-server", "svc-eni", "app-1")),
    "changed-server": _steps(DETACH, {**ATTACH, "server": "app-1"}),
    "changed-interface": _steps(DETACH, {**ATTACH, "interface": "legacy-monitor"}),
    "changed-action": _steps({**DETACH, "action": "delete"}, ATTACH),
    "changed-reason": _steps(DETACH, {**ATTACH, "reason": "nothing to see"}),
    "changed-eip-field": _steps(DETACH, {**ATTACH, "eip": "eip-gw"}),
    "added-security-groups-to-attach": _steps(DETACH, {**ATTACH, "securityGroups": ["sg-mgmt"]}),
    "removed-first-step": _steps(ATTACH),
    "removed-last-step": _steps(DETACH),
    "removed-all-steps": _steps(),
    "removed-depends-on": _steps(DETACH, {**ATTACH, "dependsOn": []}),
    "depends-on-itself": _steps(DETACH, {**ATTACH, "dependsOn": [2]}),
    "depends-on-a-missing-step": _steps(DETACH, {**ATTACH, "dependsOn": [7]}),
    "reordered-steps": _steps(ATTACH, DETACH),
    "renumbered-steps": _steps({**DETACH, "id": 2}, {**ATTACH, "id": 1, "dependsOn": [2]}),
    "duplicated-ids": _steps(DETACH, {**ATTACH, "id": 1, "dependsOn": [1]}),
    "duplicated-step": _steps(DETACH, ATTACH, ATTACH),
    "unknown-action": _steps({**DETACH, "action": "format-disk"}, ATTACH),
    "step-id-as-text": _steps({**DETACH, "id": "1"}, ATTACH),
    "step-id-as-true": _steps({**DETACH, "id": True}, ATTACH),
    "step-id-as-float": _steps({**DETACH, "id": 1.0}, ATTACH),
    "unknown-step-field": _steps({**DETACH, "force": True}, ATTACH),
    "step-not-an-object": _steps(DETACH, "attach svc-eni app-2"),  # type: ignore[arg-type]
    "steps-not-a-list": _set(("steps",), {"1": DETACH}),
    "steps-null": _set(("steps",), None),
    "steps-missing": _delete("steps"),
    "added-violation": _set(("violations",), [WARNING]),
    "summary-changed": _set(("summary", "delete"), 2),
    "summary-removed": _delete("summary"),
    "applyable-false": _set(("applyable",), False),
    "adopt-added": _set(("adopt",), ["legacy-monitor"]),
    "protect-added": _set(("protect",), [{"interface": "legacy-monitor", "value": True}]),
    "changes-edited": _set(("changes", 0, "after"), "app-1"),
    "orphans-added": _set(("orphans",), ["legacy-monitor"]),
    "prune-turned-on": _set(("prune",), True),
    "prune-as-text": _set(("prune",), "yes"),
    "prune-limit-raised": _set(("pruneLimit",), 100),
    "prune-limit-negative": _set(("pruneLimit",), -1),
    "prune-limit-missing": _delete("pruneLimit"),
    "owner-changed": _set(("owner",), "team-x"),
    "owner-invalid": _set(("owner",), "true"),
    "manifests-narrowed": _edit(
        lambda d: d["manifests"].__setitem__(0, d["manifests"][0] + "/traffic.yaml")
    ),
    "manifests-empty": _set(("manifests",), []),
    "manifests-digest-changed": _set(("manifestsDigest",), "sha256:" + "0" * 64),
    "fingerprint-changed": _set(("observedFingerprint",), "sha256:" + "0" * 64),
    "scope-record-edited": _set(SCOPE_LEGACY, ["app-2-primary"]),
    "scope-makes-unmanaged-managed": _set(
        ("scope", "NetworkInterface/legacy-monitor"), {"managed": True}
    ),
    "scope-record-removed": _delete("scope", "Server/app-1"),
    "scope-removed": _delete("scope"),
    "format-version-2": _set(("formatVersion",), "2"),
    "unknown-top-level-key": _set(("runAlso",), ["rm -rf /"]),
    "truncated-half": _raw(lambda b: b[: len(b) // 2]),
    "truncated-last-byte": _raw(lambda b: b.rstrip()[:-1]),
    "empty-file": _raw(lambda b: b""),
    "not-utf8": _raw(lambda b: b"\xff\xfe" + b),
    "a-json-list": _raw(lambda b: b"[" + b + b"]"),
    "nan-id": _raw(lambda b: b.replace(b'"id": 1,', b'"id": NaN,', 1)),
}


def test_the_corpus_has_every_kind_the_red_team_tried() -> None:
    """At least the 41 kinds of the red-team pass are in the corpus."""
    assert len(TAMPERS) >= 41


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_a_tampered_plan_is_refused_without_a_cloud_change(
    kind: str, shared: Reviewed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every tampered copy of a reviewed plan is refused (exit 1, one clean error line)
    and the cloud gets no mutating call: the file cannot make enictl do anything."""
    tampered = tmp_path / "plan.json"
    tampered.write_bytes(TAMPERS[kind](shared.document()))
    before, mark = shared.topology(), shared.calls()
    capsys.readouterr()
    code = run("--state-dir", str(shared.state), "apply", "--plan", str(tampered))
    err = capsys.readouterr().err
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "internal error" not in err and "Traceback" not in err
    assert set(shared.calls_since(mark)) <= {"observe"}
    assert shared.topology() == before


def test_the_reviewed_plan_itself_still_applies(
    reviewed: Reviewed, capsys: pytest.CaptureFixture[str]
) -> None:
    """The untampered file applies: the corpus is refused for what was changed in it."""
    assert run("--state-dir", str(reviewed.state), "apply", "--plan", str(reviewed.plan)) == 0
    assert reviewed.topology().interfaces["svc-eni"].server == "app-2"


def test_a_tampered_step_is_named_in_the_refusal(
    shared: Reviewed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusal says what differs: the step, what the file says and what enictl plans."""
    tampered = tmp_path / "plan.json"
    tampered.write_bytes(TAMPERS["changed-server"](shared.document()))
    assert run("--state-dir", str(shared.state), "apply", "--plan", str(tampered)) == 1
    err = capsys.readouterr().err
    assert "edited by hand, damaged, or made by another version" in err
    assert "step 2: the file says attach svc-eni on app-1" in err
    assert "the plan attach svc-eni on app-2" in err


def test_a_rejected_plan_stays_rejected_when_its_violations_are_removed(
    reviewed: Reviewed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rejected plan saved with its violations removed, marked applyable and given
    steps, is refused; so is the untampered rejected file; the cloud is not touched."""
    traffic = reviewed.manifests / "traffic.yaml"
    traffic.write_text(traffic.read_text() + _ENI_ON_GW)
    provider = _provider(reviewed.state)
    prepared = apply.prepare(provider, [str(reviewed.manifests)], prune=False)
    assert not prepared.plan.applyable
    rejected = apply.save_plan(prepared, tmp_path / "rejected.json", [str(reviewed.manifests)])
    data = json.loads(rejected.read_text())
    data.update(violations=[], applyable=True, steps=[_step(1, "attach", "extra", "gw-1")])
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    mark = reviewed.calls()
    for path in (forged, rejected):
        assert run("--state-dir", str(reviewed.state), "apply", "--plan", str(path)) == 1
    err = capsys.readouterr().err
    assert "violations: the file has 0, the plan 1" in err and "plan rejected" in err
    assert set(reviewed.calls_since(mark)) <= {"observe"}


_ENI_ON_GW = """---
apiVersion: enictl/v1
kind: NetworkInterface
metadata: {name: extra}
spec: {subnet: subnet-app, server: gw-1}
"""


def _provider(state: Path) -> Any:
    from controller.providers import open_provider

    return open_provider("sim", state)


# -- scoped staleness ------------------------------------------------------------------


def _apply_saved(reviewed: Reviewed, *extra: str) -> int:
    return run("--state-dir", str(reviewed.state), "apply", "--plan", str(reviewed.plan), *extra)


@contextlib.contextmanager
def console(reviewed: Reviewed) -> Iterator[SimCloud]:
    """The simulated cloud's console: changes made outside enictl."""
    cloud = reviewed.cloud()
    try:
        yield cloud
    finally:
        cloud.close()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: c.force_set_security_groups("legacy-monitor", ["sg-mgmt"]),
                     id="groups-of-an-unmanaged-port-on-a-touched-server"),
        pytest.param(lambda c: c.force_create_interface("stray", "subnet-mgmt"),
                     id="a-new-unmanaged-port"),
        pytest.param(lambda c: c.force_set_security_groups("gw-1-primary", ["sg-mgmt"]),
                     id="groups-of-a-primary-whose-server-declares-none"),
    ],
)  # fmt: skip
def test_changes_outside_the_plans_part_of_the_cloud_do_not_make_it_stale(
    reviewed: Reviewed, change: Callable[[SimCloud], object], capsys: pytest.CaptureFixture[str]
) -> None:
    """A console change that nothing in the plan depends on leaves the plan fresh: it
    applies and the cloud then matches the manifests."""
    with console(reviewed) as cloud:
        change(cloud)
    assert _apply_saved(reviewed) == 0, capsys.readouterr().err
    assert reviewed.topology().interfaces["svc-eni"].server == "app-2"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c.force_set_status("app-1", "SHUTOFF"),
         "Server/app-1 status: ACTIVE -> SHUTOFF"),
        (lambda c: c.force_detach("svc-eni"), "NetworkInterface/svc-eni server: app-1 -> none"),
        (lambda c: c.force_set_security_groups("svc-eni", ["sg-mgmt"]),
         "NetworkInterface/svc-eni securityGroups: [sg-svc] -> [sg-mgmt]"),
        (lambda c: c.force_detach("legacy-monitor"),
         "Server/app-2 interfaces: [app-2-primary, legacy-monitor] -> [app-2-primary]"),
        (lambda c: c.force_set_security_groups("app-1-primary", ["sg-mgmt"]),
         "Server/app-1 securityGroups: [sg-app] -> [sg-mgmt]"),
        (lambda c: c.force_bind_eip("eip-svc", None), "Eip/eip-svc boundTo: [svc-eni] -> []"),
        (lambda c: c.force_create_interface("adopted", "subnet-app", managed=True),
         "Owner/default orphans: [] -> [adopted]"),
    ],
    ids=["server-status", "eni-detached", "eni-groups", "neighbour-detached",
         "declared-primary-groups", "eip-unbound", "new-orphan"],
)  # fmt: skip
def test_a_change_in_the_plans_part_of_the_cloud_makes_it_stale_naming_it(
    reviewed: Reviewed,
    change: Callable[[SimCloud], object],
    named: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A console change to what the plan depends on makes it stale: refused before any
    step, the one line naming the resource, the field and both values."""
    with console(reviewed) as cloud:
        change(cloud)
    mark = reviewed.calls()
    capsys.readouterr()
    assert _apply_saved(reviewed) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: plan is stale: the cloud changed since it was made: ")
    assert named in line
    assert set(reviewed.calls_since(mark)) <= {"observe"}


def test_a_stale_plan_is_a_json_event_with_json(
    reviewed: Reviewed, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --json the refusal is also an `error` event carrying each change."""
    with console(reviewed) as cloud:
        cloud.force_set_status("app-2", "SHUTOFF")
    capsys.readouterr()
    assert _apply_saved(reviewed, "--json") == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["event"] == "error" and events[-1]["error"] == "StalePlan"
    assert {"resource": "Server/app-2", "field": "status", "before": "ACTIVE",
            "after": "SHUTOFF", "origin": ""} in events[-1]["changes"]  # fmt: skip


# -- the scope is all planning reads ----------------------------------------------------


def _cases() -> list[Any]:
    found = [
        pytest.param(case, id=case.name)
        for case in sorted(PLANS.iterdir())
        if (case / "expected.json").exists()
    ]
    assert found, f"no golden cases under {PLANS}"
    return found


def _outside(observed: Topology, part: dict[str, Any]) -> Topology:
    """`observed` with everything outside a plan's part of the cloud changed: the
    groups, protect marker and id of every port the part does not name (a primary's
    groups are in its Server's row when the manifest declares them), the status, flavor
    and id of every server it does not touch, and one more unmanaged port."""
    groups = sorted(observed.catalog.security_groups)
    flavors = sorted(observed.catalog.flavors)
    primaries_with_groups = {
        values[names.index("primary")]
        for key, (names, values) in part.items()
        if key.startswith("Server/") and "securityGroups" in names
    }
    interfaces = {}
    for name, iface in observed.interfaces.items():
        if f"NetworkInterface/{name}" not in part:
            other = iface.security_groups
            if name not in primaries_with_groups:
                other = () if iface.security_groups else tuple(groups[:1])
            iface = replace(iface, security_groups=other, protect=not iface.protect,
                            id=iface.id + "-x")  # fmt: skip
        interfaces[name] = iface
    interfaces["zz-stray"] = NetworkInterface(
        name="zz-stray", subnet=sorted(observed.catalog.subnets)[0], private_ip="10.254.0.9"
    )
    servers = {
        name: server if f"Server/{name}" in part else
        replace(server, status="ERROR", flavor=flavors[-1], id=server.id + "-x")
        for name, server in observed.servers.items()
    }  # fmt: skip
    return replace(observed, interfaces=interfaces, servers=servers)


@pytest.mark.parametrize("case", _cases())
def test_planning_reads_nothing_outside_the_plans_part_of_the_cloud(
    case: Path, tmp_path: Path
) -> None:
    """For every golden case: changing everything outside a plan's part of the cloud
    changes neither the plan nor its fingerprint, so a fresh fingerprint proves that
    the plan enictl makes now is the plan it made then."""
    prune = (case / "args").exists() and "--prune" in (case / "args").read_text()
    cloud = init_cloud(tmp_path, loader.load_inventory(case / "inventory.yaml"))
    observed = cloud.snapshot()
    cloud.close()
    desired = loader.load([case / "manifests"]).topology
    plan = planner.plan(desired, observed, prune=prune)
    part = planner.part_of_cloud(desired, observed, plan, prune=prune)
    again = planner.plan(desired, _outside(observed, part), prune=prune)
    assert again.as_json() == plan.as_json()
