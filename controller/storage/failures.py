"""Storage failures a user can meet, as one error line naming the file and what to do.

Every OSError of the state dir (the lock, the journal, the last-applied record) goes
through `state_error`, so a full disk, a read-only folder or a lock file replaced by
a directory reads the same everywhere:

    error: cannot write the apply journal .enictl/journal.jsonl: No space left on
    device; free space on that filesystem (or use another --state-dir) and run again
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from controller.errors import StateError

_ADVICE = {
    errno.ENOSPC: "free space on that filesystem (or use another --state-dir) and run again",
    errno.EDQUOT: "free space within your disk quota (or use another --state-dir) and run again",
    errno.EROFS: "the filesystem is read-only: use a writable --state-dir",
    errno.EACCES: "make it writable for this user, or use another --state-dir",
    errno.EPERM: "make it writable for this user, or use another --state-dir",
    errno.EISDIR: "it is a directory, not a file: remove it (enictl creates the file)",
    errno.ENOTDIR: "a parent of it is a file, not a folder: fix the --state-dir path",
    errno.ENOENT: "its folder vanished: check the --state-dir path",
    errno.EIO: "the disk reported an I/O error: check it, or use another --state-dir",
}


def state_error(path: Path, exc: OSError, doing: str) -> StateError:
    """`cannot <doing> <path>: <reason>; <what to do>` as a StateError."""
    reason = exc.strerror or str(exc)
    advice = _ADVICE.get(exc.errno or 0, "check the file and the --state-dir, then run again")
    return StateError(f"cannot {doing} {path}: {reason}; {advice}")


def require_regular(path: Path, what: str) -> None:
    """Refuse a state file that exists but is not a regular file (a device such as
    /dev/full, a FIFO, a directory): reading or appending to it never ends well."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise state_error(path, exc, f"read the {what}") from None
    if stat.S_ISREG(mode):
        return
    kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
    raise StateError(
        f"the {what} {path} is {kind}; move it away (enictl creates a regular file) and run again"
    )
