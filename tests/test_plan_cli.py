"""`enictl plan`: output formats, --out, exit codes, colour.

Most tests replace the load/observe/plan step with a hand-built plan, so they pin the
command's own behaviour; the end-to-end tests at the bottom run the real pipeline
against the simulated cloud, once through `--provider sim` and once through
`--provider huaweicloud` and `enictl sim serve`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.apply import Prepared
from controller.cli import main
from controller.cli import plan as plan_cli
from controller.cli.context import AppContext
from controller.errors import StalePlan
from controller.model import Topology
from controller.plan import Plan
from controller.storage import savedplan
from tests.cloudfixtures import CloudProvider
from tests.sample_plans import empty_plan, rejected_plan, swap_plan

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[[Plan], Run]:
    """Run `enictl plan` in process with make_plan returning a given plan."""

    def with_plan(plan: Plan) -> Run:
        seen: dict[str, object] = {}

        def fake_make_plan(
            app: object, paths: tuple[str, ...], *, prune: bool, prune_limit: int, owner: str
        ) -> object:
            seen.update(paths=paths, prune=prune)
            return Prepared(plan, Topology(), Topology(), "", prune, False, prune_limit)

        monkeypatch.setattr(plan_cli, "make_plan", fake_make_plan)

        def invoke(*args: str) -> tuple[int, str, str]:
            code = main(["--state-dir", str(tmp_path / "state"), "plan", *args])
            captured = capsys.readouterr()
            return code, captured.out, captured.err

        invoke.seen = seen  # type: ignore[attr-defined]
        return invoke

    return with_plan


def test_text_output_starts_with_the_summary(run: Callable[[Plan], Run]) -> None:
    """The default output is the text view, opening with the summary line."""
    code, out, err = run(swap_plan())("manifests")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "Plan: 1 to create, 2 to detach, 3 to attach."
    assert "\x1b[" not in out  # not a terminal


def test_no_changes_text(run: Callable[[Plan], Run]) -> None:
    """An empty plan prints the no-changes line and exits 0."""
    code, out, _ = run(empty_plan())("manifests")
    assert (code, out) == (0, "No changes. The cloud matches the manifests.\n")


def test_detailed_exitcode(run: Callable[[Plan], Run]) -> None:
    """--detailed-exitcode: 2 with changes, 0 without."""
    assert run(swap_plan())("m", "--detailed-exitcode")[0] == 2
    assert run(empty_plan())("m", "--detailed-exitcode")[0] == 0
    assert run(swap_plan())("m")[0] == 0


def test_rejected_plan_is_printed_then_exits_1_with_one_error_line(
    run: Callable[[Plan], Run],
) -> None:
    """A rejected plan prints its violations, then one error line, exit 1 (even detailed)."""
    code, out, err = run(rejected_plan())("m", "--detailed-exitcode")
    assert code == 1
    assert "FlavorLimitExceeded" in out and "hint: move an ENI off web-2" in out
    assert err == "error: plan rejected: 1 violation\n"


def test_json_output_is_the_plan_json(run: Callable[[Plan], Run]) -> None:
    """-o json prints exactly the plan's JSON document."""
    code, out, _ = run(swap_plan())("m", "-o", "json")
    assert code == 0
    assert json.loads(out) == swap_plan().as_json()


def test_yaml_output(run: Callable[[Plan], Run]) -> None:
    """-o yaml prints the same document as YAML."""
    import yaml

    code, out, _ = run(swap_plan())("m", "-o", "yaml")
    assert code == 0 and yaml.safe_load(out) == swap_plan().as_json()


def test_markdown_output_has_a_mermaid_block_for_moves(run: Callable[[Plan], Run]) -> None:
    """-o markdown has the summary, the step table and a mermaid diagram of moves."""
    code, out, _ = run(swap_plan())("m", "-o", "markdown")
    assert code == 0
    assert "**Plan: 1 to create, 2 to detach, 3 to attach.**" in out
    assert "```mermaid\nflowchart LR\n" in out
    assert '-->|"eni-a"|' in out and '-->|"eni-b"|' in out


def test_out_saves_a_loadable_plan(run: Callable[[Plan], Run], tmp_path: Path) -> None:
    """--out writes a saved plan with the paths and the prune flag; text mentions it."""
    target = tmp_path / "plan.json"
    invoke = run(swap_plan())
    code, out, _ = invoke("a.yaml", "dir", "--prune", "--out", str(target))
    assert code == 0
    assert invoke.seen == {"paths": ("a.yaml", "dir"), "prune": True}  # type: ignore[attr-defined]
    saved = savedplan.load(target)
    assert saved.plan.as_json() == swap_plan().as_json()
    assert (saved.manifest_paths, saved.prune) == (("a.yaml", "dir"), True)
    assert f"enictl apply --plan {target}" in out


