"""`enictl watch --listen` as a real process on 127.0.0.1: readiness through a reconcile
that fails and recovers, metrics that move as steps run (parsed by prometheus_client),
no credential in any answer, one-line errors for a bad or taken address, a clean stop,
and replicas on one PostgreSQL backend where only the leader is ready.

Waits are on the process's `--json` events (the metrics and the board are updated
before an event is printed) or on an answer, with a generous deadline."""

from __future__ import annotations

import shutil
import signal
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from controller.cli import main
from controller.providers.sim.cloud import open_cloud
from controller.providers.sim.serve import httpserver
from controller.watching import endpoints
from tests.applyhelpers import cloud_log, wait_for
from tests.cloudfixtures import HUAWEI_VARIABLES, SIM_PACE
from tests.endpointclient import get, samples, scrape, value
from tests.watchprocess import Watch

DATA = Path(__file__).resolve().parent / "data" / "watch"
PAGES = ("/healthz", "/readyz", "/metrics", "/")


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    assert (
        main(["--state-dir", str(tmp_path / "state"), "sim", "init", str(DATA / "inventory.yaml")])
        == 0
    )
    yield tmp_path


def _sim(workdir: Path, *args: str) -> None:
    assert main(["--state-dir", str(workdir / "state"), "sim", *args]) == 0


def _detach_by_hand(workdir: Path, interface: str) -> None:
    cloud = open_cloud(workdir / "state")
    try:
        cloud.force_detach(interface)
    finally:
        cloud.close()


def _listening(w: Watch) -> str:
    started = w.wait_for(lambda e: e["event"] == "watch-started", "the watch-started event")
    url = started["listen"]
    assert isinstance(url, str) and url.startswith("http://127.0.0.1:")
    return url


def _started(
    workdir: Path, watches: list[Watch], *args: str, provider: str = "sim"
) -> tuple[Watch, str]:
    w = Watch(workdir, "--listen", "127.0.0.1:0", *args, provider=provider)
    watches.append(w)
    url = _listening(w)
    w.reconciled("the start reconcile", trigger="start", outcome="in-sync")
    return w, url


