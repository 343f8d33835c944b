"""`pause`: wait `seconds`/`minutes`, or for Enter after a `prompt` when on a terminal.

Without a terminal a prompt returns at once with a warning (never hangs a CI run).
"""

from __future__ import annotations

import datetime
import sys
import time
from typing import Any, Dict

from toolkit.actions.base import ActionContext
from toolkit.errors import ArgumentError


def _number(ctx: ActionContext, key: str) -> float:
    try:
        return float(ctx.args[key])
    except (TypeError, ValueError):
        raise ArgumentError(f"pause: '{key}' must be a number", ctx.location) from None


def run(ctx: ActionContext) -> Dict[str, Any]:
    seconds = None
    if ctx.args.get("seconds") is not None:
        seconds = _number(ctx, "seconds")
    elif ctx.args.get("minutes") is not None:
        seconds = _number(ctx, "minutes") * 60
    prompt = ctx.args.get("prompt")
    start = datetime.datetime.now()
    user_input = ""
    if seconds is not None:
        time.sleep(max(seconds, 0))
    elif sys.stdin.isatty() and sys.stdout.isatty():
        sys.stdout.write(
            f"[{ctx.host}]\n{prompt or 'Press enter to continue, Ctrl+C to interrupt'}:\n"
        )
        sys.stdout.flush()
        user_input = sys.stdin.readline().rstrip("\n")
    else:
        ctx.warn("Not waiting for response to prompt as stdin is not interactive")
    stop = datetime.datetime.now()
    return {
        "changed": False,
        "start": str(start),
        "stop": str(stop),
        "delta": int((stop - start).total_seconds()),
        "user_input": user_input,
        "echo": True,
    }
