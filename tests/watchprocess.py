"""`enictl watch --json` as a real process, its events read from a queue: what the watch
end-to-end suites drive (tests/test_watch_e2e.py, tests/test_failover_watch.py).

Every wait is on the process's events with a generous deadline; nothing sleeps for a
fixed time."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.applyhelpers import ENICTL

DEADLINE = 30.0

Event = dict[str, Any]


class Watch:
    """A running `enictl watch --json`; its events arrive on a queue."""

    def __init__(self, workdir: Path, *args: str, provider: str = "sim") -> None:
        self.workdir = workdir
        self.events: list[Event] = []
        self._queue: queue.Queue[Event | None] = queue.Queue()
        env = {**os.environ, "NO_COLOR": "1"}
        env.pop("ENICTL_PROVIDER", None)
        command = [str(ENICTL), "--provider", provider, "--state-dir", "state"]
        self.proc = subprocess.Popen(
            [*command, "watch", "manifests", "--json", *args],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(json.loads(line))
        self._queue.put(None)

    def wait_for(self, match: Callable[[Event], bool], what: str) -> Event:
        """The next event that matches, within the deadline."""
        deadline = time.monotonic() + DEADLINE
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if event is None:
                raise AssertionError(f"watch exited before {what}: {self.stderr()}")
            self.events.append(event)
            if match(event):
                return event
        raise AssertionError(f"no {what} within {DEADLINE}s; events: {self.events[-5:]}")

    def reconciled(self, what: str, **fields: Any) -> Event:
        def match(event: Event) -> bool:
            return event["event"] == "reconcile" and all(event[k] == v for k, v in fields.items())

        return self.wait_for(match, what)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        while (event := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.events.append(event)
        return code

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)
