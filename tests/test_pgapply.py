"""`enictl apply` from several machines sharing one PostgreSQL backend and one cloud.

A "machine" is a state dir of its own; the cloud is one simulated cloud, reached as
`--provider sim` in a shared folder or as `--provider huaweicloud` through `sim serve`.
The lock, the journal and the last-applied record live in the database only. Leases
are short here (ENICTL_LEASE_TTL) so that takeovers take a fraction of a second.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from controller.cli import main
from controller.errors import LeaseLost
from controller.providers.sim.cloud import open_cloud
from controller.storage.postgresql.store import PostgresBackend
from tests.applyhelpers import MIXED, Cli, cloud_log, identity, rejected, spawn, wait_for
from tests.cloudfixtures import CloudProvider
from tests.pgcluster import Cluster as Postgres

TTL = 0.9  # seconds: renew every 0.3, stop after 0.6 without a renewal
MANIFESTS = str(MIXED / "manifests")
KILL_SEEDS = list(range(20))
KILL_SOAK = list(range(20, 120))
READS = frozenset({"observe", "job"})  # a poll already past its check may still land


@pytest.fixture
def shared(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """Every enictl of this test uses `pg_url` as its state backend; the cloud's folder."""
    monkeypatch.setenv("ENICTL_STATE_BACKEND", pg_url)
    monkeypatch.setenv("ENICTL_LEASE_TTL", str(TTL))
    monkeypatch.setenv("ENICTL_RESUME_WAIT", "0.3")  # a call that never left shows no effect
    cloud = tmp_path / "cloud"
    yield pg_url, cloud


def _journal_started(url: str, kind: str = "job-intent") -> bool:
    """Whether the journal holds a record of `kind` yet."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('enictl_journal')").fetchone() == (None,):
            return False
        row = conn.execute("SELECT count(*) FROM enictl_journal WHERE kind = %s", (kind,))
        found = row.fetchone()
    return bool(found and found[0])


def _fork_apply(state: Path, *args: str) -> int:
    """`enictl --state-dir STATE apply MANIFESTS --yes` in a forked child (imports done)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            code = main(["--state-dir", str(state), *args, "apply", MANIFESTS, "--yes"])
        finally:
            os._exit(code)
    return pid


def test_two_applies_on_two_machines_exactly_one_runs(
    shared: tuple[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sim_serve: Callable[..., dict[str, str]],
) -> None:
    """Two machines apply at once through `sim serve`: one runs, the other fails fast
    naming the holder; then the other's plan agrees that nothing is left to do."""
    _url, cloud = shared
    CloudProvider("huaweicloud", sim_serve, monkeypatch).use(cloud)
    owner = Cli(cloud, capsys)
    owner.init(MIXED / "inventory.yaml")
    assert owner("sim", "faults", "--latency-ms", "100").code == 0
    argv = ("--provider", "huaweicloud", "apply", MANIFESTS, "--yes")
    runs = [spawn(tmp_path / f"machine-{i}", *argv) for i in (1, 2)]
    results = [(run.wait(timeout=60), *run.communicate()) for run in runs]
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, 1], results
    [(_, _, refused)] = [r for r in results if r[0] == 1]
    assert "is locked by pid" in refused and "lock id" in refused and "host" in refused
    other = Cli(tmp_path / "machine-3", capsys)
    assert other.in_sync(MANIFESTS)
    assert rejected(cloud) == []


def _kill_and_take_over(
    seed: int, url: str, cloud: Path, cli: Cli, victim_dir: Path, argv: tuple[str, ...] = ()
) -> None:
    """Kill -9 a holder mid-apply at a seeded moment; the next apply (another machine:
    `cli`) takes over within TTL + 1 s, converges, loses no ENI, changes no IP or EIP."""
    rng = random.Random(seed)
    init = Cli(cloud, cli._capsys)
    init.init(MIXED / "inventory.yaml")
    assert init("sim", "faults", "--latency-ms", "40").code == 0
    expected = identity(cli.interfaces())
    victim = _fork_apply(victim_dir, *argv)
    if rng.random() < 0.8:  # mostly after its first cloud job was journalled
        wait_for(lambda: _journal_started(url), what="the victim's first job")
    time.sleep(rng.uniform(0.0, 0.25))
    os.kill(victim, signal.SIGKILL)
    os.waitpid(victim, 0)
    killed = time.monotonic()
    ran = cli(*argv, "apply", MANIFESTS, "--yes", "--lock-timeout", "10")
    assert ran.code == 0, (seed, ran.out, ran.err)
    took = _taken_at(url) - killed
    assert took <= TTL + 1.0, took
    assert cli.in_sync(MANIFESTS)
    after = cli.interfaces()
    assert {n: v for n, v in identity(after).items() if n in expected} == expected, seed
    assert after["eni-new"]["eip"] == "eip-2"
    assert rejected(cloud) == [], seed


