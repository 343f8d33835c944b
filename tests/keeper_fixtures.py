"""Session fixture: the test run's keepers (toolkit/transport/keeper.py) live in a temp dir
and are stopped at the end, by the PID in their pidfiles (never by name)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest


def stop_keepers(directory: Path) -> None:
    """End every keeper whose pidfile is in `directory` (SIGTERM, then SIGKILL)."""
    pids = []
    for pidfile in directory.glob("keeper-*.pid"):
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if b"toolkit.transport.keeper" in cmdline:
            os.kill(pid, signal.SIGTERM)
            pids.append(pid)
    deadline = time.monotonic() + 5
    for pid in pids:
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session", autouse=True)
def keeper_dir(tmp_path_factory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("keeper")
    old = os.environ.get("TK_KEEPER_DIR")
    os.environ["TK_KEEPER_DIR"] = str(directory)
    try:
        yield directory
    finally:
        stop_keepers(directory)
        if old is None:
            os.environ.pop("TK_KEEPER_DIR", None)
        else:
            os.environ["TK_KEEPER_DIR"] = old
