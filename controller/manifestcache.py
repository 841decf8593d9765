"""Loading the same manifests again and again, cheaply: what `enictl watch` needs.

`CachedManifests(paths).load()` gives what `manifests.load(paths)` gives, but keeps
the last answer (the `Manifests`, or the `ManifestError`) with the list of files it
was made from and each file's (mtime_ns, size). The next `load()` lists the files
again and stats them; when the list and every stat are unchanged, nothing is read
and the last answer is returned. `reread` says how many files the last `load()`
read (0 on an idle interval).

A stat can miss an edit that keeps the size and lands within the file system's
timestamp granularity of the previous one (git's "racily clean" problem). A file
modified less than `RACY_SECONDS` before it was last read is therefore never
trusted: it is read again until it has been quiet that long.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller import manifests, yamlsource
from controller.errors import ManifestError

RACY_SECONDS = 2.0

Stat = tuple[int, int]  # (mtime_ns, size)


@dataclass
class CachedManifests:
    """A `DesiredSource` over `manifests.load`, re-reading only when files changed."""

    paths: Sequence[str | Path]
    clock_ns: Callable[[], int] = time.time_ns
    reread: int = 0
    _key: tuple[tuple[str, Stat], ...] | None = None
    _answer: manifests.Manifests | ManifestError | None = None
    _trusted_before_ns: int = 0

    def load(self) -> manifests.Manifests:
        """The desired state; raises ManifestError when the manifests are invalid."""
        key = self._current_key()
        if key is None or key != self._key or self._answer is None or self._racy(key):
            self._refresh()
        else:
            self.reread = 0
        answer = self._answer
        if isinstance(answer, ManifestError):
            raise answer
        assert answer is not None
        return answer

    def _refresh(self) -> None:
        read_at = self.clock_ns()
        before = self._current_key()
        try:
            answer: manifests.Manifests | ManifestError = manifests.load(list(self.paths))
        except ManifestError as exc:
            answer = exc
        self._answer = answer
        self._key = before
        self._trusted_before_ns = read_at - int(RACY_SECONDS * 1e9)
        self.reread = len(before) if before is not None else len(self.paths)

    def _racy(self, key: tuple[tuple[str, Stat], ...]) -> bool:
        return any(stat[0] >= self._trusted_before_ns for _, stat in key)

    def _current_key(self) -> tuple[tuple[str, Stat], ...] | None:
        """Every file's (path, (mtime_ns, size)); None when listing or a stat fails."""
        files, problems = yamlsource.discover(self.paths)
        if problems:
            return None
        key: list[tuple[str, Stat]] = []
        for file in files:
            try:
                st = os.stat(file.path)
            except OSError:
                return None
            key.append((file.display, (st.st_mtime_ns, st.st_size)))
        return tuple(key)
