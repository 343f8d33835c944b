"""Fixtures for the container tests: a store with busybox pulled from the real registry fixture,
a runtime parameter (crun and runc), a `tke` runner in a subprocess (the real CLI, as users run
it), and a teardown that removes every container and checks nothing leaked (mounts, cgroups,
shim processes, runtime state).

    from tests.engine.ctrhelpers import ctr_fixture  # noqa: F401 - provides `ctr`

    def test_x(ctr):                 # ctr.image, ctr.run(...), ctr.root, ctr.runtime
        r = ctr.run("run", "--rm", ctr.image, "echo", "hi")
        assert r.returncode == 0 and r.stdout == "hi\\n"
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from toolkit.engine import cgroups, rootfs
from toolkit.engine.containers import run_dir_for

PYTHON = sys.executable
RUNTIMES = [r for r in ("crun", "runc") if shutil.which(r)]


def require_engine() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not RUNTIMES:
        pytest.skip("no OCI runtime installed")


@dataclass
class Ctr:
    root: str
    image: str
    runtime: str
    env: dict
    wrap: tuple = ()  # a command tke runs under (`nsenter --net=...`)

    def run(self, *argv: str, input: str = None, timeout: float = 60, check: bool = False):
        proc = subprocess.run(
            [*self.wrap, PYTHON, "-m", "toolkit.engine.entry", *argv],  # as the `tke` script
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"tke {' '.join(argv)} -> {proc.returncode}\n{proc.stderr}")
        return proc

    def ok(self, *argv: str, **kw) -> str:
        return self.run(*argv, check=True, **kw).stdout

    def ids(self) -> list:
        return self.ok("ps", "-a", "-q", "--no-trunc").split()


def make_ctr(registry, root: str, runtime: str) -> Ctr:
    env = dict(os.environ, TKE_ROOT=root, TKE_RUNTIME=runtime)
    env["PYTHONPATH"] = os.getcwd()
    ctr = Ctr(root, f"{registry.host}/busybox", runtime, env)
    ctr.ok("pull", "-q", ctr.image)
    return ctr


def teardown(ctr: Ctr) -> list:
    """Remove all containers; return what leaked (mounts, cgroups, shims, runtime state)."""
    ids = ctr.ids() if os.path.isdir(os.path.join(ctr.root, "containers")) else []
    if ids:
        ctr.run("rm", "-f", *ids)
    leaks = []
    for _ in range(50):
        leaks = leaked(ctr, ids)
        if not leaks:
            break
        time.sleep(0.1)
    for point in sorted(rootfs.mounts_under(ctr.root), reverse=True):
        rootfs.umount(point)
    run_dir = run_dir_for(ctr.root)
    shutil.rmtree(run_dir, ignore_errors=True)
    return leaks


def leaked(ctr: Ctr, ids: list) -> list:
    out = [f"mount {m}" for m in rootfs.mounts_under(ctr.root)]
    for cid in ids:
        out += [f"cgroup {p}" for p in cgroups.leftover(cid)]
    out += [f"shim {pid}" for pid in shim_pids(ctr.root)]
    out += [f"early runtime {pid}" for pid in early_runtime_pids(ctr.root)]
    tmp = os.path.join(ctr.root, "tmp")
    if os.path.isdir(tmp):  # a started-early runtime's FIFO and pid file (runtimeproc.py)
        out += [f"tmp/{name}" for name in os.listdir(tmp) if name.startswith("early-")]
    for name in ("crun", "runc"):
        state = os.path.join(run_dir_for(ctr.root), name)
        if os.path.isdir(state):
            out += [f"{name} state {n}" for n in os.listdir(state)]
    return out


def shim_pids(root: str) -> list:
    """Shims of the store at `root`: started as their own interpreter, with its containers
    dir on their command line, or forked by `tke run` (named tke-shim): in that dir once
    they have their container, with the store in tke's environment or arguments before."""
    where = os.path.join(root, "containers").encode()
    spawned = pids_where(
        lambda cmd: any(b"import shim;" in c for c in cmd) and any(c.startswith(where) for c in cmd)
    )
    return spawned + [pid for pid in _named_pids(b"tke-shim") if _serves(pid, root)]


def _named_pids(comm: bytes) -> list:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _proc(p, "comm") == comm + b"\n"]


def _serves(pid: int, root: str) -> bool:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    if cwd.startswith(os.path.join(root, "containers") + "/"):
        return True
    env = _proc(pid, "environ").split(b"\0")
    return b"TKE_ROOT=" + root.encode() in env or root.encode() in _proc(pid, "cmdline").split(
        b"\0"
    )


def _proc(pid, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def early_runtime_pids(root: str) -> list:
    """Runtimes started before their config (runtimeproc.start_early) still waiting for it."""
    fifo = os.path.join(root, "tmp", "early-").encode()
    return pids_where(lambda cmd: any(c.startswith(fifo) for c in cmd))


def pids_where(match) -> list:
    """Processes whose command line (a list of bytes) `match`es."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().split(b"\0")
        except OSError:
            continue
        if match(cmd):
            found.append(int(pid))
    return found


@pytest.fixture(params=RUNTIMES, name="ctr")
def ctr_fixture(request, registry, tmp_path):
    require_engine()
    root = str(tmp_path / "tke")
    os.makedirs(root)
    c = make_ctr(registry, root, request.param)
    yield c
    leaks = teardown(c)
    assert not leaks, f"leaked: {leaks}"


@pytest.fixture(name="ctr_runc")
def ctr_runc_fixture(registry, tmp_path):
    """One runtime only, for tests about the engine rather than the runtime."""
    require_engine()
    root = str(tmp_path / "tke")
    os.makedirs(root)
    c = make_ctr(registry, root, "runc" if "runc" in RUNTIMES else RUNTIMES[0])
    yield c
    leaks = teardown(c)
    assert not leaks, f"leaked: {leaks}"