def _taken_at(url: str) -> float:
    """When (on this host's monotonic clock) the lease was last taken: now minus its age."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM clock_timestamp() - acquired_at)::float8 FROM enictl_lease"
        ).fetchone()
    assert row is not None
    return time.monotonic() - float(row[0])


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_kill_9_mid_apply_the_next_apply_takes_over(
    seed: int, shared: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """kill -9 of the holder mid-apply: the next apply takes over within TTL + 1 s and
    converges, nothing lost (20 seeds; the cloud's folder holds no enictl state)."""
    url, cloud = shared
    _kill_and_take_over(seed, url, cloud, Cli(cloud, capsys), cloud)
    assert sorted(p.name for p in cloud.iterdir() if not p.name.startswith("cloud.db")) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", KILL_SOAK)
def test_kill_9_soak_through_sim_serve(
    seed: int,
    shared: tuple[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sim_serve: Callable[..., dict[str, str]],
) -> None:
    """Many more seeds, each machine with its own state dir, the cloud through sim serve."""
    url, cloud = shared
    CloudProvider("huaweicloud", sim_serve, monkeypatch).use(cloud)
    machine = Cli(tmp_path / "machine-2", capsys)
    _kill_and_take_over(seed, url, cloud, machine, tmp_path / "machine-1")


def test_a_frozen_holder_makes_no_call_after_the_takeover(
    shared: tuple[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sim_serve: Callable[..., dict[str, str]],
) -> None:
    """SIGSTOP the holder mid-apply past its lease, let another machine take over and
    converge, SIGCONT the first: the cloud's log shows no call from it after the
    takeover that changes anything, and it exits 1 saying it lost the lease."""
    url, cloud = shared
    CloudProvider("huaweicloud", sim_serve, monkeypatch).use(cloud)
    owner = Cli(cloud, capsys)
    owner.init(MIXED / "inventory.yaml")
    assert owner("sim", "faults", "--latency-ms", "300").code == 0
    argv = ("--provider", "huaweicloud", "apply", MANIFESTS, "--yes", "--parallelism", "1")
    frozen = spawn(tmp_path / "machine-1", *argv)
    wait_for(lambda: _journal_started(url, "job-submitted"), what="the first job")
    frozen.send_signal(signal.SIGSTOP)
    try:
        other = Cli(tmp_path / "machine-2", capsys)
        ran = other("apply", MANIFESTS, "--yes", "--lock-timeout", "10")
        assert ran.code == 0, (ran.out, ran.err)
        seen = len(cloud_log(cloud))
    finally:
        frozen.send_signal(signal.SIGCONT)
    code = frozen.wait(timeout=30)
    _out, err = frozen.communicate()
    assert code == 1 and "lost the lease" in err, err
    late = [(e.operation, e.target) for e in cloud_log(cloud)[seen:]]
    assert [call for call in late if call[0] not in READS] == []
    assert other.in_sync(MANIFESTS)
    assert rejected(cloud) == []


def test_the_database_lost_mid_apply_stops_it_and_the_next_apply_resumes(
    shared: tuple[str, Path], postgres: Postgres, capsys: pytest.CaptureFixture[str]
) -> None:
    """The database stops under a running apply: it makes no further change to the
    cloud, says the state backend is unreachable, exits 1; once the database is back
    the next apply finishes the job it left and converges."""
    url, cloud = shared
    cli = Cli(cloud, capsys)
    cli.init(MIXED / "inventory.yaml")
    assert cli("sim", "faults", "--latency-ms", "300").code == 0
    victim = spawn(cloud, "apply", MANIFESTS, "--yes", "--parallelism", "1")
    wait_for(lambda: _journal_started(url, "job-submitted"), what="the first job")
    postgres.stop()
    try:
        code = victim.wait(timeout=30)
        _out, err = victim.communicate()
    finally:
        postgres.start()
    assert code == 1, err
    line = _one_line(err)
    assert "state backend postgresql://postgres@127.0.0.1" in line and "unreachable" in line
    ran = cli("apply", MANIFESTS, "--yes", "--lock-timeout", "10")
    assert ran.code == 0, (ran.out, ran.err)
    assert "Resumed interrupted run" in ran.out
    assert cli.in_sync(MANIFESTS)
    assert rejected(cloud) == []


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def test_plan_on_another_machine_labels_drift_from_the_shared_record(
    shared: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """One machine applies; the cloud is changed by hand; a plan on another machine
    calls it drift, from the backend's last-applied record (no file in the folder)."""
    _url, cloud = shared
    cli = Cli(cloud, capsys)
    cli.init(MIXED / "inventory.yaml")
    assert cli("apply", MANIFESTS, "--yes").code == 0
    by_hand = open_cloud(cloud)
    by_hand.force_detach("eni-2")
    by_hand.close()
    planned = cli("plan", MANIFESTS)
    assert "Drift: the cloud changed outside enictl" in planned.out, planned.out
    assert sorted(p.name for p in cloud.iterdir() if not p.name.startswith("cloud.db")) == []


def test_force_unlock_and_bad_urls_from_the_command_line(
    shared: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """force-unlock breaks the lease by its id; a wrong scheme and an unreachable
    database are one error line each."""
    url, cloud = shared
    backend = PostgresBackend(url)
    held = backend.acquire(command="someone")
    cli = Cli(tmp_path / "machine", capsys)
    broke = cli("force-unlock", held.holder.lock_id)
    assert broke.code == 0 and f"Unlocked {backend.describe()}" in broke.out
    with pytest.raises(LeaseLost):
        held.confirm()
    backend.close()
    wrong = cli("--state-backend", "mysql://db/x", "plan", MANIFESTS)
    assert wrong.code == 1 and "must be a postgresql://" in _one_line(wrong.err)
    gone = Cli(cloud, capsys)
    gone.init(MIXED / "inventory.yaml")
    ran = gone("--state-backend", "postgresql://127.0.0.1:1/x", "apply", MANIFESTS, "--yes")
    assert ran.code == 1 and "is unreachable" in _one_line(ran.err)
