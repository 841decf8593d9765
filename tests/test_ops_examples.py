"""The deployment examples in docs/examples/ hold, checked by the tools their platforms
use: `systemd-analyze verify` for the unit (where systemd is installed), the Kubernetes
JSON schemas (kubernetes-validate, strict) for the manifests, and `promtool` for the
Prometheus rules, their unit tests and the scrape configuration (skipped where promtool
is missing, except in CI, where .ci/run installs it). Beyond the tools: every variable
the examples set is one enictl reads, every path they probe is an endpoint, the
manifests they ship pass `enictl validate`, and every metric an alert names exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli import main
from controller.watching import endpoints
from controller.watching.endpoints import Routes
from controller.watching.metrics import Metrics
from controller.watching.status import About, Board
from tests.applyhelpers import ENICTL
from tests.endpointclient import samples

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
UNIT = EXAMPLES / "systemd" / "enictl-watch.service"
ENV_FILE = EXAMPLES / "systemd" / "enictl.env"
KUBERNETES = EXAMPLES / "kubernetes" / "enictl-watch.yaml"
PROMETHEUS = EXAMPLES / "prometheus"
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")  # the oldest and newest the schemas cover here
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# read by libpq or the SDK rather than by enictl's own code
OTHERS_READ = frozenset({"PGPASSWORD"})


# every file of the deployment examples, and what checks it here
CHECKED = {
    "kubernetes/Containerfile": "test_the_containerfile_copies_what_the_package_build_needs",
    "kubernetes/enictl-watch.yaml": "kubernetes-validate, and the probes, env and manifests",
    "prometheus/enictl-alerts.test.yml": "promtool test rules",
    "prometheus/enictl-alerts.yml": "promtool check rules, and the metrics it names",
    "prometheus/prometheus.yml": "promtool check config",
    "systemd/enictl-watch.service": "systemd-analyze verify, and its settings",
    "systemd/enictl.env": "the variables it sets",
}


def test_every_deployment_example_is_checked() -> None:
    """No file in the examples' systemd, kubernetes and prometheus folders goes unchecked."""
    found = {
        str(p.relative_to(EXAMPLES))
        for folder in ("kubernetes", "prometheus", "systemd")
        for p in (EXAMPLES / folder).rglob("*")
        if p.is_file()
    }
    assert found == set(CHECKED)


def test_the_containerfile_copies_what_the_package_build_needs() -> None:
    """Every COPY source of the Containerfile exists in the checkout, and together they
    hold what pyproject.toml builds the package from (readme, package, schemas)."""
    lines = (EXAMPLES / "kubernetes" / "Containerfile").read_text().splitlines()
    copied = [part for line in lines if line.startswith("COPY ") for part in line.split()[1:-1]]
    assert copied and all((ROOT / part).exists() for part in copied), copied
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", project["project"]["readme"], *wheel["packages"]}
    needed |= set(wheel.get("force-include", {}))
    assert needed <= set(copied)


def _read_by_enictl(name: str) -> bool:
    if name in OTHERS_READ:
        return True
    pattern = re.compile(rf"[\"']{re.escape(name)}[\"']")
    return any(pattern.search(p.read_text()) for p in (ROOT / "controller").rglob("*.py"))


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d]


def _one(kind: str, name: str = "") -> dict[str, Any]:
    found = [d for d in _documents() if d["kind"] == kind and name in ("", d["metadata"]["name"])]
    assert len(found) == 1, (kind, name)
    return found[0]


def _container() -> dict[str, Any]:
    containers = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    found: dict[str, Any] = containers[0]
    return found


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit without a warning (its ExecStart pointed
    at this checkout's enictl, which the check requires to exist)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (a validation tool, not a dependency)")
    text = UNIT.read_text()
    assert "ExecStart=/opt/enictl/bin/enictl " in text
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace("/opt/enictl/bin/enictl", str(ENICTL)))
    ran = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert (ran.returncode, ran.stdout + ran.stderr) == (0, "")


def test_the_systemd_unit_restarts_reads_an_environment_file_and_is_hardened() -> None:
    """The unit restarts on failure, takes its credentials from an environment file, and
    drops privileges; the watch it starts listens on loopback."""
    settings = dict(
        line.split("=", 1) for line in UNIT.read_text().splitlines() if re.match(r"^\w+=", line)
    )
    assert settings["Restart"] == "on-failure"
    assert settings["EnvironmentFile"] == "/etc/enictl/enictl.env"
    for hardening in ("NoNewPrivileges", "DynamicUser", "PrivateTmp", "ProtectHome"):
        assert settings[hardening] == "yes", hardening
    assert settings["ProtectSystem"] == "strict" and settings["CapabilityBoundingSet"] == ""
    listen = re.search(r"--listen (\S+)", UNIT.read_text())
    assert listen is not None
    assert endpoints.parse_address(listen.group(1)).host == "127.0.0.1"


