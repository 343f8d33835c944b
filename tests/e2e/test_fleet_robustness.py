"""Ctrl-C on `tk play` against real lab hosts (and a local agent): the run stops at once,
prints the recap so far and `ERROR! User interrupted execution`, exits 99 like ansible-playbook,
and leaves no module or agent process behind on the targets."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import List

import pytest

from tests.e2e.tkrun import TK, interrupt_at_long
from toolkit.lab import Lab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="lab hosts need root"),
]

SLEEP = "sleep 47.5"  # a command line no other test runs
PLAY = """\
- hosts: {hosts}
  gather_facts: false
  strategy: {strategy}
  tasks:
    - name: first
      ping:
    - name: long
      {action}
    - name: never
      ping:
"""


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


@pytest.fixture
def three(lab_hosts) -> Lab:
    lab = lab_hosts(3)
    lab.up(len(lab.hosts))
    return lab


@pytest.mark.parametrize("strategy", ["linear", "free"])
def test_ctrl_c_kills_the_running_modules_and_agents_on_the_hosts(three, tmp_path, strategy):
    hosts = three.hosts[:3]
    namespaces = {_namespace_of(h.pid1) for h in hosts}
    inv = tmp_path / "inv.ini"
    inv.write_text(Path(three.inventory).read_text())
    book = tmp_path / "long.yml"
    names = ",".join(h.name for h in hosts)
    book.write_text(PLAY.format(hosts=names, action=f"command: {SLEEP}", strategy=strategy))

    def all_sleeping() -> bool:
        return sum(SLEEP in line for line in _processes_in(namespaces)) == len(hosts)

    out, code, took = interrupt_at_long(["play", "-i", str(inv), str(book)], tmp_path, all_sleeping)
    assert code == 99, out
    assert took < 5, f"{took:.1f}s\n{out}"
    assert "Traceback" not in out
    assert out.rstrip().endswith("ERROR! User interrupted execution"), out
    assert "PLAY RECAP" in out and "TASK [never]" not in out
    assert "UNREACHABLE" not in out  # what the cut connections caused is not reported
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
    book.write_text(PLAY.format(hosts="localhost", action=f"command: {SLEEP}", strategy="linear"))

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
    book.write_text(PLAY.format(hosts="localhost", action=retry, strategy="linear"))
    out, code, took = interrupt_at_long(["play", "-i", str(inv), str(book)], tmp_path)
    assert code == 99 and took < 1.5, f"{took:.1f}s\n{out}"  # the delay is cut short
    assert "Traceback" not in out


# -- async with poll: 0 (fire and forget) + async_status ------------------------------------------
ASYNC_PLAY = """\
- hosts: {host}
  gather_facts: false
  tasks:
    - name: start
      shell: sleep 2; touch /tmp/async-done
      async: 30
      poll: 0
      register: job
    - assert:
        that: job.started and not job.finished and job.ansible_job_id and job is changed
    - name: wait
      async_status:
        jid: "{{{{ job.ansible_job_id }}}}"
      register: st
      until: st.finished
      retries: 20
      delay: 1
    - stat: path=/tmp/async-done
      register: done
    - assert:
        that: st.finished and st.rc == 0 and st.cmd is defined and done.stat.exists
    - name: too slow
      command: sleep 30
      async: 1
      poll: 0
      register: slow
    - async_status: jid={{{{ slow.ansible_job_id }}}}
      register: slow_st
      until: slow_st.finished
      retries: 10
      delay: 1
      ignore_errors: true
    - assert:
        that: slow_st is failed and slow_st.msg == "Timeout exceeded"
    - async_status: jid={{{{ job.ansible_job_id }}}} mode=cleanup
    - async_status: jid={{{{ job.ansible_job_id }}}}
      register: gone
      ignore_errors: true
    - assert:
        that: gone is failed and gone.msg == "could not find job"
    - name: outlives the run
      shell: sleep 2; echo later > /tmp/async-later
      async: 30
      poll: 0
"""


def test_async_poll_0_then_async_status(three, tmp_path):
    host = three.hosts[0]
    inv = tmp_path / "inv.ini"
    inv.write_text(Path(three.inventory).read_text())
    book = tmp_path / "async.yml"
    book.write_text(ASYNC_PLAY.format(host=host.name))
    root = Path(f"/proc/{host.pid1}/root")
    for name in ("async-done", "async-later"):
        (root / "tmp" / name).unlink(missing_ok=True)
    started = time.monotonic()
    result = subprocess.run([str(TK), "play", "-i", str(inv), str(book)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "ok=12 " in out and "ignored=2" in out, out
    assert not (root / "tmp/async-later").exists()  # the run did not wait for the last job
    while not (root / "tmp/async-later").exists() and time.monotonic() - started < 30:
        time.sleep(0.2)
    assert (root / "tmp/async-later").read_text() == "later\n"
    namespace = _namespace_of(host.pid1)
    assert not [p for p in _processes_in({namespace}) if p.startswith("sleep 30")]
