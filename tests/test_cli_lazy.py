"""Commands load lazily: a command imports only what it needs, every listed one loads."""

from __future__ import annotations

import http.server
import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import huaweicloudsdkcore

from controller import apply
from controller.cli import COMMAND_MODULES, cli, context, lazygroup, main, options, simserve
from controller.cli import sim as sim_commands
from controller.cli import validate as validate_command
from controller.cli.lazygroup import LazyGroup
from controller.execution import executor
from controller.planning import planner
from controller.providers.huaweicloud import adapter
from controller.providers.sim import cloud as simcloud
from controller.providers.sim.serve import httpserver

ROOT = Path(__file__).resolve().parent.parent


def names(*modules: ModuleType) -> tuple[str, ...]:
    """The modules' dotted names, taken from the imported modules themselves: a module
    that moves or goes breaks the import above instead of leaving a stale string that
    is trivially "not loaded"."""
    assert all(isinstance(module, ModuleType) for module in modules), modules
    return tuple(module.__name__ for module in modules)


# Modules `enictl validate` must not import: planning, execution, the providers, SDKs.
HEAVY = names(
    planner, executor, apply, simcloud, adapter, httpserver, huaweicloudsdkcore, http.server
)
CLI_PACKAGE = main.__module__
# The only command-line modules it may import: its own and what every command shares.
VALIDATE_CLI = names(context, lazygroup, options, validate_command)


def _modules_after(argv: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after `enictl ARGV` (a real process: a
    fresh sys.modules)."""
    code = (
        "import json, sys\n"
        "from controller.cli import main\n"
        f"code = main({argv!r})\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    exit_code, modules = json.loads(ran.stdout.splitlines()[-1])
    assert exit_code == 0, ran.stderr
    return set(modules)


def test_validate_imports_no_planner_executor_provider_or_sdk() -> None:
    """`enictl validate` loads its own command module only: no planner, executor,
    provider implementation, cloud SDK or HTTP server."""
    modules = _modules_after(["validate", "manifests/demo"])
    assert validate_command.__name__ in modules
    assert not {m for m in modules if m.startswith(HEAVY)}
    assert not {m for m in modules if m.startswith(f"{CLI_PACKAGE}.")} - set(VALIDATE_CLI)


def test_sim_init_does_not_load_sim_serve(tmp_path: Path) -> None:
    """`enictl sim init` loads the sim group but not `sim serve` (the HTTP server)."""
    inventory = ROOT / "manifests" / "inventory" / "demo-cloud.yaml"
    modules = _modules_after(["--state-dir", str(tmp_path), "sim", "init", str(inventory)])
    assert sim_commands.__name__ in modules
    assert simserve.__name__ not in modules
    assert http.server.__name__ not in modules


def test_every_listed_command_loads_under_its_name() -> None:
    """Each name the group lists resolves to a command of that name, from its module."""
    for group in (cli, cli.get_command(click.Context(cli), "sim")):
        assert isinstance(group, LazyGroup)
        with click.Context(group) as ctx:
            for name in group.list_commands(ctx):
                command = group.get_command(ctx, name)
                assert command is not None and command.name == name


def test_the_table_names_every_command_of_each_module() -> None:
    """No command module exports a command the table does not name (it would never load)."""
    for module_name in set(COMMAND_MODULES.values()):
        module = importlib.import_module(module_name)
        for command in module.COMMANDS:
            assert COMMAND_MODULES.get(command.name) == module_name, command.name


def test_an_unknown_command_is_still_a_usage_error() -> None:
    """A name the table does not know gives click's usage error, exit 1."""
    assert main(["no-such-command"]) == 1
