"""The level-triggered reconcile loop behind `enictl watch`.

The loop knows nothing of manifests, clouds or the CLI: it calls a `Reconcile` callable
and decides, from the `ReconcileResult` it gets back, when to call it again:

- at start;
- when the manifests change (file notices from `watch_files`, debounced here so an
  editor's save burst or a `git pull` gives one reconcile);
- every `interval` seconds, to catch drift made outside enictl;
- at once when the health `probe` (polled every `health_interval` seconds between
  reconciles, one cheap listing of server statuses) says a server's status changed or
  a failover hold-down ended: a failover does not wait for the next interval;
- after a failure (provider error, lock held), after an exponential backoff that
  resets on the next success;
- never on a timer while the manifests are invalid: only a file change can fix them;
- at once after a reconcile that stood by (another replica leads on a shared state
  backend): the reconcile itself waited, until the lease could be had or a bounded
  time passed.

It waits through a `Wakeups` inbox (file notices and the stop request) and a clock,
both injectable, so tests drive it with scripted notices and a fake clock. Stopping
sets `Wakeups.stopped`; the loop returns after the reconcile in flight (the executor
checks the same event between steps).
"""

from __future__ import annotations

import enum
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from controller import backoff
from controller.events import Event, Kind
from controller.plan import Change, Failover, Violation

YAML_SUFFIXES = (".yaml", ".yml")
_READY_PROBE_MS = 100  # the file watcher wakes this often when idle (to report readiness)


class Trigger(enum.StrEnum):
    """Why a reconcile ran."""

    START = "start"
    FILES = "files"
    INTERVAL = "interval"
    RETRY = "retry"
    HEALTH = "health"  # a server's status changed (or a failover hold-down ended)


class Outcome(enum.StrEnum):
    """How a reconcile ended; decides when the loop runs the next one."""

    IN_SYNC = "in-sync"  # the cloud matches the manifests; nothing to do
    APPLIED = "applied"  # changes were applied and the cloud now matches
    DRIFT = "drift"  # detect-only: differences found and reported, nothing changed
    REJECTED = "rejected"  # the plan breaks a rule; nothing applied
    INVALID = "invalid"  # the manifests are invalid; nothing reconciled
    FAILED = "failed"  # provider error, lock held, no convergence: retried with backoff
    INTERRUPTED = "interrupted"  # stopped between two steps by SIGINT/SIGTERM
    STANDBY = "standby"  # another replica leads (shared state backend): nothing done


class Role(enum.StrEnum):
    """What a watch replica is on its state backend."""

    LEADER = "leader"  # holds the lock (lease) and reconciles
    STANDBY = "standby"  # waits for the leader's lease; no cloud call


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What one reconcile did; one status line, one JSON event, the status file."""

    time: float  # wall clock (epoch seconds) when the reconcile started
    trigger: Trigger
    outcome: Outcome
    manifests_digest: str = ""
    observed_fingerprint: str = ""
    changes: int = 0  # steps the plan had
    applied: int = 0  # steps that ran
    in_sync: bool | None = None  # None: not checked (invalid manifests, failure)
    violations: tuple[Violation, ...] = ()
    problems: tuple[str, ...] = ()  # manifest error lines when the manifests are invalid
    duration: float = 0.0  # seconds
    error: str = ""
    files_reread: int = 0  # manifest files parsed again (0 on an idle interval)
    summary: dict[str, int] = field(default_factory=dict)  # steps per action
    drift: tuple[Change, ...] = ()  # the plan's changes made outside enictl, field by field
    role: Role = Role.LEADER
    epoch: int = 0  # the lease's epoch (0 on the state dir, which has none)
    leader: str = ""  # who leads, when this replica stands by
    in_grace: tuple[str, ...] = ()  # orphans --prune keeps until --prune-grace has passed
    # the failover moves this reconcile made: the `failover` events' fields
    failovers: tuple[dict[str, Any], ...] = ()
    # where the policy leaves each failover ENI and its standbys' readiness, as of the
    # cloud after this reconcile (for `watch --listen`; not in the JSON, which tells moves)
    placements: tuple[Failover, ...] = ()

    @property
    def drifted(self) -> tuple[str, ...]:
        """The resources changed outside enictl ("Kind/name"), sorted."""
        return tuple(sorted({c.resource for c in self.drift}))

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    @property
    def succeeded(self) -> bool:
        """The cloud was seen and matches, was made to match, or (detect-only) its
        differences were reported: what `watch --listen` counts as a success."""
        return self.outcome in (Outcome.IN_SYNC, Outcome.APPLIED, Outcome.DRIFT)

    def iso_time(self) -> str:
        return datetime.fromtimestamp(self.time, UTC).isoformat(timespec="milliseconds")

    def as_json(self) -> dict[str, Any]:
        """The `reconcile` event's JSON (the `--json` line and the status file)."""
        return self.as_event().as_json()

    def as_event(self) -> Event:
        return Event(
            Kind.RECONCILE,
            {
                "time": self.iso_time(),
                "trigger": self.trigger.value,
                "outcome": self.outcome.value,
                "manifestsDigest": self.manifests_digest,
                "observedFingerprint": self.observed_fingerprint,
                "changes": self.changes,
                "applied": self.applied,
                "summary": dict(self.summary),
                "inSync": self.in_sync,
                "drifted": list(self.drifted),
                "drift": [c.as_json() for c in self.drift],
                "orphansInGrace": list(self.in_grace),
                "failovers": [dict(f) for f in self.failovers],
                "violations": [v.as_json() for v in self.violations],
                "problems": list(self.problems),
                "durationSeconds": round(self.duration, 4),
                "filesReread": self.files_reread,
                "error": self.error,
                "role": self.role.value,
                "epoch": self.epoch,
                "leader": self.leader,
            },
        )


