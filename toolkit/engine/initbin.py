"""The init process of `tke run --init` (docker's docker-init): a static binary from the host,
bind-mounted read-only at /sbin/docker-init and run as the container's PID 1 with the command
as its child, so that signals are forwarded and orphaned processes are reaped.

Where it comes from: `"init-path"` in the store's config.json (dockerd's setting), else the
first static one of docker-init, tini-static and catatonit on PATH (a dynamic one would need
the host's libc inside the container, which it does not have).
"""

from __future__ import annotations

import os
import shutil
import struct
from typing import Optional

IN_CONTAINER = "/sbin/docker-init"
CANDIDATES = ("docker-init", "tini-static", "catatonit")
PT_INTERP = 3


def find(settings: dict) -> Optional[str]:
    """A static init binary's real path, or None."""
    wanted = settings.get("init-path")
    paths = [wanted] if wanted else [shutil.which(name) for name in CANDIDATES]
    for path in filter(None, paths):
        real = os.path.realpath(path)
        if os.access(real, os.X_OK) and is_static_elf(real):
            return real
    return None


def is_static_elf(path: str) -> bool:
    """An ELF executable without a program interpreter (PT_INTERP)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
                return False
            endian = "<" if head[5] == 1 else ">"
            (phoff,) = struct.unpack_from(endian + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
    except (OSError, struct.error, IndexError):
        return False
    types = (struct.unpack_from(endian + "I", table, i * phentsize)[0] for i in range(phnum))
    return PT_INTERP not in types


def use(conf: dict, path: str) -> None:
    """Run the container's command under the init binary at `path` (docker's layout)."""
    conf["process"]["args"] = [IN_CONTAINER, "--", *conf["process"]["args"]]
    conf["mounts"].append(
        {"destination": IN_CONTAINER, "type": "bind", "source": path, "options": ["bind", "ro"]}
    )
