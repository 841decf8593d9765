"""`enictl sim serve`: Huawei's request and response shapes, auth, pagination, faults."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from controller.errors import ProviderError, UsageError
from controller.providers.sim.cloud import SimCloud, init_cloud
from controller.providers.sim.faults import Faults
from controller.providers.sim.serve import httpserver, sigv4
from tests.fakeclock import FakeClock
from tests.sim_support import Ids, small_spec

P = httpserver.DEFAULT_PROJECT_ID
ENICTL = (sys.executable, "-m", "controller")


class Client:
    """A bare HTTP client that signs like the SDK (or not, or wrongly)."""

    def __init__(self, url: str, ak: str = httpserver.DEFAULT_AK, sk: str = httpserver.DEFAULT_SK):
        self.netloc = urlsplit(url).netloc
        self.ak, self.sk = ak, sk

    def call(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        *,
        sign: bool = True,
    ) -> tuple[int, Any]:
        raw_query = urlencode(sorted((query or {}).items()))
        payload = b"" if body is None else json.dumps(body).encode()
        headers = {
            "host": self.netloc,
            "content-type": "application/json",
            "x-sdk-date": datetime.now(UTC).strftime(sigv4.DATE_FORMAT),
        }
        if sign:
            headers["authorization"] = sigv4.sign(
                self.ak, self.sk, method, path, raw_query, headers, payload
            )
        conn = http.client.HTTPConnection(self.netloc, timeout=30)
        try:
            conn.request(method, path + ("?" + raw_query if raw_query else ""), payload, headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return response.status, json.loads(data) if data else None


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimCloud]:
    """The small cloud on the real clock (not conftest's fake one): `sim serve` keeps real time."""
    found = init_cloud(tmp_path, small_spec())
    yield found
    found.close()


@pytest.fixture
def client(tmp_path: Path, cloud: SimCloud) -> Iterator[Client]:
    running = httpserver.start(tmp_path, httpserver.ServeSettings.from_env({}))
    yield Client(running.url)
    running.stop()


def test_unsigned_or_wrongly_signed_requests_get_401(client: Client) -> None:
    """No signature, a wrong secret or an unknown AK: HTTP 401 with API Gateway's body."""
    wrong_sk = Client(f"http://{client.netloc}", sk="not-the-secret")
    wrong_ak = Client(f"http://{client.netloc}", ak="SOMEONEELSE")
    for status, body in (
        client.call("GET", f"/v1/{P}/vpcs", sign=False),
        wrong_sk.call("GET", f"/v1/{P}/vpcs"),
        wrong_ak.call("GET", f"/v1/{P}/vpcs"),
    ):
        assert status == 401
        assert body["error_code"] == httpserver.AUTH_FAILED
        assert httpserver.DEFAULT_SK not in json.dumps(body)


def test_a_replayed_request_with_another_body_is_refused(client: Client, cloud: SimCloud) -> None:
    """A captured signed request sent again with another body, the old body's hash in an
    unsigned X-Sdk-Content-Sha256 header, gets 401 and changes nothing."""
    path = f"/v1/{P}/ports"
    original = json.dumps({"port": {"name": "a", "network_id": Ids(cloud).subnet("subnet-web")}})
    headers = {
        "host": client.netloc,
        "content-type": "application/json",
        "x-sdk-date": datetime.now(UTC).strftime(sigv4.DATE_FORMAT),
    }
    headers["authorization"] = sigv4.sign(
        client.ak, client.sk, "POST", path, "", headers, original.encode()
    )
    headers[sigv4.CONTENT_HASH_HEADER] = hashlib.sha256(original.encode()).hexdigest()
    forged = original.replace('"a"', '"evil"').encode()
    conn = http.client.HTTPConnection(client.netloc, timeout=30)
    try:
        conn.request("POST", path, forged, headers)
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert (response.status, body["error_code"]) == (401, httpserver.AUTH_FAILED)
    assert "evil" not in cloud.snapshot().interfaces


def test_signed_request_is_answered(client: Client) -> None:
    """A correctly signed request gets the VPC v1 listing shape."""
    status, body = client.call("GET", f"/v1/{P}/vpcs")
    assert status == 200
    assert sorted(v["name"] for v in body["vpcs"]) == ["vpc-other", "vpc-prod"]
    assert {"id", "name", "cidr", "status"} <= set(body["vpcs"][0])


def test_unknown_route_and_other_project(client: Client) -> None:
    """An unknown API is APIGW.0101 (404); another project id is 404 too."""
    status, body = client.call("GET", f"/v1/{P}/no-such-thing")
    assert (status, body["error_code"]) == (404, "APIGW.0101")
    status, body = client.call("GET", "/v1/another-project/vpcs")
    assert status == 404


def test_servers_page_by_number_with_count(client: Client, cloud: SimCloud) -> None:
    """ECS detail: `offset` is a page number, `count` the total; pages partition the servers."""
    seen: list[str] = []
    for page in (1, 2, 3):
        status, body = client.call(
            "GET", f"/v1/{P}/cloudservers/detail", {"limit": 3, "offset": page}
        )
        assert status == 200 and body["count"] == 4
        seen += [s["name"] for s in body["servers"]]
    assert sorted(seen) == sorted(cloud.snapshot().servers)
    web1 = next(s for s in _all_servers(client) if s["name"] == "web-1")
    assert web1["flavor"]["name"] == "s6.large.2"
    assert web1["OS-EXT-AZ:availability_zone"] == "az1"
    primaries = [a for addrs in web1["addresses"].values() for a in addrs if a["primary"]]
    assert [a["addr"] for a in primaries] == ["10.0.1.10"]


def test_servers_page_by_marker(client: Client, cloud: SimCloud) -> None:
    """ECS detail by `marker` (the last server's id): each server exactly once, `count` the
    total on every page, and a page after the last is empty."""
    seen: list[str] = []
    query: dict[str, Any] = {"limit": 3}
    while True:
        status, body = client.call("GET", f"/v1/{P}/cloudservers/detail", query)
        assert status == 200 and body["count"] == 4
        if not body["servers"]:
            break
        seen += [s["name"] for s in body["servers"]]
        query["marker"] = body["servers"][-1]["id"]
    assert sorted(seen) == sorted(cloud.snapshot().servers)


def test_enterprise_project_scopes_the_listings_that_take_it(client: Client) -> None:
    """All of the simulated cloud is in enterprise project "0": all_granted_eps and 0 list
    it, another project lists nothing, a malformed id is a 400."""
    other = "6bb4d2f6-0d0b-4d35-9c60-1d2a1fb1c0de"
    for path, key in (("cloudservers/detail", "servers"), ("security-groups", "security_groups")):
        for project, expect_some in (("all_granted_eps", True), ("0", True), (other, False)):
            status, body = client.call("GET", f"/v1/{P}/{path}", {"enterprise_project_id": project})
            assert status == 200 and bool(body[key]) is expect_some, (path, project)
        status, body = client.call("GET", f"/v1/{P}/{path}", {"enterprise_project_id": "x y"})
        assert status == 400


def _all_servers(client: Client) -> list[dict[str, Any]]:
    return list(client.call("GET", f"/v1/{P}/cloudservers/detail", {"limit": 100})[1]["servers"])


def test_v3_ports_page_by_marker_with_page_info(client: Client, cloud: SimCloud) -> None:
    """VPC v3 ports: `next_marker` until the last page; every port exactly once, tags included."""
    names: list[str] = []
    marker = None
    calls = 0
    while True:
        query: dict[str, Any] = {"limit": 3}
        if marker:
            query["marker"] = marker
        status, body = client.call("GET", f"/v3/{P}/ports", query)
        calls += 1
        assert status == 200
        names += [p["name"] for p in body["ports"]]
        marker = body["page_info"].get("next_marker")
        if not marker:
            break
    ports = cloud.snapshot().interfaces
    assert sorted(names) == sorted(ports)
    assert calls == -(-len(ports) // 3)
    spare2 = _port(client, "spare-2")
    assert spare2["tags"] == [{"key": "enictl-managed", "value": "true"}]
    legacy = _port(client, "legacy-1")
    assert legacy["device_owner"] == "compute:az1"
    assert legacy["binding:vif_details"]["primary_interface"] is False


def _port(client: Client, name: str) -> dict[str, Any]:
    ports = client.call("GET", f"/v3/{P}/ports", {"limit": 100})[1]["ports"]
    return dict(next(p for p in ports if p["name"] == name))


def test_each_list_page_is_one_observe_in_the_log(client: Client, cloud: SimCloud) -> None:
    """A list request goes through SimCloud: one `observe` line per page in `sim log`."""
    before = max((e.seq for e in cloud.log()), default=0)
    for path in ("vpcs", "subnets", "security-groups", "publicips"):
        assert client.call("GET", f"/v1/{P}/{path}", {"limit": 1})[0] == 200
    entries = cloud.log(since=before)
    assert [e.operation for e in entries] == ["observe"] * 4


def test_ecs_error_body_for_an_over_limit_attach(client: Client, cloud: SimCloud) -> None:
    """A refused attach answers with ECS's error body and the cloud's code and status."""
    ids = Ids(cloud)
    status, body = client.call(
        "POST",
        f"/v1/{P}/cloudservers/{ids.server('web-1')}/nics",
        body={"nics": [{"port_id": ids.port("spare-1")}]},
    )
    assert status == 200 and body["job_id"]
    status, body = client.call(
        "POST",
        f"/v1/{P}/cloudservers/{ids.server('web-1')}/nics",
        body={"nics": [{"port_id": ids.port("spare-2")}]},
    )
    assert status == 400
    assert body["error"]["code"] == "Ecs.0050"


def test_primary_detach_is_403(client: Client, cloud: SimCloud) -> None:
    """Detaching a primary NIC is HTTP 403, as BatchDeleteServerNics documents, with a
    code that does not claim Ecs.0003 (which means "no permission")."""
    ids = Ids(cloud)
    status, body = client.call(
        "POST",
        f"/v1/{P}/cloudservers/{ids.server('web-1')}/nics/delete",
        body={"nics": [{"id": ids.port("web-1-primary")}]},
    )
    assert status == 403
    assert body["error"]["code"] == "Sim.0403" and "primary" in body["error"]["message"]


def test_vpc_error_bodies(client: Client) -> None:
    """VPC v1 errors are {code, message}; VPC v3 errors are {error_code, error_msg}."""
    status, body = client.call("DELETE", f"/v1/{P}/ports/no-such-port")
    assert (status, body["code"]) == (404, "VPC.0704")
    status, body = client.call(
        "POST", f"/v3/{P}/ports/no-such-port/tags", body={"tag": {"key": "enictl-managed"}}
    )
    assert (status, body["error_code"]) == (404, "VPC.0704")
    status, body = client.call("POST", f"/v1/{P}/ports", body={"nope": 1})
    assert status == 400 and body["code"]


def test_job_object_shape(client: Client, cloud: SimCloud) -> None:
    """ShowJob returns status, job type and the NIC in its sub-job entities."""
    ids = Ids(cloud)
    server, port = ids.server("web-1"), ids.port("spare-1")
    job_id = client.call(
        "POST", f"/v1/{P}/cloudservers/{server}/nics", body={"nics": [{"port_id": port}]}
    )[1]["job_id"]
    status, body = client.call("GET", f"/v1/{P}/jobs/{job_id}")
    assert status == 200
    assert body["status"] == "SUCCESS" and body["job_type"] == "batchAddNics"
    assert body["entities"]["sub_jobs"][0]["entities"] == {"server_id": server, "nic_id": port}


def test_os_interface_shows_delete_on_termination(client: Client, cloud: SimCloud) -> None:
    """os-interface lists the attachments with delete_on_termination; PUT changes it."""
    ids = Ids(cloud)
    server, port = ids.server("web-1"), ids.port("legacy-1")
    body = client.call("GET", f"/v1/{P}/cloudservers/{server}/os-interface")[1]
    rows = {r["port_id"]: r for r in body["interfaceAttachments"]}
    assert rows[port]["delete_on_termination"] is False
    assert body["attachableQuantity"]["free_nic"] == 1
    status, _ = client.call(
        "PUT",
        f"/v1/{P}/cloudservers/{server}/os-interface/{port}",
        body={"interface_attachment": {"delete_on_termination": True}},
    )
    assert status == 200
    assert cloud.snapshot().interfaces["legacy-1"].delete_on_termination is True


def test_injected_faults_apply_to_http_requests(client: Client, cloud: SimCloud) -> None:
    """`sim faults --error-rate 1`: every request fails with a transient code and status
    (Ecs.0603 is a 501, as in ECS's error table)."""
    cloud.set_faults(Faults(error_rate=1.0, seed=3))
    seen = set()
    for _ in range(20):
        status, body = client.call("GET", f"/v1/{P}/cloudservers/detail")
        seen.add((status, body["error"]["code"]))
    assert seen <= {(501, "Ecs.0603"), (429, "APIGW.0308")}
    assert len(seen) == 2


def test_without_a_cloud_the_server_says_so(tmp_path: Path) -> None:
    """A state dir with no simulated cloud answers 503, not a crash."""
    running = httpserver.start(tmp_path, httpserver.ServeSettings.from_env({}))
    try:
        status, body = Client(running.url).call("GET", f"/v1/{P}/vpcs")
    finally:
        running.stop()
    assert status == 503 and "sim init" in body["error"]["message"]


def test_serve_settings_from_the_environment() -> None:
    """AK/SK from the environment (both or neither), else the documented test keys."""
    default = httpserver.ServeSettings.from_env({})
    assert default.default_keys and default.access_key == httpserver.DEFAULT_AK
    mine = httpserver.ServeSettings.from_env(
        {"HUAWEICLOUD_SDK_AK": "AK1", "HUAWEICLOUD_SDK_SK": "SECRET1"}
    )
    assert (mine.access_key, mine.default_keys) == ("AK1", False)
    assert "SECRET1" not in repr(mine)
    with pytest.raises(UsageError):
        httpserver.ServeSettings.from_env({"HUAWEICLOUD_SDK_AK": "AK1"})


def test_sim_serve_command_serves_until_interrupted(tmp_path: Path, cloud: SimCloud) -> None:
    """`enictl sim serve --port 0` prints its URL and the client env, answers, stops on Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_", "ENICTL_"))}
    env["HUAWEICLOUD_SDK_AK"], env["HUAWEICLOUD_SDK_SK"] = "SERVEAK", "serve-secret-never-shown"
    process = subprocess.Popen(
        [*ENICTL, "--state-dir", str(tmp_path), "sim", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "serving the simulated cloud" in first
        url = first.split(" at ")[1].split(" ")[0]
        assert url.startswith("http://127.0.0.1:")
        status, _ = Client(url, "SERVEAK", "serve-secret-never-shown").call("GET", f"/v1/{P}/vpcs")
        assert status == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "serve-secret-never-shown" not in first + out + err


def test_sim_serve_refuses_a_missing_cloud(tmp_path: Path) -> None:
    """Without a simulated cloud, `sim serve` exits 1 with one line saying what to do."""
    result = subprocess.run(
        [*ENICTL, "--state-dir", str(tmp_path / "none"), "sim", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: no simulated cloud")


def test_data_version_changes_with_the_cloud_and_only_then(tmp_path: Path) -> None:
    """observe_unless: same version while nothing changes (no topology read), a new one
    after a mutation, a job finishing, a console change or a new `sim init`."""
    clock = FakeClock()
    cloud = init_cloud(tmp_path, small_spec(), clock=clock)
    ids = Ids(cloud)
    first, topology = cloud.observe_unless(None)
    assert topology == cloud.snapshot()
    assert cloud.observe_unless(first) == (first, None)
    cloud.set_faults(Faults(latency_ms=1000))
    assert cloud.observe_unless(first) == (first, None)
    cloud.attach(ids.server("web-1"), ids.port("spare-1"))  # the job itself changes nothing yet
    submitted, _ = cloud.observe_unless(first)
    assert submitted != first and cloud.observe_unless(submitted) == (submitted, None)
    clock.advance(2)
    done, topology = cloud.observe_unless(submitted)
    assert done != submitted and topology is not None
    assert topology.interfaces["spare-1"].server == "web-1"
    cloud.force_set_status("web-2", "SHUTOFF")
    console, _ = cloud.observe_unless(done)
    assert console != done
    with pytest.raises(ProviderError):
        cloud.detach(ids.server("web-1"), ids.port("web-1-primary"))
    assert cloud.observe_unless(console) == (console, None)
    ops = [e.operation for e in cloud.log() if e.operation == "observe"]
    assert len(ops) == 8
    cloud.close()
    again = init_cloud(tmp_path, small_spec(), force=True)
    assert again.observe_unless(console)[0] != console
    again.close()


def test_other_ports_show_an_owner_the_provider_reads_back() -> None:
    """Each kind of other port sim serve lists has the device_owner a real one has, and the
    huaweicloud provider reads that owner back as the same kind."""
    from controller.providers.huaweicloud import topology
    from controller.providers.sim.serve import network

    for owner, device_owner in network.DEVICE_OWNERS.items():
        assert topology.port_owner(device_owner) == owner


def test_a_filter_the_simulated_cloud_does_not_apply_is_refused(client: Client) -> None:
    """A listing asked to filter (by name, device, ...) answers 400 rather than every item."""
    for path, key in (("/v3/{}/ports", "error_code"), ("/v1/{}/cloudservers/detail", "error")):
        status, body = client.call("GET", path.format(P), {"limit": 5, "device_id": "x"})
        assert status == 400 and key in body
