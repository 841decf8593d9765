"""Which files a manifest set is, and reading them: all of it, or nothing (SPEC section 4).

`discover(paths)` lists the files to read: a file named on the command line whatever
its suffix, and every `*.yaml` / `*.yml` under a folder, recursively, hidden entries
skipped, sorted by displayed path, each file once. `read(path)` reads one of them.

Nothing is planned from a partial manifest set, so every path that cannot be read is a
problem that fails the whole load, naming the path; none is skipped in silence:

- a folder that cannot be listed (permissions) or a file that cannot be opened;
- a broken symlink, and a symlink loop (a folder that leads back to one of its own
  ancestors); other symlinks, to files and to folders, are followed;
- anything that is not a regular file where a manifest is expected: a FIFO, a device
  (`/dev/zero`), a socket. These are refused before they are opened for reading, and
  opened without blocking, so a FIFO never hangs a load that holds the lock;
- a file that vanishes, or changes size, while it is read (an editor saving it).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from controller.errors import Problem
from controller.manifests.yamlsource import SourceFile

SUFFIXES = (".yaml", ".yml")
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Unreadable(Exception):
    """A path that cannot be read as a manifest file; `reason` says why, in a phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def discover(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[SourceFile], list[Problem]]:
    """The files to read, sorted by displayed path, each once; and every path that
    cannot be read (see the module docstring)."""
    walk = _Walk()
    for arg in paths:
        shown = os.fspath(arg)
        try:
            info = os.stat(shown)
        except FileNotFoundError:
            if os.path.islink(shown):
                walk.problem(shown, _broken(shown))
            else:
                walk.problems.append(Problem(shown, "no such file or folder", "PathNotFound"))
            continue
        except OSError as exc:
            walk.problem(shown, _oserror(exc))
            continue
        if stat.S_ISDIR(info.st_mode):
            before = (len(walk.found), len(walk.problems))
            walk.folder(shown, ())
            if (len(walk.found), len(walk.problems)) == before:
                walk.problems.append(
                    Problem(shown, "no *.yaml or *.yml files in this folder", "NoManifests")
                )
        elif stat.S_ISREG(info.st_mode):
            walk.file(shown)
        else:
            walk.problem(shown, _not_regular(info.st_mode))
    return sorted(walk.found.values(), key=lambda f: f.display), walk.problems


def read(path: Path) -> bytes:
    """The bytes of a regular file, read without ever blocking on a FIFO or device;
    `Unreadable` when it is not one, cannot be opened, or changes while it is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise Unreadable("it vanished while the manifests were read") from None
    except OSError as exc:
        raise Unreadable(_oserror(exc)) from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise Unreadable(_not_regular(before.st_mode))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        after = os.fstat(fd)
    except OSError as exc:
        raise Unreadable(_oserror(exc)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) != after.st_size or (before.st_size, before.st_mtime_ns) != (
        after.st_size,
        after.st_mtime_ns,
    ):
        raise Unreadable("it changed while it was read (being saved?): read it again")
    return data


class _Walk:
    """One listing: the files found (by real path) and the problems met."""

    def __init__(self) -> None:
        self.found: dict[str, SourceFile] = {}
        self.problems: list[Problem] = []
        self._walked: set[str] = set()

    def problem(self, shown: str, reason: str) -> None:
        self.problems.append(Problem(shown, reason, "ReadError"))

    def file(self, shown: str) -> None:
        self.found.setdefault(os.path.realpath(shown), SourceFile(shown, Path(shown)))

    def folder(self, shown: str, ancestors: tuple[str, ...]) -> None:
        real = os.path.realpath(shown)
        if real in ancestors:
            self.problem(shown, f"symlink loop: it leads back to {real}")
            return
        if real in self._walked:
            return  # the same folder through another symlink: its files are listed
        self._walked.add(real)
        try:
            with os.scandir(shown) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            self.problem(shown, f"cannot read this folder: {exc.strerror or exc}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            full = os.path.join(shown, entry.name)
            try:
                info = os.stat(full)
            except FileNotFoundError:
                if os.path.islink(full):
                    self.problem(full, _broken(full))
                continue  # gone since the listing: not part of the set
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    self.problem(full, "symlink loop: it points to itself")
                else:
                    self.problem(full, _oserror(exc))
                continue
            if stat.S_ISDIR(info.st_mode):
                self.folder(full, (*ancestors, real))
            elif not entry.name.endswith(SUFFIXES):
                continue
            elif stat.S_ISREG(info.st_mode):
                self.file(full)
            else:
                self.problem(full, _not_regular(info.st_mode))


def _broken(shown: str) -> str:
    try:
        target = os.readlink(shown)
    except OSError:
        target = "?"
    return f"broken symlink: it points to {target}, which does not exist"


def _not_regular(mode: int) -> str:
    what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"{what}, not a manifest file: refusing to read it"


def _oserror(exc: OSError) -> str:
    return f"cannot read: {exc.strerror or exc}"