def test_every_variable_the_examples_set_is_one_enictl_reads() -> None:
    """The environment file and the Deployment name only variables enictl (or libpq) reads."""
    names = [
        line.split("=", 1)[0].lstrip("#")
        for line in ENV_FILE.read_text().splitlines()
        if re.match(r"^#?[A-Z][A-Z0-9_]+=", line)
    ]
    names += [e["name"] for e in _container()["env"]]
    names += list(_one("Secret")["stringData"])
    assert len(names) > 8
    assert [n for n in names if not _read_by_enictl(n)] == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_kubernetes_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    """Every document passes kubernetes-validate in strict mode (no unknown field)."""
    ran = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, str(KUBERNETES)],
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.count("passed for resource") == len(_documents())


def test_the_deployment_runs_two_replicas_probed_on_the_endpoints() -> None:
    """Two replicas on PostgreSQL, liveness on /healthz and readiness on /readyz of the
    port --listen opens, credentials from the Secret, a rollout that does not wait for a
    standby to become Ready."""
    deployment = _one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "100%"
    container = _container()
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    assert env["ENICTL_STATE_BACKEND"].startswith("postgresql://")
    assert ":" not in env["ENICTL_STATE_BACKEND"].split("//", 1)[1].split("@", 1)[0]
    assert container["envFrom"] == [{"secretRef": {"name": _one("Secret")["metadata"]["name"]}}]
    listen = [a.split("=", 1)[1] for a in container["args"] if a.startswith("--listen=")]
    address = endpoints.parse_address(listen[0])
    assert container["ports"][0]["containerPort"] == address.port
    routes = Routes(Board(About("t", "sim", "", (), 1.0)), Metrics(version="t", provider="sim"))
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in routes.paths
    assert _one("Service", "enictl-watch-metrics")["spec"]["publishNotReadyAddresses"] is True


def test_the_manifests_the_configmap_ships_are_valid(tmp_path: Path) -> None:
    """The ConfigMap's enictl manifests pass `enictl validate`."""
    for name, text in _one("ConfigMap")["data"].items():
        (tmp_path / name).write_text(text)
    assert main(["--state-dir", str(tmp_path / "state"), "validate", str(tmp_path)]) == 0


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if IN_CI:
            pytest.fail("promtool is needed in CI (.ci/run installs Debian's prometheus)")
        pytest.skip("promtool is not installed")
    return found


@pytest.mark.parametrize(
    "check",
    [
        ("check", "rules", "enictl-alerts.yml"),
        ("test", "rules", "enictl-alerts.test.yml"),
        ("check", "config", "prometheus.yml"),
    ],
    ids=lambda c: " ".join(c),
)
def test_promtool_accepts_the_rules_their_tests_and_the_scrape_config(
    check: tuple[str, ...],
) -> None:
    """`promtool check rules`, `promtool test rules` and `promtool check config` pass."""
    ran = subprocess.run(
        [_promtool(), *check], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCESS" in ran.stdout + ran.stderr


def test_every_metric_an_alert_names_is_one_watch_exports() -> None:
    """Each `enictl_...` name in an alert expression is a series of the metrics endpoint
    (or the alert is on Prometheus' own `up`), and each alert has a severity, a summary
    and a description."""
    metrics = Metrics(version="t", provider="sim")
    exported = {name for name, _labels in samples(metrics.exposition()[0].decode())}
    exported |= {
        line.split()[2]
        for line in metrics.exposition()[0].decode().splitlines()
        if line.startswith("# TYPE")
    }
    rules = [
        r
        for g in yaml.safe_load((PROMETHEUS / "enictl-alerts.yml").read_text())["groups"]
        for r in g["rules"]
    ]
    assert len(rules) >= 6
    for rule in rules:
        named = set(re.findall(r"\benictl_[a-z_]+", rule["expr"]))
        assert named or rule["expr"].startswith("up{"), rule["alert"]  # or Prometheus' own
        assert named <= exported, (rule["alert"], named - exported)
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert {"summary", "description"} <= set(rule["annotations"])
