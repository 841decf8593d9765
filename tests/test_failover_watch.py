"""Failover under a running `enictl watch` (a real process): a server fails at the console
and the ENI follows its service within seconds, without waiting for `--interval`; a
watch killed with -9 in the middle of a failover is restarted and converges, nothing
lost. On the sim provider and on huaweicloud through `enictl sim serve` (the kill -9
one there under `-m slow`: a second SDK process start)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller.cli import main
from controller.providers.sim.cloud import open_cloud
from controller.storage import journal, lock
from tests.cloudfixtures import CloudProvider
from tests.watchprocess import Watch

DATA = Path(__file__).parent / "data" / "failover"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The failover cloud and manifests; jobs take 0.3 s, as a slow cloud's would."""
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    state = str(tmp_path / "state")
    assert main(["--state-dir", state, "sim", "init", str(DATA / "inventory.yaml")]) == 0
    assert main(["--state-dir", state, "sim", "faults", "--latency-ms", "300"]) == 0
    return tmp_path


def _start(workdir: Path, watches: list[Watch], provider: CloudProvider, *args: str) -> Watch:
    provider.use(workdir / "state")
    w = Watch(workdir, "--interval", "3600", "--health-interval", "1", *args,
              provider=provider.name)  # fmt: skip
    watches.append(w)
    return w


def _console(workdir: Path, *args: str) -> None:
    assert main(["--state-dir", str(workdir / "state"), "sim", "console", *args]) == 0


def _svc(workdir: Path) -> tuple[str | None, str | None, str | None]:
    cloud = open_cloud(workdir / "state")
    try:
        found = cloud.snapshot().interfaces["eni-svc"]
    finally:
        cloud.close()
    return found.server, found.private_ip, found.eip


def test_a_failover_happens_while_watch_runs(
    workdir: Path, watches: list[Watch], cloud_provider: CloudProvider
) -> None:
    """web-1 SHUTOFF: the health check (every second) sees it and the reconcile it starts
    moves eni-svc at once (not after the hour-long --interval); a `failover` event says
    from, to, why and how long, and so does the status file."""
    status = workdir / "status.json"
    w = _start(workdir, watches, cloud_provider, "--status-file", str(status))
    w.reconciled("the start reconcile", trigger="start", outcome="in-sync")
    _console(workdir, "set-status", "web-1", "SHUTOFF")
    moved = w.wait_for(lambda e: e["event"] == "failover", "the failover event")
    del moved["event"]
    assert (moved["interface"], moved["from"], moved["to"]) == ("eni-svc", "web-1", "standby-1")
    assert moved["reason"] == "web-1 SHUTOFF"
    assert 0.6 <= moved["seconds"] < 10  # two 0.3 s jobs, within the deadline
    done = w.reconciled("the failover reconcile", trigger="health", outcome="applied")
    assert done["inSync"] is True and done["failovers"] == [moved]
    assert json.loads(status.read_text(encoding="utf-8"))["failovers"] == [moved]
    assert _svc(workdir) == ("standby-1", "10.0.1.50", "eip-1")
    assert w.stop() == 0


@pytest.mark.parametrize(
    "cloud_provider", ["sim", pytest.param("huaweicloud", marks=pytest.mark.slow)], indirect=True
)
def test_kill_9_mid_failover_then_a_restart_converges(
    workdir: Path, watches: list[Watch], cloud_provider: CloudProvider
) -> None:
    """watch killed -9 while the detach job of a failover runs: the next watch finishes
    the dead run's job (the journal), plans again and attaches eni-svc to standby-1
    with its IP and EIP; the cloud is in sync and nothing is left locked or open."""
    state = workdir / "state"
    assert main(["--state-dir", str(state), "sim", "faults", "--latency-ms", "800"]) == 0
    first = _start(workdir, watches, cloud_provider)
    first.reconciled("the start reconcile", trigger="start", outcome="in-sync")
    _console(workdir, "set-status", "web-1", "SHUTOFF")
    first.wait_for(lambda e: e["event"] == "job-submitted", "the detach job")
    first.kill()
    second = _start(workdir, watches, cloud_provider)
    second.wait_for(lambda e: e["event"] == "resume", "the resume of the dead run")
    second.reconciled("the reconcile after the restart", trigger="start", inSync=True)
    assert _svc(workdir) == ("standby-1", "10.0.1.50", "eip-1")
    assert second.stop() == 0
    assert not lock.is_locked(state)
    assert journal.unfinished_runs(journal.read_records(state / journal.JOURNAL_FILE)) == []
    argv = ["--state-dir", str(state), "plan", str(workdir / "manifests"), "--detailed-exitcode"]
    assert main(argv) == 0
