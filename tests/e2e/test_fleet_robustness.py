"""Ctrl-C on `tk play` against real lab hosts (and a local agent): the run stops at once,
prints the recap so far and `ERROR! User interrupted execution`, exits 99 like ansible-playbook,
and leaves no module or agent process behind on the targets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from toolkit.lab import Lab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="lab hosts need root"),
]

TK = Path(sys.executable).parent / "tk"
SLEEP = "sleep 47.5"  # a command line no other test runs
PLAY = """\
- hosts: {hosts}
  gather_facts: false
  tasks:
    - name: first
      ping:
    - name: long
      {action}
    - name: never
      ping:
"""


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _namespace_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


def _processes_in(namespaces: set) -> List[str]:
    """Command lines of the processes living in these pid namespaces (lab hosts)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if _namespace_of(int(pid)) not in namespaces:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                found.append(fh.read().replace(b"\0", b" ").decode(errors="replace").strip())
        except OSError:
            pass
    return found


def _agents_or_sleeps(lines: List[str]) -> List[str]:
    return [line for line in lines if "tk-agent-ready" in line or SLEEP in line]


def interrupt_at_long(args: List[str], cwd: Path, wait_for=None) -> tuple:
    """Run tk, send SIGINT once TASK [long] is running; (output, exit code, seconds to stop)."""
    proc = subprocess.Popen(
        [str(TK), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, preexec_fn=_default_sigint,
    )  # fmt: skip
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("TASK [long]"):
                break
        deadline = time.monotonic() + 20
        while wait_for is not None and not wait_for() and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return "".join(seen) + rest, proc.returncode, took


@pytest.fixture
def three(lab_hosts) -> Lab:
    lab = lab_hosts(3)
    lab.up(len(lab.hosts))
    return lab


def test_ctrl_c_kills_the_running_modules_and_agents_on_the_hosts(three, tmp_path):
    hosts = three.hosts[:3]
    namespaces = {_namespace_of(h.pid1) for h in hosts}
    inv = tmp_path / "inv.ini"
    inv.write_text(Path(three.inventory).read_text())
    book = tmp_path / "long.yml"
    book.write_text(PLAY.format(hosts=",".join(h.name for h in hosts), action=f"command: {SLEEP}"))

    def all_sleeping() -> bool:
        return sum(SLEEP in line for line in _processes_in(namespaces)) == len(hosts)

    out, code, took = interrupt_at_long(["play", "-i", str(inv), str(book)], tmp_path, all_sleeping)
    assert code == 99, out
    assert took < 5, f"{took:.1f}s\n{out}"
    assert "Traceback" not in out
    assert out.rstrip().endswith("ERROR! User interrupted execution"), out
    assert "PLAY RECAP" in out and "TASK [never]" not in out
    for host in hosts:
        assert f"{host.name}" in out.split("PLAY RECAP")[1]
    deadline = time.monotonic() + 5
    while _agents_or_sleeps(_processes_in(namespaces)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _agents_or_sleeps(_processes_in(namespaces)) == []


def test_ctrl_c_with_a_local_agent_and_during_a_retry_delay(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text("localhost ansible_connection=local\n")
    book = tmp_path / "long.yml"
    book.write_text(PLAY.format(hosts="localhost", action=f"command: {SLEEP}"))

    def sleeping() -> bool:
        return bool(subprocess.run(["pgrep", "-f", f"^{SLEEP}$"], capture_output=True).stdout)

    out, code, took = interrupt_at_long(["play", "-i", str(inv), str(book)], tmp_path, sleeping)
    assert code == 99 and took < 5, out
    assert "localhost                  : ok=1 " in out
    deadline = time.monotonic() + 5
    while sleeping() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sleeping(), "the local module run survived Ctrl-C"

    retry = 'command: "false"\n      register: r\n      until: r.rc == 0\n      delay: 60'
    book.write_text(PLAY.format(hosts="localhost", action=retry))
    out, code, took = interrupt_at_long(["play", "-i", str(inv), str(book)], tmp_path)
    assert code == 99 and took < 1.5, f"{took:.1f}s\n{out}"  # the delay is cut short
    assert "Traceback" not in out
