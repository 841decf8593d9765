"""The command line's last line of defence: a Ctrl-C at any moment and input of any size
end with short, clean error lines, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
ENICTL = Path(sys.executable).with_name("enictl")

# Run `enictl validate manifests/demo` from the installed entry point, with a real
# SIGINT sent to the process at the moment it starts importing MODULE (an import hook
# sees the import begin): a Ctrl-C in the first ~0.1 s, made exact.
_INTERRUPTED_IMPORT = """
import os, signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
sys.argv = ["enictl", "validate", "manifests/demo"]
from controller.__main__ import entry
entry()
"""


@pytest.mark.parametrize(
    "module",
    ["controller.cli", "click", "controller.cli.validate", "controller.manifests.loader", "yaml"],
)
def test_ctrl_c_while_the_cli_is_still_importing_is_one_clean_line(module: str) -> None:
    """SIGINT while enictl's modules are being imported: exit 130 and only
    `error: interrupted` on stderr (after the new line that ends the terminal's `^C`),
    no KeyboardInterrupt traceback."""
    ran = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT.format(module=module)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (ran.returncode, ran.stderr.lstrip("\n")) == (130, "error: interrupted\n")


def test_the_console_script_starts_in_the_guarded_entry() -> None:
    """The installed `enictl` script calls `controller.__main__.entry`, the guarded one."""
    assert "from controller.__main__ import entry" in ENICTL.read_text()


@pytest.mark.slow
def test_soak_ctrl_c_at_every_moment_of_the_first_tenth_of_a_second() -> None:
    """Soak: SIGINT after 0 to 150 ms: the command finished, or it was interrupted
    with `error: interrupted`; a traceback comes only from the interpreter's own
    start-up and the console script's first lines, before any enictl code runs, never
    from enictl or a library it imports."""
    for tenth_ms in range(0, 1500, 30):
        proc = subprocess.Popen(
            [str(ENICTL), "validate", "manifests/demo"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + tenth_ms / 10_000
        while time.monotonic() < deadline and proc.poll() is None:
            pass
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if "Traceback" in err:
            assert "/controller/" not in err and "site-packages" not in err, err
        else:
            assert proc.returncode in (0, 130, -signal.SIGINT), (tenth_ms, err)
            assert err.strip() in ("", "error: interrupted"), (tenth_ms, err)


def test_a_huge_name_gives_short_error_lines(tmp_path: Path) -> None:
    """A 1 MB name (echoed by three problems, once of them twice) gives a few hundred
    bytes per error line, each still naming the file, the place and the field."""
    name = "a" * 1_000_000
    (tmp_path / "big.yaml").write_text(
        "apiVersion: enictl/v1\nkind: NetworkInterface\n"
        f"metadata: {{name: {name}}}\nspec: {{subnet: s, server: {name}}}\n"
    )
    ran = subprocess.run(
        [str(ENICTL), "validate", "big.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ENICTL_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert ran.returncode == 1
    lines = ran.stderr.splitlines()
    assert 1 <= len(lines) <= 5 and len(ran.stderr) < 5_000, len(ran.stderr)
    assert all(line.startswith("error: big.yaml:") for line in lines)
    assert "more characters" in lines[0] and "metadata.name" in lines[0]
