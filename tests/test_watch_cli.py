"""`enictl watch` output pieces: the status line, the status file, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.cli.watch import status_line, write_status
from controller.watching.loop import Outcome, ReconcileResult, Trigger

DATA = Path(__file__).resolve().parent / "data" / "watch"


def _result(**fields: object) -> ReconcileResult:
    base: dict[str, object] = {"time": 0.0, "trigger": Trigger.FILES, "outcome": Outcome.APPLIED}
    return ReconcileResult(**{**base, **fields})  # type: ignore[arg-type]


def test_status_line_names_trigger_outcome_changes_and_duration() -> None:
    """One line per reconcile: when, why, how it ended, how many changes, how long."""
    line = status_line(
        _result(changes=3, applied=3, duration=1.25, summary={"create": 1, "attach": 2}),
        detect_only=False,
    )
    assert line.startswith("1970-01-01T00:00:00Z files")
    assert "applied" in line
    assert "3 changes" in line
    assert "1.25s" in line
    assert "create 1, attach 2" in line


def test_status_line_says_detect_only_did_not_apply() -> None:
    """A drift report in detect-only mode says nothing was applied."""
    line = status_line(
        _result(trigger=Trigger.INTERVAL, outcome=Outcome.DRIFT, changes=1), detect_only=True
    )
    assert "1 change " in line
    assert "detect-only: not applied" in line


def test_status_line_carries_the_error() -> None:
    """A failed reconcile shows its error on the same line."""
    line = status_line(
        _result(trigger=Trigger.RETRY, outcome=Outcome.FAILED, error="state dir is locked"),
        detect_only=False,
    )
    assert line.endswith("error: state dir is locked")


def test_status_file_is_replaced_atomically_with_the_health_fields(tmp_path: Path) -> None:
    """The status file holds the last result's health fields and no temp file remains."""
    path = tmp_path / "run" / "status.json"
    write_status(path, _result(outcome=Outcome.IN_SYNC, in_sync=True, manifests_digest="sha256:a"))
    write_status(path, _result(outcome=Outcome.DRIFT, in_sync=False, observed_fingerprint="f"))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["outcome"] == "drift"
    assert data["inSync"] is False
    assert data["observedFingerprint"] == "f"
    assert {"time", "manifestsDigest", "violations", "error"} <= set(data)
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]


def test_missing_manifest_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path that does not exist exits 1 with one error line, before watching."""
    code = main(["--state-dir", str(tmp_path / "state"), "watch", str(tmp_path / "nope")])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_an_unwritable_status_file_stops_watch_with_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A status file that cannot be written ends watch with exit 1 and a clear line."""
    state = str(tmp_path / "state")
    assert main(["--state-dir", state, "sim", "init", str(DATA / "inventory.yaml")]) == 0
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    capsys.readouterr()
    code = main(
        [
            "--state-dir",
            state,
            "watch",
            str(DATA / "manifests"),
            "--status-file",
            str(blocker / "status.json"),
        ]
    )
    assert code == 1
    assert "cannot write the status file" in capsys.readouterr().err
