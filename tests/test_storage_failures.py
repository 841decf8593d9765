"""Storage failures a user can meet: one error line naming the file and what to do.

A damaged journal, a full disk, a read-only state dir, a lock file replaced by a
directory, a journal pointed at /dev/full: `enictl apply` exits 1 with one line on
stderr, never `internal error` or a traceback, and changes nothing in the cloud.
Disk-full and read-only cases mount a small tmpfs (root only; skipped elsewhere),
and the cloud is reached through `sim serve` from another folder, so that only
enictl's own state lives on the failing filesystem.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.errors import StateError
from controller.storage import journal
from controller.storage.journal import JOURNAL_FILE, Journal
from tests.applyhelpers import MIXED, Cli, cloud_log
from tests.cloudfixtures import CloudProvider

MANIFESTS = str(MIXED / "manifests")


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, unmounted afterwards (root only)."""
    target = tmp_path / "tiny"
    target.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(target)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def served(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sim_serve: Callable[..., dict[str, str]],
) -> Path:
    """A simulated cloud in tmp_path/cloud, reached as --provider huaweicloud."""
    cloud = tmp_path / "cloud"
    CloudProvider("huaweicloud", sim_serve, monkeypatch).use(cloud)
    Cli(cloud, capsys).init(MIXED / "inventory.yaml")
    return cloud


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]


def _apply(state: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Apply the mixed manifests with STATE as state dir: exit 1, one line; that line."""
    ran = Cli(state, capsys)("apply", MANIFESTS, "--yes")
    assert ran.code == 1, ran.out
    return _one_error_line(ran.err)


def _calls(cloud: Path) -> list[str]:
    return [e.operation for e in cloud_log(cloud) if e.operation not in ("observe", "job")]


def _write(path: Path, *records: dict[str, object] | str) -> None:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("".join(line + "\n" for line in lines))


STARTED = {"type": "run-started", "run": "r1", "planDigest": "d", "steps": 3, "pid": 1}
SUBMITTED = {
    "type": "job-submitted",
    "run": "r1",
    "step": 2,
    "op": "attach",
    "job": "job-7",
    "server": "s",
    "interface": "p",
}


def test_a_torn_last_line_is_cut_and_every_whole_record_kept(tmp_path: Path) -> None:
    """A crash mid-write leaves half a line at the end: it is ignored, then cut off."""
    _write(tmp_path / JOURNAL_FILE, STARTED, SUBMITTED)
    with (tmp_path / JOURNAL_FILE).open("ab") as fh:
        fh.write(b'{"type": "job-fini')
    book = Journal.open(tmp_path)
    [run] = book.unfinished()
    assert [j.job_id for j in run.jobs] == ["job-7"]
    book.close()
    assert (tmp_path / JOURNAL_FILE).read_bytes().endswith(b"}\n")


def test_a_damaged_line_stops_with_what_to_do_and_keeps_the_jobs_in_flight(
    served: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record without its fields in the middle: one line naming the file, the line,
    the jobs still in flight and what to do; the cloud is not touched."""
    state = tmp_path / "state"
    state.mkdir()
    broken = {"type": "job-submitted", "run": "r1", "step": 1, "op": "attach", "job": "j0"}
    _write(state / JOURNAL_FILE, STARTED, broken, SUBMITTED)
    line = _apply(state, capsys)
    assert f"{state / JOURNAL_FILE} is damaged at line 2" in line
    assert "without server, interface" in line and "job-7" in line
    assert "Move the damaged line(s) out of the file" in line
    assert _calls(served) == []
    assert len((state / JOURNAL_FILE).read_text().splitlines()) == 3  # nothing rewritten


def test_a_journal_pointed_at_dev_full_is_refused(
    served: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """journal.jsonl -> /dev/full: refused as not a regular file, nothing read from it."""
    state = tmp_path / "state"
    state.mkdir()
    (state / JOURNAL_FILE).symlink_to("/dev/full")
    line = _apply(state, capsys)
    assert f"the apply journal {state / JOURNAL_FILE} is not a regular file" in line
    assert _calls(served) == []


def test_reading_a_journal_never_buffers_more_than_a_record(tmp_path: Path) -> None:
    """A 'line' of 5 MiB without a newline is read in 1 MiB pieces and reported damaged."""
    path = tmp_path / JOURNAL_FILE
    path.write_bytes(b"x" * (5 * journal.MAX_RECORD))
    with pytest.raises(StateError, match="damaged at line 1"):
        list(journal.read_records(path))


def test_a_lock_file_replaced_by_a_directory(
    served: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """state/lock is a directory: one line saying to remove it."""
    state = tmp_path / "state"
    (state / "lock").mkdir(parents=True)
    line = _apply(state, capsys)
    assert f"cannot lock {state / 'lock'}: Is a directory" in line and "remove it" in line
    assert _calls(served) == []


def test_a_full_disk_under_the_state_dir(
    served: Path, tiny_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No space left where the state dir is: one line naming the file and 'free space'."""
    filler = tiny_fs / "filler"
    with filler.open("wb", buffering=0) as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 4096)
    line = _apply(tiny_fs / "state", capsys)
    assert "No space left on device" in line and "free space" in line
    assert str(tiny_fs) in line
    assert _calls(served) == []


def test_a_full_disk_mid_journal_keeps_whole_records(tiny_fs: Path) -> None:
    """Appending until the disk is full: a StateError naming the journal, and the file
    still holds only whole records (the short write was cut off)."""
    book = Journal.open(tiny_fs)
    run = book.begin_run("sha256:p", steps=10**6)
    with pytest.raises(StateError, match="cannot write the apply journal") as caught:
        for step in range(10**6):
            run.step_done(step, note="x" * 200)
    assert "No space left on device" in str(caught.value)
    book.close()
    raw = (tiny_fs / JOURNAL_FILE).read_bytes()
    assert raw.endswith(b"\n")
    assert all(json.loads(line)["run"] == run.run_id for line in raw.splitlines())


def test_a_read_only_state_dir(
    served: Path, tiny_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state dir's filesystem is read-only: one line saying so."""
    (tiny_fs / "state").mkdir()
    remount = subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], capture_output=True)
    assert remount.returncode == 0, remount.stderr
    line = _apply(tiny_fs / "state", capsys)
    assert "Read-only file system" in line and "use a writable --state-dir" in line
    assert _calls(served) == []
    assert os.listdir(tiny_fs / "state") == []