Reconcile = Callable[[Trigger, frozenset[str]], ReconcileResult]
"""One reconcile: the trigger and the manifest paths that changed since the last one."""

Probe = Callable[[], bool]
"""A health check between reconciles: True when the cloud changed in a way that needs a
reconcile now (a server's status)."""


class Backoff(backoff.Streak):
    """Pauses before retrying a failed reconcile: initial, initial*factor, ... up to cap
    (the one backoff policy, without jitter); a success starts over."""

    def __init__(self, initial: float = 1.0, cap: float = 60.0, factor: float = 2.0) -> None:
        super().__init__(
            backoff.Backoff(base=initial, cap=cap, factor=factor, jitter=False, timeout=None)
        )


class Wakeups(Protocol):
    """Where the loop waits: file notices, and the stop request."""

    @property
    def stopped(self) -> threading.Event: ...

    def get(self, timeout: float | None) -> frozenset[str] | None:
        """Changed paths, or None when `timeout` passed (or a stop woke the wait)."""
        ...


class Inbox:
    """The real `Wakeups`: a thread-safe queue fed by the file watcher and `stop()`."""

    def __init__(self) -> None:
        self._queue: queue.Queue[frozenset[str] | None] = queue.Queue()
        self._stopped = threading.Event()

    @property
    def stopped(self) -> threading.Event:
        return self._stopped

    def notify(self, paths: Iterable[str]) -> None:
        self._queue.put(frozenset(paths))

    def stop(self) -> None:
        """Ask the loop to finish the reconcile in flight and return (signal-safe)."""
        self._stopped.set()
        self._queue.put(None)

    def get(self, timeout: float | None) -> frozenset[str] | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


@dataclass(frozen=True, slots=True)
class LoopSettings:
    interval: float = 30.0  # seconds between drift checks
    debounce: float = 0.1  # quiet time that ends a burst of file changes
    max_debounce: float = 2.0  # a burst never delays a reconcile longer than this
    health_interval: float = 5.0  # seconds between health probes (when there is a probe)


def run(
    reconcile: Reconcile,
    wakeups: Wakeups,
    on_result: Callable[[ReconcileResult], None],
    *,
    settings: LoopSettings = LoopSettings(),
    backoff: Backoff | None = None,
    clock: Callable[[], float] = time.monotonic,
    probe: Probe | None = None,
) -> int:
    """Reconcile until `wakeups.stopped` is set; returns how many reconciles ran."""
    backoff = backoff if backoff is not None else Backoff()
    trigger, changed = Trigger.START, frozenset[str]()
    count = 0
    while not wakeups.stopped.is_set():
        result = reconcile(trigger, changed)
        count += 1
        on_result(result)
        health = probe
        if result.outcome is Outcome.FAILED:
            delay: float | None = backoff.next()
            timer = Trigger.RETRY
        elif result.outcome is Outcome.INVALID:
            delay, timer = None, Trigger.INTERVAL  # only a file change can help
            health = None
        elif result.outcome is Outcome.STANDBY:
            backoff.reset()
            delay, timer = 0.0, Trigger.INTERVAL  # the reconcile waited for the lease
            health = None  # a standby replica makes no cloud call
        else:
            backoff.reset()
            delay, timer = settings.interval, Trigger.INTERVAL
        woke = _wait(wakeups, delay, settings, clock, health)
        if woke is None:
            break
        trigger, changed = woke
        if trigger is Trigger.INTERVAL:
            trigger = timer
    return count


