"""`docker update`: change a container's resource limits and restart policy.

    update.apply(ctrs, cid, {"Memory": 64 << 20, "RestartPolicy": {"Name": "always", ...}})

The new values go into the container's record (its next start uses them, `inspect` shows
them); a running container gets its cgroup limits changed at once by the runtime's `update`
(`crun|runc update --resources FILE ID`, OCI LinuxResources), and its shim reads the restart
policy from the record when the container exits (shim.py `will_restart`). As docker, a
container started with `--rm` keeps its `no` policy.
"""

from __future__ import annotations

import os

from toolkit.engine import cgroups, jsonc, runtime, spec
from toolkit.engine.containers import ContainerError, Containers

RESOURCE_KEYS = ("Memory", "NanoCpus", "CpuShares", "PidsLimit")


def apply(ctrs: Containers, cid: str, changes: dict) -> None:
    """Set `changes` (HostConfig keys: RESOURCE_KEYS and RestartPolicy) on container `cid`."""
    with ctrs.locked_one(cid):
        rec = ctrs.record(cid)
        if rec is None:
            raise ContainerError(f"Error response from daemon: No such container: {cid}")
        host = rec["HostConfig"]
        if "RestartPolicy" in changes and host.get("AutoRemove"):
            raise ContainerError(
                "Error response from daemon: Restart policy cannot be updated because "
                "AutoRemove is enabled for the container"
            )
        live = {k: v for k, v in changes.items() if k in RESOURCE_KEYS}
        if live and ctrs.state(cid)["Running"]:
            _update_cgroups(ctrs, cid, host, live)
        host.update(changes)
        ctrs.save_record(rec)


def _update_cgroups(ctrs: Containers, cid: str, host: dict, live: dict) -> None:
    """The running container's cgroup limits through its runtime (before the record: a limit
    the kernel refuses changes nothing)."""
    wanted = spec.resources(dict(host, **live), bool(host.get("Privileged")))
    wanted.pop("devices", None)
    unlimited_pids = live.get("PidsLimit") == -1  # docker: -1 lifts the limit
    if unlimited_pids:
        wanted.pop("pids", None)
    if live.get("Memory") == 0 and "Memory" in live:
        wanted["memory"] = {"limit": -1}
    path = ctrs.path(cid, "resources.json")
    with open(path, "w") as fh:
        fh.write(jsonc.dumps(wanted))
    try:
        rt = runtime.from_record(ctrs.run_dir, host.get("Runtime") or "")
        rt.run("update", "--resources", path, cid)
    except runtime.RuntimeError_ as exc:
        raise ContainerError(
            f"Error response from daemon: Cannot update container {cid}: {exc.message}"
        ) from None
    finally:
        os.unlink(path)
    if unlimited_pids:
        try:
            cgroups.lift_pids_limit(cid)
        except OSError as exc:
            raise ContainerError(
                f"Error response from daemon: Cannot update container {cid}: {exc.strerror}"
            ) from None
