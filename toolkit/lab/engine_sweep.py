"""What a lab host's container engine leaves on the machine when the host goes: cgroups.

A lab host's containers run in its pid namespace and die with it, and their network
namespaces, mounts and store (a tmpfs at /var/lib/tke) go with its mount namespace; but the
cgroups the OCI runtime made for them (`/tke/ID` in every hierarchy) are the machine's. So
before a host is stopped its container ids are read through its PID 1's root, and once its
processes are gone those (now empty) cgroups are removed.

    ids = container_ids(host_pid1)       # before the host's processes are killed
    remove_cgroups(ids)                  # after
"""

from __future__ import annotations

import os
import time
from typing import List

from toolkit.engine import cgroups

STORE = "var/lib/tke/containers"  # the lab host's store (hostproc.py mounts it)


def container_ids(pid1: int) -> List[str]:
    """The ids of the containers in the store of the lab host whose PID 1 is `pid1`."""
    try:
        names = os.listdir(f"/proc/{pid1}/root/{STORE}")
    except OSError:
        return []
    return [n for n in names if len(n) == 64 and all(c in "0123456789abcdef" for c in n)]


def remove_cgroups(ids: List[str], timeout: float = 3.0) -> List[str]:
    """Remove the cgroups of these containers in every hierarchy, waiting up to `timeout`
    for their last processes to be gone; the ones that are still there are returned."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for cid in ids:
            for path in cgroups.leftover(cid):
                try:
                    os.rmdir(path)
                except FileNotFoundError:
                    pass
                except OSError:  # EBUSY: a dying process is still in it
                    left.append(path)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
