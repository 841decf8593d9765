"""Write a file so that readers see the old content or the new one, never a half.

The text goes to a temporary file in the same folder, which is then renamed over the
target (`os.replace` is atomic on POSIX and Windows). Used for saved plans, the
last-applied record and status files.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically; the folder must exist."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_text(document: Any) -> str:
    """Sorted keys, two-space indent, a final newline: the same bytes for the same data."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_json(path: Path, document: Any) -> None:
    """Replace `path` with `document` as `json_text` atomically."""
    write_text(path, json_text(document))