def test_out_with_json_keeps_stdout_pure_json(run: Callable[[Plan], Run], tmp_path: Path) -> None:
    """With -o json, --out adds nothing to stdout."""
    target = tmp_path / "plan.json"
    code, out, _ = run(swap_plan())("m", "-o", "json", "--out", str(target))
    assert code == 0 and json.loads(out) == swap_plan().as_json()
    assert target.exists()


def test_rejected_plan_is_not_saved(run: Callable[[Plan], Run], tmp_path: Path) -> None:
    """--out does not write a rejected plan."""
    target = tmp_path / "plan.json"
    assert run(rejected_plan())("m", "--out", str(target))[0] == 1
    assert not target.exists()


def test_colour_only_on_a_terminal_without_no_color(
    run: Callable[[Plan], Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text is coloured on a terminal, unless NO_COLOR or --no-color; json never is."""
    monkeypatch.setattr(plan_cli.sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    app = AppContext(provider_name="sim", state_dir_arg=".enictl")
    assert plan_cli.use_color(app, "text") is True
    assert plan_cli.use_color(app, "json") is False
    no_color = AppContext(provider_name="sim", state_dir_arg=".enictl", no_color=True)
    assert plan_cli.use_color(no_color, "text") is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert plan_cli.use_color(app, "text") is False


def test_paths_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    """`enictl plan` without a path is a usage error (exit 1)."""
    assert main(["plan"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    """`enictl plan --help` shows an example."""
    assert main(["plan", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and "enictl plan manifests/demo --out plan.json" in out


# -- end to end, against the simulated cloud ------------------------------------------

_MISSING = [
    name
    for name in (
        "controller.manifests.loader",
        "controller.planning.planner",
        "controller.providers.sim.cloud",
    )
    if importlib.util.find_spec(name) is None
]
needs_pipeline = pytest.mark.skipif(
    bool(_MISSING), reason=f"waiting for {', '.join(_MISSING)} to land"
)

INVENTORY = """\
apiVersion: enictl/v1
kind: CloudInventory
metadata: {name: cli-test}
spec:
  flavors: [{name: s6.large.2, maxInterfaces: 3}]
  vpcs: [{name: vpc-prod, cidr: 10.0.0.0/16}]
  # no pins, as on Huawei Cloud: both providers observe the same cloud
  subnets: [{name: subnet-web, vpc: vpc-prod, cidr: 10.0.1.0/24}]
  securityGroups: [{name: sg-web}]
  eips: []
  servers:
    - {name: web-1, flavor: s6.large.2, availabilityZone: az1, vpc: vpc-prod,
       subnet: subnet-web, status: ACTIVE, privateIp: 10.0.1.10, securityGroups: [sg-web]}
    - {name: web-2, flavor: s6.large.2, availabilityZone: az1, vpc: vpc-prod,
       subnet: subnet-web, status: ACTIVE, privateIp: 10.0.1.11, securityGroups: [sg-web]}
  interfaces:
    - {name: eni-a, subnet: subnet-web, privateIp: 10.0.1.50, securityGroups: [sg-web],
       server: web-1, managed: true}
"""

SERVERS = """\
apiVersion: enictl/v1
kind: Server
metadata: {name: web-1}
spec: {flavor: s6.large.2, availabilityZone: az1, vpc: vpc-prod, subnet: subnet-web}
---
apiVersion: enictl/v1
kind: Server
metadata: {name: web-2}
spec: {flavor: s6.large.2, availabilityZone: az1, vpc: vpc-prod, subnet: subnet-web}
"""


def _eni(server: str) -> str:
    return f"""\
apiVersion: enictl/v1
kind: NetworkInterface
metadata: {{name: eni-a}}
spec: {{subnet: subnet-web, privateIp: 10.0.1.50, securityGroups: [sg-web], server: {server}}}
"""


def _make_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "servers.yaml").write_text(SERVERS)
    (tmp_path / "manifests" / "eni.yaml").write_text(_eni("web-1"))
    assert main(["--state-dir", "state", "sim", "init", "inventory.yaml"]) == 0
    return tmp_path


@pytest.fixture
def cloud(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cloud_provider: CloudProvider,
) -> Path:
    """A simulated cloud with eni-a on web-1, and manifests in tmp_path/manifests; enictl
    reaches it through each provider in turn (the sim, and huaweicloud via sim serve)."""
    cloud_provider.use(tmp_path / "state")
    return _make_cloud(tmp_path, monkeypatch)


@needs_pipeline
def test_e2e_in_sync_then_a_move(cloud: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In sync: exit 0 and no changes; after editing the manifests: exit 2 and a move."""
    capsys.readouterr()
    assert main(["--state-dir", "state", "plan", "manifests", "--detailed-exitcode"]) == 0
    assert capsys.readouterr().out.startswith("No changes.")
    (cloud / "manifests" / "eni.yaml").write_text(_eni("web-2"))
    code = main(
        ["--state-dir", "state", "plan", "manifests", "--detailed-exitcode", "-o", "markdown"]
    )
    out = capsys.readouterr().out
    assert code == 2
    assert "```mermaid" in out and '-->|"eni-a"|' in out


@needs_pipeline
def test_e2e_saved_plan_is_fresh_until_the_manifests_change(
    cloud: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A saved plan is accepted, through the library, until its manifests change."""
    from controller import apply
    from controller.manifests import loader
    from controller.providers import open_provider

    (cloud / "manifests" / "eni.yaml").write_text(_eni("web-2"))
    assert main(["--state-dir", "state", "plan", "manifests", "--out", "plan.json"]) == 0
    saved = savedplan.load(cloud / "plan.json")
    observed = open_provider(os.environ["ENICTL_PROVIDER"], cloud / "state").observe()
    prepared = apply.still_fresh(saved, loader.load(["manifests"]), observed)
    assert prepared.saved and prepared.plan.steps == saved.plan.steps
    (cloud / "manifests" / "eni.yaml").write_text(_eni("web-1"))
    with pytest.raises(StalePlan, match="the manifests changed"):
        apply.still_fresh(saved, loader.load(["manifests"]), observed)


@needs_pipeline
def test_e2e_a_plan_saved_through_one_provider_applies_through_the_other(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sim_serve: Callable[..., dict[str, str]],
) -> None:
    """One cloud, one fingerprint: observed through the sim or through huaweicloud (which
    cannot see deleteOnTermination), a saved plan is fresh either way and applies."""
    cloud = _make_cloud(tmp_path, monkeypatch)
    for key, value in sim_serve(cloud / "state").items():
        monkeypatch.setenv(key, value)
    for saved_with, applied_with, server in (("sim", "huaweicloud", "web-2"),
                                             ("huaweicloud", "sim", "web-1")):  # fmt: skip
        (cloud / "manifests" / "eni.yaml").write_text(_eni(server))
        plan = ["--provider", saved_with, "--state-dir", "state", "plan", "manifests"]
        assert main([*plan, "--out", "plan.json"]) == 0
        apply = ["--provider", applied_with, "--state-dir", "state", "apply"]
        capsys.readouterr()
        assert main([*apply, "--plan", "plan.json"]) == 0, capsys.readouterr().err
        assert main([*plan, "--detailed-exitcode"]) == 0  # in sync: the move happened


@needs_pipeline
def test_e2e_drift_is_labelled_after_an_apply_record(
    cloud: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a last-applied record equal to the manifests, a cloud difference is drift."""
    from controller.manifests import loader
    from controller.storage import lastapplied

    (cloud / "manifests" / "eni.yaml").write_text(_eni("web-2"))
    lastapplied.record(cloud / "state", loader.load(["manifests"]).topology)
    capsys.readouterr()
    assert main(["--state-dir", "state", "plan", "manifests"]) == 0
    out = capsys.readouterr().out
    if "Drift: the cloud changed outside enictl" not in out:
        pytest.fail(f"the move is not labelled as drift:\n{out}")
    assert "Changes from the manifests" not in out


@needs_pipeline
def test_e2e_drift_and_manifest_changes_are_told_apart(
    cloud: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After an apply record: a hand-made cloud change is drift, a manifest edit is not."""
    from controller.manifests import loader
    from controller.providers.sim.cloud import open_cloud
    from controller.storage import lastapplied

    lastapplied.record(cloud / "state", loader.load(["manifests"]).topology)
    simcloud = open_cloud(cloud / "state")
    simcloud.force_set_security_groups("eni-a", [])  # someone at the console
    simcloud.close()
    new_eni = _eni("web-2").replace("eni-a", "eni-b").replace("10.0.1.50", "10.0.1.60")
    (cloud / "manifests" / "eni-b.yaml").write_text(new_eni)
    capsys.readouterr()
    assert main(["--state-dir", "state", "plan", "manifests", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    manifest_part = out.split("Changes from the manifests\n", 1)[1].split("\n\n", 1)[0]
    drift_part = out.split("Drift: the cloud changed outside enictl\n", 1)[1].split("\n\n", 1)[0]
    assert "+ NetworkInterface/eni-b" in manifest_part and "eni-a" not in manifest_part
    assert drift_part == "  ~ NetworkInterface/eni-a  securityGroups: [] -> [sg-web]"
    md = main(["--state-dir", "state", "plan", "manifests", "-o", "markdown"])
    assert md == 0
    assert "#### Drift: the cloud changed outside enictl" in capsys.readouterr().out
