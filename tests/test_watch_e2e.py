"""`enictl watch` as a real process against the simulated cloud in a temporary state dir.

Every wait is on the process's `--json` events or on the cloud's state, with a
generous deadline; no test sleeps for a fixed time. Two representative scenarios (a
manifest change, an out-of-band change) also run with `--provider huaweicloud`
through `enictl sim serve`.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli import main
from controller.providers.sim.cloud import SimCloud, open_cloud
from controller.storage import journal, lock
from tests.cloudfixtures import CloudProvider
from tests.watchprocess import Watch

DATA = Path(__file__).resolve().parent / "data" / "watch"


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    state = tmp_path / "state"
    assert main(["--state-dir", str(state), "sim", "init", str(DATA / "inventory.yaml")]) == 0
    yield tmp_path


def _cloud(workdir: Path) -> SimCloud:
    return open_cloud(workdir / "state")


def _detach_by_hand(workdir: Path, interface: str) -> None:
    cloud = _cloud(workdir)
    try:
        cloud.force_detach(interface)
    finally:
        cloud.close()


def _server_of(workdir: Path, interface: str) -> str | None:
    cloud = _cloud(workdir)
    try:
        return cloud.observe().interfaces[interface].server
    finally:
        cloud.close()


def _move_eni_a(workdir: Path, server: str) -> None:
    path = workdir / "manifests" / "interfaces.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("server: web-1}", f"server: {server}}}")
    path.write_text(text, encoding="utf-8")


def _started(workdir: Path, watches: list[Watch], provider: CloudProvider, *args: str) -> Watch:
    """A watch through `provider`, past its first reconcile (in sync)."""
    provider.use(workdir / "state")
    w = Watch(workdir, *args, provider=provider.name)
    watches.append(w)
    w.reconciled("the start reconcile", trigger="start", outcome="in-sync")
    return w


def test_a_manifest_change_is_reconciled(
    workdir: Path,
    watches: list[Watch],
    cloud_provider: CloudProvider,
) -> None:
    """Saving a manifest makes a running watch apply it (no interval needed)."""
    w = _started(workdir, watches, cloud_provider, "--interval", "3600")
    _move_eni_a(workdir, "web-2")
    done = w.reconciled("the file-triggered apply", trigger="files", outcome="applied")
    assert done["inSync"] is True
    assert done["summary"] == {"attach": 1, "detach": 1}
    assert _server_of(workdir, "eni-a") == "web-2"
    assert w.stop(signal.SIGINT) == 0  # Ctrl-C stops as cleanly as SIGTERM
    assert w.events[-1]["event"] == "watch-stopped"


def test_out_of_band_change_is_reverted_on_the_next_interval(
    workdir: Path,
    watches: list[Watch],
    cloud_provider: CloudProvider,
) -> None:
    """An ENI detached by hand is attached again by the next drift check."""
    w = _started(workdir, watches, cloud_provider, "--interval", "0.2")
    _detach_by_hand(workdir, "eni-a")
    done = w.reconciled("the drift repair", trigger="interval", outcome="applied")
    assert done["summary"] == {"attach": 1}
    assert _server_of(workdir, "eni-a") == "web-1"
    assert w.stop() == 0


def test_detect_only_reports_drift_and_changes_nothing(workdir: Path, watches: list[Watch]) -> None:
    """With --detect-only, drift is reported (events and status file), never repaired."""
    status = workdir / "status.json"
    w = Watch(workdir, "--interval", "0.2", "--detect-only", "--status-file", str(status))
    watches.append(w)
    w.reconciled("the start reconcile", trigger="start", outcome="in-sync")
    _detach_by_hand(workdir, "eni-a")
    found = w.reconciled("the drift report", trigger="interval", outcome="drift")
    assert found["changes"] == 1
    assert found["inSync"] is False
    health = json.loads(status.read_text(encoding="utf-8"))
    assert health["outcome"] == "drift"
    assert health["inSync"] is False
    assert health["observedFingerprint"] == found["observedFingerprint"]
    assert _server_of(workdir, "eni-a") is None
    assert w.stop() == 0
    assert not any(e["event"] == "apply-started" for e in w.events)
    assert _server_of(workdir, "eni-a") is None


def test_a_broken_manifest_keeps_the_loop_alive_and_a_fix_resumes(
    workdir: Path, watches: list[Watch]
) -> None:
    """Invalid YAML mid-edit is reported, nothing is reconciled; the fix is applied."""
    w = Watch(workdir, "--interval", "0.2")
    watches.append(w)
    good = w.reconciled("the start reconcile", trigger="start", outcome="in-sync")
    path = workdir / "manifests" / "interfaces.yaml"
    fixed = path.read_text(encoding="utf-8").replace("server: web-1}", "server: web-2}")
    path.write_text(fixed + "broken: [\n", encoding="utf-8")
    bad = w.reconciled("the invalid report", outcome="invalid")
    assert bad["problems"] and bad["problems"][0].startswith("manifests/interfaces.yaml:")
    assert bad["manifestsDigest"] == good["manifestsDigest"]  # the last good state is kept
    assert w.proc.poll() is None
    assert _server_of(workdir, "eni-a") == "web-1"
    path.write_text(fixed, encoding="utf-8")
    done = w.reconciled("the apply after the fix", trigger="files", outcome="applied")
    assert done["manifestsDigest"] != good["manifestsDigest"]
    assert _server_of(workdir, "eni-a") == "web-2"
    assert w.stop() == 0


def test_sigterm_during_an_apply_finishes_the_step_and_releases_the_lock(
    workdir: Path, watches: list[Watch]
) -> None:
    """SIGTERM mid-apply: the step in flight ends, no new one starts, exit 0, no lock."""
    state = workdir / "state"
    assert main(["--state-dir", str(state), "sim", "faults", "--latency-ms", "400"]) == 0
    w = Watch(workdir, "--interval", "3600", "--parallelism", "1")
    watches.append(w)
    w.reconciled("the start reconcile", trigger="start", outcome="in-sync")
    extra = "".join(
        "---\napiVersion: enictl/v1\nkind: NetworkInterface\n"
        f"metadata: {{name: eni-x{i}}}\n"
        f"spec: {{subnet: subnet-web, privateIp: 10.0.1.{60 + i}, server: big-1}}\n"
        for i in range(4)
    )
    (workdir / "manifests" / "more.yaml").write_text(extra, encoding="utf-8")
    w.wait_for(
        lambda e: e["event"] == "step-started" and e["action"] == "attach", "an attach starting"
    )
    assert w.stop(signal.SIGTERM) == 0
    started = {e["step"] for e in w.events if e["event"] == "step-started"}
    ended = {e["step"] for e in w.events if e["event"] in ("step-done", "step-failed")}
    assert started == ended  # no half-done step
    last = [e for e in w.events if e["event"] == "reconcile"][-1]
    assert last["outcome"] == "interrupted"
    assert 0 < last["applied"] < last["changes"]
    assert not lock.is_locked(state)
    assert journal.unfinished_runs(journal.read_records(state / journal.JOURNAL_FILE)) == []
    attached = [n for n in ("eni-x0", "eni-x1", "eni-x2", "eni-x3") if _attached(workdir, n)]
    assert 1 <= len(attached) < 4


def _attached(workdir: Path, name: str) -> bool:
    cloud = _cloud(workdir)
    try:
        found = cloud.observe().interfaces.get(name)
    finally:
        cloud.close()
    return found is not None and found.server == "big-1"
