"""`python -m controller` and the `enictl` command (pyproject's console script).

Ctrl-C can come at any moment, even while the command line's modules are still being
imported (click, rich, the command's own module: the first ~0.1 s). From the moment
this module is imported until `entry` stands ready to catch the interrupt, SIGINT
ends the process at once with `error: interrupted` (nothing has been done yet);
inside `entry` it is caught like any later one. Either way: one line, exit code 130,
never a traceback. Only the interpreter's own start-up and the console script's
`import re`, before any of enictl runs, are out of reach.
"""

# Only modules the interpreter has loaded already (no time spent), and `_signal`, the C
# module under `signal`: built in, it imports in no time, where `signal` spends
# milliseconds building its enums (a Ctrl-C then would be a traceback).
import _signal  # type: ignore[import-not-found]
import os
import sys

INTERRUPTED = 130


def _interrupted_early(signum: int, frame: object) -> None:
    os.write(2, b"error: interrupted\n")
    os._exit(INTERRUPTED)


if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _interrupted_early)


def entry() -> None:
    """Run the CLI (`controller.cli.main`) and exit with its code."""
    try:
        if _signal.getsignal(_signal.SIGINT) is _interrupted_early:
            _signal.signal(_signal.SIGINT, _signal.default_int_handler)
        from controller.cli import main

        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        code = INTERRUPTED
    sys.exit(code)


if __name__ == "__main__":
    entry()
