"""Running the installed `tk` as a user runs it, for the end-to-end tests: its path, the
PLAY RECAP parser, and Ctrl-C in the middle of a play."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple

TK = Path(sys.executable).parent / "tk"
RECAP = re.compile(
    r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
    r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)",
    re.M,
)
FIELDS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")


def recap(output: str) -> Dict[str, Dict[str, int]]:
    """PLAY RECAP lines as {host: {field: count}}."""
    return {m[0]: dict(zip(FIELDS, map(int, m[1:]))) for m in RECAP.findall(output)}


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background shell may have ignored it


def interrupt_at_long(
    args: List[str],
    cwd: Path,
    wait_for: Optional[Callable[[], bool]] = None,
    settle: float = 0.0,
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 30,
) -> Tuple[str, int, float]:
    """Run tk, send SIGINT once TASK [long] is running (after `settle` seconds and, within 20 s,
    `wait_for()`); return (output, exit code, seconds it took to stop)."""
    proc = subprocess.Popen(
        [str(TK), *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, preexec_fn=default_sigint,
    )  # fmt: skip
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("TASK [long]"):
                break
        time.sleep(settle)
        deadline = time.monotonic() + 20
        while wait_for is not None and not wait_for() and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=timeout)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return "".join(seen) + rest, proc.returncode, took
