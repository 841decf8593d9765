"""Crash safety: kill -9 an apply at a random moment, apply again, lose nothing.

For each seed: a fresh simulated cloud with job latency, `enictl apply` as a real
process, killed with SIGKILL at a seeded random moment after it started executing
(or before, for some seeds); then a second apply. It must converge, every ENI must
keep its private IP and EIP, and the cloud's log must hold no rejected call (no
Ecs.0050 over-limit attach, no primary detach, no attach of a port being attached).

One suite, two providers: the same crash on `--provider sim` and on
`--provider huaweicloud` through `enictl sim serve` (fewer seeds by default there:
each costs a few seconds of real job latency).
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.storage import journal
from tests.applyhelpers import MIXED, Cli, identity, rejected, spawn, wait_for
from tests.cloudfixtures import CloudProvider

LATENCY_MS = 150
CASES = [("sim", seed) for seed in range(4)] + [("huaweicloud", seed) for seed in range(2)]
SOAK = [(provider, seed) for provider in ("sim", "huaweicloud") for seed in range(4, 64)]


def _crash_and_resume(seed: int, state: Path, cli: Cli, provider: CloudProvider) -> None:
    rng = random.Random(seed)
    provider.use(state)
    cli.init(MIXED / "inventory.yaml")
    assert cli("sim", "faults", "--latency-ms", str(LATENCY_MS)).code == 0
    manifests = str(MIXED / "manifests")
    expected = identity(cli.interfaces())
    victim = spawn(state, *provider.argv(), "apply", manifests, "--yes")
    if rng.random() < 0.8:  # mostly mid-run: after the journal shows the run started
        path = state / journal.JOURNAL_FILE
        wait_for(lambda: path.exists() and path.stat().st_size > 0, what="the run to start")
    time.sleep(rng.uniform(0.0, 3 * LATENCY_MS / 1000))  # the random moment of the crash
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    ran = cli("apply", manifests, "--yes")
    assert ran.code == 0, (seed, ran.out, ran.err)
    assert "The cloud matches the manifests." in ran.out
    assert cli.in_sync(manifests)
    after = cli.interfaces()
    survivors = {n: v for n, v in identity(after).items() if n in expected}
    assert survivors == expected, seed
    assert after["eni-new"]["eip"] == "eip-2"
    assert rejected(state) == [], seed


@pytest.fixture
def crash(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sim_serve: Callable[..., dict[str, str]],
) -> Callable[[str, int], None]:
    """Crash and resume one apply: `crash(provider, seed)`."""
    monkeypatch.setenv("ENICTL_RESUME_WAIT", "3")
    state = tmp_path / "state"

    def run(provider: str, seed: int) -> None:
        cloud = CloudProvider(provider, sim_serve, monkeypatch)
        _crash_and_resume(seed, state, Cli(state, capsys), cloud)

    return run


@pytest.mark.parametrize(("provider", "seed"), CASES)
def test_kill_9_then_apply_converges_losing_nothing(
    provider: str, seed: int, crash: Callable[[str, int], None]
) -> None:
    """A handful of seeds: kill -9 mid-apply, re-apply, nothing lost, nothing rejected."""
    crash(provider, seed)


@pytest.mark.slow
@pytest.mark.parametrize(("provider", "seed"), SOAK)
def test_kill_9_soak(provider: str, seed: int, crash: Callable[[str, int], None]) -> None:
    """Many more seeds of the same (run with -m slow)."""
    crash(provider, seed)
