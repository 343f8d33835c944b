"""Helper programs (the runtime's `delete`, `rm -rf`) started without importing subprocess,
whose import costs more than `tke run --rm` spends on these calls: posix_spawn with /dev/null
for stdio and none of the caller's inherited fds.

    child = spawn(["crun", "delete", "--force", cid]); ...; child.wait()
    background(["rm", "-rf", "--", path])     # own session, never waited for (reaped later)
"""

from __future__ import annotations

import os

from toolkit.engine.shimproc import inherited_fds, reap, reap_later, wait_pid


class Child:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode = None

    def wait(self) -> int:
        """Wait for the child (once; later calls return the same exit code)."""
        if self.returncode is None:
            self.returncode = wait_pid(self.pid)
        return self.returncode


def spawn(argv: list, setsid: bool = False) -> Child:
    """Start argv (PATH searched) with stdio on /dev/null."""
    reap()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in inherited_fds()]
    return Child(os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setsid=setsid))


def background(argv: list) -> None:
    """Start argv in its own session and do not wait for it."""
    reap_later(spawn(argv, setsid=True).pid)
