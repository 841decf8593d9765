"""Saved plans: the file written by `plan --out` and read by `apply --plan`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from controller.errors import InvalidPlanFile, StalePlan
from controller.plan import Change, Plan
from controller.storage import savedplan
from tests.sample_plans import DIGEST, swap_plan

RECORDS = {"Server/web-1": {"status": "ACTIVE", "interfaces": ["web-1-primary"]}}
INPUTS = '"manifests": ["m"], "prune": false, "pruneLimit": 10, "owner": "default", "scope": {}'


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    """A saved plan loads back with the same plan, manifest paths and prune flag."""
    target = tmp_path / "plan.json"
    savedplan.save(target, swap_plan(), manifest_paths=["manifests/a.yaml", "more"], prune=True,
                   records=RECORDS)  # fmt: skip
    saved = savedplan.load(target)
    assert saved.plan.as_json() == swap_plan().as_json()
    assert saved.manifest_paths == ("manifests/a.yaml", "more")
    assert saved.prune is True
    assert saved.records == RECORDS


def test_file_is_the_plan_json_plus_manifests_and_prune(tmp_path: Path) -> None:
    """The file is the -o json document with `manifests`, `prune` and `scope` added,
    sorted keys."""
    target = tmp_path / "plan.json"
    savedplan.save(target, swap_plan(), manifest_paths=["m"], prune=False, records=RECORDS)
    text = target.read_text()
    data = json.loads(text)
    expected = {**swap_plan().as_json(), "manifests": ["m"], "prune": False, "pruneLimit": 10,
                "owner": "default", "scope": RECORDS}  # fmt: skip
    assert data == expected
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temp file left


def test_save_is_byte_identical_for_the_same_plan(tmp_path: Path) -> None:
    """Saving the same plan twice gives the same bytes."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    savedplan.save(a, swap_plan(), manifest_paths=["m"], prune=False, records=RECORDS)
    savedplan.save(b, swap_plan(), manifest_paths=["m"], prune=False, records=RECORDS)
    assert a.read_bytes() == b.read_bytes()


def test_save_into_a_missing_folder_is_a_clean_error(tmp_path: Path) -> None:
    """A plan cannot be written where no folder exists: one clean error."""
    with pytest.raises(InvalidPlanFile, match="cannot write the plan"):
        savedplan.save(
            tmp_path / "no" / "plan.json", swap_plan(), manifest_paths=["m"], prune=False,
            records=RECORDS,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such plan file"),
        ("{not json", "invalid JSON"),
        ("[1, 2]", "not an enictl plan file"),
        ('{"formatVersion": "9", "manifests": ["m"]}', "plan format version 9 is not supported"),
        ('{"formatVersion": "1"}', "no manifest paths"),
        ('{"formatVersion": "1", "manifests": ["m"], "prune": 1}', "prune is not true or false"),
        ('{"formatVersion": "1", "manifests": ["m"], "prune": false}', "pruneLimit is not a count"),
        (
            '{"formatVersion": "1", "manifests": ["m"], "prune": false, "pruneLimit": 10}',
            "owner is not an owner name",
        ),
        (
            '{"formatVersion": "1", "manifests": ["m"], "prune": false, "pruneLimit": 10, '
            '"owner": "default"}',
            "no record of its part",
        ),
        (f'{{"formatVersion": "1", {INPUTS}, "steps": [{{"id": 1}}]}}', "corrupt plan file"),
        (f'{{"formatVersion": "1", {INPUTS}, "steps": ["x"]}}', "corrupt plan file"),
        (f'{{"formatVersion": "1", {INPUTS}, "steps": 3}}', "corrupt plan file"),
    ],
)
def test_load_refuses_bad_files_cleanly(tmp_path: Path, content: str | None, message: str) -> None:
    """Missing, corrupt, foreign and other-version files give one clean error line."""
    target = tmp_path / "plan.json"
    if content is not None:
        target.write_text(content)
    with pytest.raises(InvalidPlanFile, match=message) as info:
        savedplan.load(target)
    lines = info.value.error_lines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {target}: ")
    assert info.value.exit_code == 1


def _saved(tmp_path: Path, plan: Plan) -> savedplan.SavedPlan:
    target = tmp_path / "plan.json"
    savedplan.save(target, plan, manifest_paths=["m"], prune=False, records=RECORDS)
    return savedplan.load(target)


def test_check_accepts_the_same_plan(tmp_path: Path) -> None:
    """A file that says what the plan made again says is accepted."""
    saved = _saved(tmp_path, swap_plan())
    savedplan.check_manifests(saved, DIGEST)
    savedplan.check(saved, changed=(), fresh=swap_plan(), fresh_records=RECORDS)


def test_check_manifests_names_changed_manifests(tmp_path: Path) -> None:
    """Changed manifests make the plan stale, naming the manifests and both digests."""
    saved = _saved(tmp_path, swap_plan())
    with pytest.raises(StalePlan) as info:
        savedplan.check_manifests(saved, "sha256:" + "c" * 64)
    line = info.value.error_lines()[0]
    assert line.startswith("error: plan is stale: the manifests changed since it was made (")
    assert "sha256:aaaaaaaaaaaa -> sha256:cccccccccccc" in line


def test_check_names_each_change_of_the_cloud(tmp_path: Path) -> None:
    """A changed part of the cloud makes the plan stale; the one line names each
    resource and field, and the error carries them for the JSON event."""
    saved = _saved(tmp_path, swap_plan())
    changed = (Change("Server/web-1", "status", "ACTIVE", "SHUTOFF"),
               Change("NetworkInterface/eni-a", "server", "web-1", None))  # fmt: skip
    with pytest.raises(StalePlan) as info:
        savedplan.check(saved, changed=changed, fresh=swap_plan(), fresh_records=RECORDS)
    (line,) = info.value.error_lines()
    assert line == (
        "error: plan is stale: the cloud changed since it was made: "
        "Server/web-1 status: ACTIVE -> SHUTOFF; NetworkInterface/eni-a server: web-1 -> none; "
        "make a new plan"
    )
    assert info.value.as_json()["changes"][1] == {
        "resource": "NetworkInterface/eni-a", "field": "server", "before": "web-1",
        "after": None, "origin": "",
    }  # fmt: skip


def test_check_refuses_a_file_that_differs_from_the_plan_made_again(tmp_path: Path) -> None:
    """A file whose steps differ from the plan made again is refused, naming the step."""
    saved = _saved(tmp_path, swap_plan())
    other = replace(swap_plan(), steps=swap_plan().steps[:-1])
    with pytest.raises(InvalidPlanFile, match="steps: the file has 6, the plan 5"):
        savedplan.check(saved, changed=(), fresh=other, fresh_records=RECORDS)


def test_check_tells_1_and_true_apart(tmp_path: Path) -> None:
    """JSON values compare by type too: an id of `true` is not the id 1."""
    target = tmp_path / "plan.json"
    savedplan.save(target, swap_plan(), manifest_paths=["m"], prune=False, records=RECORDS)
    data = json.loads(target.read_text())
    data["steps"][0]["id"] = True
    target.write_text(json.dumps(data))
    with pytest.raises(InvalidPlanFile, match="step 1: the file says"):
        savedplan.check(
            savedplan.load(target), changed=(), fresh=swap_plan(), fresh_records=RECORDS
        )
