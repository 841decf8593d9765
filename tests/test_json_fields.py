"""Every JSON enictl prints names its fields in camelCase, as the plan format does.

The keys of two mappings are values, not field names, and keep their own spelling:
`summary` (actions: `bind-eip`) and `calls` (provider verbs, as `sim log` names them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.applyhelpers import Cli

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "manifests" / "demo"
INVENTORY = ROOT / "manifests" / "inventory" / "demo-cloud.yaml"
CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")
VALUE_KEYED = {"summary", "calls"}


def _bad_keys(value: Any, where: str = "") -> list[str]:
    bad = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not CAMEL.fullmatch(key):
                bad.append(f"{where}.{key}")
            if key not in VALUE_KEYED:
                bad.extend(_bad_keys(item, f"{where}.{key}"))
    elif isinstance(value, list):
        for item in value:
            bad.extend(_bad_keys(item, f"{where}[]"))
    return bad


def test_plans_events_sim_faults_and_sim_log_use_camel_case(cli: Cli) -> None:
    """plan -o json, apply --json events, get, release, sim faults and sim log: camelCase."""
    cli.init(INVENTORY)
    documents = [json.loads(cli("plan", str(DEMO), "-o", "json").out)]
    applied = cli("apply", str(DEMO), "--yes", "--json")
    assert applied.code == 0, applied.err
    documents += [json.loads(line) for line in applied.out.splitlines()]
    documents.append(json.loads(cli("get", "-o", "json").out))
    documents.append(json.loads(cli("get", "servers", "-o", "json").out))
    documents.append(json.loads(cli("release", "gw-1-public", "--json").out))
    documents.append(json.loads(cli("sim", "faults", "--job-ms", "1", "-o", "json").out))
    documents.append(json.loads(cli("sim", "log", "-o", "json").out))
    documents.append(json.loads(cli("validate", str(DEMO), "-o", "json").out))
    assert [bad for doc in documents for bad in _bad_keys(doc)] == []
