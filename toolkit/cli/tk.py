"""`tk` entry point: dispatch to one subcommand module; user errors print without traceback.

Each subcommand lives in `toolkit/cli/<name>.py` and exposes `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their subcommand is used, so `tk --help`
and `tk --version` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time
import traceback
from typing import List, Optional

from toolkit import __version__
from toolkit.errors import TkError

INTERRUPTED = 99  # ansible-playbook's exit code after Ctrl-C
QUICK_EXIT = ("play", "run", "facts")  # subcommands that end with os._exit when run as `tk`

SUBCOMMANDS = {
    "play": "run a playbook (like ansible-playbook)",
    "run": "run one module ad hoc on hosts matching a pattern (like ansible)",
    "inventory": "show an inventory (like ansible-inventory)",
    "facts": "gather and print facts of hosts",
    "lab": "make or remove throw-away local test hosts",
    "doc": "show a module's arguments (like ansible-doc)",
    "keeper": "show or stop the agents kept between runs",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tk", description="Provision fleets of hosts from Ansible-style playbooks."
    )
    parser.add_argument("--version", action="version", version=f"tk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _exit_if_stuck(code: int, grace: float = 2.0) -> None:
    """After Ctrl-C: a worker thread still busy in a controller-side wait (a pause, a retry
    delay) would hold the interpreter's exit; past a short grace, leave without it."""
    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def _verbosity(argv: List[str]) -> int:
    level = 0
    for arg in argv:
        if arg == "--verbose":
            level += 1
        elif arg.startswith("-v") and set(arg[1:]) == {"v"}:
            level += len(arg) - 1
    return level


def main(argv: Optional[List[str]] = None) -> int:
    if argv is None and sys.argv[1:2] and sys.argv[1] in QUICK_EXIT:
        _quick_exit(_main(sys.argv[1:]))
    return _main(list(sys.argv[1:] if argv is None else argv))


def _quick_exit(code: int) -> None:
    """Leave without the interpreter's tear-down (~15 ms of freeing modules and threads after
    the recap): the run is over, its connections are closed; only the output is flushed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            sys.exit(code)  # let the normal exit deal with a broken stream
    os._exit(code)


def _prestart_keeper(args: List[str]) -> None:
    """A run against an inventory will most likely attach to the keeper: when none listens,
    start one now, so that its start-up (an interpreter, paramiko) runs beside this one's
    imports and parsing instead of after them. The first attach waits for it (kept.py)."""
    if not any(a.startswith(("-i", "--inventory")) for a in args):
        return
    if any(a in ("-clocal", "--connection=local") for a in args) or any(
        a in ("-c", "--connection") and b == "local" for a, b in zip(args, args[1:])
    ):
        return  # every host local: no agent to keep
    try:
        from toolkit.transport import keeperpath

        if keeperpath.persist_seconds() > 0:
            keeperpath.launch()
    except Exception:  # noqa: BLE001 - the first attach starts it, or says why it cannot
        pass


def _main(argv: List[str]) -> int:
    top = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        top.parse_args(argv or ["--help"])
        return 5
    name, rest = argv[0], argv[1:]
    if name in QUICK_EXIT:
        _prestart_keeper(rest)
    module = importlib.import_module(f"toolkit.cli.{name}")
    parser = argparse.ArgumentParser(prog=f"tk {name}", description=SUBCOMMANDS[name])
    module.add_arguments(parser)
    try:
        args = parser.parse_args(rest)
    except SystemExit as exc:
        return 5 if exc.code not in (0, None) else 0
    try:
        return int(module.run(args) or 0)
    except TkError as exc:
        if _verbosity(rest) >= 3:
            traceback.print_exc()
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ERROR! User interrupted execution", file=sys.stderr)
        _exit_if_stuck(INTERRUPTED)
        return INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other CLI tools do.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
