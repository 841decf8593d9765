"""`enictl validate PATH...`: offline checks of manifests, one located line per problem."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from controller.cli import options
from controller.errors import Problem
from controller.manifests import loader


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _file_of(problem: Problem) -> str:
    parts = problem.location.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0]
    return problem.location


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@options.output(
    ["text", "json"],
    default="text",
    help="text: one `error:` line per problem on stderr and a summary; json: a report on stdout.",
)
def validate_command(paths: Sequence[str], output: str) -> int:
    """Check manifests offline: YAML, schemas, names, references, the placement policy.

    Reads the files and folders given (folders recursively, *.yaml and *.yml) and
    reports every problem, each as `error: file:line:col: Code: Kind/name field:
    message`.
    CloudInventory files (for `enictl sim init`) are checked too. Exit code 0 when
    everything is valid, 1 otherwise. Nothing talks to the cloud.

    \b
    Examples:
      enictl validate manifests/demo
      enictl validate -o json manifests/demo manifests/inventory/demo-cloud.yaml
    """
    report = loader.validate(list(paths))
    if output == "json":
        document = {
            "valid": report.valid,
            "files": list(report.files),
            "resources": report.resources,
            "problems": [problem.as_json() for problem in report.problems],
        }
        click.echo(json.dumps(document, indent=2))
        return 0 if report.valid else 1
    for problem in report.problems:
        click.echo(f"error: {problem.line()}", err=True)
    if report.valid:
        files = _plural(len(report.files), "file")
        click.echo(f"ok: {_plural(report.resources, 'resource')} in {files}")
        return 0
    with_problems = {_file_of(problem) for problem in report.problems} - {""}
    summary = _plural(len(report.problems), "error")
    if with_problems:
        summary += f" in {_plural(len(with_problems), 'file')}"
    click.echo(summary)
    return 1


COMMANDS = [validate_command]