def _wait(
    wakeups: Wakeups,
    delay: float | None,
    settings: LoopSettings,
    clock: Callable[[], float],
    probe: Probe | None = None,
) -> tuple[Trigger, frozenset[str]] | None:
    """Wait for the timer (INTERVAL), a file change (FILES, the changed paths) or the
    probe (HEALTH); None when asked to stop."""
    deadline = None if delay is None else clock() + delay
    next_probe = None if probe is None else clock() + settings.health_interval
    while not wakeups.stopped.is_set():
        now = clock()
        if deadline is not None and deadline <= now:
            return Trigger.INTERVAL, frozenset()
        if next_probe is not None and next_probe <= now:
            assert probe is not None
            if probe():
                return Trigger.HEALTH, frozenset()
            next_probe = clock() + settings.health_interval
            continue
        ends = [t for t in (deadline, next_probe) if t is not None]
        paths = wakeups.get(min(ends) - now if ends else None)
        if wakeups.stopped.is_set():
            return None
        if paths:
            settled = _settle(wakeups, paths, settings, clock)
            return None if settled is None else (Trigger.FILES, settled)
    return None


def _settle(
    wakeups: Wakeups, first: frozenset[str], settings: LoopSettings, clock: Callable[[], float]
) -> frozenset[str] | None:
    """Debounce: gather changes until none came for `debounce` s (at most `max_debounce`)."""
    changed = set(first)
    cap = clock() + settings.max_debounce
    quiet_until = min(cap, clock() + settings.debounce)
    while (remaining := quiet_until - clock()) > 0:
        paths = wakeups.get(remaining)
        if wakeups.stopped.is_set():
            return None
        if paths:
            changed |= paths
            quiet_until = min(cap, clock() + settings.debounce)
    return frozenset(changed)


def is_manifest_path(path: str, roots: Sequence[Path]) -> bool:
    """True when `path` is one of the given files, or a YAML file under a given folder
    (hidden files and folders excepted, as the manifest loader skips them)."""
    candidate = Path(path).absolute()
    for root in roots:
        if candidate == root:
            return True
        if candidate.suffix in YAML_SUFFIXES and root in candidate.parents:
            inside = candidate.relative_to(root).parts
            return not any(part.startswith(".") for part in inside)
    return False


def is_manifest_folder(path: str, folders: Sequence[Path]) -> bool:
    """True when `path` is a (not hidden) folder inside one of the watched folders."""
    candidate = Path(path).absolute()
    for root in folders:
        if root in candidate.parents:
            inside = candidate.relative_to(root).parts
            return not any(part.startswith(".") for part in inside) and candidate.is_dir()
    return False


def watch_files(
    paths: Sequence[Path],
    inbox: Inbox,
    *,
    step_ms: int = 20,
    debounce_ms: int = 400,
    ready_timeout: float = 10.0,
) -> list[threading.Thread]:
    """Start daemon threads that forward manifest changes under `paths` to `inbox`.

    Folders are watched recursively. A file is watched through its folder (not
    recursively), so an editor that saves by writing a temporary file and renaming it
    over the original is still seen. Returns once the watches are in place (so no
    change made after the return is missed), or after `ready_timeout` seconds. The
    threads end when `inbox.stopped` is set.
    """
    import watchfiles

    roots = [Path(p).absolute() for p in paths]
    folders = sorted({r for r in roots if r.is_dir()})
    parents = sorted(
        {r.parent for r in roots if not r.is_dir() and not any(d in r.parents for d in folders)}
    )

    def relevant(change: watchfiles.Change, path: str) -> bool:
        # A new folder counts too: a file written into it before the OS watch on it
        # exists is never reported, but the reconcile that the folder triggers lists
        # the files again and finds it.
        if change is watchfiles.Change.added and is_manifest_folder(path, folders):
            return True
        return is_manifest_path(path, roots)

    def forward(watched: list[Path], recursive: bool, ready: threading.Event) -> None:
        # The first (possibly empty) yield proves the OS watches exist: watchfiles
        # creates them before it first waits, and yields an empty set on a timeout.
        for changes in watchfiles.watch(
            *watched,
            watch_filter=relevant,
            debounce=debounce_ms,
            step=step_ms,
            stop_event=inbox.stopped,
            rust_timeout=_READY_PROBE_MS,
            yield_on_timeout=True,
            recursive=recursive,
            ignore_permission_denied=True,
        ):
            ready.set()
            if changes:
                inbox.notify(path for _change, path in changes)

    threads: list[threading.Thread] = []
    readiness: list[threading.Event] = []
    for watched, recursive in ((folders, True), (parents, False)):
        if watched:
            ready = threading.Event()
            thread = threading.Thread(
                target=forward,
                args=(watched, recursive, ready),
                name="enictl-watch-files",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
            readiness.append(ready)
    deadline = time.monotonic() + ready_timeout
    for ready in readiness:
        ready.wait(max(0.0, deadline - time.monotonic()))
    return threads
