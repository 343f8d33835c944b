"""`tk play` over SSH on real lab hosts (netns + sshd): several hosts, forks, a failing host,
handlers per host, serial, and an unreachable host."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab
TK = str(Path(sys.executable).parent / "tk")

BOOK = """\
- hosts: all
  gather_facts: true
  serial: 2
  tasks:
    - name: A file on each host
      copy:
        content: "{{ inventory_hostname }} {{ ansible_facts.hostname | default('') }}\\n"
        dest: /tmp/tk-e2e-lab.txt
      notify: note
    - name: One host fails
      fail: msg=planned
      when: inventory_hostname == groups['all'][1]
    - name: Others go on
      command: cat /tmp/tk-e2e-lab.txt
      register: out
      changed_when: false
    - assert:
        that: out.stdout.startswith(inventory_hostname)
        quiet: true
  handlers:
    - name: note
      debug: msg="handler on {{ inventory_hostname }}"
"""


def test_play_over_ssh(lab, tmp_path):
    book = tmp_path / "lab.yml"
    book.write_text(BOOK)
    names = [h.name for h in lab.hosts[:3]]
    result = subprocess.run(
        [TK, "play", "-i", lab.inventory, "-l", ",".join(names), "-f", "2", str(book)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 2, out + result.stderr
    recap = dict(re.findall(r"^(\S+)\s+: ok=(\d+)", out, re.M))
    assert recap[names[0]] == "5" and recap[names[2]] == "5"  # facts, copy, cat, assert, handler
    assert f"fatal: [{names[1]}]: FAILED!" in out
    handlers = re.findall(r'"msg": "handler on (\S+)"', out)
    assert sorted(handlers) == sorted([names[0], names[2]])
    assert out.count("RUNNING HANDLER [note]") == 2  # once per serial batch


def test_unreachable_ssh_host(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("ghost ansible_host=127.0.0.1 ansible_port=1 ansible_user=nobody\n")
    book = tmp_path / "ping.yml"
    book.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - ping:\n")
    result = subprocess.run([TK, "play", "-i", str(inv), str(book)], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 4, result.stdout + result.stderr
    assert "fatal: [ghost]: UNREACHABLE!" in result.stdout
    assert "unreachable=1" in result.stdout
