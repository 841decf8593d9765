"""The endpoints of `watch --listen` over real HTTP on 127.0.0.1, in process: readiness
for every way a reconcile can end, the page's content and escaping, the headers, the
methods and paths refused, the address forms, a taken port, and a clean close."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import replace

import pytest

from controller.errors import UsageError
from controller.events import Kind, event
from controller.model import Topology
from controller.plan import Change, Code, Failover, Severity, Standby, Violation
from controller.providers.sim.cloud import SimCloud
from controller.watching import endpoints
from controller.watching.endpoints import Address, Endpoints
from controller.watching.loop import Outcome, ReconcileResult, Role, Trigger
from controller.watching.metrics import Metrics
from controller.watching.status import About, Board
from tests import builders
from tests.endpointclient import get, value

ABOUT = About(
    version="test",
    provider="sim",
    backend="postgresql://enictl@db.internal:5432/enictl",
    paths=("manifests",),
    interval=30.0,
    pid=4321,
    host="ctl-1",
)


@pytest.fixture
def board() -> Board:
    return Board(ABOUT, wall=lambda: 1_800_000_000.0)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(version="test", provider="sim", process=False, reuse=0.0)


@pytest.fixture
def served(board: Board, metrics: Metrics) -> Iterator[Endpoints]:
    running = endpoints.serve(Address("127.0.0.1", 0), board, metrics)
    yield running
    running.close()


def _result(outcome: Outcome, **fields: object) -> ReconcileResult:
    return ReconcileResult(
        time=1_800_000_000.0,
        trigger=Trigger.INTERVAL,
        outcome=outcome,
        **fields,  # type: ignore[arg-type]
    )


READINESS = [
    (Outcome.IN_SYNC, {}, 200, "ready: leader; last reconcile in-sync"),
    (Outcome.APPLIED, {"epoch": 4}, 200, "ready: leader, epoch 4; last reconcile applied"),
    (Outcome.DRIFT, {}, 200, "ready: leader; last reconcile drift"),
    (Outcome.FAILED, {"error": "Ecs.0603: busy"}, 503, "last reconcile failed: Ecs.0603: busy"),
    (Outcome.REJECTED, {"error": "2 violations"}, 503, "plan rejected: 2 violations"),
    (Outcome.INVALID, {"error": "a.yaml:3:1: bad"}, 503, "manifests invalid: a.yaml:3:1: bad"),
    (Outcome.INTERRUPTED, {}, 503, "stopping: interrupted between two steps"),
    (
        Outcome.STANDBY,
        {"role": Role.STANDBY, "leader": "pid 7 on ctl-2"},
        503,
        "standby: pid 7 on ctl-2 leads",
    ),
    (
        Outcome.FAILED,
        {"role": Role.STANDBY, "error": "lease lost"},
        503,
        "standby: the lease was lost: lease lost",
    ),
]


@pytest.mark.parametrize(("outcome", "fields", "status", "reason"), READINESS)
def test_readyz_says_ready_only_for_a_leader_whose_last_reconcile_succeeded(
    served: Endpoints,
    board: Board,
    outcome: Outcome,
    fields: dict[str, object],
    status: int,
    reason: str,
) -> None:
    """/readyz is 200 for a leader after in-sync/applied/drift, else 503 with the reason."""
    board.record(_result(outcome, **fields), None)
    answer = get(f"{served.url}/readyz")
    assert (answer.status, answer.body) == (status, reason + "\n")
    assert get(f"{served.url}/healthz").status == 200


def test_before_the_first_reconcile_and_while_stopping_the_replica_is_not_ready(
    served: Endpoints, board: Board
) -> None:
    """No reconcile yet is 503 'starting'; a stop request is 503 'stopping', health stays 200."""
    assert get(f"{served.url}/readyz").status == 503
    assert get(f"{served.url}/readyz").body.startswith("starting: ")
    board.record(_result(Outcome.IN_SYNC), None)
    assert get(f"{served.url}/readyz").status == 200
    board.stopping()
    answer = get(f"{served.url}/readyz")
    assert answer.status == 503 and answer.body.startswith("stopping: ")
    health = get(f"{served.url}/healthz")
    assert (health.status, health.body) == (200, "ok: stopping\n")


def _page_topologies(cloud: SimCloud) -> tuple[Topology, Topology]:
    observed = cloud.observe()
    desired = builders.desired(
        observed,
        ["web-1", "web-2"],
        [
            *builders.as_declared(observed, "legacy-1"),
            builders.moved(observed, "spare-2", "web-2"),
            builders.eni("fresh-1", "subnet-web", "web-1"),
        ],
    )
    return desired, observed


def test_the_page_shows_servers_their_nic_use_and_where_each_eni_is(
    served: Endpoints, board: Board, cloud: SimCloud
) -> None:
    """The page lists declared servers with NICs against their limit and ENIs with their state."""
    desired, observed = _page_topologies(cloud)
    board.observed(observed)
    drift = Change("NetworkInterface/legacy-1", "securityGroups", ["sg-web"], ["sg-db"], "drift")
    board.record(_result(Outcome.APPLIED, changes=3, applied=3, drift=(drift,)), desired)
    answer = get(f"{served.url}/")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/html")
    page = answer.body
    assert '<tr id="server-web-1"><td>web-1</td><td>ECS</td><td>s6.large.2</td><td>az1</td>' in page
    assert (
        "<td>web-1</td><td>ECS</td><td>s6.large.2</td><td>az1</td><td>ACTIVE</td><td>2 / 3" in page
    )
    assert (
        "<td>web-2</td><td>ECS</td><td>s6.small.1</td><td>az1</td><td>ACTIVE</td><td>1 / 2" in page
    )
    assert "<td>spare-2</td><td>detached</td><td>web-2</td>" in page
    assert "to move to web-2" in page
    assert "<td>fresh-1</td><td>not in the cloud</td><td>web-1</td>" in page
    assert "<td>legacy-1</td><td>web-1</td><td>web-1</td>" in page
    assert "NetworkInterface/legacy-1 securityGroups: [sg-web] -&gt; [sg-db]" in page
    assert "ready: leader; last reconcile applied" in page
    assert "postgresql://enictl@db.internal:5432/enictl" in page
    assert "build-1" not in page  # neither declared nor holding a declared ENI
    assert "<script" not in page and "http://" not in page and "https://" not in page


@pytest.mark.parametrize("owner", ["default", "team-b"])
def test_the_page_lists_only_its_owners_orphans_and_their_grace(
    metrics: Metrics, cloud: SimCloud, owner: str
) -> None:
    """A managed ENI no manifest names is this owner's orphan, shown with its --prune
    grace; the same ENI is not shown to a watch of another owner."""
    board = Board(replace(ABOUT, owner=owner))
    observed = cloud.observe()
    board.observed(observed)
    desired = builders.desired(observed, ["web-1"], builders.as_declared(observed, "legacy-1"))
    board.record(_result(Outcome.IN_SYNC, in_grace=("spare-2",)), desired)
    running = endpoints.serve(Address("127.0.0.1", 0), board, metrics)
    try:
        page = get(f"{running.url}/").body
    finally:
        running.close()
    assert f"(owner {owner})" in page
    shown = '<tr id="interface-spare-2">' in page
    assert shown is (owner == "default")
    assert ("--prune deletes it once --prune-grace passed" in page) is shown


def test_the_page_shows_failover_enis_their_standbys_and_the_latest_moves(
    served: Endpoints, board: Board
) -> None:
    """Each failover ENI with where it is, where the policy puts it, why, and each
    standby's readiness; the latest failover moves with their seconds."""
    placed = Failover(
        "eni-svc",
        server="standby-1",
        current="standby-1",
        reason="web-1 SHUTOFF",
        since=1_800_000_000.0,
        standbys=(Standby("web-1", False, "SHUTOFF"), Standby("standby-2", True)),
    )
    move = {"interface": "eni-svc", "from": "web-1", "to": "standby-1",
            "reason": "web-1 SHUTOFF", "seconds": 2.345}  # fmt: skip
    board.record(
        _result(Outcome.APPLIED, in_sync=True, placements=(placed,), failovers=(move,)), None
    )
    board.record(_result(Outcome.FAILED, error="Ecs.0603"), None)  # planned nothing
    page = get(f"{served.url}/").body
    row = page.split('<tr id="failover-eni-svc">', 1)[1].split("</tr>", 1)[0]
    assert "<td>standby-1</td><td>standby-1</td><td>web-1 SHUTOFF</td>" in row
    assert "web-1 not ready (SHUTOFF)" in row and "standby-2 ready" in row
    assert "eni-svc web-1 -&gt; standby-1 in 2.35 s (web-1 SHUTOFF)" in page


