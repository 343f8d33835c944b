"""The runtime started before its config (runtimeproc.start_early): used by `tke run` when it
fits, given up cleanly when it does not (stdin, a failed create, a shim that dies), on the
real crun and this host's cgroup layout (hybrid here: crun in a private mount namespace that
the rootfs is grafted into, since this host's `/` is a private mount)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.engine.ctrhelpers import ctr_fixture, early_runtime_pids  # noqa: F401
from toolkit.engine import lifecycle, shimproc
from toolkit.engine.containers import run_dir_for
from toolkit.engine.store import Store

pytestmark = [pytest.mark.engine]


def crun_only(ctr) -> None:
    if ctr.runtime != "crun":
        pytest.skip("the early start is crun's (runc has no --config)")


def crun_bundle(ctr, cid: str) -> str:
    """The bundle crun has on record for a container (the store's tmp dir if started early)."""
    state_root = os.path.join(run_dir_for(ctr.root), "crun")
    out = subprocess.run(
        ["crun", "--root", state_root, "state", cid], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)["bundle"]


def early_files(ctr) -> list:
    return [n for n in os.listdir(os.path.join(ctr.root, "tmp")) if n.startswith("early-")]


def nothing_early_left(ctr, timeout: float = 5) -> bool:
    """No early runtime waiting, no FIFO or pid file (a shim removes its own once the start
    is reported, i.e. maybe just after `run -d` returned)."""
    deadline = time.monotonic() + timeout
    while early_runtime_pids(ctr.root) or early_files(ctr):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_run_uses_the_runtime_started_early(ctr):
    crun_only(ctr)
    r = ctr.run("run", "--rm", ctr.image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert os.path.exists(os.path.join(ctr.root, shimproc.RUNTIME_CACHE))
    cid = ctr.ok("run", "-d", "--name", "early", ctr.image, "sleep", "300").strip()
    assert crun_bundle(ctr, cid) == os.path.join(ctr.root, "tmp")  # it was the early one
    # crun's copy of the config in its state dir is whole: `exec` reads it
    assert ctr.ok("exec", "early", "cat", "/etc/hostname") == cid[:12] + "\n"
    assert ctr.ok("exec", "early", "sh", "-c", "ps -o comm | grep -c sleep") == "1\n"
    assert nothing_early_left(ctr)
    ctr.ok("rm", "-f", "early")


def test_a_run_it_does_not_fit_gets_a_runtime_of_its_own(ctr):
    crun_only(ctr)
    ctr.ok("run", "--rm", ctr.image, "true")  # the store knows its runtime now
    script = "cat; [ -p /dev/stdin ] && echo pipe"
    r = ctr.run("run", "--rm", "-i", ctr.image, "sh", "-c", script, input="in\n")
    assert (r.returncode, r.stdout) == (0, "in\npipe\n"), r.stderr
    cid = ctr.ok("run", "-d", "-i", ctr.image, "sleep", "300").strip()
    assert crun_bundle(ctr, cid) == os.path.join(ctr.root, "containers", cid)
    assert nothing_early_left(ctr)
    ctr.ok("rm", "-f", cid)


def test_a_failed_create_leaves_no_runtime_waiting(ctr):
    crun_only(ctr)
    ctr.ok("run", "--rm", ctr.image, "true")
    r = ctr.run("run", "--rm", "--pull", "never", "no/such:image", "true")
    assert r.returncode == 125 and "No such image: no/such:image" in r.stderr
    r = ctr.run("run", "--name", "dup", ctr.image, "true")
    r = ctr.run("run", "--name", "dup", ctr.image, "true")
    assert r.returncode == 125 and "is already in use" in r.stderr
    assert nothing_early_left(ctr)
    ctr.ok("rm", "dup")


def test_a_shim_that_dies_takes_its_early_runtime_along(ctr):
    """The shim killed before it had instructions (kill -9): its waiting crun dies with it
    (PR_SET_PDEATHSIG) and the FIFO it left is stale tmp the store cleans up."""
    crun_only(ctr)
    ctr.ok("run", "--rm", ctr.image, "true")
    proc = shimproc.launch(ctr.root, early_id=os.urandom(32).hex())
    try:
        deadline = time.monotonic() + 10
        while not early_runtime_pids(ctr.root) and time.monotonic() < deadline:
            time.sleep(0.02)
        waiting = early_runtime_pids(ctr.root)
        assert len(waiting) == 1 and len(early_files(ctr)) == 1
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while early_runtime_pids(ctr.root) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert early_runtime_pids(ctr.root) == []
    finally:
        proc.abandon()
    Store(ctr.root).clean_stale_tmp()
    assert early_files(ctr) == []


def test_runc_has_no_early_start(ctr):
    if ctr.runtime != "runc":
        pytest.skip("runc only")
    ctr.ok("run", "--rm", ctr.image, "true")
    assert not os.path.exists(os.path.join(ctr.root, shimproc.RUNTIME_CACHE))
    cid = ctr.ok("run", "-d", ctr.image, "sleep", "300").strip()
    assert early_runtime_pids(ctr.root) == []
    ctr.ok("rm", "-f", cid)


def test_a_hybrid_host_with_an_old_kernel_keeps_no_runtime_record(tmp_path, monkeypatch):
    """Where crun needs its private namespace and the kernel has no open_tree (< 5.2) the
    rootfs might not be shown to an early crun: no record, so no early start."""
    from toolkit.engine import seccomp
    from toolkit.engine.containers import Containers

    ctrs = Containers(Store(str(tmp_path)))
    conf = {"runtime": ["/usr/bin/crun", "--root", "/run/x"], "hide_hybrid_cgroup2": True}
    conf["sealed_exec"] = True
    record = tmp_path / shimproc.RUNTIME_CACHE
    monkeypatch.setattr(seccomp, "kernel_at_least", lambda version: version != "5.2")
    lifecycle.remember_runtime(ctrs, conf)
    assert not record.exists()
    monkeypatch.setattr(seccomp, "kernel_at_least", lambda version: True)
    lifecycle.remember_runtime(ctrs, conf)
    assert record.exists()
    lifecycle.remember_runtime(ctrs, dict(conf, sealed_exec=False))  # runc: none
    assert not record.exists()