def _closed(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_readyz_follows_a_reconcile_that_fails_and_recovers(
    workdir: Path, watches: list[Watch]
) -> None:
    """In sync: 200; attach jobs failing: 503 with the error, failures counted by the
    cloud's code; the cloud fixed: 200 again; SIGTERM: exit 0 and the port is closed."""
    w, url = _started(workdir, watches, "--interval", "0.2")
    assert get(f"{url}/readyz").status == 200
    _sim(workdir, "faults", "--job-fail-rate", "1")
    _detach_by_hand(workdir, "eni-a")
    failed = w.reconciled("a failing reconcile", outcome="failed")
    ready = get(f"{url}/readyz")
    assert ready.status == 503
    assert ready.body == f"last reconcile failed: {failed['error']}\n"
    assert get(f"{url}/healthz").status == 200
    text = get(f"{url}/metrics").body
    assert value(text, "enictl_steps_total", action="attach", outcome="failed") >= 1
    job_errors = {
        dict(labels)["code"]: n
        for (name, labels), n in samples(text).items()
        if name == "enictl_cloud_errors_total" and dict(labels)["call"] == "job"
    }
    assert job_errors and all(code.startswith("Ecs.") for code in job_errors), job_errors
    assert value(text, "enictl_last_reconcile_success") == 0
    assert value(text, "enictl_reconciles_total", outcome="failed") >= 1

    _sim(workdir, "faults", "--off")
    applied = w.reconciled("the recovering reconcile", outcome="applied")
    assert get(f"{url}/readyz").body == "ready: leader; last reconcile applied\n"
    text = get(f"{url}/metrics").body
    assert value(text, "enictl_steps_total", action="attach", outcome="done") == 1
    assert value(text, "enictl_last_reconcile_success") == 1
    failed_at = datetime.fromisoformat(failed["time"]).timestamp()
    assert value(text, "enictl_last_success_timestamp_seconds") > failed_at
    assert applied["applied"] == 1
    assert "<td>eni-a</td><td>web-1</td><td>web-1</td>" in get(f"{url}/").body
    assert w.stop(signal.SIGTERM) == 0
    assert _closed(url)


def test_step_counters_move_while_the_apply_runs(workdir: Path, watches: list[Watch]) -> None:
    """A scrape between two steps of one apply shows the steps done so far, before the
    reconcile ends; at its end the counters equal the plan's summary."""
    _sim(workdir, "faults", "--job-ms", "300")
    w, url = _started(workdir, watches, "--interval", "3600", "--parallelism", "1")
    extra = "".join(
        "---\napiVersion: enictl/v1\nkind: NetworkInterface\n"
        f"metadata: {{name: eni-x{i}}}\n"
        f"spec: {{subnet: subnet-web, privateIp: 10.0.1.{60 + i}, server: big-1}}\n"
        for i in range(2)
    )
    (workdir / "manifests" / "more.yaml").write_text(extra, encoding="utf-8")
    w.wait_for(lambda e: e["event"] == "step-done" and e["action"] == "create", "a create done")
    text = get(f"{url}/metrics").body
    assert value(text, "enictl_steps_total", action="create", outcome="done") >= 1
    assert value(text, "enictl_reconciles_total", outcome="applied") == 0  # still running
    done = w.reconciled("the apply", outcome="applied")
    text = get(f"{url}/metrics").body
    for action, count in done["summary"].items():
        assert value(text, "enictl_steps_total", action=action, outcome="done") == count
    assert value(text, "enictl_reconciles_total", outcome="applied") == 1
    assert value(text, "enictl_cloud_calls_total", call="attach") == done["summary"]["attach"]


def test_stuck_clients_do_not_delay_a_reconcile(workdir: Path, watches: list[Watch]) -> None:
    """More clients than the endpoints serve at once, half of them sending half a
    request, half never reading their answer: a manifest change is still reconciled at
    once, and the endpoints answer again when they are gone."""
    w, url = _started(workdir, watches, "--interval", "3600")
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stuck = []
    for k in range(2 * endpoints.MAX_CONNECTIONS):
        conn = socket.create_connection((host, int(port)), timeout=5)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + (b"\r\n" if k % 2 else b""))
        stuck.append(conn)
    path = workdir / "manifests" / "interfaces.yaml"
    written = time.time()
    path.write_text(path.read_text().replace("server: web-1}", "server: web-2}"))
    moved = w.reconciled("the move", trigger="files", outcome="applied")
    assert datetime.fromisoformat(moved["time"]).timestamp() - written < 3.0
    assert moved["durationSeconds"] < 2.0
    for conn in stuck:
        conn.close()
    wait_for(lambda: get(f"{url}/healthz").status == 200, what="the endpoints answering")
    assert "<td>eni-a</td><td>web-2</td>" in get(f"{url}/").body


def test_a_failover_is_counted_with_its_seconds_and_the_standbys_readiness(
    tmp_path: Path, watches: list[Watch]
) -> None:
    """web-1 SHUTOFF under a watch with --listen: after the failover, the move of
    eni-svc is counted with the event's seconds, one of its two other servers is ready
    (web-1 is down), the health listings are cloud calls, and the replica stays ready."""
    failover = DATA.parent / "failover"
    shutil.copytree(failover / "manifests", tmp_path / "manifests")
    _sim(tmp_path, "init", str(failover / "inventory.yaml"))
    w, url = _started(tmp_path, watches, "--interval", "3600", "--health-interval", "0.2")
    assert scrape(url, "enictl_failover_standbys_ready", interface="eni-svc") == 2
    assert scrape(url, "enictl_failover_interfaces") == 1
    _sim(tmp_path, "console", "set-status", "web-1", "SHUTOFF")
    moved = w.wait_for(lambda e: e["event"] == "failover", "the failover")
    w.reconciled("the failover reconcile", trigger="health", outcome="applied")
    text = get(f"{url}/metrics").body
    assert value(text, "enictl_failovers_total", interface="eni-svc") == 1
    assert value(text, "enictl_failover_duration_seconds_count") == 1
    assert value(text, "enictl_failover_duration_seconds_sum") == moved["seconds"]
    assert value(text, "enictl_failover_standbys_ready", interface="eni-svc") == 1
    assert value(text, "enictl_cloud_calls_total", call="server_statuses") >= 1
    assert value(text, "enictl_reconcile_triggers_total", trigger="health") == 1
    assert get(f"{url}/readyz").status == 200