def test_the_page_follows_an_apply_in_flight(
    served: Endpoints, board: Board, metrics: Metrics
) -> None:
    """Between a reconcile's apply-started and its result, the page says how many steps
    are done and the last one; the result ends it."""
    board.event(event(Kind.APPLY_STARTED, steps=2, adopt=0, parallelism=10))
    assert "applying since" in get(f"{served.url}/").body
    board.event(event(Kind.STEP_DONE, step=1, action="detach", interface="eni-svc", server="web-1"))
    page = get(f"{served.url}/").body
    assert "1 of 2 steps done; last: detach eni-svc web-1: done" in page
    board.record(_result(Outcome.APPLIED, in_sync=True), None)
    assert 'id="applying"' not in get(f"{served.url}/").body


def test_the_page_escapes_what_it_shows_and_forbids_scripts_and_outside_assets(
    served: Endpoints, board: Board
) -> None:
    """An error or violation text with markup is shown as text; the CSP allows no script."""
    markup = "<script>alert(1)</script>"
    violation = Violation(Code.SERVER_NOT_READY, Severity.WARNING, "Server/web-1", "", markup)
    board.record(_result(Outcome.FAILED, error=markup, violations=(violation,)), None)
    answer = get(f"{served.url}/")
    assert "<script" not in answer.body
    # the readiness reason, the last reconcile's error, the violation's message
    assert answer.body.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 3
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["server"] == "enictl"


