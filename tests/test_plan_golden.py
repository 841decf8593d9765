"""Golden plans: one folder per case under tests/plans/, one parametrized test over them.

A case folder holds
  README          one line: what the case pins
  inventory.yaml  the simulated cloud (a CloudInventory)
  manifests/      the desired state
  args            optional: extra `enictl plan` arguments, e.g. `--prune`
  providers       optional: the providers the case runs on (default: all), for a cloud
                  the huaweicloud provider cannot see through `sim serve` yet
  expected.json   the plan (`enictl plan -o json`), digests replaced by "sha256:..."
  expected.err    instead of expected.json, when planning fails before a plan exists
  expected.huaweicloud.json
                  optional: the plan through huaweicloud, where it differs (see below)

The test runs `enictl sim init` and `enictl plan manifests -o json` in process, from
the case folder (so violation sources read `manifests/<file>:line:col`), in a fresh
state dir. `ENICTL_UPDATE_GOLDEN=1` rewrites the expected files: review every change
by hand, they must be right, not just current.

Through huaweicloud the case's cloud is the one a real account would have: Huawei
Cloud has no pins, so its security groups are regional and its subnets pinned to no AZ
(`as_on_huawei_cloud`). That plan must be the sim's plan of the same pin-free cloud,
byte for byte (fingerprint included), and the case's expected.json unless the pins
were what the case is about (then expected.huaweicloud.json says what a real account
gets). A missing or empty tests/plans/
fails the suite (tests/cases.py); it never passes by running nothing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli import main
from tests import cases
from tests.cloudfixtures import PROVIDERS, CloudProvider

CASES_DIR = Path(__file__).parent / "plans"
UPDATE = os.environ.get("ENICTL_UPDATE_GOLDEN") == "1"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PLACEHOLDER = "sha256:..."


def _cases() -> list[Any]:
    """One param per case folder; a missing or empty tests/plans/ fails the collection."""
    return [pytest.param(path, id=path.name) for path in cases.folders(CASES_DIR)]


def readme(case: Path) -> str:
    return (case / "README").read_text().strip()


def normalize(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with its digests checked for shape and replaced by a placeholder."""
    out = dict(plan)
    for key in ("manifestsDigest", "observedFingerprint"):
        assert DIGEST.match(str(out.get(key, ""))), f"{key} is not a sha256 digest: {out.get(key)}"
        out[key] = PLACEHOLDER
    return out


def providers(case: Path) -> list[str]:
    path = case / "providers"
    return path.read_text().split() if path.exists() else list(PROVIDERS)


def as_on_huawei_cloud(inventory: Path, target: Path) -> Path:
    """The inventory without pins: security groups regional, subnets pinned to no AZ."""
    document = yaml.safe_load(inventory.read_text())
    spec = document["spec"]
    for subnet in spec.get("subnets") or ():
        subnet.pop("availabilityZone", None)
    for group in spec.get("securityGroups") or ():
        group.pop("vpc", None)
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def run_plan(
    case: Path, state: Path, capsys: pytest.CaptureFixture[str], *provider: str
) -> tuple[int, str, str]:
    extra = shlex.split((case / "args").read_text()) if (case / "args").exists() else []
    code = main([*provider, "--state-dir", str(state), "plan", "manifests", "-o", "json", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_case_is_complete() -> None:
    """Each case folder has a one-line README, an inventory and manifests."""
    for case in cases.folders(CASES_DIR):
        assert (case / "README").exists(), f"{case.name}: no README"
        assert len(readme(case).splitlines()) == 1, f"{case.name}: README is not one line"
        assert (case / "inventory.yaml").exists(), f"{case.name}: no inventory.yaml"
        assert list((case / "manifests").glob("*.yaml")), f"{case.name}: no manifests"
        has = [(case / n).exists() for n in ("expected.json", "expected.err")]
        assert sum(has) <= 1, f"{case.name}: both expected.json and expected.err"
        assert set(providers(case)) <= set(PROVIDERS), f"{case.name}: unknown providers"


@pytest.mark.parametrize("case", _cases())
def test_golden_plan(
    case: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cloud_provider: CloudProvider,
) -> None:
    """The plan for the case's cloud and manifests is exactly its expected.json, whether the
    cloud is observed by the sim provider or by huaweicloud through `enictl sim serve` (as a
    real account has it: no pins, and then exactly as the sim plans that cloud)."""
    if cloud_provider.name not in providers(case):
        pytest.skip(f"{case.name} runs on {' and '.join(providers(case))} only")
    monkeypatch.chdir(case)
    state = tmp_path / "state"
    cloud_provider.use(state)
    inventory, expected = case / "inventory.yaml", case / "expected.json"
    if cloud_provider.name == "huaweicloud":
        inventory = as_on_huawei_cloud(inventory, tmp_path / "inventory.yaml")
        if (case / "expected.huaweicloud.json").exists():
            expected = case / "expected.huaweicloud.json"
    assert main(["--state-dir", str(state), "sim", "init", str(inventory)]) == 0, (
        capsys.readouterr().err
    )
    capsys.readouterr()
    code, out, err = run_plan(case, state, capsys)
    what = f"{case.name} ({cloud_provider.name}): {readme(case)}"
    if cloud_provider.name == "huaweicloud":
        on_the_sim = run_plan(case, state, capsys, "--provider", "sim")
        assert on_the_sim == (code, out, err), f"{what}\nthe sim plans the same cloud otherwise"

    if not out:  # planning failed before a plan existed: pin the error lines
        assert code == 1, f"{what}\nno plan and exit {code}\n{err}"
        if UPDATE or not (case / "expected.err").exists():
            _write_or_fail(case / "expected.err", err, what)
        assert err == (case / "expected.err").read_text(), what
        return

    plan = json.loads(out)
    if plan["applyable"]:
        assert (code, err) == (0, ""), f"{what}\nexit {code}\n{err}"
    else:
        errors = sum(1 for v in plan["violations"] if v["severity"] == "error")
        noun = "violation" if errors == 1 else "violations"
        assert code == 1, what
        assert err == f"error: plan rejected: {errors} {noun}\n", what

    again = run_plan(case, state, capsys)
    assert again == (code, out, err), f"{what}\nthe same inputs gave another plan"

    actual = canonical(normalize(plan))
    if UPDATE and cloud_provider.name == "huaweicloud":
        expected = _write_huaweicloud(case, actual)
    elif UPDATE or not expected.exists():
        _write_or_fail(expected, actual, what)
    assert actual == expected.read_text(), what


def _write_huaweicloud(case: Path, actual: str) -> Path:
    """Keep expected.huaweicloud.json only where the plan differs from expected.json (which
    the sim writes); the file to compare with."""
    target, main_plan = case / "expected.huaweicloud.json", case / "expected.json"
    if main_plan.exists() and main_plan.read_text() == actual:
        target.unlink(missing_ok=True)
        return main_plan
    target.write_text(actual)
    return target


def _write_or_fail(target: Path, text: str, what: str) -> None:
    if not UPDATE:
        pytest.fail(
            f"{what}\n{target.name} is missing; run with ENICTL_UPDATE_GOLDEN=1, "
            "then review it by hand"
        )
    for stale in ("expected.json", "expected.err"):
        if stale != target.name:
            (target.parent / stale).unlink(missing_ok=True)
    target.write_text(text)
