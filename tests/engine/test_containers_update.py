"""`tke update` (update.py, cli_update.py): a running container's cgroup limits change at once
(read from the host's cgroup files and `tke stats`), a created one starts with the new ones,
a new restart policy holds for a container already running, and docker's errors."""

from __future__ import annotations

import os
import time

import pytest

from tests.engine.ctrhelpers import ctr_fixture  # noqa: F401 - provides `ctr`
from toolkit.engine import cgroups

pytestmark = [pytest.mark.engine]


def cgroup_file(cid: str, controller: str, name: str, v2_name: str) -> str:
    rel = cgroups.cgroup_path(cid).lstrip("/")
    if cgroups.mode() == "v2":
        path = os.path.join(cgroups.CGROUP_ROOT, rel, v2_name)
    else:
        path = os.path.join(cgroups.CGROUP_ROOT, controller, rel, name)
    with open(path) as fh:
        return fh.read().strip()


def memory_limit(cid: str) -> str:
    return cgroup_file(cid, "memory", "memory.limit_in_bytes", "memory.max")


def pids_limit(cid: str) -> str:
    return cgroup_file(cid, "pids", "pids.max", "pids.max")


def test_running_container_gets_new_limits(ctr):
    cid = ctr.ok("run", "-d", "--pids-limit", "20", ctr.image, "sleep", "60").strip()
    assert pids_limit(cid) == "20"
    out = ctr.ok("update", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50", "-c", "512", cid)
    assert out == f"{cid}\n"  # docker prints each container as it was named
    assert memory_limit(cid) == str(64 << 20)
    assert pids_limit(cid) == "50"
    stats = ctr.ok("stats", "--no-stream", "--format", "{{.MemUsage}}", cid)
    assert stats.strip().endswith("/ 64MiB"), stats
    shown = ctr.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} "
                   "{{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}}", cid)  # fmt: skip
    assert shown.split() == [str(64 << 20), "500000000", "50", "512"]
    # the limit is the kernel's: 50 processes in all, the 51st cannot be made
    many = "for i in $(seq 60); do sleep 30 >/dev/null 2>&1 & done"
    forks = ctr.run("exec", cid, "sh", "-c", many)
    assert "can't fork" in forks.stderr or "Resource temporarily unavailable" in forks.stderr
    ctr.ok("update", "--pids-limit", "-1", cid)  # docker: -1 lifts it
    assert pids_limit(cid) == "max"
    assert ctr.ok("inspect", "-f", "{{.HostConfig.PidsLimit}}", cid).strip() == "-1"
    ctr.ok("rm", "-f", cid)


def test_created_container_starts_with_the_new_limits(ctr):
    cid = ctr.ok("create", ctr.image, "sleep", "60").strip()
    ctr.ok("update", "--memory", "32m", cid)
    ctr.ok("start", cid)
    assert memory_limit(cid) == str(32 << 20)
    ctr.ok("rm", "-f", cid)


def test_new_restart_policy_holds_for_a_running_container(ctr):
    name = "upd-restart"
    ctr.ok("run", "-d", "--name", name, ctr.image, "sh", "-c", "sleep 1; exit 3")
    assert ctr.ok("update", "--restart", "on-failure:2", name) == f"{name}\n"
    deadline = time.monotonic() + 20
    fmt = "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"
    while time.monotonic() < deadline:
        shown = ctr.ok("inspect", "-f", fmt, name).split()
        if shown[0] == "exited" and shown[1] == "2":
            break
        time.sleep(0.3)
    assert shown == ["exited", "2", "3"]  # restarted twice on failure, then left exited
    ctr.ok("rm", "-f", name)


def test_errors_as_docker(ctr):
    bad = ctr.run("update", "--memory", "64m", "nosuch")
    assert bad.returncode == 1
    assert "No such container: nosuch" in bad.stderr
    cid = ctr.ok("run", "-d", "--rm", ctr.image, "sleep", "30").strip()
    auto = ctr.run("update", "--restart", "always", cid)
    assert auto.returncode == 1
    assert "Restart policy cannot be updated because AutoRemove is enabled" in auto.stderr
    none = ctr.run("update", cid)
    assert none.returncode != 0
    assert "You must provide one or more flags" in none.stderr
    small = ctr.run("update", "-m", "1m", cid)
    assert small.returncode != 0 and "Minimum memory limit allowed is 6MB" in small.stderr
    assert ctr.ok("inspect", "-f", "{{.HostConfig.Memory}}", cid).strip() == "0"
    ctr.ok("rm", "-f", cid)
