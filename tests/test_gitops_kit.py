"""The GitOps kit: CI workflow, pre-commit hook, shell completion, help examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from controller.cli import cli

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "docs" / "examples" / "github-workflow.yml"
ENICTL = Path(sys.executable).parent / "enictl"


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _run_lines(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_workflow_plans_pull_requests_applies_on_merge_and_checks_drift() -> None:
    """The example workflow has the three GitOps jobs wired to the right events."""
    data = _workflow()
    events = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"pull_request", "push", "schedule"} <= set(events)
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
    assert "--detailed-exitcode" in _run_lines(drift)
    assert apply["concurrency"]["group"] == drift["concurrency"]["group"]


def test_gitops_doc_embeds_the_workflow_verbatim() -> None:
    """docs/gitops.md shows exactly the workflow file, so the two cannot drift apart."""
    doc = (ROOT / "docs" / "gitops.md").read_text(encoding="utf-8")
    assert WORKFLOW.read_text(encoding="utf-8") in doc


def test_pre_commit_hook_runs_enictl_validate_on_yaml() -> None:
    """.pre-commit-hooks.yaml offers `enictl validate` as a python hook on YAML files."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = hooks
    assert hook["id"] == "enictl-validate"
    assert hook["entry"] == "enictl validate"
    assert hook["language"] == "python"
    assert hook["files"] == r"\.ya?ml$"
    assert hook["pass_filenames"] is False  # the whole set: references cross files


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
