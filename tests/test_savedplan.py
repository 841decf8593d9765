"""Saved plans: the file written by `plan --out` and read by `apply --plan`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.errors import InvalidPlanFile, StalePlan
from controller.storage import savedplan
from tests.sample_plans import DIGEST, FINGERPRINT, swap_plan


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    """A saved plan loads back with the same plan, manifest paths and prune flag."""
    target = tmp_path / "plan.json"
    savedplan.save(target, swap_plan(), manifest_paths=["manifests/a.yaml", "more"], prune=True)
    saved = savedplan.load(target)
    assert saved.plan.as_json() == swap_plan().as_json()
    assert saved.manifest_paths == ("manifests/a.yaml", "more")
    assert saved.prune is True


def test_file_is_the_plan_json_plus_manifests_and_prune(tmp_path: Path) -> None:
    """The file is the -o json document with `manifests` and `prune` added, sorted keys."""
    target = tmp_path / "plan.json"
    savedplan.save(target, swap_plan(), manifest_paths=["m"], prune=False)
    text = target.read_text()
    data = json.loads(text)
    assert data == {**swap_plan().as_json(), "manifests": ["m"], "prune": False}
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temp file left


def test_save_is_byte_identical_for_the_same_plan(tmp_path: Path) -> None:
    """Saving the same plan twice gives the same bytes."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    savedplan.save(a, swap_plan(), manifest_paths=["m"], prune=False)
    savedplan.save(b, swap_plan(), manifest_paths=["m"], prune=False)
    assert a.read_bytes() == b.read_bytes()


def test_save_into_a_missing_folder_is_a_clean_error(tmp_path: Path) -> None:
    """A plan cannot be written where no folder exists: one clean error."""
    with pytest.raises(InvalidPlanFile, match="cannot write the plan"):
        savedplan.save(
            tmp_path / "no" / "plan.json", swap_plan(), manifest_paths=["m"], prune=False
        )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such plan file"),
        ("{not json", "invalid JSON"),
        ("[1, 2]", "not an enictl plan file"),
        ('{"formatVersion": "9", "manifests": ["m"]}', "plan format version 9 is not supported"),
        ('{"formatVersion": "1"}', "no manifest paths"),
        ('{"formatVersion": "1", "manifests": ["m"], "steps": [{"id": 1}]}', "corrupt plan file"),
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


def test_check_fresh_accepts_matching_digest_and_fingerprint(tmp_path: Path) -> None:
    """A plan made from the same manifests and cloud is fresh."""
    saved = savedplan.SavedPlan(swap_plan(), ("m",), False)
    savedplan.check_fresh(saved, DIGEST, FINGERPRINT)


def test_check_fresh_names_changed_manifests() -> None:
    """Changed manifests make the plan stale, naming the manifests."""
    saved = savedplan.SavedPlan(swap_plan(), ("m",), False)
    with pytest.raises(StalePlan) as info:
        savedplan.check_fresh(saved, "sha256:" + "c" * 64, FINGERPRINT)
    line = info.value.error_lines()[0]
    assert line.startswith("error: plan is stale: the manifests changed since it was made (")
    assert "sha256:aaaaaaaaaaaa -> sha256:cccccccccccc" in line


def test_check_fresh_names_a_changed_cloud() -> None:
    """A changed cloud makes the plan stale, naming the cloud."""
    saved = savedplan.SavedPlan(swap_plan(), ("m",), False)
    with pytest.raises(StalePlan, match=r"^plan is stale: the cloud changed since it was made \("):
        savedplan.check_fresh(saved, DIGEST, "sha256:" + "d" * 64)


def test_check_fresh_names_both() -> None:
    """When both changed, the message says both."""
    saved = savedplan.SavedPlan(swap_plan(), ("m",), False)
    with pytest.raises(StalePlan, match="the manifests and the cloud changed"):
        savedplan.check_fresh(saved, "x", "y")