def test_metrics_are_served_as_prometheus_text(
    served: Endpoints, board: Board, metrics: Metrics
) -> None:
    """/metrics serves the registry in the Prometheus text format, parsed by its own parser."""
    metrics.result(_result(Outcome.IN_SYNC, in_sync=True))
    answer = get(f"{served.url}/metrics")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    assert value(answer.body, "enictl_reconciles_total", outcome="in-sync") == 1
    assert value(answer.body, "enictl_leader") == 1
    head = get(f"{served.url}/metrics", method="HEAD")
    assert head.status == 200 and head.body == ""
    assert int(head.headers["content-length"]) == len(answer.body.encode())


def test_only_get_and_head_on_known_paths_are_answered(served: Endpoints) -> None:
    """Another method is 405 naming GET and HEAD; an unknown path is 404 naming the paths."""
    refused = get(f"{served.url}/readyz", method="POST")
    assert refused.status == 405 and refused.headers["allow"] == "GET, HEAD"
    missing = get(f"{served.url}/secrets")
    assert missing.status == 404 and "/healthz /metrics /readyz" in missing.body
    assert get(f"{served.url}/healthz?verbose=1").status == 200


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("9100", Address("127.0.0.1", 9100)),
        (":9100", Address("127.0.0.1", 9100)),
        ("0.0.0.0:9100", Address("0.0.0.0", 9100)),
        ("localhost:0", Address("localhost", 0)),
        ("[::1]:9100", Address("::1", 9100)),
    ],
)
def test_listen_addresses_default_to_loopback(text: str, address: Address) -> None:
    """A port alone is loopback; a host, an IPv4 or a bracketed IPv6 address is kept."""
    assert endpoints.parse_address(text) == address


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1:http", "the port must be a number from 0 to 65535"),
        ("127.0.0.1:70000", "the port must be a number from 0 to 65535"),
        ("::1:9100", "write an IPv6 address in brackets"),
        ("[nope]:9100", "'nope' is not an IPv6 address"),
        ("", "the port must be a number"),
    ],
)
def test_a_bad_listen_address_is_one_line_naming_it(text: str, message: str) -> None:
    """A malformed --listen value is a usage error that quotes it and says what is wrong."""
    with pytest.raises(UsageError) as refused:
        endpoints.parse_address(text)
    assert str(refused.value).startswith(f"--listen {text!r}: ")
    assert message in str(refused.value)


def test_a_taken_port_is_refused_and_close_frees_it(board: Board, metrics: Metrics) -> None:
    """Listening on a port in use is a UsageError naming it; after close() it can be had."""
    first = endpoints.serve(Address("127.0.0.1", 0), board, metrics)
    port = first.address.port
    with pytest.raises(UsageError) as refused:
        endpoints.serve(Address("127.0.0.1", port), board, metrics)
    assert f"--listen 127.0.0.1:{port}: cannot listen: " in str(refused.value)
    first.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    again = endpoints.serve(Address("127.0.0.1", port), board, metrics)
    assert get(f"{again.url}/healthz").status == 200
    again.close()


def test_clients_that_vanish_or_stay_silent_leave_no_trace(
    served: Endpoints, board: Board, cloud: SimCloud, capfd: pytest.CaptureFixture[str]
) -> None:
    """A client that resets its connection mid-answer, and one that connects and sends
    nothing, neither print anything nor stop the server from answering the next one."""
    desired, observed = _page_topologies(cloud)
    board.observed(observed)
    board.record(_result(Outcome.APPLIED), desired)
    address = (served.address.host, served.address.port)
    silent = socket.create_connection(address, timeout=5)
    for _ in range(20):
        rude = socket.create_connection(address, timeout=5)
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        rude.close()  # a reset, before the page is read
    assert get(f"{served.url}/healthz").status == 200
    silent.close()
    assert capfd.readouterr().err == ""
