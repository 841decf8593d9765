"""The GitOps kit: CI workflow, pre-commit hook, shell completion, help examples."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from controller.cli import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
WORKFLOW = EXAMPLES / "github-workflow.yml"
ENICTL = Path(sys.executable).parent / "enictl"


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _run_lines(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_workflow_plans_pull_requests_applies_on_merge_and_checks_drift() -> None:
    """The example workflow has the GitOps jobs wired to the right events, and a drift
    check can never cancel a pending apply (its concurrency group is its own)."""
    data = _workflow()
    events = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"pull_request", "push", "schedule", "workflow_dispatch"} <= set(events)
    assert data["defaults"]["run"]["shell"] == "bash"  # -e -o pipefail on every step
    jobs = data["jobs"]
    plan, apply, drift = jobs["plan"], jobs["apply"], jobs["drift"]
    assert "pull_request" in plan["if"]
    assert "enictl validate" in _run_lines(plan)
    assert "-o markdown --out plan.json --detailed-exitcode" in _run_lines(plan)
    uses = [step.get("uses", "") for step in plan["steps"]]
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    assert any(u.startswith("actions/github-script") for u in uses)  # the PR comment
    assert "push" in apply["if"]
    assert "enictl apply --plan plan.json" in _run_lines(apply)
    assert "schedule" in drift["if"]
    assert "--detailed-exitcode --orphans-are-changes" in _run_lines(drift)
    writers = {jobs[name]["concurrency"]["group"] for name in ("apply", "replan-apply")}
    assert writers == {"enictl-apply"}
    assert drift["concurrency"]["group"] not in writers


def test_workflow_replans_on_main_only_by_hand_and_behind_an_approval() -> None:
    """After a stale refusal: `replan` runs only from workflow_dispatch on main, and its
    plan is applied by a job in the production environment that needs it."""
    jobs = _workflow()["jobs"]
    replan, apply = jobs["replan"], jobs["replan-apply"]
    for guard in ("workflow_dispatch", "replan-and-apply", "refs/heads/main"):
        assert guard in replan["if"]
    assert "enictl plan" in _run_lines(replan) and "--out plan.json" in _run_lines(replan)
    assert apply["needs"] == "replan" and apply["environment"] == "production"
    assert "enictl apply --plan plan.json" in _run_lines(apply)


def _step_script(job: str, name: str) -> str:
    step = next(s for s in _workflow()["jobs"][job]["steps"] if s.get("name") == name)
    return str(step["run"])


def test_a_failed_apply_fails_its_step_even_under_plain_bash_e(tmp_path: Path) -> None:
    """The apply step, run as GitHub's default shell would (`bash -e`, no pipefail), with
    a real enictl that fails (no plan file): the step exits non-zero, not green."""
    script = tmp_path / "step.sh"
    script.write_text(_step_script("apply", "Apply the saved plan"))
    env = {**os.environ, "PATH": f"{ENICTL.parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-e", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "no such plan file" in done.stderr


def _tool(name: str) -> str:
    """A linter of the dev extra, next to this interpreter (never skipped: CI installs it)."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: install the dev extra (pip install -e '.[dev]')"
    return str(path)


def _check(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# Each example file and the linter that checks it (offline: the schemas ship with the tool).
EXAMPLE_CHECKS = {
    "github-workflow.yml": ("check-jsonschema", "--builtin-schema", "vendor.github-workflows"),
    "gitlab-ci.yml": ("check-jsonschema", "--builtin-schema", "vendor.gitlab-ci"),
    "pre-commit-config.yaml": ("pre-commit", "validate-config"),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_CHECKS))
def test_example_passes_its_linter(name: str) -> None:
    """Each file of docs/examples passes its CI system's own schema or validator."""
    tool, *args = EXAMPLE_CHECKS[name]
    _check(_tool(tool), *args, str(EXAMPLES / name))


# The deployment examples' folders have their own suite (tests/test_ops_examples.py).
OPERATIONS_FOLDERS = ("kubernetes", "prometheus", "systemd")


def test_every_example_file_has_a_linter() -> None:
    """No file in docs/examples goes unchecked (a new one needs its linter here)."""
    files = sorted(p.name for p in EXAMPLES.iterdir() if p.name not in OPERATIONS_FOLDERS)
    assert files == sorted(EXAMPLE_CHECKS)


def test_pre_commit_hooks_file_is_a_valid_manifest() -> None:
    """`.pre-commit-hooks.yaml` passes `pre-commit validate-manifest`."""
    _check(_tool("pre-commit"), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml"))


def test_gitops_doc_embeds_the_examples_verbatim() -> None:
    """docs/gitops.md shows exactly the example files, so they cannot drift apart."""
    doc = (ROOT / "docs" / "gitops.md").read_text(encoding="utf-8")
    for name in EXAMPLE_CHECKS:
        assert (EXAMPLES / name).read_text(encoding="utf-8") in doc, name


def test_no_example_installs_enictl_from_an_index() -> None:
    """enictl is not on a package index: README, docs and examples install it from the
    repository (`pip install -e .` or a git URL), never `pip install enictl...` alone."""
    examples = sorted(p for p in EXAMPLES.rglob("*") if p.is_file())
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *examples]
    found = re.compile(r"pip install (--user )?[\"']?enictl(\[[a-z,]+\])?([\"'=\s]|$)")
    for path in texts:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = found.search(line)
            assert match is None or "@ git+" in line, f"{path.name}: {line.strip()}"
    rev = yaml.safe_load((EXAMPLES / "pre-commit-config.yaml").read_text())["repos"][0]["rev"]
    assert re.fullmatch(r"[0-9a-f]{40}", rev)  # a commit, not an invented tag


def _commands(group: click.Group, prefix: str = "enictl") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [(prefix, group)]
    with click.Context(group, info_name=prefix) as ctx:  # commands load when asked for
        named = [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]
    for name, command in named:
        assert command is not None, f"`{prefix} {name}` is listed but does not load"
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix} {name}"))
        else:
            found.append((f"{prefix} {name}", command))
    return found


@pytest.mark.parametrize(("name", "command"), _commands(cli), ids=lambda v: str(v))
def test_every_command_help_has_an_example(name: str, command: click.Command) -> None:
    """Each command's --help text shows at least one example."""
    with click.Context(command, info_name=name) as ctx:
        text = command.get_help(ctx)
    assert "Example" in text, f"`{name} --help` has no example"


def test_the_help_walk_sees_the_commands() -> None:
    """The help check walks real commands (not just the group)."""
    names = [name for name, _ in _commands(cli)]
    assert "enictl plan" in names


def _complete(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [str(ENICTL)], env=full, capture_output=True, text=True, timeout=60, check=False
    )


def test_bash_completion_script_is_produced() -> None:
    """`_ENICTL_COMPLETE=bash_source enictl` prints a bash completion script."""
    done = _complete({"_ENICTL_COMPLETE": "bash_source"})
    assert done.returncode == 0, done.stderr
    assert "complete -o nosort -F _enictl_completion enictl" in done.stdout


def test_completion_offers_subcommands() -> None:
    """Completing `enictl pl` offers the plan command."""
    done = _complete(
        {"_ENICTL_COMPLETE": "bash_complete", "COMP_WORDS": "enictl pl", "COMP_CWORD": "1"}
    )
    assert done.returncode == 0, done.stderr
    assert "plain,plan" in done.stdout.splitlines()
