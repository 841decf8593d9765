"""The apply journal: durable records, torn lines, unfinished runs and their open jobs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from controller.plan import Action, Step
from controller.storage.journal import JOURNAL_FILE, Journal, read_records, unfinished_runs


def test_a_finished_run_leaves_nothing_to_resume(tmp_path: Path) -> None:
    """A run with run-finished is not reported as unfinished."""
    book = Journal.open(tmp_path)
    run = book.begin_run("sha256:p", steps=1)
    run.step_started(Step(1, Action.ATTACH, "a", server="s"))
    run.job_intent(1, "attach", "sid", "pid")
    run.job_submitted(1, "attach", "sid", "pid", "job-1")
    run.job_finished(1, "job-1", "SUCCESS")
    run.step_done(1)
    run.finish("ok")
    assert book.unfinished() == []


def test_unfinished_run_lists_submitted_jobs_and_dangling_intents(tmp_path: Path) -> None:
    """Per step: a job id to poll, or an intent whose job id was never written."""
    book = Journal.open(tmp_path)
    run = book.begin_run("sha256:p", steps=4)
    run.job_intent(1, "detach", "s1", "p1")
    run.job_submitted(1, "detach", "s1", "p1", "job-1")
    run.job_intent(2, "attach", "s2", "p2")
    run.job_intent(3, "attach", "s3", "p3")
    run.job_unsent(3, "Ecs.0603")
    run.job_intent(4, "attach", "s4", "p4")
    run.job_submitted(4, "attach", "s4", "p4", "job-4")
    run.job_finished(4, "job-4", "SUCCESS")
    run.step_done(4)
    [found] = book.unfinished()
    assert found.run == run.run_id and found.plan_digest == "sha256:p"
    assert found.steps_total == 4 and found.steps_done == 1
    assert [(j.step, j.job_id, j.op, j.server_id, j.interface_id) for j in found.jobs] == [
        (1, "job-1", "detach", "s1", "p1")
    ]
    assert [(i.step, i.op, i.server_id, i.interface_id) for i in found.intents] == [
        (2, "attach", "s2", "p2")
    ]
    assert found.longest_job >= 0.0


def test_a_torn_last_line_is_ignored_and_sealed(tmp_path: Path) -> None:
    """A half-written record (power loss) is skipped; the next record starts a new line."""
    book = Journal.open(tmp_path)
    run = book.begin_run("sha256:p", steps=1)
    run.job_intent(1, "attach", "s", "p")
    book.close()
    with (tmp_path / JOURNAL_FILE).open("ab") as fh:
        fh.write(b'{"type": "job-submitted", "run": "')
    book = Journal.open(tmp_path)
    [found] = book.unfinished()
    assert [i.step for i in found.intents] == [1]
    book.begin_run("sha256:q", steps=0).finish("ok")
    kinds = [r["type"] for r in read_records(tmp_path / JOURNAL_FILE)]
    assert kinds == ["run-started", "job-intent", "run-started", "run-finished"]


def test_records_are_whole_json_lines_under_concurrent_writers(tmp_path: Path) -> None:
    """Many threads appending at once give whole, parseable lines (group-committed)."""
    book = Journal.open(tmp_path)
    run = book.begin_run("sha256:p", steps=800)

    def write(base: int) -> None:
        for i in range(100):
            run.step_done(base + i, note="x" * 50)

    threads = [threading.Thread(target=write, args=(k * 100,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / JOURNAL_FILE).read_text().splitlines()
    assert len(lines) == 801
    assert all(json.loads(line)["run"] == run.run_id for line in lines)
    assert book.unfinished()[0].steps_done == 800


def test_recovery_closes_the_old_run(tmp_path: Path) -> None:
    """Writing run-finished for another process's run makes it finished."""
    records = [
        {"type": "run-started", "run": "r1", "planDigest": "d", "steps": 1},
        {
            "type": "job-submitted",
            "run": "r1",
            "step": 1,
            "op": "attach",
            "job": "j",
            "server": "s",
            "interface": "p",
        },
        {"type": "job-finished", "run": "r1", "step": 1, "job": "j", "status": "SUCCESS"},
        {"type": "run-finished", "run": "r1", "result": "recovered"},
    ]
    assert unfinished_runs(iter(records)) == []