def test_no_answer_carries_a_credential(
    workdir: Path, watches: list[Watch], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the huaweicloud provider's AK/SK set (through sim serve), a failing and a
    good reconcile later, no endpoint's body or headers contain the AK or the SK."""
    ak, sk = "AKWATCHLISTENTEST01", "SkWatchListen/Secret+Value0123456789abcdef"
    settings = httpserver.ServeSettings.from_env(
        {"HUAWEICLOUD_SDK_AK": ak, "HUAWEICLOUD_SDK_SK": sk}
    )
    running = httpserver.start(workdir / "state", settings)
    try:
        for name in (*HUAWEI_VARIABLES, "ENICTL_PROVIDER"):
            monkeypatch.delenv(name, raising=False)
        for key, val in {**running.client_env(), **SIM_PACE}.items():
            monkeypatch.setenv(key, val)
        w, url = _started(workdir, watches, "--interval", "0.2", provider="huaweicloud")
        _sim(workdir, "faults", "--job-fail-rate", "1")
        _detach_by_hand(workdir, "eni-a")
        w.reconciled("a failing reconcile", outcome="failed")
        answers = [get(f"{url}{path}") for path in PAGES]
        _sim(workdir, "faults", "--off")
        w.reconciled("the recovering reconcile", outcome="applied")
        answers += [get(f"{url}{path}") for path in PAGES]
        assert w.stop() == 0
    finally:
        running.stop()
    assert "huaweicloud" in answers[3].body
    for answer in answers:
        shown = answer.body + repr(answer.headers)
        assert ak not in shown and sk not in shown


def test_a_bad_or_taken_listen_address_is_one_line_before_any_reconcile(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--listen with no port, or a port another process holds: exit 1, one error line
    naming the address, and the cloud was never called."""
    base = ["--state-dir", str(workdir / "state"), "watch", str(workdir / "manifests")]
    assert main([*base, "--listen", "127.0.0.1:web"]) == 1
    err = capsys.readouterr().err
    assert err == "error: --listen '127.0.0.1:web': the port must be a number from 0 to 65535\n"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([*base, "--listen", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --listen 127.0.0.1:{port}: cannot listen: ")
    assert cloud_log(workdir / "state") == []


def test_only_the_leading_replica_is_ready_and_a_standby_takes_over(
    workdir: Path, watches: list[Watch], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas on one PostgreSQL backend: the leader answers 200 and leader 1, the
    standby 503 naming the leader and leader 0; when the leader stops the standby leads
    and is ready. The database password appears in no answer."""
    password = "Pg-Secret-Password-42"
    url_with_password = pg_url.replace("postgres@", f"postgres:{password}@", 1)
    monkeypatch.setenv("ENICTL_STATE_BACKEND", url_with_password)
    monkeypatch.setenv("ENICTL_LEASE_TTL", "0.9")
    first, first_url = _started(workdir, watches, "--interval", "0.3")
    second = Watch(workdir, "--listen", "127.0.0.1:0", "--interval", "0.3")
    watches.append(second)
    second_url = _listening(second)
    second.reconciled("standing by", outcome="standby")
    standby = get(f"{second_url}/readyz")
    assert standby.status == 503 and standby.body.startswith("standby: pid ")
    assert f"pid {first.proc.pid} " in standby.body
    assert get(f"{first_url}/readyz").status == 200
    assert scrape(first_url, "enictl_leader") == 1 and scrape(second_url, "enictl_leader") == 0
    epoch = scrape(first_url, "enictl_leader_epoch")
    assert epoch >= 1
    answers = [get(f"{u}{path}") for u in (first_url, second_url) for path in PAGES]
    assert first.stop() == 0
    second.reconciled("taking over", role="leader", outcome="in-sync")
    wait_for(lambda: get(f"{second_url}/readyz").status == 200, what="the new leader ready")
    assert scrape(second_url, "enictl_leader") == 1
    assert scrape(second_url, "enictl_leader_epoch") > epoch
    page = get(f"{second_url}/").body
    assert "leader (lease epoch" in page and "postgresql://postgres@127.0.0.1:" in page
    for answer in [*answers, get(f"{second_url}/")]:
        assert password not in answer.body + repr(answer.headers)
