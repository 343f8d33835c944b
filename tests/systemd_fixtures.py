"""Session-scoped booted lab hosts (systemd-nspawn) for host-preparation tests.

Import into a test module: `from tests.systemd_fixtures import booted_fixture, ...  # noqa: F401`
(each fixture registers under the name without `_fixture`).
- `booted(n, os_name="centos", suffix="")` -> SystemdLab of exactly n hosts, made once per
  session and key; removed at session end even on failure.
- `centos`: a `Host` helper on the first host of the shared 2-host CentOS stand-in lab
  (the second host is the ansible-core twin for differential tests).
Labs of killed sessions (pid gone) are removed at the next session start. The first use on a
machine builds the cached rootfs (about 2-4 minutes).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, Callable, Dict, Iterator, Optional

import pytest

from tests.lab_fixtures import down_all, remove_stale_labs
from toolkit.lab.systemd import SystemdLab
from toolkit.transport.ssh import SSHConnection

_SESSION = f"s{os.getpid()}"


class Host:
    """One booted host seen through tk's SSH transport: run modules and shell commands."""

    def __init__(self, lab: SystemdLab, name: str) -> None:
        self.lab = lab
        self.name = name
        self._conn: Optional[SSHConnection] = None

    @property
    def address(self) -> str:
        return self.lab.host(self.name).address

    def conn(self) -> SSHConnection:
        if self._conn is None:
            self._conn = SSHConnection.from_vars(self.name, self.lab.host_vars(self.name))
            self._conn.open()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def module(
        self, name: str, args: Dict[str, Any], check=False, diff=False, env=None
    ) -> Dict[str, Any]:
        return self.conn().run_module(name, args, check=check, diff=diff, env=env)

    def sh(self, script: str, ok: bool = True) -> str:
        """stdout of `sh -c script` on the host; with ok, a non-zero exit fails the test."""
        result = self.module("command", {"argv": ["sh", "-c", script]})
        if ok:
            assert result.get("rc") == 0, f"{script!r} failed on {self.name}: {result}"
        return result.get("stdout", "")

    def rc(self, script: str) -> int:
        return self.module("command", {"argv": ["sh", "-c", script]}).get("rc")

    def wait_running(self, timeout: float = 60.0) -> str:
        """Wait until systemd says running (or degraded); return that state."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.sh("systemctl is-system-running || true").strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.3)
        raise AssertionError(f"{self.name}: systemd not running after {timeout}s ({state})")

    def boot_mark(self) -> str:
        """PID 1's start time: differs after every boot of this host."""
        return self.sh("cut -d' ' -f22 /proc/1/stat").strip()

    def reboot(self, timeout: float = 120.0) -> None:
        """`systemctl reboot` (nspawn exits 133 and the launcher boots the host again), then
        wait until the new boot's systemd is running."""
        mark = self.boot_mark()
        self.module("command", {"argv": ["systemctl", "--no-block", "reboot"]})
        self.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(1.0)
            try:
                if self.boot_mark() != mark:
                    self.wait_running()
                    return
            except Exception:  # down or coming up: sshd not there yet
                pass
            self.close()
        raise AssertionError(f"{self.name} did not come back after reboot")


@pytest.fixture(scope="session", name="booted")
def booted_fixture() -> Iterator[Callable[..., SystemdLab]]:
    if os.geteuid() != 0:
        pytest.skip("booted lab hosts need root")
    if not shutil.which("systemd-nspawn") or not shutil.which("debootstrap"):
        pytest.skip("booted lab hosts need systemd-nspawn and debootstrap")
    remove_stale_labs("s", SystemdLab)
    made: Dict[str, SystemdLab] = {}

    def make(n: int, os_name: str = "centos", suffix: str = "") -> SystemdLab:
        key = f"{_SESSION}{suffix}"
        lab = made.get(key)
        if lab is None:
            lab = SystemdLab(key, os_name=os_name)
            made[key] = lab
            lab.up(n)
        return lab

    try:
        yield make
    finally:
        down_all(made.values())


@pytest.fixture(scope="session", name="centos_lab")
def centos_lab_fixture(booted: Callable[..., SystemdLab]) -> SystemdLab:
    return booted(2, "centos")


def host_of(lab: SystemdLab, index: int) -> Iterator[Host]:
    """For a fixture: `yield from host_of(lab, i)` gives a Host on lab.hosts[i], closed after."""
    host = Host(lab, lab.hosts[index].name)
    try:
        yield host
    finally:
        host.close()


@pytest.fixture(name="centos")
def centos_fixture(centos_lab: SystemdLab) -> Iterator[Host]:
    yield from host_of(centos_lab, 0)


@pytest.fixture(name="twin")
def twin_fixture(centos_lab: SystemdLab) -> Iterator[Host]:
    yield from host_of(centos_lab, 1)
